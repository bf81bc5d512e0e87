/*
 * The C adapter: speaks the stdio protocol (JSON-RPC 2.0, one message a line) and performs each
 * call for real, on /dev/iommu and the VFIO device cdevs, with its own process memory as the
 * user memory. On a kernel it drives the kernel; under the fake /dev/iommu (LD_PRELOAD
 * libioasid-fake.so) it drives whatever adapter the fake serves from — which is how CI runs
 * the suite through real C layouts end to end: runner → this program → the fake → `ioasid serve`.
 *
 * The structs are laid out by the generated tables (uapi-layouts.h); a pointer field carries an
 * address in this process, which the runner got from this program's MMAP hook. Topology device
 * N is /dev/vfio/devices/vfioN. Under the fake, `world` replaces the fake's world through
 * ioasid_fake_world (looked up with dlsym, so that the same binary runs on a kernel, where the
 * world is the machine's own and only the device names are taken from the topology).
 *
 * Hooks done here: MMAP (anonymous, shared), MUNMAP, MEM_WRITE, MEM_READ (EFAULT outside this
 * program's mappings), IOMMUFD_MMAP (mmap(2) of the /dev/iommu fd), DEVICE_UNBIND (closes the
 * device cdev), RAW_IOCTL. The others belong to the
 * machine's test interface: under the fake, ioasid_fake_test (the served adapter's hooks, our
 * fds mapped, our memory synced); on a kernel, IOMMU_TEST_CMD with CONFIG_IOMMUFD_TEST and
 * /proc/self/task/<tid>/fail-nth (kernel-hooks.c), and `hello` names the running kernel.
 *
 * On a kernel without VFIO device cdevs (the test kernel of `ioasid kernel-check`) the only
 * devices are the selftest's mock devices, which IOMMU_TEST_OP_MOCK_DOMAIN creates, binds and
 * attaches in one call (and with an object of its own, which shifts every later object id): a
 * VFIO cdev bind, attach or detach of a topology device cannot be expressed, so those calls
 * are answered RPC_CANNOT_EXPRESS and the case is unsupported.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "json.h"
#include "layout.h"
#include "kernel-hooks.h"

#define MAX_DEVS 256
#define STRUCT_MAX_BYTES (16u << 20)

static const char *CAPABILITIES[] = { "ioas", "hwpt", "options", "vfio-device", "test:mem", "x-raw-ioctl", NULL };
/* On a real kernel: vfio-device only with VFIO device cdevs (see above); model:mock, dirty and nesting:selftest are the selftest mock driver's; vfio-compat is iommufd's own (iommufd_vfio_ioctl answers the type1 container ioctls on the /dev/iommu fd). */
static const char *KERNEL_CAPABILITIES[] = { "ioas", "hwpt", "options", "test:mem", "x-raw-ioctl", "dirty", "nesting:selftest", "model:mock", "vfio-compat", NULL };

struct mapping { uintptr_t addr; size_t len; };
static struct mapping *maps;
static int nmaps;
static char *dev_names[MAX_DEVS];
static int ndevs;
static int dev_fd[MAX_DEVS];
static uint64_t dev_id[MAX_DEVS];
static int dev_bound[MAX_DEVS];
static int dev_ctx[MAX_DEVS];
static int iommu_fds[1024];
static int niommu;
static int (*fake_world)(const char *topology);
static const char *(*fake_capabilities)(void);
static int (*fake_test)(int fd, const char *op, const char *arg, char **out);
static int (*fake_copied_back)(void);
static int (*fake_fail_nth_reached)(void);

/*
 * Under the fake, what the machine offers (models, formats, nesting, the hooks its test
 * interface serves) comes from the served adapter, less what this program cannot carry: other
 * processes (fork), memfd files and hugetlb or private mappings (its MMAP is anonymous shared
 * memory). fail-nth is carried: FAIL_NTH goes to the fake's test interface and an ioctl's
 * fail_nth_reached comes from ioasid_fake_fail_nth_reached.
 */
