/* SPDX-License-Identifier: MIT */
/*
 * A hand-written test header shaped like include/uapi/linux/iommufd.h, with differences from
 * our schemas that header-check.test.ts knows by value. Not a kernel header: only the items the
 * test needs, some of them changed on purpose.
 *
 * Agrees with the schemas: struct iommu_destroy and IOMMU_DESTROY.
 * Differs on purpose:
 *   - IOMMU_IOAS_MAP is command base + 6 (the schemas: + 5);
 *   - struct iommu_ioas_map declares length as __u64 (the schemas: __aligned_u64) and has two
 *     more fields, pasid and __reserved2, so it is 48 bytes (the schemas: 40);
 *   - IOMMU_IOAS_MAP_READABLE is 1 << 3 (the schemas: 1 << 2), and IOMMU_IOAS_MAP_PASID is new;
 *   - struct iommu_frob and IOMMU_FROB exist only here.
 */
#ifndef _UAPI_IOMMUFD_H
#define _UAPI_IOMMUFD_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define IOMMUFD_TYPE (';')

enum {
	IOMMUFD_CMD_BASE = 0x80,
	IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE,
	IOMMUFD_CMD_FROB = 0x99,
};

/**
 * struct iommu_destroy - ioctl(IOMMU_DESTROY)
 * @size: sizeof(struct iommu_destroy)
 * @id: the object to destroy
 */
struct iommu_destroy {
	__u32 size;
	__u32 id;
};
#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 3,
	IOMMU_IOAS_MAP_PASID = 1 << 4,
};

/**
 * struct iommu_ioas_map - ioctl(IOMMU_IOAS_MAP)
 */
struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__u64 length;
	__aligned_u64 iova;
	__u32 pasid;
	__u32 __reserved2;
};
#define IOMMU_IOAS_MAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 6)

/**
 * struct iommu_frob - ioctl(IOMMU_FROB)
 * A struct the schemas do not have, with the shapes the reader must handle: an anonymous
 * union, a fixed array, a bitfield and a flexible array member.
 */
struct iommu_frob {
	__u32 size;
	__u32 flags;
	union {
		__u32 in_type;
		__u32 out_type;
	};
	__u8 tag[4];
	__u32 mode : 3;
	__u32 __reserved : 29;
	__aligned_u64 out_data[];
};
#define IOMMU_FROB _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FROB)

#define IOMMU_FROB_NAME "frob"

#endif
