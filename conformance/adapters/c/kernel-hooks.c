/*
 * Test hooks on a real kernel (see kernel-hooks.h). struct iommu_test_cmd is filled at the
 * offsets of the generated layouts (layout_offset, from the schemas), which the kernel build's
 * probe checks against the tree's iommufd_test.h (the header is never copied here).
 *
 * Invariants: a hook the running kernel has no op for is answered RPC_CANNOT_EXPRESS (the case
 * is unsupported), never approximated; CHECK_REFS is exact — MD_CHECK_REFS only compares a
 * page's pin count with a given number, so each page's count is found by trying 0, 1, 2, …;
 * FAIL_NTH is written to fail-nth right before the next kernel call (an earlier syscall, such as
 * the write of our own answer, would consume the count) and read back right after it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "kernel-hooks.h"
#include "layout.h"

struct kernel_test_op { const char *name; unsigned op; };
#ifdef IOASID_KERNEL_OPS
#include IOASID_KERNEL_OPS
#else
static const struct kernel_test_op kernel_test_ops[] = { { NULL, 0 } };
#define IOASID_KERNEL_TEST_CMD 0ul
#define IOASID_KERNEL_TEST_CMD_BYTES 0u
#endif

#define PAGE_BYTES 4096ul
/* selftest.c caps ACCESS_PAGES and ACCESS_RW at 16 MiB (ENOMEM) before using the buffer. */
#define ACCESS_MAX_BYTES (16ul << 20)
/* pages.c's default temporary memory limit, restored for every world. */
#define TEMP_MEMORY_LIMIT_DEFAULT 65536u
/* No test makes more pins of one page than this; a count past it is reported as an error. */
#define REFS_SEARCH_MAX 64u
#define MOCK_FLAGS_ACCESS_WRITE (1u << 0)
#define MOCK_ACCESS_RW_WRITE (1u << 0)
#define MOCK_ACCESS_RW_SLOW_PATH (1u << 2)

struct owned_fd { int fd, ctx; };
static struct owned_fd owned[1024];
static int nowned;
static int private_fd = -1;
static long fail_nth_pending;
static int fail_nth_armed;
static char release[65];
static int world_has_mock;

static int op_number(const char *name) {
	for (int i = 0; kernel_test_ops[i].name; i++)
		if (!strcmp(kernel_test_ops[i].name, name)) return (int)kernel_test_ops[i].op;
	return -1;
}

unsigned long kernel_test_cmd_request(void) {
	return IOASID_KERNEL_TEST_CMD;
}

int kernel_hooks_available(void) {
	return IOASID_KERNEL_TEST_CMD != 0 && access("/dev/iommu", R_OK | W_OK) == 0;
}

const char *kernel_release(void) {
	struct utsname u;
	if (!release[0] && uname(&u) == 0) snprintf(release, sizeof(release), "%s", u.release);
	return release;
}

struct cap { const char *name; const char *op; };
/* A capability is offered when the running kernel has the op behind it. */
static const struct cap CAPS[] = {
	{ "access", "CREATE_ACCESS" }, { "test:reserved", "ADD_RESERVED" },
	{ "test:temp-memory-limit", "SET_TEMP_MEMORY_LIMIT" }, { "test:refs", "MD_CHECK_REFS" },
	{ "test:fail-nth", "ADD_RESERVED" }, { "test:set-dirty", "DIRTY" }, { "fault", "TRIGGER_IOPF" },
	{ "test:access-rw-slow-path", "ACCESS_RW" }, { "test:selftest-cmd", "MOCK_DOMAIN" }, { NULL, NULL },
};

void kernel_capabilities(struct jbuf *out) {
	if (!kernel_hooks_available()) return;
	for (int i = 0; CAPS[i].name; i++)
		if (op_number(CAPS[i].op) >= 0) { jb_str(out, ","); jb_quote(out, CAPS[i].name); }
}

static int private_ctx(void) {
	if (private_fd < 0) private_fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	return private_fd;
}

static void own(int fd, int ctx) {
	if (fd >= 0 && nowned < (int)(sizeof(owned) / sizeof(owned[0]))) owned[nowned++] = (struct owned_fd){ fd, ctx };
}

static int disown(int fd) {
	for (int i = 0; i < nowned; i++)
		if (owned[i].fd == fd) { owned[i] = owned[--nowned]; return 1; }
	return 0;
}