static const char *NOT_CARRIED[] = { "test:process", "change-process", "map-file", "test:mmap-huge", "test:mmap-private", "test:mem-mirror", "test:mem-batch", NULL };

/* A kernel with VFIO device cdevs: topology device N is /dev/vfio/devices/vfioN, as before. */
static int have_vfio_cdevs(void) {
	return access("/dev/vfio/devices", F_OK) == 0;
}

static int listed(const char **list, const char *name) {
	for (int i = 0; list[i]; i++)
		if (!strcmp(list[i], name)) return 1;
	return 0;
}

/* ---- answers ---- */

static void send_line(struct jbuf *b) {
	jb_str(b, "\n");
	fwrite(b->p, 1, b->len, stdout);
	fflush(stdout);
}

static void reply_error(const char *id, int code, const char *msg) {
	struct jbuf b;
	jb_init(&b);
	jb_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":%d,\"message\":", id, code);
	jb_quote(&b, msg);
	jb_str(&b, "}}");
	send_line(&b);
	jb_free(&b);
}

static void reply(const char *id, const char *result) {
	struct jbuf b;
	jb_init(&b);
	jb_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":", id);
	jb_str(&b, result);
	jb_str(&b, "}");
	send_line(&b);
	jb_free(&b);
}

static void errno_result(struct jbuf *out, int e) {
	const char *name = errno_name(e);
	jb_str(out, "{\"errno\":");
	jb_quote(out, name ? name : "EIO");
	jb_str(out, "}");
}

/* ---- memory ---- */

static int mapped(uintptr_t addr, size_t len) {
	if (addr + len < addr) return 0;
	size_t done = 0;
	while (done < len) {
		int found = 0;
		for (int i = 0; i < nmaps; i++)
			if (addr + done >= maps[i].addr && addr + done < maps[i].addr + maps[i].len) {
				done = maps[i].addr + maps[i].len - addr;
				found = 1;
				break;
			}
		if (!found) return 0;
	}
	return 1;
}

static void forget(uintptr_t addr, size_t len) {
	uintptr_t end = addr + ((len + 4095) & ~4095ul);
	for (int i = 0; i < nmaps; i++) {
		struct mapping m = maps[i];
		uintptr_t mend = m.addr + m.len;
		if (mend <= addr || m.addr >= end) continue;
		maps[i] = maps[--nmaps];
		i--;
		maps = realloc(maps, (nmaps + 2) * sizeof(*maps));
		if (m.addr < addr) maps[nmaps++] = (struct mapping){ m.addr, addr - m.addr };
		if (end < mend) maps[nmaps++] = (struct mapping){ end, mend - end };
	}
}

/* ---- devices and contexts ---- */

static int device_index(const struct json *name) {
	if (!name || name->type != J_STR) return -1;
	for (int i = 0; i < ndevs; i++)
		if (!strcmp(dev_names[i], name->str)) return i;
	return -1;
}

static int device_fd(int i) {
	if (dev_fd[i] < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/dev/vfio/devices/vfio%d", i);
		dev_fd[i] = open(path, O_RDWR | O_CLOEXEC);
	}
	return dev_fd[i];
}

static void unbind(int i) {
	if (dev_fd[i] >= 0) close(dev_fd[i]);
	dev_fd[i] = -1;
	dev_bound[i] = 0;
}

static void close_all(void) {
	for (int i = 0; i < ndevs; i++) unbind(i);
	for (int i = 0; i < niommu; i++) close(iommu_fds[i]);
	niommu = 0;
}

/* ---- methods ---- */

