/*
 * The fake /dev/iommu: a preloadable library (LD_PRELOAD=libioasid-fake.so) that serves
 * open/ioctl/close of /dev/iommu and of the VFIO device cdevs /dev/vfio/devices/vfioN from any
 * adapter over the stdio protocol, so that an unmodified C program (a VMM, the kernel's
 * selftests, our C adapter) runs against the reference or another implementation.
 *
 *   IOASID_ADAPTER   the adapter command (default `npx ioasid serve`), run through /bin/sh
 *   IOASID_TOPOLOGY  the world: topology JSON, or @file; vfioN is its device N (default: one
 *                    mock bridge with devices mock0..mock3)
 *   IOASID_FAKE_LOG  set: every exchange on stderr
 *
 * Memory: the model's process must hold what the caller's does at the same addresses, since
 * ioctl arguments carry pointers. Every anonymous mapping the program makes with mmap(2) is
 * mirrored (MMAP at a fixed address, test:mem-mirror); before each call the pages that differ
 * from a shadow copy are pushed with MEM_WRITE, after it the pages the implementation wrote
 * (MEM_WRITTEN) are copied back. Memory that is not an mmap of the program (stack, heap, data)
 * is not mirrored: a pointer into it reaches unmapped memory in the model (EFAULT).
 *
 * The structs travel as fields by name (the named `ioctl` method), decoded and encoded by the
 * generated layouts; a request with no layout goes as RAW_IOCTL, whose answer follows main.c's
 * dispatch order. `ioasid_fake_world(topology)` lets a program that knows it runs on the fake
 * (the C adapter) replace the world.
 *
 * Invariant: a fake fd is a real fd (of /dev/null) reserved for the program, so fd numbers never
 * collide; fakes[] says what it stands for. One lock serialises every exchange.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "json.h"
#include "layout.h"
#include "rpc.h"

#define PAGE 4096ul
#define MAX_FDS 4096
#define PUSH_CHUNK (4ul << 20)

enum kind { K_NONE, K_IOMMU, K_VFIO };
struct fake { enum kind kind; int model_fd; int dev; int bound; int ctx; uint64_t dev_id; };
struct region { uintptr_t addr; size_t len; uint8_t *shadow; int mirrored; };

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static struct rpc rpc;
static int started, broken;
static struct fake fakes[MAX_FDS];
static struct region *regions;
static int nregions;
static char **dev_names;
static int ndevs;
static char *served_caps; /* the served adapter's hello capabilities, JSON text */
static int last_copied_back; /* whether the last failed ioctl's answer carried the struct */
static int last_fail_nth_reached = -1; /* the last ioctl answer's fail_nth_reached: -1 absent */

static const char DEFAULT_TOPOLOGY[] =
	"{\"bridges\":[{\"name\":\"pci0\",\"iommu\":{\"model\":\"mock\"}}],\"devices\":["
	"{\"name\":\"mock0\",\"bridge\":\"pci0\"},{\"name\":\"mock1\",\"bridge\":\"pci0\"},"
	"{\"name\":\"mock2\",\"bridge\":\"pci0\"},{\"name\":\"mock3\",\"bridge\":\"pci0\"}]}";

/* ---- raw system calls (never through our own wrappers) ---- */

static long real_openat(int dirfd, const char *path, int flags, mode_t mode) { return syscall(SYS_openat, dirfd, path, flags, mode); }
static void *real_mmap(void *a, size_t l, int p, int f, int fd, off_t o) { return (void *)syscall(SYS_mmap, a, l, p, f, fd, o); }
static int real_munmap(void *a, size_t l) { return syscall(SYS_munmap, a, l); }

static int set_errno(int e) { errno = e; return -1; }

