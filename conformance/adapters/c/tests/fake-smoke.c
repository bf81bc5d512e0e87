/*
 * A program of our own that drives /dev/iommu the way a VMM does, for the fake's test: it
 * allocates an IOAS, binds and attaches a VFIO device cdev, maps an mmap'd buffer, reads the
 * IOVA ranges into mmap'd memory (the implementation writes the caller's memory) and checks
 * the errnos of a few bad calls. Prints one line per check; exits 1 on the first failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../../../../schemas/generated/ioasid_uapi.h"

#define CHECK(cond, what) do { if (!(cond)) { printf("FAIL %s (errno %d)\n", what, errno); return 1; } printf("ok %s\n", what); } while (0)

int main(void) {
	int fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0, "open /dev/iommu");
	struct ioasid_iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	CHECK(ioctl(fd, IOASID_IOMMU_IOAS_ALLOC, &alloc) == 0 && alloc.out_ioas_id != 0, "IOAS_ALLOC");
	int dev = open("/dev/vfio/devices/vfio0", O_RDWR);
	CHECK(dev >= 0, "open vfio0");
	struct ioasid_vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = alloc.out_ioas_id };
	CHECK(ioctl(dev, IOASID_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) == -1 && errno == EINVAL, "ATTACH before BIND: EINVAL");
	struct ioasid_vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = fd };
	CHECK(ioctl(dev, IOASID_VFIO_DEVICE_BIND_IOMMUFD, &bind) == 0 && bind.out_devid != 0, "BIND");
	CHECK(ioctl(dev, IOASID_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) == 0 && attach.pt_id != alloc.out_ioas_id, "ATTACH gives the automatic HWPT");
	void *buf = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED, "mmap");
	struct ioasid_iommu_ioas_map map = { .size = sizeof(map), .flags = 7, .ioas_id = alloc.out_ioas_id,
		.user_va = (uintptr_t)buf, .length = 0x4000, .iova = 0x1000000 };
	CHECK(ioctl(fd, IOASID_IOMMU_IOAS_MAP, &map) == 0, "IOAS_MAP fixed iova");
	CHECK(ioctl(fd, IOASID_IOMMU_IOAS_MAP, &map) == -1 && errno == EEXIST, "IOAS_MAP again: EEXIST");
	map.flags = 6;
	map.iova = 0;
	CHECK(ioctl(fd, IOASID_IOMMU_IOAS_MAP, &map) == 0 && map.iova != 0, "IOAS_MAP automatic iova copied back");
	uint64_t *ranges = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(ranges, 0xee, 64);
	struct ioasid_iommu_ioas_iova_ranges r = { .size = sizeof(r), .ioas_id = alloc.out_ioas_id, .num_iovas = 4, .allowed_iovas = (uintptr_t)ranges };
	CHECK(ioctl(fd, IOASID_IOMMU_IOAS_IOVA_RANGES, &r) == 0 && r.num_iovas >= 1, "IOVA_RANGES");
	printf("ranges %u: [%#llx, %#llx] alignment %#llx\n", r.num_iovas, (unsigned long long)ranges[0], (unsigned long long)ranges[1], (unsigned long long)r.out_iova_alignment);
	CHECK(ranges[0] != 0xeeeeeeeeeeeeeeeeull && ranges[1] > ranges[0], "IOVA_RANGES wrote the caller's memory");
	CHECK(ioctl(fd, 0x3b7f, NULL) == -1 && errno == ENOTTY, "unknown request, NULL argp: ENOTTY");
	CHECK(ioctl(fd, IOASID_IOMMU_DESTROY, NULL) == -1 && errno == EFAULT, "DESTROY, NULL argp: EFAULT");
	struct ioasid_iommu_ioas_map bad = map;
	bad.user_va = 0x1000; /* not mapped in the program */
	bad.iova = 0;
	CHECK(ioctl(fd, IOASID_IOMMU_IOAS_MAP, &bad) == -1 && errno == EFAULT, "IOAS_MAP of unmapped memory: EFAULT");
	CHECK(close(dev) == 0, "close vfio0");
	CHECK(close(fd) == 0, "close /dev/iommu");
	printf("done\n");
	return 0;
}