static int do_world(const struct json *params, struct jbuf *out, char *err, size_t errlen) {
	const struct json *t = json_get(params, "topology");
	if (!t || t->type != J_OBJ) { snprintf(err, errlen, "world: topology missing"); return -32602; }
	const struct json *drop = json_get(json_get(t, "process"), "drop");
	if (!fake_world && drop && drop->type == J_ARR && drop->child) {
		/* Capabilities dropped by this process could not be taken back for the next world. */
		snprintf(err, errlen, "world: on a real kernel the adapter keeps every capability (a dropped one could not come back for the next world)");
		return RPC_CANNOT_EXPRESS;
	}
	close_all();
	/* A new world has a new user memory: this program's earlier MMAPs go. */
	for (int i = 0; i < nmaps; i++) munmap((void *)maps[i].addr, maps[i].len);
	nmaps = 0;
	for (int i = 0; i < ndevs; i++) free(dev_names[i]);
	ndevs = 0;
	const struct json *devs = json_get(t, "devices");
	for (const struct json *d = devs ? devs->child : NULL; d && ndevs < MAX_DEVS; d = d->next) {
		const struct json *n = json_get(d, "name");
		dev_names[ndevs] = strdup(n && n->type == J_STR ? n->str : "?");
		dev_fd[ndevs] = -1;
		dev_bound[ndevs++] = 0;
	}
	if (!fake_world) {
		int has_mock = 0;
		const struct json *bridges = json_get(t, "bridges");
		for (const struct json *b = bridges ? bridges->child : NULL; b; b = b->next) {
			const struct json *model = json_get(json_get(b, "iommu"), "model");
			if (model && model->type == J_STR && !strcmp(model->str, "mock")) has_mock = 1;
		}
		kernel_world(has_mock);
	}
	if (fake_world) {
		char *text = strndup(t->start, t->end - t->start);
		int bad = fake_world(text);
		free(text);
		if (bad) { snprintf(err, errlen, "world: the fake /dev/iommu refused the topology"); return -32000; }
	}
	jb_str(out, "{}");
	return 0;
}

static int field_u64(const struct json *arg, const char *key, uint64_t *v) {
	*v = 0;
	const struct json *f = json_get(arg, key);
	return f ? json_u64(f, v) : 0;
}

static int do_ioctl_inner(const struct json *params, struct jbuf *out, char *err, size_t errlen);

/* An ioctl's answer, with fail_nth_reached when the machine reports one (the fake does). */
static int do_ioctl(const struct json *params, struct jbuf *out, char *err, size_t errlen) {
	int code = do_ioctl_inner(params, out, err, errlen);
	int reached = fake_fail_nth_reached ? (code ? -1 : fake_fail_nth_reached()) : kernel_fail_nth_reached();
	if (!code && !fake_test) {
		uint64_t fd;
		if (!json_u64(json_get(params, "fd"), &fd)) kernel_note_ioctl((int)fd, out->p ? out->p : "");
	}
	if (reached >= 0 && out->len && out->p[out->len - 1] == '}') {
		out->len--;
		jb_str(out, reached ? ",\"fail_nth_reached\":true}" : ",\"fail_nth_reached\":false}");
	}
	return code;
}