/* Reads the caller's memory without faulting: -1 where it is not readable. */
static int safe_read(const void *addr, void *out, size_t n) {
	if (!addr) return -1;
	struct iovec local = { out, n }, remote = { (void *)addr, n };
	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

static int safe_write(void *addr, const void *data, size_t n) {
	struct iovec local = { (void *)data, n }, remote = { addr, n };
	return process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* ---- protocol ---- */

static struct json *call(const char *method, const char *params, struct json **arena) {
	char msg[512];
	if (broken) { *arena = NULL; return NULL; }
	struct json *r = rpc_call(&rpc, method, params, arena, msg, sizeof(msg));
	if (!r) {
		fprintf(stderr, "ioasid fake /dev/iommu: %s\n", msg);
		if (strstr(msg, "adapter closed") || strstr(msg, "writing")) broken = 1;
	}
	return r;
}

/* A test hook; its answer ({ret, out} or {errno}) in *arena, NULL on a protocol failure. */
static struct json *hook(int fd, const char *op, const char *arg, struct json **arena) {
	struct jbuf b;
	jb_init(&b);
	if (fd >= 0) jb_printf(&b, "{\"fd\":%d,\"op\":\"%s\",\"arg\":%s}", fd, op, arg);
	else jb_printf(&b, "{\"op\":\"%s\",\"arg\":%s}", op, arg);
	struct json *r = call("test", b.p, arena);
	jb_free(&b);
	return r;
}

static int answer_errno(const struct json *r) {
	const struct json *e = json_get(r, "errno");
	if (!e || e->type != J_STR) return 0;
	int n = errno_number(e->str);
	return n > 0 ? n : EIO;
}

/* ---- memory mirror ---- */

static void mirror(struct region *r) {
	char arg[128];
	struct json *a;
	snprintf(arg, sizeof(arg), "{\"length\":%zu,\"addr\":%lu}", r->len, (unsigned long)r->addr);
	struct json *res = hook(-1, "MMAP", arg, &a);
	if (res && answer_errno(res) == EEXIST) {
		/* The model still maps something there (a munmap it did not see): replace it. */
		json_free(a);
		snprintf(arg, sizeof(arg), "{\"addr\":%lu,\"length\":%zu}", (unsigned long)r->addr, r->len);
		hook(-1, "MUNMAP", arg, &a);
		json_free(a);
		snprintf(arg, sizeof(arg), "{\"length\":%zu,\"addr\":%lu}", r->len, (unsigned long)r->addr);
		res = hook(-1, "MMAP", arg, &a);
	}
	r->mirrored = res && !answer_errno(res);
	json_free(a);
	if (r->mirrored) memset(r->shadow, 0, r->len);
}

static void push_range(struct region *r, size_t from, size_t to);

static void region_add(uintptr_t addr, size_t len) {
	len = (len + PAGE - 1) & ~(PAGE - 1);
	uint8_t *shadow = calloc(1, len);
	if (!shadow) return;
	regions = realloc(regions, (nregions + 1) * sizeof(*regions));
	struct region *r = &regions[nregions++];
	*r = (struct region){ addr, len, shadow, 0 };
	if (started && !broken) mirror(r);
}

/* Before the program unmaps [addr, addr + len): what it wrote there last still reaches the
 * pages the model keeps pinned, so it is pushed while it can be read. */
static void push_before_unmap(uintptr_t addr, size_t len) {
	uintptr_t end = addr + ((len + PAGE - 1) & ~(PAGE - 1));
	if (!started || broken) return;
	for (int i = 0; i < nregions; i++) {
		struct region *r = &regions[i];
		uintptr_t rend = r->addr + r->len;
		if (!r->mirrored || rend <= addr || r->addr >= end) continue;
		uintptr_t cs = addr > r->addr ? addr : r->addr, ce = end < rend ? end : rend;
		push_range(r, cs - r->addr, ce - r->addr);
	}
}

/* Forgets [addr, addr + len) of every region (the program unmapped it), in the model too. */
static void region_cut(uintptr_t addr, size_t len) {
	len = (len + PAGE - 1) & ~(PAGE - 1);
	uintptr_t end = addr + len;
	for (int i = 0; i < nregions; i++) {
		struct region *r = &regions[i];
		uintptr_t rend = r->addr + r->len;
		if (rend <= addr || r->addr >= end) continue;
		uintptr_t cs = addr > r->addr ? addr : r->addr, ce = end < rend ? end : rend;
		if (r->mirrored && started && !broken) {
			char arg[128];
			struct json *a;
			snprintf(arg, sizeof(arg), "{\"addr\":%lu,\"length\":%lu}", (unsigned long)cs, (unsigned long)(ce - cs));
			hook(-1, "MUNMAP", arg, &a);
			json_free(a);
		}
		struct region before = { r->addr, cs - r->addr, NULL, r->mirrored };
		struct region after = { ce, rend - ce, NULL, r->mirrored };
		if (before.len) { before.shadow = malloc(before.len); memcpy(before.shadow, r->shadow, before.len); }
		if (after.len) { after.shadow = malloc(after.len); memcpy(after.shadow, r->shadow + (ce - r->addr), after.len); }
		free(r->shadow);
		regions[i] = regions[--nregions];
		i--;
		if (before.len) { regions = realloc(regions, (nregions + 2) * sizeof(*regions)); regions[nregions++] = before; }
		if (after.len) { regions = realloc(regions, (nregions + 2) * sizeof(*regions)); regions[nregions++] = after; }
	}
}

static void push_run(uintptr_t addr, const uint8_t *data, size_t n) {
	struct jbuf b;
	struct json *a;
	jb_init(&b);
	jb_printf(&b, "{\"addr\":%lu,\"data\":", (unsigned long)addr);
	jb_hex(&b, data, n);
	jb_str(&b, "}");
	hook(-1, "MEM_WRITE", b.p, &a);
	json_free(a);
	jb_free(&b);
}

static const uint8_t zero_page[PAGE];

/* Sends the pages of [from, to) of region r that the program changed since the last exchange.
 * A page that is not resident (mincore) reads as zeros: it is compared without being touched,
 * so that scanning a large untouched shared mapping allocates nothing. */
static void push_range(struct region *r, size_t from, size_t to) {
	size_t npages = (to - from) / PAGE;
	unsigned char *resident = malloc(npages + 1);
	if (!resident || mincore((void *)(r->addr + from), to - from, resident)) {
		free(resident);
		resident = NULL;
	}
	{
		size_t run = 0, start = 0;
		for (size_t off = from; off <= to; off += PAGE) {
			int differs = 0;
			const void *now = zero_page;
			if (off < to) {
				if (!resident || (resident[(off - from) / PAGE] & 1)) now = (void *)(r->addr + off);
				differs = memcmp(now, r->shadow + off, PAGE) != 0;
			}
			if (differs) {
				if (!run) start = off;
				memcpy(r->shadow + off, now, PAGE);
				run += PAGE;
			}
			if (run && (!differs || run >= PUSH_CHUNK)) {
				push_run(r->addr + start, r->shadow + start, run);
				run = 0;
			}
		}
	}
	free(resident);
}

/* Sends the pages the program changed since the last exchange. */
static void push(void) {
	for (int i = 0; i < nregions; i++)
		if (regions[i].mirrored) push_range(&regions[i], 0, regions[i].len);
}

static struct region *region_of(uintptr_t addr) {
	for (int i = 0; i < nregions; i++)
		if (addr >= regions[i].addr && addr < regions[i].addr + regions[i].len) return &regions[i];
	return NULL;
}

/* Copies back the pages the implementation wrote. */
static void pull(void) {
	for (;;) {
		struct json *a;
		struct json *res = hook(-1, "MEM_WRITTEN", "{}", &a);
		struct json *out = json_get(res, "out");
		int more = 0;
		struct json *pages = json_get(out, "pages");
		for (struct json *p = pages && pages->type == J_ARR ? pages->child : NULL; p; p = p->next) {
			uint64_t addr;
			uint8_t *data;
			const struct json *d = json_get(p, "data");
			if (json_u64(json_get(p, "addr"), &addr) || !d || d->type != J_STR) continue;
			long n = hex_decode(d->str, &data);
			struct region *r = region_of(addr);
			if (n > 0 && r && addr + n <= r->addr + r->len) {
				memcpy((void *)addr, data, n);
				memcpy(r->shadow + (addr - r->addr), data, n);
			}
			if (n >= 0) free(data);
		}
		const struct json *m = json_get(out, "more");
		more = m && m->type == J_BOOL && m->boolean;
		json_free(a);
		if (!more) break;
	}
}

/* ---- world ---- */

static void set_world(const char *topology) {
	struct jbuf b;
	struct json *a, *t;
	jb_init(&b);
	jb_str(&b, "{\"topology\":");
	jb_str(&b, topology);
	jb_str(&b, "}");
	call("world", b.p, &a);
	json_free(a);
	jb_free(&b);
	for (int i = 0; i < ndevs; i++) free(dev_names[i]);
	free(dev_names);
	dev_names = NULL;
	ndevs = 0;
	struct json *topo = json_parse(topology, &t);
	for (struct json *d = json_get(topo, "devices") ? json_get(topo, "devices")->child : NULL; d; d = d->next) {
		const struct json *n = json_get(d, "name");
		dev_names = realloc(dev_names, (ndevs + 1) * sizeof(char *));
		dev_names[ndevs++] = strdup(n && n->type == J_STR ? n->str : "?");
	}
	json_free(t);
	for (int i = 0; i < MAX_FDS; i++)
		if (fakes[i].kind != K_NONE) fakes[i].model_fd = -1, fakes[i].bound = 0;
	hook(-1, "MEM_WRITTEN", "{}", &a); /* starts the log */
	json_free(a);
	for (int i = 0; i < nregions; i++) mirror(&regions[i]);
}

static char *read_topology(void) {
	const char *t = getenv("IOASID_TOPOLOGY");
	if (!t || !*t) return strdup(DEFAULT_TOPOLOGY);
	if (t[0] != '@') return strdup(t);
	FILE *f = fopen(t + 1, "r");
	if (!f) { fprintf(stderr, "ioasid fake /dev/iommu: cannot read %s\n", t + 1); return strdup(DEFAULT_TOPOLOGY); }
	struct jbuf b;
	char chunk[4096];
	size_t n;
	jb_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) jb_raw(&b, chunk, n);
	fclose(f);
	return b.p ? b.p : strdup(DEFAULT_TOPOLOGY);
}

static int start(void) {
	if (started) return broken ? -1 : 0;
	started = 1;
	const char *cmd = getenv("IOASID_ADAPTER");
	if (rpc_start(&rpc, cmd && *cmd ? cmd : "npx ioasid serve")) { broken = 1; return -1; }
	struct json *a;
	struct json *h = call("hello", "{\"protocol\":1}", &a);
	int mirror_ok = 0;
	const struct json *caps = json_get(h, "capabilities");
	if (caps) served_caps = strndup(caps->start, caps->end - caps->start);
	for (struct json *c = caps ? caps->child : NULL; c; c = c->next)
		if (c->type == J_STR && !strcmp(c->str, "test:mem-mirror")) mirror_ok = 1;
	json_free(a);
	if (!h) { broken = 1; return -1; }
	if (!mirror_ok) fprintf(stderr, "ioasid fake /dev/iommu: the adapter does not offer test:mem-mirror; pointers will not reach its memory\n");
	char *topology = read_topology();
	set_world(topology);
	free(topology);
	return broken ? -1 : 0;
}

/* The fake's control entry point: a program that knows it runs on the fake replaces the world. */
__attribute__((visibility("default"))) int ioasid_fake_world(const char *topology) {
	pthread_mutex_lock(&lock);
	int bad = start();
	if (!bad) set_world(topology);
	pthread_mutex_unlock(&lock);
	return bad || broken ? -1 : 0;
}

/*
 * The machine's test interface for a program that knows it runs on the fake (the C adapter):
 * the served adapter's capabilities, and its test hooks with the program's fds mapped to the
 * model's and the memory mirror synced around the call — what IOMMU_TEST_CMD is on a kernel.
 */
/* Whether the last ioctl copied its struct back: a C program cannot see a copy-back of the bytes
 * it passed in, the fake can. */
__attribute__((visibility("default"))) int ioasid_fake_copied_back(void) { return last_copied_back; }

/* The last ioctl's fail_nth_reached (after FAIL_NTH through ioasid_fake_test): 1, 0, or -1 when
 * the answer had none — what /proc/self/task/<tid>/fail-nth tells on a kernel. */
__attribute__((visibility("default"))) int ioasid_fake_fail_nth_reached(void) { return last_fail_nth_reached; }

__attribute__((visibility("default"))) const char *ioasid_fake_capabilities(void) {
	pthread_mutex_lock(&lock);
	start();
	pthread_mutex_unlock(&lock);
	return served_caps ? served_caps : "[]";
}

/* 0 and the hook's result as JSON text (malloc'd) in *out, or a JSON-RPC error code and the
 * message in *out. fd: the program's /dev/iommu fd, or -1 for a process-wide hook. */
__attribute__((visibility("default"))) int ioasid_fake_test(int fd, const char *op, const char *arg, char **out) {
	pthread_mutex_lock(&lock);
	int code = 0;
	*out = NULL;
	if (start()) { code = -32000; *out = strdup("the fake /dev/iommu has no adapter"); goto done; }
	int model_fd = -1;
	if (fd >= 0) {
		if (fd >= MAX_FDS || fakes[fd].kind != K_IOMMU || fakes[fd].model_fd < 0) { code = -32602; *out = strdup("fd is not a /dev/iommu of the fake"); goto done; }
		model_fd = fakes[fd].model_fd;
	}
	struct jbuf b;
	jb_init(&b);
	if (model_fd >= 0) jb_printf(&b, "{\"fd\":%d,\"op\":", model_fd);
	else jb_str(&b, "{\"op\":");
	jb_quote(&b, op);
	jb_str(&b, ",\"arg\":");
	jb_str(&b, arg);
	jb_str(&b, "}");
	push();
	char msg[512];
	struct json *a;
	struct json *r = broken ? NULL : rpc_call(&rpc, "test", b.p, &a, msg, sizeof(msg));
	jb_free(&b);
	if (!r) {
		if (broken) snprintf(msg, sizeof(msg), "the adapter is gone");
		code = rpc.last_error ? rpc.last_error : -32000;
		*out = strdup(msg);
		json_free(a);
		goto done;
	}
	*out = strndup(r->start, r->end - r->start);
	json_free(a);
	pull();
done:
	pthread_mutex_unlock(&lock);
	return code;
}

/* ---- the files ---- */

static int open_fake(const char *path, int flags) {
	int dev = -1;
	enum kind kind;
	if (!strcmp(path, "/dev/iommu")) kind = K_IOMMU;
	else if (sscanf(path, "/dev/vfio/devices/vfio%d", &dev) == 1 && dev >= 0) kind = K_VFIO;
	else return -2;
	pthread_mutex_lock(&lock);
	int ret;
	if (start()) { ret = set_errno(EIO); goto out; }
	if (kind == K_VFIO && dev >= ndevs) { ret = set_errno(ENOENT); goto out; }
	int model_fd = -1;
	if (kind == K_IOMMU) {
		struct json *a;
		struct json *r = call("open", "{}", &a);
		uint64_t v;
		if (!r || json_u64(json_get(r, "fd"), &v)) { json_free(a); ret = set_errno(EIO); goto out; }
		model_fd = v;
		json_free(a);
	}
	int fd = real_openat(AT_FDCWD, "/dev/null", O_RDWR | (flags & O_CLOEXEC), 0);
	if (fd < 0 || fd >= MAX_FDS) { ret = -1; goto out; }
	fakes[fd] = (struct fake){ kind, model_fd, dev, 0, -1, 0 };
	ret = fd;
out:
	pthread_mutex_unlock(&lock);
	return ret;
}

static struct fake *fake_of(int fd) {
	return fd >= 0 && fd < MAX_FDS && fakes[fd].kind != K_NONE ? &fakes[fd] : NULL;
}

static void close_fake(struct fake *f) {
	struct json *a;
	char arg[96];
	if (f->kind == K_VFIO && f->bound) {
		snprintf(arg, sizeof(arg), "{\"dev_id\":%llu}", (unsigned long long)f->dev_id);
		hook(f->ctx, "DEVICE_UNBIND", arg, &a);
		json_free(a);
	} else if (f->kind == K_IOMMU && f->model_fd >= 0) {
		snprintf(arg, sizeof(arg), "{\"fd\":%d}", f->model_fd);
		call("close", arg, &a);
		json_free(a);
	}
	f->kind = K_NONE;
}

/* Sends a named ioctl on model fd `ctx` with the struct in buf (`size` bytes the kernel reads,
 * `st_size` the struct); writes the answer's fields back into buf and in *written_out how many
 * bytes the kernel would copy back, when that is more than the struct. Returns ret or -1/errno. */
static long named_ioctl(int ctx, const struct ioasid_layout_ioctl *lay, uint8_t *buf, size_t size, size_t avail, const char *extra, uint64_t *devid_out, size_t *written_out) {
	size_t st_size = ioasid_layout_structs[lay->st].size;
	size_t lim = avail < st_size ? avail : st_size;
	if (lim < 4) lim = 4; /* the kernel reads the whole u32 size/argsz whatever it says */
	struct jbuf b;
	int first = 1;
	jb_init(&b);
	jb_printf(&b, "{\"fd\":%d,\"cmd\":\"%s\",\"arg\":{", ctx, lay->name);
	layout_decode(lay->st, buf, lim, &b, &first);
	if (size > st_size) {
		size_t last = size;
		while (last > st_size && !buf[last - 1]) last--;
		if (last > st_size) {
			jb_str(&b, first ? "" : ",");
			first = 0;
			jb_str(&b, "\"__trailing\":");
			jb_hex(&b, buf + st_size, last - st_size);
		}
	}
	if (extra) { jb_str(&b, first ? "" : ","); jb_str(&b, extra); }
	jb_str(&b, "}}");
	push();
	struct json *a;
	struct json *r = call("ioctl", b.p, &a);
	jb_free(&b);
	pull();
	if (!r) { json_free(a); return set_errno(EIO); }
	struct json *arg = json_get(r, "arg");
	last_copied_back = arg != NULL;
	const struct json *reached = json_get(r, "fail_nth_reached");
	last_fail_nth_reached = reached && reached->type == J_BOOL ? reached->boolean : -1;
	char err[200];
	if (arg && layout_encode(lay->st, arg, buf, lim, err, sizeof(err)))
		fprintf(stderr, "ioasid fake /dev/iommu: %s answer: %s\n", lay->name, err);
	/* Bytes written past the struct (VFIO_IOMMU_GET_INFO's capability chain), within size. */
	const struct json *tr = json_get(arg, "__trailing");
	uint8_t *tail;
	long ntail = tr && tr->type == J_STR ? hex_decode(tr->str, &tail) : -1;
	if (ntail >= 0) {
		if (st_size + ntail > size) ntail = size > st_size ? size - st_size : 0;
		memcpy(buf + st_size, tail, ntail);
		free(tail);
		if (written_out) *written_out = st_size + ntail;
	}
	int e = answer_errno(r);
	uint64_t ret = 0;
	json_u64(json_get(r, "ret"), &ret);
	if (devid_out && !e) json_u64(json_get(arg, "out_devid"), devid_out);
	json_free(a);
	return e ? set_errno(e) : (long)ret;
}

static long raw_ioctl(int ctx, unsigned long request, void *argp) {
	uint8_t size[4];
	char arg[128];
	if (argp && !safe_read(argp, size, 4))
		snprintf(arg, sizeof(arg), "{\"request\":%lu,\"bytes\":\"%02x%02x%02x%02x\"}", request, size[0], size[1], size[2], size[3]);
	else
		snprintf(arg, sizeof(arg), "{\"request\":%lu,\"argp\":0}", request);
	struct json *a;
	struct json *r = hook(ctx, "RAW_IOCTL", arg, &a);
	int e = r ? answer_errno(r) : EIO;
	json_free(a);
	if (!r) return set_errno(ENOTTY);
	return e ? set_errno(e) : 0;
}

/* Reads the struct the way main.c does: its size first (EFAULT), then up to that many bytes.
 * *avail_out: how many bytes of the caller's buffer are known — the whole struct when it is
 * readable even if size says less, so that the model sees every field the caller holds (it
 * applies the size rules itself) and a field that size cuts gets its first bytes back only. */
static uint8_t *read_struct(void *argp, const struct ioasid_layout_ioctl *lay, size_t *size_out, size_t *avail_out, int *err) {
	uint32_t size;
	size_t st_size = ioasid_layout_structs[lay->st].size;
	if (safe_read(argp, &size, 4)) { *err = EFAULT; return NULL; }
	size_t want = size;
	if (want > st_size + 65536) want = st_size + 65536;
	uint8_t *buf = calloc(1, (want > st_size ? want : st_size) + 8);
	if (size >= lay->min_size && safe_read(argp, buf, want)) { free(buf); *err = EFAULT; return NULL; }
	if (size < lay->min_size) safe_read(argp, buf, want);
	*size_out = want;
	*avail_out = want;
	if (want < st_size && !safe_read(argp, buf, st_size)) *avail_out = st_size;
	return buf;
}

static long iommu_ioctl(struct fake *f, unsigned long request, void *argp) {
	const struct ioasid_layout_ioctl *lay = layout_by_request(request);
	if (!lay || lay->family == 1) return raw_ioctl(f->model_fd, request, argp);
	if (lay->st < 0) {
		char arg[256];
		snprintf(arg, sizeof(arg), "{\"fd\":%d,\"cmd\":\"%s\",\"arg\":{", f->model_fd, lay->name);
		if (lay->int_arg) snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), "\"%s\":%lu", lay->int_arg, (unsigned long)argp);
		strcat(arg, "}}");
		struct json *a;
		struct json *r = call("ioctl", arg, &a);
		int e = r ? answer_errno(r) : EIO;
		const struct json *reached = json_get(r, "fail_nth_reached");
		last_fail_nth_reached = reached && reached->type == J_BOOL ? reached->boolean : -1;
		uint64_t ret = 0;
		json_u64(json_get(r, "ret"), &ret);
		json_free(a);
		return e ? set_errno(e) : (long)ret;
	}
	size_t size, avail;
	int err;
	uint8_t *buf = read_struct(argp, lay, &size, &avail, &err);
	if (!buf) return lay->family == 0 ? raw_ioctl(f->model_fd, request, NULL) : set_errno(err);
	size_t st_size = ioasid_layout_structs[lay->st].size;
	size_t back = size < st_size ? size : st_size;
	long ret = named_ioctl(f->model_fd, lay, buf, size, avail, NULL, NULL, &back);
	int saved = errno;
	safe_write(argp, buf, back);
	free(buf);
	errno = saved;
	return ret;
}