/* Where "member.field" of struct iommu_test_cmd lies; a path the layouts lack is our bug. */
static unsigned at(const char *path) {
	long off = layout_offset("iommu_test_cmd", path);
	if (off < 0) { fprintf(stderr, "ioasid-c-adapter: iommu_test_cmd has no %s\n", path); abort(); }
	return (unsigned)off;
}

static void put32(uint8_t *cmd, unsigned off, uint32_t v) { memcpy(cmd + off, &v, 4); }
static void put64(uint8_t *cmd, unsigned off, uint64_t v) { memcpy(cmd + off, &v, 8); }
static uint32_t get32(const uint8_t *cmd, unsigned off) { uint32_t v; memcpy(&v, cmd + off, 4); return v; }
static uint64_t get64(const uint8_t *cmd, unsigned off) { uint64_t v; memcpy(&v, cmd + off, 8); return v; }

/* One IOMMU_TEST_CMD: 0 or the errno. */
static int test_cmd(int fd, uint8_t *cmd, int op, uint32_t id) {
	put32(cmd, at("size"), IOASID_KERNEL_TEST_CMD_BYTES);
	put32(cmd, at("op"), (uint32_t)op);
	put32(cmd, at("id"), id);
	return ioctl(fd, IOASID_KERNEL_TEST_CMD, cmd) < 0 ? errno : 0;
}

static void set_temp_memory_limit(uint32_t limit) {
	int op = op_number("SET_TEMP_MEMORY_LIMIT"), fd = private_ctx();
	uint8_t cmd[256] = { 0 };
	if (op < 0 || fd < 0) return;
	put32(cmd, at("memory_limit.limit"), limit);
	test_cmd(fd, cmd, op, 0);
}

void kernel_world(int has_mock_bridge) {
	world_has_mock = has_mock_bridge;
	for (int i = 0; i < nowned; i++) close(owned[i].fd);
	nowned = 0;
	fail_nth_pending = 0;
	if (kernel_hooks_available()) set_temp_memory_limit(TEMP_MEMORY_LIMIT_DEFAULT);
}

void kernel_close_context(int ctx) {
	for (int i = 0; i < nowned; i++)
		if (owned[i].ctx == ctx) { close(owned[i].fd); owned[i--] = owned[--nowned]; }
}

void kernel_note_ioctl(int ctx, const char *answer) {
	static const char *fields[] = { "\"out_fault_fd\":", "\"out_veventq_fd\":", NULL };
	for (int i = 0; fields[i]; i++) {
		const char *p = strstr(answer, fields[i]);
		if (p) own(atoi(p + strlen(fields[i])), ctx);
	}
}

/*
 * /proc/self/task/<tid>/fail-nth, opened once and kept open as iommufd_fail_nth.c keeps it: only
 * the pwrite that arms it comes between arming and the kernel call (a close there could reach
 * an injection point of its own).
 */