static int do_ioctl_inner(const struct json *params, struct jbuf *out, char *err, size_t errlen) {
	uint64_t fd;
	const struct json *cmd = json_get(params, "cmd"), *arg = json_get(params, "arg");
	if (json_u64(json_get(params, "fd"), &fd) || !cmd || cmd->type != J_STR) { snprintf(err, errlen, "ioctl: fd and cmd required"); return -32602; }
	if (json_get(params, "pid") || json_get(params, "argp")) { snprintf(err, errlen, "ioctl: pid and argp are not supported"); return -32602; }
	const struct ioasid_layout_ioctl *lay = layout_by_name(cmd->str);
	if (!lay) { snprintf(err, errlen, "ioctl %s: not implemented", cmd->str); return -32000; }
	int target = fd, dev = -1;
	if (lay->family == 1 && !fake_test && !have_vfio_cdevs()) {
		snprintf(err, errlen, "%s: on a real kernel the devices are selftest mock devices, created, bound and attached in one IOMMU_TEST_OP_MOCK_DOMAIN; a VFIO device cdev bind, attach or detach cannot be expressed", lay->name);
		return RPC_CANNOT_EXPRESS;
	}
	if (lay->family == 1) {
		dev = device_index(json_get(arg, "device"));
		if (dev < 0) { snprintf(err, errlen, "%s: no such topology device", lay->name); return -32602; }
		target = device_fd(dev);
		if (target < 0) { errno_result(out, errno); return 0; }
	}
	if (lay->st < 0) {
		uint64_t v = 0;
		if (lay->int_arg && field_u64(arg, lay->int_arg, &v)) { snprintf(err, errlen, "%s: bad %s", lay->name, lay->int_arg); return -32602; }
		if (!fake_test) kernel_fail_nth_arm();
		long r = ioctl(target, lay->request, (unsigned long)v);
		if (r < 0) errno_result(out, errno);
		else jb_printf(out, "{\"ret\":%ld,\"arg\":{}}", r);
		return 0;
	}
	size_t st_size = ioasid_layout_structs[lay->st].size;
	uint64_t size;
	if (field_u64(arg, lay->size_is_argsz ? "argsz" : "size", &size)) { snprintf(err, errlen, "%s: bad size", lay->name); return -32602; }
	uint8_t *trailing = NULL;
	long ntrail = 0;
	const struct json *tr = json_get(arg, "__trailing");
	if (tr && (tr->type != J_STR || (ntrail = hex_decode(tr->str, &trailing)) < 0)) { snprintf(err, errlen, "__trailing: not hex"); return -32602; }
	size_t len = st_size + ntrail;
	if (size > len) len = size > STRUCT_MAX_BYTES ? STRUCT_MAX_BYTES : size;
	uint8_t *buf = calloc(1, len), *before = malloc(len);
	if (layout_encode(lay->st, arg, buf, st_size, err, errlen)) { free(buf); free(before); free(trailing); return -32602; }
	if (ntrail) memcpy(buf + st_size, trailing, ntrail);
	free(trailing);
	if (lay->family == 1 && !strcmp(lay->name, "VFIO_DEVICE_BIND_IOMMUFD")) {
		int32_t ifd = fd;
		memcpy(buf + 8, &ifd, 4); /* struct vfio_device_bind_iommufd.iommufd: the step's context */
	}
	memcpy(before, buf, len);
	if (!fake_test) kernel_fail_nth_arm();
	long r = ioctl(target, lay->request, buf);
	int e = errno;
	int first = 1;
	if (r < 0) {
		const char *name = errno_name(e);
		jb_str(out, "{\"errno\":");
		jb_quote(out, name ? name : "EIO");
		/* A copy-back of unchanged bytes is invisible here; the fake knows whether it happened. */
		if (fake_copied_back ? fake_copied_back() : memcmp(before, buf, len) != 0) {
			jb_str(out, ",\"arg\":{");
			layout_decode(lay->st, buf, st_size, out, &first);
			jb_str(out, "}");
		}
		jb_str(out, "}");
	} else {
		jb_printf(out, "{\"ret\":%ld,\"arg\":{", r);
		layout_decode(lay->st, buf, st_size, out, &first);
		if (len > st_size) {
			/* The buffer past the struct, as the kernel left it: VFIO_IOMMU_GET_INFO's capability chain. */
			jb_str(out, first ? "\"__trailing\":" : ",\"__trailing\":");
			jb_hex(out, buf + st_size, len - st_size);
		}
		jb_str(out, "}}");
		if (dev >= 0 && !strcmp(lay->name, "VFIO_DEVICE_BIND_IOMMUFD")) {
			uint32_t id;
			memcpy(&id, buf + 12, 4);
			dev_id[dev] = id;
			dev_bound[dev] = 1;
			dev_ctx[dev] = fd;
		}
	}
	free(buf);
	free(before);
	return 0;
}

static int hook_result(struct jbuf *out, int e, const char *fields) {
	if (e) errno_result(out, e);
	else jb_printf(out, "{\"ret\":0,\"out\":{%s}}", fields);
	return 0;
}

/* A mapping the adapter made for a hook: remembered (the memory hooks check addresses against
 * it, MUNMAP trims it) and answered with its address. */