static long vfio_ioctl(struct fake *f, unsigned long request, void *argp) {
	const struct ioasid_layout_ioctl *lay = layout_by_request(request);
	if (!lay || lay->family != 1) return set_errno(ENOTTY);
	int bind = !strcmp(lay->name, "VFIO_DEVICE_BIND_IOMMUFD");
	/* vfio_device_fops_unl_ioctl: before a bind, every other ioctl is EINVAL. */
	if (!bind && !f->bound) return set_errno(EINVAL);
	if (bind && f->bound) return set_errno(EINVAL);
	size_t size, avail;
	int err;
	uint8_t *buf = read_struct(argp, lay, &size, &avail, &err);
	if (!buf) return set_errno(err);
	int ctx = f->ctx;
	if (bind) {
		int32_t ifd;
		memcpy(&ifd, buf + 8, 4); /* struct vfio_device_bind_iommufd: argsz, flags, iommufd */
		struct fake *i = fake_of(ifd);
		if (!i || i->kind != K_IOMMU) { free(buf); return set_errno(EBADF); }
		ctx = i->model_fd;
	}
	struct jbuf extra;
	jb_init(&extra);
	jb_str(&extra, "\"device\":");
	jb_quote(&extra, dev_names[f->dev]);
	uint64_t devid = 0;
	long ret = named_ioctl(ctx, lay, buf, size, avail, extra.p, bind ? &devid : NULL, NULL);
	int saved = errno;
	jb_free(&extra);
	if (bind && ret >= 0) {
		f->bound = 1, f->ctx = ctx, f->dev_id = devid;
	}
	size_t st_size = ioasid_layout_structs[lay->st].size;
	safe_write(argp, buf, size < st_size ? size : st_size);
	free(buf);
	errno = saved;
	return ret;
}