static int fail_nth_fd(void) {
	static int fd = -1;
	if (fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth", (long)syscall(SYS_gettid));
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	return fd;
}

static int write_fail_nth(long n) {
	char text[32];
	int fd = fail_nth_fd();
	if (fd < 0) return -1;
	int len = snprintf(text, sizeof(text), "%ld", n);
	return pwrite(fd, text, len, 0) == len ? 0 : -1;
}

int kernel_fail_nth_arm(void) {
	if (fail_nth_pending <= 0) return 0;
	fail_nth_armed = write_fail_nth(fail_nth_pending) == 0;
	fail_nth_pending = 0;
	return fail_nth_armed;
}

int kernel_fail_nth_reached(void) {
	char text[32] = "";
	if (!fail_nth_armed) return -1;
	fail_nth_armed = 0;
	int fd = fail_nth_fd();
	ssize_t n = fd < 0 ? -1 : pread(fd, text, sizeof(text) - 1, 0);
	long left = n > 0 ? strtol(text, NULL, 10) : -1;
	if (left != 0) write_fail_nth(0); /* not reached: it must not fire in a later call */
	return left == 0;
}

static int u64_field(const struct json *arg, const char *key, uint64_t *v, int required) {
	const struct json *f = json_get(arg, key);
	*v = 0;
	if (!f) return required ? -1 : 0;
	return json_u64(f, v);
}

static int flag_field(const struct json *arg, const char *key) {
	const struct json *f = json_get(arg, key);
	return f && f->type == J_BOOL && f->boolean;
}

static int answer(struct jbuf *out, int e, const char *fields) {
	if (e) {
		const char *name = errno_name(e);
		jb_str(out, "{\"errno\":");
		jb_quote(out, name ? name : "EIO");
		jb_str(out, "}");
	} else {
		jb_printf(out, "{\"ret\":0,\"out\":{%s}}", fields);
	}
	return 0;
}

/* A hook's kernel call, with FAIL_NTH armed around it. */
static int armed_cmd(int fd, uint8_t *cmd, int op, uint32_t id) {
	kernel_fail_nth_arm();
	return test_cmd(fd, cmd, op, id);
}

/* The pin count of one page, by asking MD_CHECK_REFS for 0, 1, 2, …; -errno on failure. */
static long page_refs(int fd, int op, uint64_t addr) {
	for (uint32_t refs = 0; refs <= REFS_SEARCH_MAX; refs++) {
		uint8_t cmd[256] = { 0 };
		put64(cmd, at("check_refs.length"), PAGE_BYTES);
		put64(cmd, at("check_refs.uptr"), addr);
		put32(cmd, at("check_refs.refs"), refs);
		int e = test_cmd(fd, cmd, op, 0);
		if (!e) return refs;
		if (e != EIO) return -e;
	}
	return -EIO;
}

static int check_refs(const struct json *arg, struct jbuf *out, char *err, size_t errlen) {
	uint64_t addr, length;
	int op = op_number("MD_CHECK_REFS"), fd = private_ctx();
	if (u64_field(arg, "addr", &addr, 1) || u64_field(arg, "length", &length, 1)) { snprintf(err, errlen, "CHECK_REFS: bad args"); return -32602; }
	if (addr % PAGE_BYTES || length % PAGE_BYTES) { snprintf(err, errlen, "CHECK_REFS: MD_CHECK_REFS takes whole pages only"); return RPC_CANNOT_EXPRESS; }
	if (length > (256ul << 20)) { snprintf(err, errlen, "CHECK_REFS: more than 256 MiB"); return -32602; }
	if (fd < 0) return answer(out, errno, "");
	struct jbuf refs;
	jb_init(&refs);
	for (uint64_t off = 0; off < length; off += PAGE_BYTES) {
		long r = page_refs(fd, op, addr + off);
		if (r == -EIO) { jb_free(&refs); snprintf(err, errlen, "CHECK_REFS: a page pinned more than %u times", REFS_SEARCH_MAX); return -32000; }
		if (r < 0) { jb_free(&refs); return answer(out, (int)-r, ""); }
		jb_printf(&refs, off ? ",%ld" : "%ld", r);
	}
	jb_str(out, "{\"ret\":0,\"out\":{\"refs\":[");
	if (refs.len) jb_raw(out, refs.p, refs.len);
	jb_str(out, "]}}");
	jb_free(&refs);
	return 0;
}

static int access_rw(int fd, int op, const struct json *arg, struct jbuf *out, char *err, size_t errlen) {
	uint64_t access_id, iova, length;
	const struct json *d = json_get(arg, "data");
	uint8_t *data = NULL;
	long n = 0;
	if (u64_field(arg, "access_id", &access_id, 1) || u64_field(arg, "iova", &iova, 1) || u64_field(arg, "length", &length, 0)) { snprintf(err, errlen, "ACCESS_RW: bad args"); return -32602; }
	if (d && (d->type != J_STR || (n = hex_decode(d->str, &data)) < 0)) { snprintf(err, errlen, "ACCESS_RW: data not hex"); return -32602; }
	int write = d || flag_field(arg, "write");
	if (d) length = (uint64_t)n;
	/* selftest.c refuses more than 16 MiB before it touches the buffer: no need to allocate it. */
	uint8_t *buf = calloc(1, length > ACCESS_MAX_BYTES || !length ? 1 : length);
	if (d) memcpy(buf, data, n);
	free(data);
	uint8_t cmd[256] = { 0 };
	put64(cmd, at("access_rw.iova"), iova);
	put64(cmd, at("access_rw.length"), length);
	put64(cmd, at("access_rw.uptr"), (uintptr_t)buf);
	put32(cmd, at("access_rw.flags"), (write ? MOCK_ACCESS_RW_WRITE : 0) | (flag_field(arg, "slow_path") ? MOCK_ACCESS_RW_SLOW_PATH : 0));
	int e = armed_cmd(fd, cmd, op, (uint32_t)access_id);
	if (e || write) { free(buf); return answer(out, e, ""); }
	jb_str(out, "{\"ret\":0,\"out\":{\"data\":");
	jb_hex(out, buf, length);
	jb_str(out, "}}");
	free(buf);
	return 0;
}

/*
 * The TEST_CMD hook: the caller's struct iommu_test_cmd as bytes, with the op number of the
 * running kernel put in for the name (numbers differ between versions); the buffer after the
 * call comes back. The mock device a MOCK_DOMAIN makes is the kernel's, whatever the topology:
 * a world without a `mock` bridge, where the op must fail, cannot be expressed.
 */
static int raw_test_cmd(int ctx, const struct json *arg, struct jbuf *out, char *err, size_t errlen) {
	const struct json *name = json_get(arg, "op"), *data = json_get(arg, "data");
	uint8_t *bytes;
	long n;
	if (!name || name->type != J_STR || !data || data->type != J_STR || (n = hex_decode(data->str, &bytes)) < 0) { snprintf(err, errlen, "TEST_CMD: op and hex data required"); return -32602; }
	if (json_get(arg, "pid")) { free(bytes); snprintf(err, errlen, "TEST_CMD: pid is not supported"); return -32602; }
	if (n < 12) { free(bytes); snprintf(err, errlen, "TEST_CMD: data shorter than size, op and id"); return -32602; }
	if (!world_has_mock && !strncmp(name->str, "MOCK_DOMAIN", 11)) { free(bytes); snprintf(err, errlen, "TEST_CMD %s: the kernel's mock device needs no mock bridge; a world without one cannot be expressed", name->str); return RPC_CANNOT_EXPRESS; }
	int opn = op_number(name->str);
	if (opn < 0) { free(bytes); return answer(out, EOPNOTSUPP, ""); }
	/* The kernel reads `size` bytes: a buffer that holds at least our command's worth. */
	size_t len = (size_t)n > 256 ? (size_t)n : 256;
	uint8_t *buf = calloc(1, len);
	memcpy(buf, bytes, n);
	free(bytes);
	/* The kernel copies back the op it read: the caller's own number goes back in its place. */
	uint32_t callers_op = get32(buf, at("op"));
	put32(buf, at("op"), (uint32_t)opn);
	kernel_fail_nth_arm();
	int e = ioctl(ctx, IOASID_KERNEL_TEST_CMD, buf) < 0 ? errno : 0;
	put32(buf, at("op"), callers_op);
	if (!e && !strcmp(name->str, "CREATE_ACCESS")) own((int)get32(buf, at("create_access.out_access_fd")), ctx);
	if (e) { free(buf); return answer(out, e, ""); }
	jb_str(out, "{\"ret\":0,\"out\":{\"data\":");
	jb_hex(out, buf, (size_t)n);
	jb_str(out, "}}");
	free(buf);
	return 0;
}

int kernel_test(int ctx, const char *op, const struct json *arg, struct jbuf *out, char *err, size_t errlen) {
	static const char *const HOOK_OPS[][2] = {
		{ "ADD_RESERVED", "ADD_RESERVED" }, { "CREATE_ACCESS", "CREATE_ACCESS" }, { "DESTROY_ACCESS", "CREATE_ACCESS" },
		{ "ACCESS_PIN", "ACCESS_PAGES" }, { "ACCESS_UNPIN", "DESTROY_ACCESS_PAGES" }, { "ACCESS_RW", "ACCESS_RW" },
		{ "ACCESS_REPLACE_IOAS", "ACCESS_REPLACE_IOAS" }, { "SET_TEMP_MEMORY_LIMIT", "SET_TEMP_MEMORY_LIMIT" },
		{ "CHECK_REFS", "MD_CHECK_REFS" }, { "SET_DIRTY", "DIRTY" }, { "TRIGGER_IOPF", "TRIGGER_IOPF" },
		{ "FAIL_NTH", "" }, { "FD_READ", "" }, { "FD_WRITE", "" }, { "FD_CLOSE", "" }, { "TEST_CMD", "" }, { NULL, NULL },
	};
	const char *kop = NULL;
	for (int i = 0; HOOK_OPS[i][0]; i++)
		if (!strcmp(HOOK_OPS[i][0], op)) kop = HOOK_OPS[i][1];
	if (!kop) return -32601;
	if (!kernel_hooks_available()) { snprintf(err, errlen, "test hook %s: this kernel has no IOMMU_TEST_CMD", op); return RPC_CANNOT_EXPRESS; }
	int opn = *kop ? op_number(kop) : 0;
	if (opn < 0) { snprintf(err, errlen, "test hook %s: the running kernel (%s) has no IOMMU_TEST_OP_%s", op, kernel_release(), kop); return RPC_CANNOT_EXPRESS; }
	uint8_t cmd[256] = { 0 };
	uint64_t a = 0, b = 0, c = 0, d = 0;
	char f[96];
	int e;

	if (!strcmp(op, "FAIL_NTH")) {
		if (u64_field(arg, "n", &a, 1)) { snprintf(err, errlen, "FAIL_NTH: bad n"); return -32602; }
		fail_nth_pending = (long)a;
		return answer(out, 0, "");
	}
	if (!strcmp(op, "CHECK_REFS")) return check_refs(arg, out, err, errlen);
	if (!strcmp(op, "TEST_CMD")) return raw_test_cmd(ctx, arg, out, err, errlen);
	if (!strcmp(op, "SET_TEMP_MEMORY_LIMIT")) {
		if (u64_field(arg, "limit", &a, 1) || a > UINT32_MAX) { snprintf(err, errlen, "SET_TEMP_MEMORY_LIMIT: bad limit"); return -32602; }
		put32(cmd, at("memory_limit.limit"), (uint32_t)a);
		return answer(out, armed_cmd(ctx, cmd, opn, 0), "");
	}
	if (!strcmp(op, "ADD_RESERVED")) {
		if (u64_field(arg, "ioas_id", &a, 1) || u64_field(arg, "start", &b, 1) || u64_field(arg, "length", &c, 1)) { snprintf(err, errlen, "ADD_RESERVED: bad args"); return -32602; }
		put64(cmd, at("add_reserved.start"), b);
		put64(cmd, at("add_reserved.length"), c);
		return answer(out, armed_cmd(ctx, cmd, opn, (uint32_t)a), "");
	}
	if (!strcmp(op, "CREATE_ACCESS")) {
		if (u64_field(arg, "ioas_id", &a, 1) || u64_field(arg, "flags", &b, 0)) { snprintf(err, errlen, "CREATE_ACCESS: bad args"); return -32602; }
		put32(cmd, at("create_access.flags"), (uint32_t)b);
		if ((e = armed_cmd(ctx, cmd, opn, (uint32_t)a))) return answer(out, e, "");
		/* The selftest's access is a file: its fd is the handle the other access hooks take. */
		int afd = (int)get32(cmd, at("create_access.out_access_fd"));
		own(afd, ctx);
		snprintf(f, sizeof(f), "\"access_id\":%d", afd);
		return answer(out, 0, f);
	}
	if (!strcmp(op, "DESTROY_ACCESS")) {
		if (u64_field(arg, "access_id", &a, 1)) { snprintf(err, errlen, "DESTROY_ACCESS: bad access_id"); return -32602; }
		if (!disown((int)a)) return answer(out, ENOENT, "");
		kernel_fail_nth_arm();
		return answer(out, close((int)a) ? errno : 0, "");
	}
	if (!strcmp(op, "ACCESS_PIN")) {
		if (u64_field(arg, "access_id", &a, 1) || u64_field(arg, "iova", &b, 1) || u64_field(arg, "length", &c, 1)) { snprintf(err, errlen, "ACCESS_PIN: bad args"); return -32602; }
		put32(cmd, at("access_pages.flags"), flag_field(arg, "write") ? MOCK_FLAGS_ACCESS_WRITE : 0);
		put64(cmd, at("access_pages.iova"), b);
		put64(cmd, at("access_pages.length"), c);
		put64(cmd, at("access_pages.uptr"), 0); /* no uptr: selftest.c then skips comparing the pages with a user buffer */
		if ((e = armed_cmd(ctx, cmd, opn, (uint32_t)a))) return answer(out, e, "");
		snprintf(f, sizeof(f), "\"pages_id\":%u", get32(cmd, at("access_pages.out_access_pages_id")));
		return answer(out, 0, f);
	}
	if (!strcmp(op, "ACCESS_UNPIN")) {
		if (u64_field(arg, "access_id", &a, 1) || u64_field(arg, "pages_id", &b, 1)) { snprintf(err, errlen, "ACCESS_UNPIN: bad args"); return -32602; }
		put32(cmd, at("destroy_access_pages.access_pages_id"), (uint32_t)b);
		return answer(out, armed_cmd(ctx, cmd, opn, (uint32_t)a), "");
	}
	if (!strcmp(op, "ACCESS_RW")) return access_rw(ctx, opn, arg, out, err, errlen);
	if (!strcmp(op, "ACCESS_REPLACE_IOAS")) {
		if (u64_field(arg, "access_id", &a, 1) || u64_field(arg, "ioas_id", &b, 1)) { snprintf(err, errlen, "ACCESS_REPLACE_IOAS: bad args"); return -32602; }
		put32(cmd, at("access_replace_ioas.ioas_id"), (uint32_t)b);
		return answer(out, armed_cmd(ctx, cmd, opn, (uint32_t)a), "");
	}
	if (!strcmp(op, "SET_DIRTY")) {
		if (u64_field(arg, "hwpt_id", &a, 1) || u64_field(arg, "iova", &b, 1) || u64_field(arg, "length", &c, 1) || u64_field(arg, "page_size", &d, 1)) { snprintf(err, errlen, "SET_DIRTY: bad args"); return -32602; }
		uint64_t uptr;
		if (u64_field(arg, "uptr", &uptr, 1)) { snprintf(err, errlen, "SET_DIRTY: bad uptr"); return -32602; }
		put64(cmd, at("dirty.iova"), b);
		put64(cmd, at("dirty.length"), c);
		put64(cmd, at("dirty.page_size"), d);
		put64(cmd, at("dirty.uptr"), uptr);
		if ((e = armed_cmd(ctx, cmd, opn, (uint32_t)a))) return answer(out, e, "");
		snprintf(f, sizeof(f), "\"nr_dirty\":%llu", (unsigned long long)get64(cmd, at("dirty.out_nr_dirty")));
		return answer(out, 0, f);
	}
	if (!strcmp(op, "TRIGGER_IOPF")) {
		uint64_t perm, addr;
		if (u64_field(arg, "dev_id", &a, 1) || u64_field(arg, "pasid", &b, 0) || u64_field(arg, "grpid", &c, 0) || u64_field(arg, "perm", &perm, 0) || u64_field(arg, "addr", &addr, 0)) { snprintf(err, errlen, "TRIGGER_IOPF: bad args"); return -32602; }
		put32(cmd, at("trigger_iopf.dev_id"), (uint32_t)a);
		put32(cmd, at("trigger_iopf.pasid"), (uint32_t)b);
		put32(cmd, at("trigger_iopf.grpid"), (uint32_t)c);
		put32(cmd, at("trigger_iopf.perm"), (uint32_t)perm);
		put64(cmd, at("trigger_iopf.addr"), addr);
		return answer(out, armed_cmd(ctx, cmd, opn, 0), "");
	}
	if (!strcmp(op, "FD_READ") || !strcmp(op, "FD_WRITE") || !strcmp(op, "FD_CLOSE")) {
		if (u64_field(arg, "fd_id", &a, 1)) { snprintf(err, errlen, "%s: bad fd_id", op); return -32602; }
		int fd = (int)a;
		if (!strcmp(op, "FD_CLOSE")) {
			if (!disown(fd)) return answer(out, EBADF, "");
			return answer(out, close(fd) ? errno : 0, "");
		}
		if (!strcmp(op, "FD_WRITE")) {
			const struct json *dj = json_get(arg, "data");
			uint8_t *data;
			long n;
			if (!dj || dj->type != J_STR || (n = hex_decode(dj->str, &data)) < 0) { snprintf(err, errlen, "FD_WRITE: data not hex"); return -32602; }
			ssize_t w = write(fd, data, n);
			e = errno;
			free(data);
			if (w < 0) return answer(out, e, "");
			snprintf(f, sizeof(f), "\"written\":%zd", w);
			return answer(out, 0, f);
		}
		if (u64_field(arg, "length", &b, 1) || b > ACCESS_MAX_BYTES) { snprintf(err, errlen, "FD_READ: bad length"); return -32602; }
		uint8_t *buf = malloc(b ? b : 1);
		ssize_t r = read(fd, buf, b);
		e = errno;
		if (r < 0) { free(buf); return answer(out, e, ""); }
		jb_str(out, "{\"ret\":0,\"out\":{\"data\":");
		jb_hex(out, buf, (size_t)r);
		jb_str(out, "}}");
		free(buf);
		return 0;
	}
	snprintf(err, errlen, "test hook %s is not offered", op);
	return -32601;
}