static int mapped_result(struct jbuf *out, void *p, uint64_t length) {
	maps = realloc(maps, (nmaps + 1) * sizeof(*maps));
	maps[nmaps++] = (struct mapping){ (uintptr_t)p, (length + 4095) & ~4095ul };
	char f[64];
	snprintf(f, sizeof(f), "\"addr\":%lu", (unsigned long)(uintptr_t)p);
	return hook_result(out, 0, f);
}

static int do_test(const struct json *params, struct jbuf *out, char *err, size_t errlen) {
	const struct json *op = json_get(params, "op"), *arg = json_get(params, "arg");
	if (!op || op->type != J_STR) { snprintf(err, errlen, "test: op required"); return -32602; }
	if (json_get(params, "pid")) { snprintf(err, errlen, "test: pid is not supported"); return -32602; }
	uint64_t addr = 0, length = 0;
	if (!strcmp(op->str, "MMAP")) {
		if (json_get(arg, "fd") || json_get(arg, "huge") || json_get(arg, "private") || json_get(arg, "addr")) { snprintf(err, errlen, "MMAP: only anonymous memory"); return -32602; }
		if (field_u64(arg, "length", &length)) { snprintf(err, errlen, "MMAP: bad length"); return -32602; }
		void *p = length ? mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;
		if (p == MAP_FAILED) return hook_result(out, length ? errno : EINVAL, "");
		return mapped_result(out, p, length);
	}
	if (!strcmp(op->str, "IOMMUFD_MMAP")) {
		uint64_t fd, offset;
		const struct json *priv = json_get(arg, "private");
		if (json_u64(json_get(params, "fd"), &fd) || field_u64(arg, "offset", &offset) || field_u64(arg, "length", &length)) { snprintf(err, errlen, "IOMMUFD_MMAP: bad args"); return -32602; }
		int private = priv && priv->type == J_BOOL && priv->boolean;
		void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, private ? MAP_PRIVATE : MAP_SHARED, fd, offset);
		if (p == MAP_FAILED) return hook_result(out, errno, "");
		return mapped_result(out, p, length);
	}
	if (!strcmp(op->str, "MUNMAP")) {
		if (field_u64(arg, "addr", &addr) || field_u64(arg, "length", &length)) { snprintf(err, errlen, "MUNMAP: bad args"); return -32602; }
		if (!mapped(addr, length ? length : 1)) return hook_result(out, 0, ""); /* munmap of nothing is fine */
		if (munmap((void *)addr, length)) return hook_result(out, errno, "");
		forget(addr, length);
		return hook_result(out, 0, "");
	}
	if (!strcmp(op->str, "MEM_WRITE")) {
		const struct json *d = json_get(arg, "data");
		uint8_t *data;
		long n;
		if (field_u64(arg, "addr", &addr) || !d || d->type != J_STR || (n = hex_decode(d->str, &data)) < 0) { snprintf(err, errlen, "MEM_WRITE: bad args"); return -32602; }
		int ok = mapped(addr, n);
		if (ok) memcpy((void *)addr, data, n);
		free(data);
		return hook_result(out, ok ? 0 : EFAULT, "");
	}
	if (!strcmp(op->str, "MEM_READ")) {
		if (field_u64(arg, "addr", &addr) || field_u64(arg, "length", &length) || length > (16u << 20)) { snprintf(err, errlen, "MEM_READ: bad args"); return -32602; }
		if (!mapped(addr, length)) return hook_result(out, EFAULT, "");
		jb_str(out, "{\"ret\":0,\"out\":{\"data\":");
		jb_hex(out, (const uint8_t *)addr, length);
		jb_str(out, "}}");
		return 0;
	}
	if (!strcmp(op->str, "DEVICE_UNBIND") && !fake_test && !have_vfio_cdevs()) {
		snprintf(err, errlen, "DEVICE_UNBIND: on a real kernel no topology device is bound through a VFIO cdev");
		return RPC_CANNOT_EXPRESS;
	}
	if (!strcmp(op->str, "DEVICE_UNBIND")) {
		uint64_t id;
		if (field_u64(arg, "dev_id", &id)) { snprintf(err, errlen, "DEVICE_UNBIND: bad dev_id"); return -32602; }
		for (int i = 0; i < ndevs; i++)
			if (dev_bound[i] && dev_id[i] == id) { unbind(i); return hook_result(out, 0, ""); }
		return hook_result(out, ENOENT, "");
	}
	if (!strcmp(op->str, "RAW_IOCTL")) {
		uint64_t fd, request, argp = 0;
		if (json_u64(json_get(params, "fd"), &fd) || field_u64(arg, "request", &request) || field_u64(arg, "argp", &argp)) { snprintf(err, errlen, "RAW_IOCTL: bad args"); return -32602; }
		const struct json *b = json_get(arg, "bytes");
		uint8_t *bytes = NULL;
		long n = 0;
		if (b && (b->type != J_STR || (n = hex_decode(b->str, &bytes)) < 0)) { snprintf(err, errlen, "RAW_IOCTL: bytes not hex"); return -32602; }
		/* Bytes would carry the caller's op numbering, which may not be this kernel's: TEST_CMD maps it. */
		if (!fake_test && json_get(arg, "bytes") && kernel_test_cmd_request() && request == kernel_test_cmd_request()) { snprintf(err, errlen, "RAW_IOCTL of IOMMU_TEST_CMD with bytes: use the TEST_CMD hook"); return -32602; }
		const struct ioasid_layout_ioctl *lay = layout_by_request(request);
		size_t st = lay && lay->st >= 0 ? ioasid_layout_structs[lay->st].size : 0;
		uint8_t *buf = NULL;
		if (b) { buf = calloc(1, (size_t)n > st ? (size_t)n : st); memcpy(buf, bytes, n); }
		free(bytes);
		long r = ioctl(fd, request, b ? (void *)buf : (void *)argp);
		int e = errno;
		if (r < 0) { free(buf); return hook_result(out, e, ""); }
		int first = 1;
		jb_str(out, "{\"ret\":0,\"out\":{");
		if (buf && lay && lay->st >= 0) layout_decode(lay->st, buf, (size_t)n < st ? (size_t)n : st, out, &first);
		jb_str(out, "}}");
		free(buf);
		return 0;
	}
	if (fake_test) {
		/* The machine's test interface: the fake's, which maps our fds and syncs our memory. */
		uint64_t fd;
		int has_fd = !json_u64(json_get(params, "fd"), &fd);
		char *text = arg ? strndup(arg->start, arg->end - arg->start) : strdup("{}");
		char *result = NULL;
		int code = fake_test(has_fd ? (int)fd : -1, op->str, text, &result);
		free(text);
		if (code) snprintf(err, errlen, "%s", result ? result : "the fake's test interface failed");
		else jb_str(out, result);
		free(result);
		return code;
	}
	uint64_t fd;
	int code = kernel_test(json_u64(json_get(params, "fd"), &fd) ? -1 : (int)fd, op->str, arg, out, err, errlen);
	if (code == -32601) snprintf(err, errlen, "test hook %s is not offered", op->str);
	if (!code) {
		int reached = kernel_fail_nth_reached();
		if (reached >= 0 && out->len && out->p[out->len - 1] == '}') {
			out->len--;
			jb_str(out, reached ? ",\"fail_nth_reached\":true}" : ",\"fail_nth_reached\":false}");
		}
	}
	return code;
}