/* ---- interposed entry points ---- */

static int do_open(int dirfd, const char *path, int flags, mode_t mode) {
	if (path && !strncmp(path, "/dev/", 5)) {
		int r = open_fake(path, flags);
		if (r != -2) return r;
	}
	return real_openat(dirfd, path, flags, mode);
}

#define MODE_ARG(flags) mode_t mode = 0; if ((flags) & (O_CREAT | __O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }

__attribute__((visibility("default"))) int open(const char *path, int flags, ...) { MODE_ARG(flags); return do_open(AT_FDCWD, path, flags, mode); }
__attribute__((visibility("default"))) int open64(const char *path, int flags, ...) { MODE_ARG(flags); return do_open(AT_FDCWD, path, flags, mode); }
__attribute__((visibility("default"))) int openat(int d, const char *path, int flags, ...) { MODE_ARG(flags); return do_open(d, path, flags, mode); }
__attribute__((visibility("default"))) int openat64(int d, const char *path, int flags, ...) { MODE_ARG(flags); return do_open(d, path, flags, mode); }
__attribute__((visibility("default"))) int __open_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
__attribute__((visibility("default"))) int __open64_2(const char *path, int flags) { return do_open(AT_FDCWD, path, flags, 0); }
__attribute__((visibility("default"))) int __openat_2(int d, const char *path, int flags) { return do_open(d, path, flags, 0); }

