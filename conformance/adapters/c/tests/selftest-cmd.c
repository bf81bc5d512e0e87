/*
 * A program of our own that drives IOMMU_TEST_CMD the way the kernel's selftests do, for the
 * fake's test: a mock domain on an IOAS, a MAP of a stack buffer (memory the fake mirrors on
 * demand) checked with MD_CHECK_MAP, ACCESS_RW between the mapped stack pages and heap buffers
 * through an access fd (a file the model hands out), a child process that maps its own copy of
 * private memory and exits (its pinned pages stay readable through the domain), and a fault fd
 * read after TRIGGER_IOPF with the page response written back. One line per check; exit 1 on
 * the first failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../../../../schemas/generated/ioasid_uapi.h"

/* IOMMU_TEST_CMD: _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32). */
#define TEST_CMD 0x3ba0u
#define APERTURE 0x1000000ull /* MOCK_APERTURE_START */

#define CHECK(cond, what) do { if (!(cond)) { printf("FAIL %s (errno %d)\n", what, errno); return 1; } printf("ok %s\n", what); } while (0)

static int fd;

static int test_cmd(uint32_t op, uint32_t id, struct ioasid_iommu_test_cmd *cmd) {
	cmd->size = sizeof(*cmd);
	cmd->op = op;
	cmd->id = id;
	return ioctl(fd, TEST_CMD, cmd);
}

static int map_fixed(uint32_t ioas, void *va, uint64_t length, uint64_t iova) {
	struct ioasid_iommu_ioas_map map = { .size = sizeof(map), .ioas_id = ioas, .user_va = (uintptr_t)va, .length = length, .iova = iova,
		.flags = IOASID_IOMMU_IOAS_MAP_FIXED_IOVA | IOASID_IOMMU_IOAS_MAP_READABLE | IOASID_IOMMU_IOAS_MAP_WRITEABLE };
	return ioctl(fd, IOASID_IOMMU_IOAS_MAP, &map);
}

static int access_rw(int access_fd, uint64_t iova, void *buf, uint64_t length, int write) {
	struct ioasid_iommu_test_cmd cmd = { .access_rw = { .iova = iova, .length = length, .uptr = (uintptr_t)buf, .flags = write ? IOASID_MOCK_ACCESS_RW_WRITE : 0 } };
	return test_cmd(IOASID_IOMMU_TEST_OP_ACCESS_RW, access_fd, &cmd);
}