static void handle(char *line) {
	struct json *arena;
	struct json *req = json_parse(line, &arena);
	if (!req) { reply_error("null", -32700, "parse error"); json_free(arena); return; }
	const struct json *idn = json_get(req, "id"), *method = json_get(req, "method");
	char *id = idn ? strndup(idn->start, idn->end - idn->start) : strdup("null");
	if (!method || method->type != J_STR) { reply_error(id, -32600, "not a JSON-RPC 2.0 request"); goto out; }
	const struct json *params = json_get(req, "params");
	struct jbuf res;
	char err[512] = "";
	int code = 0;
	jb_init(&res);
	const char *m = method->str;
	if (!strcmp(m, "hello")) {
		uint64_t v;
		if (json_u64(json_get(params, "protocol"), &v) || v != 1) { reply_error(id, -32002, "protocol 1 only"); jb_free(&res); goto out; }
		jb_str(&res, "{\"protocol\":1,\"implementation\":{\"name\":\"ioasid-c-adapter\",\"version\":\"0.1.0\"}");
		if (!fake_test && kernel_release()[0]) { jb_str(&res, ",\"kernel\":"); jb_quote(&res, kernel_release()); }
		jb_str(&res, ",\"capabilities\":[");
		const char **own = fake_test ? CAPABILITIES : KERNEL_CAPABILITIES;
		for (int i = 0; own[i]; i++) { if (i) jb_str(&res, ","); jb_quote(&res, own[i]); }
		if (!fake_test) kernel_capabilities(&res);
		if (!fake_test && have_vfio_cdevs()) jb_str(&res, ",\"vfio-device\"");
		struct json *carena = NULL;
		struct json *served = fake_capabilities ? json_parse(fake_capabilities(), &carena) : NULL;
		for (struct json *c = served && served->type == J_ARR ? served->child : NULL; c; c = c->next)
			if (c->type == J_STR && !listed(CAPABILITIES, c->str) && !listed(NOT_CARRIED, c->str)) { jb_str(&res, ","); jb_quote(&res, c->str); }
		json_free(carena);
		jb_str(&res, "]}");
	} else if (!strcmp(m, "world")) code = do_world(params, &res, err, sizeof(err));
	else if (!strcmp(m, "open")) {
		int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (fd < 0) { snprintf(err, sizeof(err), "open /dev/iommu: %s", strerror(errno)); code = -32000; }
		else { iommu_fds[niommu++] = fd; jb_printf(&res, "{\"fd\":%d}", fd); }
	} else if (!strcmp(m, "close")) {
		uint64_t fd;
		int found = -1;
		json_u64(json_get(params, "fd"), &fd);
		for (int i = 0; i < niommu; i++) if (iommu_fds[i] == (int)fd) found = i;
		if (found < 0) { snprintf(err, sizeof(err), "close: fd %d is not open", (int)fd); code = -32602; }
		else {
			/* Closing the context: the devices bound to it go with their cdevs. */
			for (int i = 0; i < ndevs; i++) if (dev_bound[i] && dev_ctx[i] == (int)fd) unbind(i);
			if (!fake_test) kernel_close_context((int)fd);
			close(fd);
			iommu_fds[found] = iommu_fds[--niommu];
			jb_str(&res, "{}");
		}
	} else if (!strcmp(m, "ioctl")) code = do_ioctl(params, &res, err, sizeof(err));
	else if (!strcmp(m, "test")) code = do_test(params, &res, err, sizeof(err));
	else if (!strcmp(m, "shutdown")) {
		close_all();
		reply(id, "{}");
		exit(0);
	} else { snprintf(err, sizeof(err), "unknown method %s", m); code = -32601; }
	if (code) reply_error(id, code, err);
	else reply(id, res.p);
	jb_free(&res);
out:
	free(id);
	json_free(arena);
}

int main(void) {
	fake_world = (int (*)(const char *))dlsym(RTLD_DEFAULT, "ioasid_fake_world");
	fake_capabilities = (const char *(*)(void))dlsym(RTLD_DEFAULT, "ioasid_fake_capabilities");
	fake_test = (int (*)(int, const char *, const char *, char **))dlsym(RTLD_DEFAULT, "ioasid_fake_test");
	fake_copied_back = (int (*)(void))dlsym(RTLD_DEFAULT, "ioasid_fake_copied_back");
	fake_fail_nth_reached = (int (*)(void))dlsym(RTLD_DEFAULT, "ioasid_fake_fail_nth_reached");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n') line[--n] = 0;
		if (n == 0) continue;
		handle(line);
	}
	close_all();
	return 0;
}