__attribute__((visibility("default"))) int close(int fd) {
	pthread_mutex_lock(&lock);
	struct fake *f = fake_of(fd);
	if (f) close_fake(f);
	pthread_mutex_unlock(&lock);
	long r = syscall(SYS_close, fd);
	return r;
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long request, ...) {
	va_list ap;
	va_start(ap, request);
	void *argp = va_arg(ap, void *);
	va_end(ap);
	pthread_mutex_lock(&lock);
	struct fake *f = fake_of(fd);
	long r;
	if (!f) {
		pthread_mutex_unlock(&lock);
		return syscall(SYS_ioctl, fd, request, argp);
	}
	last_fail_nth_reached = -1;
	if (broken || (f->model_fd == -1 && f->kind == K_IOMMU)) r = set_errno(broken ? EIO : EBADF);
	else r = f->kind == K_IOMMU ? iommu_ioctl(f, request, argp) : vfio_ioctl(f, request, argp);
	int saved = errno;
	pthread_mutex_unlock(&lock);
	errno = saved;
	return r;
}

/* mmap(2) of /dev/iommu: the region a vIOMMU driver published. The model maps it in its
 * process (IOMMUFD_MMAP); the program gets anonymous memory at the same address holding the
 * region's content, mirrored from then on like its other mappings. */