int main(void) {
	static const char child_bytes[] = "written by the child";
	uint8_t stackbuf[3 * 4096];
	uint8_t *page = (uint8_t *)(((uintptr_t)stackbuf + 4095) & ~4095ul); /* two whole stack pages */
	for (int i = 0; i < 8192; i++) page[i] = (uint8_t)(i * 7 + 3);

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0, "open /dev/iommu");
	struct ioasid_iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	CHECK(ioctl(fd, IOASID_IOMMU_IOAS_ALLOC, &alloc) == 0, "IOAS_ALLOC");
	uint32_t ioas = alloc.out_ioas_id;

	struct ioasid_iommu_test_cmd md = { 0 };
	CHECK(test_cmd(IOASID_IOMMU_TEST_OP_MOCK_DOMAIN, ioas, &md) == 0 && md.mock_domain.out_stdev_id && md.mock_domain.out_hwpt_id && md.mock_domain.out_idev_id,
	      "MOCK_DOMAIN: stdev, hwpt and idev ids");
	uint32_t stdev = md.mock_domain.out_stdev_id, idev = md.mock_domain.out_idev_id;
	CHECK(md.id == ioas, "MOCK_DOMAIN: id copied back as the caller gave it");

	CHECK(map_fixed(ioas, page, 8192, APERTURE) == 0, "IOAS_MAP of a stack buffer");
	struct ioasid_iommu_test_cmd check = { .check_map = { .iova = APERTURE, .length = 8192, .uptr = (uintptr_t)page } };
	CHECK(test_cmd(IOASID_IOMMU_TEST_OP_MD_CHECK_MAP, md.mock_domain.out_hwpt_id, &check) == 0, "MD_CHECK_MAP: the mock IOPTEs give the stack pages");
	struct ioasid_iommu_test_cmd refs = { .check_refs = { .length = 8192, .uptr = (uintptr_t)page, .refs = 1 } };
	CHECK(test_cmd(IOASID_IOMMU_TEST_OP_MD_CHECK_REFS, 0, &refs) == 0, "MD_CHECK_REFS: the stack pages are pinned once");

	struct ioasid_iommu_test_cmd ca = { 0 };
	CHECK(test_cmd(IOASID_IOMMU_TEST_OP_CREATE_ACCESS, ioas, &ca) == 0, "CREATE_ACCESS");
	int access_fd = (int)ca.create_access.out_access_fd;
	CHECK(fcntl(access_fd, F_GETFD) >= 0 && access_fd != fd, "CREATE_ACCESS: out_access_fd is an fd of this process");

	uint8_t *heap = malloc(300);
	memset(heap, 0, 300);
	CHECK(access_rw(access_fd, APERTURE + 4000, heap, 300, 0) == 0, "ACCESS_RW read into a heap buffer");
	CHECK(memcmp(heap, page + 4000, 300) == 0, "ACCESS_RW read: the heap buffer holds the mapped stack bytes");
	uint8_t *src = malloc(64);
	memset(src, 0xa5, 64);
	CHECK(access_rw(access_fd, APERTURE + 100, src, 64, 1) == 0, "ACCESS_RW write from a heap buffer");
	CHECK(page[100] == 0xa5 && page[163] == 0xa5 && page[164] == (uint8_t)(164 * 7 + 3), "ACCESS_RW write: the stack pages hold exactly the bytes written");

	/* A child maps its own copy of private memory, then exits: what it pinned stays. */
	uint8_t *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(priv, 'p', 4096);
	pid_t child = fork();
	if (child == 0) {
		memcpy(priv, child_bytes, sizeof(child_bytes));
		_exit(map_fixed(ioas, priv, 4096, APERTURE + 0x100000) == 0 ? 0 : 3);
	}
	int status = -1;
	CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork: the child mapped its memory and exited");
	uint8_t got[sizeof(child_bytes)] = { 0 };
	CHECK(access_rw(access_fd, APERTURE + 0x100000, got, sizeof(got), 0) == 0 && !memcmp(got, child_bytes, sizeof(got)), "ACCESS_RW after the child exited: its pinned page holds its bytes");
	CHECK(priv[0] == 'p', "the parent's copy of the private page is its own");

	CHECK(close(access_fd) == 0, "close of the access fd");
	CHECK(access_rw(access_fd, APERTURE, heap, 8, 0) == -1, "ACCESS_RW on a closed access fd fails");

	/* A fault queue on a nested HWPT the mock device is moved to, then a page request. */
	struct ioasid_iommu_fault_alloc fa = { .size = sizeof(fa) };
	CHECK(ioctl(fd, IOASID_IOMMU_FAULT_QUEUE_ALLOC, &fa) == 0 && fcntl((int)fa.out_fault_fd, F_GETFD) >= 0, "FAULT_QUEUE_ALLOC: out_fault_fd is an fd of this process");
	struct ioasid_iommu_hwpt_alloc parent = { .size = sizeof(parent), .flags = IOASID_IOMMU_HWPT_ALLOC_NEST_PARENT, .dev_id = idev, .pt_id = ioas };
	CHECK(ioctl(fd, IOASID_IOMMU_HWPT_ALLOC, &parent) == 0, "HWPT_ALLOC nest parent");
	struct ioasid_iommu_hwpt_selftest data = { .iotlb = 0xbadbeef };
	struct ioasid_iommu_hwpt_alloc nested = { .size = sizeof(nested), .flags = IOASID_IOMMU_HWPT_FAULT_ID_VALID, .dev_id = idev, .pt_id = parent.out_hwpt_id,
		.data_type = IOASID_IOMMU_HWPT_DATA_SELFTEST, .data_len = sizeof(data), .data_uptr = (uintptr_t)&data, .fault_id = fa.out_fault_id };
	CHECK(ioctl(fd, IOASID_IOMMU_HWPT_ALLOC, &nested) == 0, "HWPT_ALLOC nested with a fault queue (data on the stack)");
	struct ioasid_iommu_test_cmd rep = { .mock_domain_replace = { .pt_id = nested.out_hwpt_id } };
	CHECK(test_cmd(IOASID_IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev, &rep) == 0, "MOCK_DOMAIN_REPLACE onto the nested HWPT");
	struct ioasid_iommu_test_cmd iopf = { .trigger_iopf = { .dev_id = idev, .pasid = 1, .grpid = 2, .perm = 3, .addr = 0xdeadbeaf } };
	CHECK(test_cmd(IOASID_IOMMU_TEST_OP_TRIGGER_IOPF, 0, &iopf) == 0, "TRIGGER_IOPF");
	struct ioasid_iommu_hwpt_pgfault fault = { 0 };
	CHECK(read((int)fa.out_fault_fd, &fault, sizeof(fault)) == sizeof(fault), "read of the fault fd: one page request");
	CHECK(fault.dev_id == idev && fault.grpid == 2 && fault.addr == 0xdeadbeaf, "the page request names the device, group and address");
	struct ioasid_iommu_hwpt_page_response resp = { .cookie = fault.cookie, .code = 0 };
	CHECK(write((int)fa.out_fault_fd, &resp, sizeof(resp)) == sizeof(resp), "write of the page response");

	CHECK(close((int)fa.out_fault_fd) == 0, "close of the fault fd");
	CHECK(close(fd) == 0, "close /dev/iommu");
	printf("done\n");
	return 0;
}