static void *mmap_iommu(struct fake *f, size_t len, int prot, int flags, off_t off) {
	char arg[160];
	struct json *a;
	snprintf(arg, sizeof(arg), "{\"offset\":%lld,\"length\":%zu%s}", (long long)off, len, (flags & MAP_PRIVATE) ? ",\"private\":true" : "");
	push();
	struct json *r = hook(f->model_fd, "IOMMUFD_MMAP", arg, &a);
	int e = r ? answer_errno(r) : ENODEV;
	uint64_t at = 0;
	if (!e && json_u64(json_get(json_get(r, "out"), "addr"), &at)) e = ENODEV;
	json_free(a);
	if (e) { errno = e; return MAP_FAILED; }
	void *p = real_mmap((void *)at, len, prot | PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED) return p;
	regions = realloc(regions, (nregions + 1) * sizeof(*regions));
	struct region *rg = &regions[nregions++];
	*rg = (struct region){ (uintptr_t)p, (len + PAGE - 1) & ~(PAGE - 1), calloc(1, (len + PAGE - 1) & ~(PAGE - 1)), 1 };
	snprintf(arg, sizeof(arg), "{\"addr\":%lu,\"length\":%zu}", (unsigned long)at, rg->len);
	r = hook(-1, "MEM_READ", arg, &a);
	const struct json *d = json_get(json_get(r, "out"), "data");
	uint8_t *data;
	long n = d && d->type == J_STR ? hex_decode(d->str, &data) : -1;
	if (n > 0 && (size_t)n <= rg->len) {
		memcpy(p, data, n);
		memcpy(rg->shadow, data, n);
	}
	if (n >= 0) free(data);
	json_free(a);
	return p;
}

__attribute__((visibility("default"))) void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
	if (fd >= 0 && !(flags & MAP_ANONYMOUS)) {
		pthread_mutex_lock(&lock);
		struct fake *f = fake_of(fd);
		void *p = MAP_FAILED;
		int e = 0;
		if (f && f->kind == K_IOMMU && f->model_fd >= 0 && !broken) { p = mmap_iommu(f, len, prot, flags, off); e = errno; }
		else if (f) e = ENODEV;
		pthread_mutex_unlock(&lock);
		if (f) { errno = e; return p; }
	}
	if (flags & MAP_FIXED) {
		pthread_mutex_lock(&lock);
		push_before_unmap((uintptr_t)addr, len);
		pthread_mutex_unlock(&lock);
	}
	void *p = real_mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED) return p;
	if (flags & MAP_ANONYMOUS) {
		pthread_mutex_lock(&lock);
		if (flags & MAP_FIXED) region_cut((uintptr_t)p, len);
		region_add((uintptr_t)p, len);
		pthread_mutex_unlock(&lock);
	}
	return p;
}
__attribute__((visibility("default"))) void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) { return mmap(addr, len, prot, flags, fd, off); }

__attribute__((visibility("default"))) int munmap(void *addr, size_t len) {
	pthread_mutex_lock(&lock);
	push_before_unmap((uintptr_t)addr, len);
	if (real_munmap(addr, len)) { int e = errno; pthread_mutex_unlock(&lock); return set_errno(e); }
	region_cut((uintptr_t)addr, len);
	pthread_mutex_unlock(&lock);
	return 0;
}
