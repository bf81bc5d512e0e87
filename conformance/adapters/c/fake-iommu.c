/*
 * The fake /dev/iommu: a preloadable library (LD_PRELOAD=libioasid-fake.so) that serves
 * open/ioctl/read/write/close of /dev/iommu, of the VFIO device cdevs /dev/vfio/devices/vfioN and
 * of the files the implementation hands out (fault, vEVENTQ and selftest access fds) from any
 * adapter over the stdio protocol, so that an unmodified C program (a VMM, the kernel's
 * selftests, our C adapter) runs against the reference or another implementation.
 *
 *   IOASID_ADAPTER   the adapter command (default `npx ioasid serve`), run through /bin/sh
 *   IOASID_TOPOLOGY  the world: topology JSON, or @file; vfioN is its device N (default: one
 *                    mock bridge with devices mock0..mock3)
 *   IOASID_TEST_OPS  the IOMMU_TEST_OP_* numbering of the iommufd_test.h the program was built
 *                    with, "1=ADD_RESERVED,2=MOCK_DOMAIN,..." (default: upstream mainline's)
 *   IOASID_FAKE_LOG  set: every exchange on stderr
 *
 * Memory: the model's process must hold what the caller's does at the same addresses, since
 * ioctl arguments carry pointers. Every anonymous mapping the program makes with mmap(2) is
 * mirrored (MMAP at a fixed address, test:mem-mirror); memory that is not an mmap of the program
 * (stack, heap, data) is mirrored when a call's pointer reaches it (the catalog's pointer fields,
 * IOAS_MAP's user_va, the uptr of IOMMU_TEST_CMD): the bytes the call says it reaches (the
 * catalog's pointee lengths), or MIRROR_WINDOW from the pointer, within its mapping. Before each call the pages that differ from a shadow copy are pushed with
 * MEM_WRITE, after it the bytes the implementation changed (MEM_WRITTEN pages compared with the
 * shadow) are written back — only those bytes, since a mirrored stack page also holds the
 * fake's own live frames. MAP_HUGETLB on a host without huge pages gets plain memory that the
 * model maps as huge pages (see hugetlb_stand_in).
 *
 * Processes: the kernel's selftest harness runs every test in forked children. fork() is
 * interposed: the parent starts the adapter if it has not yet (so that all processes share one
 * machine, as they share one kernel), announces the child with PROCESS_FORK and the child makes
 * its calls with that `pid`. What a process opened is recorded in a table shared by the whole
 * process tree; when a parent reaps a child (wait, waitpid, wait4, waitid), or finds a known
 * process dead or a zombie, the fake ends it in the model (PROCESS_EXIT) and closes what it left
 * open, as exit does. A child's close of an fd it inherited only closes its own copy. One
 * process-shared, robust lock serialises every exchange of the whole tree.
 *
 * Fault injection: with an adapter offering test:fail-nth, /proc/self/task/<tid>/fail-nth is
 * served (writing n arms the sweep, reading gives what is left: "0" once it fired) and
 * /sys/kernel/debug/ opens as a directory with the failslab knobs iommufd_fail_nth looks for.
 * The kernel counts injection points across calls, the model per call: each call is armed with
 * the count left, less the points the calls before passed (fail_nth_passed).
 *
 * The structs travel as fields by name (the named `ioctl` method), decoded and encoded by the
 * generated layouts; IOMMU_TEST_CMD travels as bytes (TEST_CMD, test:selftest-cmd); a request
 * with no layout goes as RAW_IOCTL, whose answer follows main.c's dispatch order.
 * `ioasid_fake_world(topology)` lets a program that knows it runs on the fake (the C adapter)
 * replace the world.
 *
 * Invariant: a fake fd is a real fd (of /dev/null) reserved for the program, so fd numbers never
 * collide; fakes[] says what it stands for; a model fd number never reaches the program.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "json.h"
#include "layout.h"
#include "rpc.h"

#define PAGE 4096ul
#define MAX_FDS 4096
#define PUSH_CHUNK (4ul << 20)
#define MIRROR_WINDOW (64ul << 10) /* how far past a pointer of unstated length memory is mirrored */
#define MAX_PROCS 256
#define MAX_OWNED 1024
/* IOMMU_TEST_CMD: _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32), the same in every kernel. */
#define TEST_CMD_REQUEST 0x3ba0ul
#define TEST_CMD_MAX_BYTES 65536

/* K_EVENT: a file the implementation handed out (fault, vEVENTQ, selftest access fd);
 * K_FAILNTH: /proc/self/task/<tid>/fail-nth. */
enum kind { K_NONE, K_IOMMU, K_VFIO, K_EVENT, K_FAILNTH };
/* owner: the process that opened it (os pid); another process holds an inherited copy. */
struct fake { enum kind kind; int model_fd; int dev; int bound; int ctx; uint64_t dev_id; int owner; };
/* ondemand: mirrored because a pointer reached it (stack, heap), not an mmap of the program:
 * read through safe_read, since the program may unmap or protect it behind our back. huge: a
 * MAP_HUGETLB mapping, mirrored as 2 MiB pages (MMAP huge, test:mmap-huge). shared: MAP_SHARED
 * anonymous memory, which Linux backs with a shmem file that a fork shares. Once the process
 * tree forks, such a region is mirrored as a mapping of a memfd-like file of the model
 * (map-file; as_file), so that parent and child see one page; until then as anonymous memory,
 * which the model may back with huge pages as THP does (the C adapter's MMAP is shared). */
struct region { uintptr_t addr; size_t len; uint8_t *shadow; int mirrored; int ondemand; int huge; int shared, as_file; };

/* What the whole process tree shares (MAP_SHARED, made before main): the exchange lock, the
 * JSON-RPC ids, the processes the model knows and what each left open in the model. */
struct proc_entry { int os_pid, model_pid, parent_os_pid; };
struct owned_entry { int os_pid, fd; enum kind kind; int model_fd, ctx, bound; uint64_t dev_id; };
struct shared {
	pthread_mutex_t lock;
	long next_id;
	int exchange_open; /* a request is out and its answer not read yet */
	char debugfs[64];  /* the fake debugfs directory, made once for the tree */
	int debugfs_owner;
	struct proc_entry procs[MAX_PROCS];
	struct owned_entry owned[MAX_OWNED];
};

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int depth; /* enter() nesting in this process */
static struct shared *sh;
static int my_os_pid;
static int my_model_pid = -1; /* -1: the model's initial process (calls carry no pid) */
static unsigned fail_nth_left; /* what /proc/self/task/<tid>/fail-nth holds; 0: off */
static int test_op_numbers[64]; /* IOMMU_TEST_OP_* number → index into TEST_OPS, -1 unknown */
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
static int forked; /* this process or an ancestor forked: shared memory is mirrored as a file */

static const char DEFAULT_TOPOLOGY[] =
	"{\"bridges\":[{\"name\":\"pci0\",\"iommu\":{\"model\":\"mock\"}}],\"devices\":["
	"{\"name\":\"mock0\",\"bridge\":\"pci0\"},{\"name\":\"mock1\",\"bridge\":\"pci0\"},"
	"{\"name\":\"mock2\",\"bridge\":\"pci0\"},{\"name\":\"mock3\",\"bridge\":\"pci0\"}]}";

/* ---- raw system calls (never through our own wrappers) ---- */

static long real_openat(int dirfd, const char *path, int flags, mode_t mode) { return syscall(SYS_openat, dirfd, path, flags, mode); }
static long real_read(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static long real_write(int fd, const void *b, size_t n) { return syscall(SYS_write, fd, b, n); }
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

/* ---- the lock and the process tree ---- */

static void adopt_unseen_fork(void);
static int has_cap(const char *cap);
static int test_op_index(const char *name);
static int test_cmd_bytes(int model_fd, const char *op, uint8_t *buf, size_t n, uint8_t **out, long *nout);

/* Takes the process's lock and, outermost, the tree's: one exchange at a time in the tree. A
 * process that died holding it (killed mid-call) may have left an answer unread: dropped. */
static void enter(void) {
	pthread_mutex_lock(&lock);
	if (depth++ || !sh) return;
	if (pthread_mutex_lock(&sh->lock) == EOWNERDEAD) {
		pthread_mutex_consistent(&sh->lock);
		if (sh->exchange_open && rpc.from > 0) rpc_discard_line(&rpc, 10000);
		sh->exchange_open = 0;
	}
	if (getpid() != my_os_pid) adopt_unseen_fork();
}

static void leave(void) {
	if (--depth == 0 && sh) pthread_mutex_unlock(&sh->lock);
	pthread_mutex_unlock(&lock);
}

static struct proc_entry *proc_of(int os_pid) {
	for (int i = 0; sh && i < MAX_PROCS; i++)
		if (sh->procs[i].os_pid == os_pid) return &sh->procs[i];
	return NULL;
}

static void proc_add(int os_pid, int model_pid, int parent_os_pid) {
	for (int i = 0; sh && i < MAX_PROCS; i++)
		if (!sh->procs[i].os_pid) { sh->procs[i] = (struct proc_entry){ os_pid, model_pid, parent_os_pid }; return; }
}

static struct owned_entry *owned_of(int os_pid, int fd) {
	for (int i = 0; sh && i < MAX_OWNED; i++)
		if (sh->owned[i].os_pid == os_pid && sh->owned[i].fd == fd) return &sh->owned[i];
	return NULL;
}

/* Records (or updates) what fd `fd` of this process holds in the model, for its exit. */
static void owned_set(int fd, const struct fake *f) {
	struct owned_entry *o = owned_of(my_os_pid, fd);
	for (int i = 0; !o && sh && i < MAX_OWNED; i++)
		if (!sh->owned[i].os_pid) o = &sh->owned[i];
	if (o) *o = (struct owned_entry){ my_os_pid, fd, f->kind, f->model_fd, f->ctx, f->bound, f->dev_id };
}

static void owned_drop(int fd) {
	struct owned_entry *o = owned_of(my_os_pid, fd);
	if (o) memset(o, 0, sizeof(*o));
}

/* ---- protocol ---- */

/* One exchange; `ioctl` and `test` carry the calling process's pid when it is not the first. */
static struct json *exchange(const char *method, const char *params, struct json **arena, char *msg, size_t msglen) {
	struct jbuf b;
	jb_init(&b);
	if (my_model_pid >= 0 && (!strcmp(method, "ioctl") || !strcmp(method, "test")) && params[0] == '{') {
		jb_printf(&b, "{\"pid\":%d", my_model_pid);
		if (params[1] != '}') jb_str(&b, ",");
		jb_str(&b, params + 1);
		params = b.p;
	}
	if (sh) sh->exchange_open = 1;
	struct json *r = rpc_call(&rpc, method, params, arena, msg, msglen);
	if (sh) sh->exchange_open = 0;
	jb_free(&b);
	return r;
}

static struct json *call(const char *method, const char *params, struct json **arena) {
	char msg[512];
	if (broken) { *arena = NULL; return NULL; }
	struct json *r = exchange(method, params, arena, msg, sizeof(msg));
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
	char arg[160];
	struct json *a;
	char backing[64] = "";
	r->as_file = 0;
	if (r->shared && forked && !r->huge && has_cap("map-file")) {
		snprintf(arg, sizeof(arg), "{\"length\":%zu}", r->len);
		struct json *m = hook(-1, "MEMFD_CREATE", arg, &a);
		uint64_t mfd;
		if (m && !answer_errno(m) && !json_u64(json_get(json_get(m, "out"), "fd"), &mfd)) {
			snprintf(backing, sizeof(backing), ",\"fd\":%llu,\"offset\":0", (unsigned long long)mfd);
			r->as_file = 1;
		}
		json_free(a);
	}
	snprintf(arg, sizeof(arg), "{\"length\":%zu,\"addr\":%lu%s%s}", r->len, (unsigned long)r->addr, r->huge ? ",\"huge\":true" : "", backing);
	struct json *res = hook(-1, "MMAP", arg, &a);
	if (res && answer_errno(res) == EEXIST) {
		/* The model still maps something there (a munmap it did not see): replace it. */
		json_free(a);
		char un[96];
		snprintf(un, sizeof(un), "{\"addr\":%lu,\"length\":%zu}", (unsigned long)r->addr, r->len);
		hook(-1, "MUNMAP", un, &a);
		json_free(a);
		res = hook(-1, "MMAP", arg, &a);
	}
	r->mirrored = res && !answer_errno(res);
	json_free(a);
	if (r->mirrored) memset(r->shadow, 0, r->len);
}

static void push_range(struct region *r, size_t from, size_t to);

static void region_add(uintptr_t addr, size_t len, int ondemand, int huge, int shared) {
	len = (len + PAGE - 1) & ~(PAGE - 1);
	uint8_t *shadow = calloc(1, len);
	if (!shadow) return;
	regions = realloc(regions, (nregions + 1) * sizeof(*regions));
	struct region *r = &regions[nregions++];
	*r = (struct region){ addr, len, shadow, 0, ondemand, huge, shared, 0 };
	if (rpc.log) fprintf(stderr, "fake-iommu: mirror %#lx+%#zx%s%s%s\n", (unsigned long)addr, len, ondemand ? " (a pointer reached it)" : "", huge ? " huge" : "", shared ? " shared" : "");
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
		struct region before = { r->addr, cs - r->addr, NULL, r->mirrored, r->ondemand, r->huge, r->shared, r->as_file };
		struct region after = { ce, rend - ce, NULL, r->mirrored, r->ondemand, r->huge, r->shared, r->as_file };
		if (before.len) { before.shadow = malloc(before.len); memcpy(before.shadow, r->shadow, before.len); }
		if (after.len) { after.shadow = malloc(after.len); memcpy(after.shadow, r->shadow + (ce - r->addr), after.len); }
		free(r->shadow);
		regions[i] = regions[--nregions];
		i--;
		if (before.len) { regions = realloc(regions, (nregions + 2) * sizeof(*regions)); regions[nregions++] = before; }
		if (after.len) { regions = realloc(regions, (nregions + 2) * sizeof(*regions)); regions[nregions++] = after; }
	}
}

/* While set, push_run adds its pages here instead of sending MEM_WRITE: they go with the call
 * (test:mem-batch, batch_ok). */
static struct jbuf *batch;
static int batch_ok;

static void push_run(uintptr_t addr, const uint8_t *data, size_t n) {
	if (batch) {
		jb_str(batch, batch->len ? ",{" : "{");
		jb_printf(batch, "\"addr\":%lu,\"data\":", (unsigned long)addr);
		jb_hex(batch, data, n);
		jb_str(batch, "}");
		return;
	}
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
 * so that scanning a large untouched shared mapping allocates nothing. A page of an on-demand
 * region is read through safe_read: one the program unmapped or protected is left alone. */
static void push_range(struct region *r, size_t from, size_t to) {
	size_t npages = (to - from) / PAGE;
	unsigned char *resident = malloc(npages + 1);
	if (!resident || mincore((void *)(r->addr + from), to - from, resident)) {
		free(resident);
		resident = NULL;
	}
	/* Without mincore's answer part of the range is gone (unmapped behind our back, e.g. by
	 * free() inside libc): every page is then read safely, and one that cannot be read is
	 * left as the model has it. */
	int careful = r->ondemand || !resident;
	static uint8_t page_copy[PAGE];
	size_t run = 0, start = 0;
	for (size_t off = from; off <= to; off += PAGE) {
		int differs = 0;
		const void *now = zero_page;
		if (off < to) {
			if (!resident || (resident[(off - from) / PAGE] & 1)) {
				now = (void *)(r->addr + off);
				if (careful) now = safe_read(now, page_copy, PAGE) ? r->shadow + off : page_copy;
			}
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

/* Writes back the pages of a MEM_WRITTEN answer; whether it said there are more. */
static int apply_written(const struct json *out) {
	struct json *pages = json_get(out, "pages");
	for (struct json *p = pages && pages->type == J_ARR ? pages->child : NULL; p; p = p->next) {
		uint64_t addr;
		uint8_t *data;
		const struct json *d = json_get(p, "data");
		if (json_u64(json_get(p, "addr"), &addr) || !d || d->type != J_STR) continue;
		long n = hex_decode(d->str, &data);
		struct region *r = region_of(addr);
		if (n > 0 && r && addr + n <= r->addr + r->len) {
			/* Only the bytes the implementation changed: the rest of the page may be
			 * live memory of this very call (a stack page holds our frames). */
			uint8_t *shadow = r->shadow + (addr - r->addr);
			for (long i = 0; i < n;) {
				if (data[i] == shadow[i]) { i++; continue; }
				long j = i;
				while (j < n && data[j] != shadow[j]) j++;
				if (r->ondemand) safe_write((void *)(addr + i), data + i, j - i);
				else memcpy((void *)(addr + i), data + i, j - i);
				i = j;
			}
			memcpy(shadow, data, n);
		}
		if (n >= 0) free(data);
	}
	const struct json *m = json_get(out, "more");
	return m && m->type == J_BOOL && m->boolean;
}

/* Copies back the pages the implementation wrote. */
static void pull(void) {
	for (;;) {
		struct json *a;
		struct json *res = hook(-1, "MEM_WRITTEN", "{}", &a);
		int more = apply_written(json_get(res, "out"));
		json_free(a);
		if (!more) break;
	}
}

/* push(), the call, pull(): in one exchange when the adapter offers test:mem-batch (the pushed
 * pages in mem_write, the written ones back in mem_written), else in three or more. */
static struct json *synced_call(const char *method, const char *params, struct json **arena) {
	if (!batch_ok) {
		push();
		struct json *r = call(method, params, arena);
		pull();
		return r;
	}
	struct jbuf w, b;
	jb_init(&w);
	jb_init(&b);
	batch = &w;
	push();
	batch = NULL;
	size_t n = strlen(params); /* a JSON object: its last byte is the closing brace */
	jb_raw(&b, params, n - 1);
	if (n > 2) jb_str(&b, ",");
	if (w.len) {
		jb_str(&b, "\"mem_write\":[");
		jb_raw(&b, w.p, w.len);
		jb_str(&b, "],");
	}
	jb_str(&b, "\"mem_written\":true}");
	struct json *r = call(method, b.p, arena);
	jb_free(&b);
	jb_free(&w);
	if (r && apply_written(json_get(r, "mem_written"))) pull();
	return r;
}

/* The readable mapping holding addr, from /proc/self/maps: 0 and its bounds, -1 if none. */
static int vma_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi) {
	int fd = real_openat(AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) return -1;
	static char buf[1 << 16];
	size_t len = 0;
	int found = -1;
	for (;;) {
		long got = real_read(fd, buf + len, sizeof(buf) - 1 - len);
		if (got <= 0) break;
		len += got;
		buf[len] = 0;
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			unsigned long a, b;
			char perms[8];
			*nl = 0;
			if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3 && addr >= a && addr < b) {
				if (perms[0] == 'r' && perms[1] == 'w') { *lo = a; *hi = b; found = 0; }
				goto done;
			}
			line = nl + 1;
		}
		len = strlen(line);
		memmove(buf, line, len);
	}
done:
	syscall(SYS_close, fd);
	return found;
}

/* Mirrors the pages a pointer reaches when they are not an mmap of the program: the `want`
 * bytes from it (MIRROR_WINDOW when the call does not say how many), within its (writable)
 * mapping. */
static void mirror_pointer(uintptr_t ptr, uint64_t want) {
	if (!ptr || (want == 0 && region_of(ptr))) return;
	/* A length the call states: those pages only, so that the heap's other pages (the fake's
	 * own allocations among them) are not pushed at every call; else a window. */
	if (want == 0) want = MIRROR_WINDOW;
	uintptr_t from = ptr & ~(PAGE - 1);
	uintptr_t to = (ptr + want + PAGE - 1) & ~(PAGE - 1);
	if (to < from) to = UINTPTR_MAX & ~(PAGE - 1);
	uintptr_t p = from;
	while (p < to && region_of(p)) p += PAGE;
	if (p >= to) return; /* mirrored already: no need to read the maps */
	uintptr_t lo, hi;
	if (vma_of(ptr, &lo, &hi)) return;
	if (to > hi) to = hi;
	if (rpc.log) fprintf(stderr, "fake-iommu: pointer %#lx (%llu bytes) reaches memory that is not mirrored\n", (unsigned long)ptr, (unsigned long long)want);
	while (from < to) {
		if (region_of(from)) { from += PAGE; continue; }
		uintptr_t end = from + PAGE;
		while (end < to && !region_of(end)) end += PAGE;
		region_add(from, end - from, 1, 0, 0);
		from = end;
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
	for (int i = 0; i < MAX_FDS; i++) {
		/* The files a previous world handed out went with it: their numbers are free again. */
		if (fakes[i].kind == K_EVENT) {
			owned_drop(i);
			fakes[i].kind = K_NONE;
			syscall(SYS_close, i);
		} else if (fakes[i].kind != K_NONE && fakes[i].kind != K_FAILNTH) fakes[i].model_fd = -1, fakes[i].bound = 0;
	}
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
	if (sh) rpc.shared_id = &sh->next_id;
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
	batch_ok = has_cap("test:mem-batch");
	char *topology = read_topology();
	set_world(topology);
	free(topology);
	return broken ? -1 : 0;
}

/* The fake's control entry point: a program that knows it runs on the fake replaces the world. */
__attribute__((visibility("default"))) int ioasid_fake_world(const char *topology) {
	enter();
	int bad = start();
	if (!bad) set_world(topology);
	leave();
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
	enter();
	start();
	leave();
	return served_caps ? served_caps : "[]";
}

/* 0 and the hook's result as JSON text (malloc'd by libc: the caller frees it) in *out, or a JSON-RPC error code and the
 * message in *out. fd: the program's /dev/iommu fd, or -1 for a process-wide hook. */
__attribute__((visibility("default"))) int ioasid_fake_test(int fd, const char *op, const char *arg, char **out) {
	enter();
	int code = 0;
	*out = NULL;
	if (start()) { code = -32000; *out = ioasid_fake_libc_strndup("the fake /dev/iommu has no adapter", 64); goto done; }
	int model_fd = -1;
	if (fd >= 0) {
		if (fd >= MAX_FDS || fakes[fd].kind != K_IOMMU || fakes[fd].model_fd < 0) { code = -32602; *out = ioasid_fake_libc_strndup("fd is not a /dev/iommu of the fake", 64); goto done; }
		model_fd = fakes[fd].model_fd;
	}
	if (!strcmp(op, "TEST_CMD") && model_fd >= 0) {
		/* The struct's fds are the program's, as with ioctl(IOMMU_TEST_CMD). */
		struct json *pa;
		struct json *parsed = json_parse(arg, &pa);
		const struct json *name = json_get(parsed, "op"), *data = json_get(parsed, "data");
		uint8_t *buf;
		long n = data && data->type == J_STR ? hex_decode(data->str, &buf) : -1;
		if (name && name->type == J_STR && test_op_index(name->str) > 0 && n >= 0) {
			uint8_t *outb = NULL;
			long nout = -1;
			int e = test_cmd_bytes(model_fd, name->str, buf, n, &outb, &nout);
			struct jbuf res;
			jb_init(&res);
			if (e) jb_printf(&res, "{\"errno\":\"%s\"}", errno_name(e) ? errno_name(e) : "EIO");
			else {
				jb_str(&res, "{\"ret\":0,\"out\":{\"data\":");
				jb_hex(&res, outb, nout);
				jb_str(&res, "}}");
			}
			*out = ioasid_fake_libc_strndup(res.p, res.len);
			jb_free(&res);
			free(outb);
			free(buf);
			json_free(pa);
			goto done;
		}
		if (n >= 0) free(buf);
		json_free(pa);
	}
	/* FD_READ / FD_WRITE / FD_CLOSE name a file by the number the program holds: ours. */
	int event_local = -1;
	struct jbuf spliced;
	jb_init(&spliced);
	if (!strcmp(op, "FD_READ") || !strcmp(op, "FD_WRITE") || !strcmp(op, "FD_CLOSE")) {
		struct json *pa;
		struct json *parsed = json_parse(arg, &pa);
		const struct json *id = json_get(parsed, "fd_id");
		uint64_t v;
		if (id && !json_u64(id, &v) && v < MAX_FDS && fakes[v].kind == K_EVENT) {
			event_local = v;
			jb_raw(&spliced, arg, id->start - arg);
			jb_printf(&spliced, "%d", fakes[v].model_fd);
			jb_str(&spliced, id->end);
			arg = spliced.p;
		}
		json_free(pa);
	}
	struct jbuf b;
	jb_init(&b);
	if (model_fd >= 0) jb_printf(&b, "{\"fd\":%d,\"op\":", model_fd);
	else jb_str(&b, "{\"op\":");
	jb_quote(&b, op);
	jb_str(&b, ",\"arg\":");
	jb_str(&b, arg);
	jb_str(&b, "}");
	jb_free(&spliced);
	push();
	char msg[512];
	struct json *a;
	struct json *r = broken ? NULL : exchange("test", b.p, &a, msg, sizeof(msg));
	jb_free(&b);
	if (!r) {
		if (broken) snprintf(msg, sizeof(msg), "the adapter is gone");
		code = rpc.last_error ? rpc.last_error : -32000;
		*out = ioasid_fake_libc_strndup(msg, sizeof(msg));
		json_free(a);
		goto done;
	}
	*out = ioasid_fake_libc_strndup(r->start, r->end - r->start);
	if (event_local >= 0 && !strcmp(op, "FD_CLOSE") && !answer_errno(r)) {
		/* Closed in the model: the program's number goes too. */
		if (fakes[event_local].owner == my_os_pid) owned_drop(event_local);
		fakes[event_local].kind = K_NONE;
		syscall(SYS_close, event_local);
	}
	json_free(a);
	pull();
done:
	leave();
	return code;
}

/* ---- the files ---- */

static int has_cap(const char *cap) {
	char q[64];
	snprintf(q, sizeof(q), "\"%s\"", cap);
	return served_caps && strstr(served_caps, q);
}

/* /proc/self/task/<tid>/fail-nth, /proc/<pid>/task/<tid>/fail-nth, /proc/thread-self/fail-nth. */
static int is_fail_nth_path(const char *path) {
	unsigned a, b;
	char tail[16];
	if (!strncmp(path, "/proc/", 6) && strlen(path) < 64) {
		if (!strcmp(path, "/proc/thread-self/fail-nth")) return 1;
		if (sscanf(path, "/proc/self/task/%u/%15s", &a, tail) == 2 && !strcmp(tail, "fail-nth")) return 1;
		if (sscanf(path, "/proc/%u/task/%u/%15s", &a, &b, tail) == 3 && !strcmp(tail, "fail-nth")) return 1;
	}
	return 0;
}

/* A real fd reserved for a fake file of this process. */
static int reserve_fd(int flags, struct fake f) {
	int fd = real_openat(AT_FDCWD, "/dev/null", O_RDWR | (flags & O_CLOEXEC), 0);
	if (fd < 0) return -1;
	if (fd >= MAX_FDS) { syscall(SYS_close, fd); return set_errno(EMFILE); }
	f.owner = my_os_pid;
	fakes[fd] = f;
	if (f.kind != K_FAILNTH) owned_set(fd, &f);
	return fd;
}

static int open_fake(const char *path, int flags) {
	int dev = -1;
	enum kind kind;
	if (!strcmp(path, "/dev/iommu")) kind = K_IOMMU;
	else if (sscanf(path, "/dev/vfio/devices/vfio%d", &dev) == 1 && dev >= 0) kind = K_VFIO;
	else if (is_fail_nth_path(path)) kind = K_FAILNTH;
	else return -2;
	enter();
	int ret;
	if (start()) { ret = kind == K_FAILNTH ? -2 : set_errno(EIO); goto out; }
	if (kind == K_FAILNTH && !has_cap("test:fail-nth")) { ret = -2; goto out; }
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
	ret = reserve_fd(flags, (struct fake){ kind, model_fd, dev, 0, -1, 0, 0 });
out:
	leave();
	return ret;
}

static struct fake *fake_of(int fd) {
	return fd >= 0 && fd < MAX_FDS && fakes[fd].kind != K_NONE ? &fakes[fd] : NULL;
}

/* What closing the last reference to a fake file does in the model. */
static void model_release(enum kind kind, int model_fd, int ctx, int bound, uint64_t dev_id) {
	struct json *a;
	char arg[96];
	if (kind == K_VFIO && bound) {
		snprintf(arg, sizeof(arg), "{\"dev_id\":%llu}", (unsigned long long)dev_id);
		hook(ctx, "DEVICE_UNBIND", arg, &a);
		json_free(a);
	} else if (kind == K_IOMMU && model_fd >= 0) {
		snprintf(arg, sizeof(arg), "{\"fd\":%d}", model_fd);
		call("close", arg, &a);
		json_free(a);
	} else if (kind == K_EVENT && model_fd >= 0) {
		snprintf(arg, sizeof(arg), "{\"fd_id\":%d}", model_fd);
		hook(ctx, "FD_CLOSE", arg, &a);
		json_free(a);
	}
}

/* close(2): the model hears of it only when this process opened the file; a copy inherited
 * over fork() is this process's reference alone (the opener's stays). */
static void close_fake(int fd, struct fake *f) {
	if (f->owner == my_os_pid && !broken) model_release(f->kind, f->model_fd, f->ctx, f->bound, f->dev_id);
	if (f->owner == my_os_pid) owned_drop(fd);
	f->kind = K_NONE;
}

/* A file the implementation handed out (model fd number `model_fd` of context `ctx`): the
 * program gets a fake fd of its own for it. */
static int event_fd(int model_fd, int ctx) {
	return reserve_fd(O_CLOEXEC, (struct fake){ K_EVENT, model_fd, -1, 0, ctx, 0, 0 });
}

/* ---- fault injection (the kernel's per-task fail-nth) ---- */

/* Before a call the kernel would sweep: arms the model with what the file holds. */
static void fail_nth_arm(int ctx) {
	if (!fail_nth_left) return;
	char arg[48];
	struct json *a;
	snprintf(arg, sizeof(arg), "{\"n\":%u}", fail_nth_left);
	hook(ctx, "FAIL_NTH", arg, &a);
	json_free(a);
}

/* After it: the injection fired (the file reads 0 from then on), or the call passed
 * fail_nth_passed points and the next call is armed with what is left — the kernel's counter
 * runs across calls. An adapter that does not say how many keeps the count as it was. */
static void fail_nth_settle(const struct json *answer) {
	const struct json *reached = json_get(answer, "fail_nth_reached");
	last_fail_nth_reached = reached && reached->type == J_BOOL ? reached->boolean : -1;
	if (!fail_nth_left || last_fail_nth_reached < 0) return;
	uint64_t passed;
	if (last_fail_nth_reached == 1) fail_nth_left = 0;
	else if (!json_u64(json_get(answer, "fail_nth_passed"), &passed)) fail_nth_left = passed < fail_nth_left ? fail_nth_left - passed : 0;
}

static uint64_t get_le(const uint8_t *p, unsigned bytes) {
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, unsigned bytes, uint64_t v) {
	for (unsigned i = 0; i < bytes; i++) p[i] = v >> (8 * i);
}

static const struct ioasid_layout_field *field_named(int st, const char *name) {
	const struct ioasid_layout_struct *s = &ioasid_layout_structs[st];
	for (unsigned i = 0; i < s->nfields; i++)
		if (s->fields[i].name && !strcmp(s->fields[i].name, name)) return &s->fields[i];
	return NULL;
}

/* A scalar field's value by name, 0 when the struct has none or it lies past lim. */
static uint64_t field_value(int st, const char *name, const uint8_t *buf, size_t lim) {
	const struct ioasid_layout_field *f = name ? field_named(st, name) : NULL;
	return f && f->sub < 0 && !f->count && f->offset + f->elem_bytes <= lim ? get_le(buf + f->offset, f->elem_bytes) : 0;
}

/* How many bytes a pointer field reaches, by the catalog's pointee; 0 when it does not say. */
static uint64_t pointee_bytes(int st, const struct ioasid_layout_field *f, const uint8_t *buf, size_t lim) {
	if (f->ptr_len) return field_value(st, f->ptr_len, buf, lim);
	if (f->ptr_count) return field_value(st, f->ptr_count, buf, lim) * (f->ptr_entry ? field_value(st, f->ptr_entry, buf, lim) : f->ptr_elem_bytes);
	return 0;
}

/* The memory a struct's pointers reach, mirrored before the call: the catalog's pointer fields,
 * and the user address ranges MAP pins (IOAS_MAP user_va + length, VFIO MAP_DMA vaddr + size). */
static void mirror_pointers(int st, const uint8_t *buf, size_t lim) {
	const struct ioasid_layout_struct *s = &ioasid_layout_structs[st];
	for (unsigned i = 0; i < s->nfields; i++) {
		const struct ioasid_layout_field *f = &s->fields[i];
		if (f->sub >= 0 || f->count || f->elem_bytes != 8 || f->offset + 8 > lim) continue;
		uint64_t len = 0;
		if (!strcmp(f->name, "user_va") || !strcmp(f->name, "vaddr")) {
			const struct ioasid_layout_field *l = field_named(st, "length");
			if (!l) l = field_named(st, "size");
			if (!l || l->elem_bytes != 8 || l->offset + 8 > lim) continue;
			len = get_le(buf + l->offset, 8);
		} else if (!f->is_ptr) continue;
		else len = pointee_bytes(st, f, buf, lim);
		mirror_pointer(get_le(buf + f->offset, 8), len);
	}
}

/* The answer's out_*_fd fields (IOMMU_FAULT_QUEUE_ALLOC's out_fault_fd, IOMMU_VEVENTQ_ALLOC's
 * out_veventq_fd) are model fd numbers: each becomes a fake fd of the program. */
static void translate_out_fds(int st, const struct json *arg, uint8_t *buf, size_t lim, int ctx) {
	const struct ioasid_layout_struct *s = &ioasid_layout_structs[st];
	for (unsigned i = 0; i < s->nfields; i++) {
		const struct ioasid_layout_field *f = &s->fields[i];
		size_t n = strlen(f->name);
		if (strncmp(f->name, "out_", 4) || n < 7 || strcmp(f->name + n - 3, "_fd") || f->offset + f->elem_bytes > lim) continue;
		if (!json_get(arg, f->name)) continue;
		int fd = event_fd((int)get_le(buf + f->offset, f->elem_bytes), ctx);
		put_le(buf + f->offset, f->elem_bytes, (uint64_t)(int64_t)fd);
	}
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
	mirror_pointers(lay->st, buf, lim);
	fail_nth_arm(ctx);
	struct json *a;
	struct json *r = synced_call("ioctl", b.p, &a);
	jb_free(&b);
	if (!r) { json_free(a); return set_errno(EIO); }
	struct json *arg = json_get(r, "arg");
	last_copied_back = arg != NULL;
	fail_nth_settle(r);
	char err[200];
	if (arg && layout_encode(lay->st, arg, buf, lim, err, sizeof(err)))
		fprintf(stderr, "ioasid fake /dev/iommu: %s answer: %s\n", lay->name, err);
	if (arg && !answer_errno(r)) translate_out_fds(lay->st, arg, buf, lim, ctx);
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
	fail_nth_arm(ctx);
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

/* ---- IOMMU_TEST_CMD ---- */

/* The ops by upstream mainline number (iommufd_test.h); a program built against another
 * numbering says so in IOASID_TEST_OPS. */
static const char *const TEST_OPS[] = {
	NULL, "ADD_RESERVED", "MOCK_DOMAIN", "MD_CHECK_MAP", "MD_CHECK_REFS", "CREATE_ACCESS",
	"DESTROY_ACCESS_PAGES", "ACCESS_PAGES", "ACCESS_RW", "SET_TEMP_MEMORY_LIMIT",
	"MOCK_DOMAIN_REPLACE", "ACCESS_REPLACE_IOAS", "MOCK_DOMAIN_FLAGS", "DIRTY", "MD_CHECK_IOTLB",
	"TRIGGER_IOPF", "DEV_CHECK_CACHE", "TRIGGER_VEVENT", "PASID_ATTACH", "PASID_REPLACE",
	"PASID_DETACH", "PASID_CHECK_HWPT",
};
#define NTEST_OPS (int)(sizeof(TEST_OPS) / sizeof(TEST_OPS[0]))
#define NOPNUMS (int)(sizeof(test_op_numbers) / sizeof(test_op_numbers[0]))

static int test_op_index(const char *name) {
	for (int i = 1; i < NTEST_OPS; i++)
		if (!strcmp(TEST_OPS[i], name)) return i;
	return -1;
}

static void read_test_ops(void) {
	for (int i = 0; i < NOPNUMS; i++) test_op_numbers[i] = i < NTEST_OPS ? i : -1;
	const char *env = getenv("IOASID_TEST_OPS");
	if (!env || !*env) return;
	for (int i = 0; i < NOPNUMS; i++) test_op_numbers[i] = -1;
	char *copy = strdup(env), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int n;
		char name[48];
		if (sscanf(tok, " %d = %47[A-Z0-9_]", &n, name) != 2 || n < 0 || n >= NOPNUMS || test_op_index(name) < 0)
			fprintf(stderr, "ioasid fake /dev/iommu: IOASID_TEST_OPS: ignored \"%s\" (want <number>=<op name>)\n", tok);
		else test_op_numbers[n] = test_op_index(name);
	}
	free(copy);
}

/* What the fake must see in each op's union member of struct iommu_test_cmd (offsets from the
 * generated layouts, layout_offset): the user pointer and its length of the ops that take one,
 * the access fd the access ops name in `id`, and the access fd CREATE_ACCESS returns. */
struct test_op_shape { const char *op, *uptr, *length; int takes_access_fd, returns_access_fd; };
static const struct test_op_shape TEST_OP_SHAPES[] = {
	{ "MD_CHECK_MAP", "check_map.uptr", "check_map.length", 0, 0 },
	{ "MD_CHECK_REFS", "check_refs.uptr", "check_refs.length", 0, 0 },
	{ "ACCESS_PAGES", "access_pages.uptr", "access_pages.length", 1, 0 },
	{ "ACCESS_RW", "access_rw.uptr", "access_rw.length", 1, 0 },
	{ "DIRTY", "dirty.uptr", NULL, 0, 0 },
	{ "DESTROY_ACCESS_PAGES", NULL, NULL, 1, 0 },
	{ "ACCESS_REPLACE_IOAS", NULL, NULL, 1, 0 },
	{ "CREATE_ACCESS", NULL, NULL, 0, 1 },
};

/* Where "member.field" of struct iommu_test_cmd lies; -1 for no field (NULL). */
static long test_cmd_at(const char *path) { return path ? layout_offset("iommu_test_cmd", path) : -1; }

static const struct test_op_shape *test_op_shape(const char *op) {
	for (unsigned i = 0; i < sizeof(TEST_OP_SHAPES) / sizeof(TEST_OP_SHAPES[0]); i++)
		if (!strcmp(TEST_OP_SHAPES[i].op, op)) return &TEST_OP_SHAPES[i];
	return NULL;
}

/* The TEST_CMD exchange of op `op` with the struct's bytes (n of them), the program's fds
 * translated to the model's on the way in and back on the way out. 0 and the bytes the kernel
 * copies back in *out (malloc'd, *nout of them), or an errno. */
static int test_cmd_bytes(int model_fd, const char *op, uint8_t *buf, size_t n, uint8_t **out, long *nout) {
	const struct test_op_shape *shape = test_op_shape(op);
	const size_t id_at = (size_t)test_cmd_at("id");
	uint32_t caller_id = n >= id_at + 4 ? get_le(buf + id_at, 4) : 0;
	if (shape && shape->takes_access_fd && n >= id_at + 4) {
		struct fake *acc = fake_of((int)caller_id);
		/* Not one of our access files: a number no model fd has (fget fails: EBADF). */
		put_le(buf + id_at, 4, acc && acc->kind == K_EVENT ? (uint64_t)acc->model_fd : 0x7fffffffu);
	}
	long uptr_at = shape ? test_cmd_at(shape->uptr) : -1, length_at = shape ? test_cmd_at(shape->length) : -1;
	if (uptr_at >= 0 && (size_t)uptr_at + 8 <= n) {
		uint64_t len = length_at >= 0 && (size_t)length_at + 8 <= n ? get_le(buf + length_at, 8) : 0;
		mirror_pointer(get_le(buf + uptr_at, 8), len);
	}
	struct jbuf b;
	jb_init(&b);
	jb_printf(&b, "{\"fd\":%d,\"op\":\"TEST_CMD\",\"arg\":{\"op\":\"%s\",\"data\":", model_fd, op);
	jb_hex(&b, buf, n);
	jb_str(&b, "}}");
	fail_nth_arm(model_fd);
	struct json *a;
	struct json *r = synced_call("test", b.p, &a);
	jb_free(&b);
	if (!r) { json_free(a); return EIO; }
	fail_nth_settle(r);
	int e = answer_errno(r);
	const struct json *d = json_get(json_get(r, "out"), "data");
	*nout = !e && d && d->type == J_STR ? hex_decode(d->str, out) : -1;
	if (!e && *nout < 0) e = EIO;
	if (!e) {
		if ((size_t)*nout >= id_at + 4) put_le(*out + id_at, 4, caller_id); /* the program's fd, not the model's */
		const size_t fd_at = (size_t)test_cmd_at("create_access.out_access_fd");
		if (shape && shape->returns_access_fd && (size_t)*nout >= fd_at + 4) {
			int fd = event_fd((int)get_le(*out + fd_at, 4), model_fd);
			put_le(*out + fd_at, 4, (uint64_t)(int64_t)fd);
		}
	}
	json_free(a);
	return e;
}

/* ioctl(IOMMU_TEST_CMD): the struct as bytes to the TEST_CMD hook. */
static long test_cmd(struct fake *f, void *argp) {
	uint8_t head[8];
	if (safe_read(argp, head, 4)) return set_errno(EFAULT);
	uint32_t size = get_le(head, 4);
	size_t n = size > TEST_CMD_MAX_BYTES ? TEST_CMD_MAX_BYTES : size;
	if (n < 8) n = 8; /* the model applies the size rules; it needs the op to name the hook */
	uint8_t *buf = calloc(1, n);
	if (safe_read(argp, buf, n) && safe_read(argp, buf, 8)) { free(buf); return set_errno(EFAULT); }
	uint32_t opnum = get_le(buf + 4, 4);
	int idx = opnum < (uint32_t)NOPNUMS ? test_op_numbers[opnum] : -1;
	/* iommufd_test(): an op it does not know is EOPNOTSUPP; the hook takes names only. */
	if (idx < 0) { free(buf); return set_errno(EOPNOTSUPP); }
	uint8_t *out = NULL;
	long nout = -1;
	int e = test_cmd_bytes(f->model_fd, TEST_OPS[idx], buf, n, &out, &nout);
	free(buf);
	if (!e) {
		/* iommufd_ucmd_respond copies back at most what the caller's size says. */
		if ((size_t)nout > size) nout = size;
		if (safe_write(argp, out, nout)) e = EFAULT;
	}
	free(out);
	return e ? set_errno(e) : 0;
}

static long iommu_ioctl(struct fake *f, unsigned long request, void *argp) {
	if (request == TEST_CMD_REQUEST) return test_cmd(f, argp);
	const struct ioasid_layout_ioctl *lay = layout_by_request(request);
	if (!lay || lay->family == 1) return raw_ioctl(f->model_fd, request, argp);
	if (lay->st < 0) {
		char arg[256];
		snprintf(arg, sizeof(arg), "{\"fd\":%d,\"cmd\":\"%s\",\"arg\":{", f->model_fd, lay->name);
		if (lay->int_arg) snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), "\"%s\":%lu", lay->int_arg, (unsigned long)argp);
		strcat(arg, "}}");
		struct json *a;
		fail_nth_arm(f->model_fd);
		struct json *r = call("ioctl", arg, &a);
		int e = r ? answer_errno(r) : EIO;
		fail_nth_settle(r);
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
		if (f->owner == my_os_pid) owned_set(f - fakes, f);
	}
	size_t st_size = ioasid_layout_structs[lay->st].size;
	safe_write(argp, buf, size < st_size ? size : st_size);
	free(buf);
	errno = saved;
	return ret;
}

/* ---- interposed entry points ---- */

static int do_open(int dirfd, const char *path, int flags, mode_t mode) {
	if (path && (!strncmp(path, "/dev/", 5) || !strncmp(path, "/proc/", 6))) {
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
	enter();
	struct fake *f = fake_of(fd);
	if (f) close_fake(fd, f);
	leave();
	long r = syscall(SYS_close, fd);
	return r;
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long request, ...) {
	va_list ap;
	va_start(ap, request);
	void *argp = va_arg(ap, void *);
	va_end(ap);
	enter();
	struct fake *f = fake_of(fd);
	long r;
	if (!f) {
		leave();
		return syscall(SYS_ioctl, fd, request, argp);
	}
	last_fail_nth_reached = -1;
	if (broken || (f->model_fd == -1 && f->kind == K_IOMMU)) r = set_errno(broken ? EIO : EBADF);
	else if (f->kind == K_EVENT || f->kind == K_FAILNTH) r = set_errno(ENOTTY); /* no unlocked_ioctl */
	else r = f->kind == K_IOMMU ? iommu_ioctl(f, request, argp) : vfio_ioctl(f, request, argp);
	int saved = errno;
	leave();
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
	*rg = (struct region){ (uintptr_t)p, (len + PAGE - 1) & ~(PAGE - 1), calloc(1, (len + PAGE - 1) & ~(PAGE - 1)), 1, 0, 0, 0, 0 };
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

#define HUGE_PAGE (2ul << 20)

/* MAP_HUGETLB on a host without huge pages (no hugetlbfs pool, a container): when the adapter
 * models huge pages (test:mmap-huge), the program gets plain memory at a 2 MiB boundary, its
 * length rounded up to 2 MiB as hugetlb rounds it, and the model maps that as huge pages — the
 * pages DMA and pinning see are the model's, the program's memory only carries the bytes. */
static void *hugetlb_stand_in(void *addr, size_t len, int prot, int flags) {
	int e = errno;
	enter();
	int ok = !start() && has_cap("test:mmap-huge");
	leave();
	if (!ok) { errno = e; return MAP_FAILED; }
	size_t hlen = (len + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	int plain = flags & ~(MAP_HUGETLB | (0x3f << MAP_HUGE_SHIFT));
	if (flags & MAP_FIXED) {
		if ((uintptr_t)addr & (HUGE_PAGE - 1)) { errno = EINVAL; return MAP_FAILED; }
		return real_mmap(addr, hlen, prot, plain, -1, 0);
	}
	uint8_t *q = real_mmap(NULL, hlen + HUGE_PAGE, prot, plain, -1, 0);
	if (q == MAP_FAILED) return q;
	uint8_t *aligned = (uint8_t *)(((uintptr_t)q + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
	if (aligned > q) real_munmap(q, aligned - q);
	if (aligned + hlen < q + hlen + HUGE_PAGE) real_munmap(aligned + hlen, q + hlen + HUGE_PAGE - (aligned + hlen));
	return aligned;
}

__attribute__((visibility("default"))) void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
	if (fd >= 0 && !(flags & MAP_ANONYMOUS)) {
		enter();
		struct fake *f = fake_of(fd);
		void *p = MAP_FAILED;
		int e = 0;
		if (f && f->kind == K_IOMMU && f->model_fd >= 0 && !broken) { p = mmap_iommu(f, len, prot, flags, off); e = errno; }
		else if (f) e = ENODEV;
		leave();
		if (f) { errno = e; return p; }
	}
	if (flags & MAP_FIXED) {
		enter();
		push_before_unmap((uintptr_t)addr, len);
		leave();
	}
	void *p = real_mmap(addr, len, prot, flags, fd, off);
	int huge = (flags & MAP_ANONYMOUS) && (flags & MAP_HUGETLB);
	if (p == MAP_FAILED && huge) {
		p = hugetlb_stand_in(addr, len, prot, flags);
		if (p != MAP_FAILED) len = (len + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	}
	if (p == MAP_FAILED) return p;
	if (flags & MAP_ANONYMOUS) {
		enter();
		region_cut((uintptr_t)p, len); /* what was mirrored there (MAP_FIXED, or on demand) is gone */
		region_add((uintptr_t)p, len, 0, huge, (flags & MAP_SHARED) != 0);
		leave();
	}
	return p;
}
__attribute__((visibility("default"))) void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) { return mmap(addr, len, prot, flags, fd, off); }

__attribute__((visibility("default"))) int munmap(void *addr, size_t len) {
	enter();
	push_before_unmap((uintptr_t)addr, len);
	if (real_munmap(addr, len)) { int e = errno; leave(); return set_errno(e); }
	region_cut((uintptr_t)addr, len);
	leave();
	return 0;
}

/* ---- read(2) and write(2) of the fake files ---- */

/* FD_READ / FD_WRITE of a file the implementation handed out. */
static ssize_t event_rw(struct fake *f, void *buf, size_t n, int write) {
	struct jbuf b;
	struct json *a;
	jb_init(&b);
	if (write) {
		uint8_t *copy = malloc(n ? n : 1);
		if (n && safe_read(buf, copy, n)) { free(copy); jb_free(&b); return set_errno(EFAULT); }
		jb_printf(&b, "{\"fd_id\":%d,\"data\":", f->model_fd);
		jb_hex(&b, copy, n);
		jb_str(&b, "}");
		free(copy);
	} else jb_printf(&b, "{\"fd_id\":%d,\"length\":%zu}", f->model_fd, n);
	struct jbuf p;
	jb_init(&p);
	jb_printf(&p, "{\"fd\":%d,\"op\":\"%s\",\"arg\":", f->ctx, write ? "FD_WRITE" : "FD_READ");
	jb_str(&p, b.p);
	jb_str(&p, "}");
	struct json *r = synced_call("test", p.p, &a);
	jb_free(&p);
	jb_free(&b);
	if (!r) { json_free(a); return set_errno(EIO); }
	int e = answer_errno(r);
	ssize_t ret = -1;
	if (!e && write) {
		uint64_t w = 0;
		json_u64(json_get(json_get(r, "out"), "written"), &w);
		ret = w;
	} else if (!e) {
		const struct json *d = json_get(json_get(r, "out"), "data");
		uint8_t *data;
		long got = d && d->type == J_STR ? hex_decode(d->str, &data) : -1;
		if (got < 0) e = EIO;
		else {
			if ((size_t)got > n) got = n;
			if (got && safe_write(buf, data, got)) e = EFAULT;
			free(data);
			ret = got;
		}
	}
	json_free(a);
	return e ? set_errno(e) : ret;
}

/* The fail-nth file: reading gives what is left and a newline ("0\n" once the injection
 * fired); writing a number arms the sweep (0 turns it off). The offset plays no part. */
static ssize_t fail_nth_rw(void *buf, size_t n, int write) {
	char text[24];
	if (write) {
		if (n >= sizeof(text) || safe_read(buf, text, n)) return set_errno(n >= sizeof(text) ? EINVAL : EFAULT);
		text[n] = 0;
		char *end;
		unsigned long v = strtoul(text, &end, 0);
		if (end == text || v > 0x7fffffffu) return set_errno(EINVAL);
		fail_nth_left = v;
		return n;
	}
	int len = snprintf(text, sizeof(text), "%u\n", fail_nth_left);
	if ((size_t)len > n) len = n;
	if (safe_write(buf, text, len)) return set_errno(EFAULT);
	return len;
}

/* -2: not a fake file (the real call goes on). */
static ssize_t fake_rw(int fd, void *buf, size_t n, int write) {
	if (fd < 0 || fd >= MAX_FDS || fakes[fd].kind == K_NONE) return -2;
	enter();
	struct fake *f = fake_of(fd);
	ssize_t r;
	if (!f) r = -2;
	else if (f->kind == K_FAILNTH) r = fail_nth_rw(buf, n, write);
	else if (f->kind == K_EVENT) r = broken ? set_errno(EIO) : event_rw(f, buf, n, write);
	else r = set_errno(EINVAL); /* /dev/iommu and the VFIO cdev have no read or write */
	int saved = errno;
	leave();
	errno = saved;
	return r;
}

__attribute__((visibility("default"))) ssize_t read(int fd, void *buf, size_t n) {
	ssize_t r = fake_rw(fd, buf, n, 0);
	return r == -2 ? real_read(fd, buf, n) : r;
}
__attribute__((visibility("default"))) ssize_t write(int fd, const void *buf, size_t n) {
	ssize_t r = fake_rw(fd, (void *)buf, n, 1);
	return r == -2 ? real_write(fd, buf, n) : r;
}
__attribute__((visibility("default"))) ssize_t pread(int fd, void *buf, size_t n, off_t off) {
	ssize_t r = fake_rw(fd, buf, n, 0);
	return r == -2 ? syscall(SYS_pread64, fd, buf, n, off) : r;
}
__attribute__((visibility("default"))) ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
	ssize_t r = fake_rw(fd, (void *)buf, n, 1);
	return r == -2 ? syscall(SYS_pwrite64, fd, buf, n, off) : r;
}
__attribute__((visibility("default"))) ssize_t pread64(int fd, void *buf, size_t n, off_t off) { return pread(fd, buf, n, off); }
__attribute__((visibility("default"))) ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) { return pwrite(fd, buf, n, off); }
__attribute__((visibility("default"))) ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) { (void)buflen; return read(fd, buf, n); }
__attribute__((visibility("default"))) ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) { (void)buflen; return pread(fd, buf, n, off); }
__attribute__((visibility("default"))) ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen) { (void)buflen; return pread(fd, buf, n, off); }

/* ---- processes: fork, exit, reaping ---- */

/* The child's side of a fork: its own lock, its own pid in the model. */
static void become_child(int model_pid, int fresh_lock) {
	if (fresh_lock) {
		/* The parent's thread held it across the fork: this process gets its own. */
		pthread_mutexattr_t at;
		pthread_mutexattr_init(&at);
		pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&lock, &at);
		pthread_mutexattr_destroy(&at);
		depth = 0;
	}
	my_os_pid = getpid();
	my_model_pid = model_pid;
	fail_nth_left = 0; /* per task in the kernel: a new task starts without */
}

/* PROCESS_FORK for the calling process; the child's model pid or -1. */
static int model_fork(void) {
	struct json *a;
	push();
	struct json *r = hook(-1, "PROCESS_FORK", "{}", &a);
	uint64_t pid;
	int ok = r && !answer_errno(r) && !json_u64(json_get(json_get(r, "out"), "pid"), &pid);
	json_free(a);
	return ok ? (int)pid : -1;
}

static void model_exit(int model_pid) {
	char arg[48];
	struct json *a;
	snprintf(arg, sizeof(arg), "{\"pid\":%d}", model_pid);
	hook(-1, "PROCESS_EXIT", arg, &a);
	json_free(a);
}

__attribute__((visibility("default"))) pid_t fork(void) {
	static pid_t (*real_fork)(void);
	if (!real_fork) real_fork = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	enter();
	start(); /* so that the descendants share one machine, as they share one kernel */
	if (!forked && !broken) {
		/* Shared anonymous memory becomes what a fork shares: a file mapping in the model,
		 * its content pushed again by model_fork(). */
		forked = 1;
		for (int i = 0; i < nregions; i++) {
			struct region *r = &regions[i];
			if (!r->shared || r->huge || r->as_file || !r->mirrored) continue;
			char arg[96];
			struct json *a;
			snprintf(arg, sizeof(arg), "{\"addr\":%lu,\"length\":%zu}", (unsigned long)r->addr, r->len);
			hook(-1, "MUNMAP", arg, &a);
			json_free(a);
			mirror(r);
		}
	}
	int child_model = broken ? -1 : model_fork();
	pid_t p = real_fork();
	if (p == 0) {
		become_child(child_model, 1);
		return 0;
	}
	int saved = errno;
	if (p < 0 && child_model >= 0) model_exit(child_model);
	if (p > 0) proc_add(p, child_model, my_os_pid);
	leave();
	errno = saved;
	return p;
}

/* A fork we did not see (clone, a fork from inside libc): the child finds out at its first
 * call and announces itself as a fork of the process it was, at that time. */
static void adopt_unseen_fork(void) {
	my_os_pid = getpid();
	if (!started || broken) return;
	int child = model_fork(); /* made as the process it was */
	become_child(child, 0); /* we are inside enter(), holding the locks */
	proc_add(my_os_pid, child, getppid());
}

/* Whether a process is gone: no /proc entry, or a zombie nobody reaped yet. */
static int process_gone(int pid) {
	char path[40], stat[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = real_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) return 1;
	long n = real_read(fd, stat, sizeof(stat) - 1);
	syscall(SYS_close, fd);
	if (n <= 0) return 1;
	stat[n] = 0;
	char *paren = strrchr(stat, ')');
	return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

/* A process of the tree ended: its address space goes (PROCESS_EXIT), then what it left open
 * closes, in the kernel's order (exit_mm before exit_files). */
static void end_process(int os_pid) {
	struct proc_entry *p = proc_of(os_pid);
	if (p && p->model_pid >= 0 && started && !broken) model_exit(p->model_pid);
	if (p) memset(p, 0, sizeof(*p));
	for (int i = 0; sh && i < MAX_OWNED; i++) {
		struct owned_entry o = sh->owned[i];
		if (o.os_pid != os_pid) continue;
		memset(&sh->owned[i], 0, sizeof(sh->owned[i]));
		if (started && !broken) model_release(o.kind, o.model_fd, o.ctx, o.bound, o.dev_id);
	}
}

static void reaped(pid_t pid, int status) {
	if (pid <= 0 || !(WIFEXITED(status) || WIFSIGNALED(status)) || !sh) return;
	enter();
	/* A child killed by a signal was likely killed with its process group (the harness's
	 * timeout): its own children are given a moment to finish dying, so that what they left
	 * open closes now rather than at some later reaping. */
	for (int i = 0; WIFSIGNALED(status) && i < MAX_PROCS; i++) {
		if (sh->procs[i].parent_os_pid != pid || !sh->procs[i].os_pid) continue;
		for (int t = 0; t < 200 && !process_gone(sh->procs[i].os_pid); t++) usleep(10000);
	}
	end_process(pid);
	/* Processes killed with their parent (a test's process group on a timeout). */
	for (int i = 0; i < MAX_PROCS; i++) {
		int other = sh->procs[i].os_pid;
		if (other && other != my_os_pid && process_gone(other)) end_process(other);
	}
	leave();
}

__attribute__((visibility("default"))) pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru) {
	int st = 0;
	pid_t r = syscall(SYS_wait4, pid, &st, options, ru);
	int saved = errno;
	if (r > 0) reaped(r, st);
	if (status) *status = st;
	errno = saved;
	return r;
}
__attribute__((visibility("default"))) pid_t waitpid(pid_t pid, int *status, int options) { return wait4(pid, status, options, NULL); }
__attribute__((visibility("default"))) pid_t wait(int *status) { return wait4(-1, status, 0, NULL); }
__attribute__((visibility("default"))) pid_t wait3(int *status, int options, struct rusage *ru) { return wait4(-1, status, options, ru); }
__attribute__((visibility("default"))) int waitid(idtype_t type, id_t id, siginfo_t *info, int options) {
	int r = syscall(SYS_waitid, type, id, info, options, NULL);
	int saved = errno;
	if (r == 0 && info && info->si_pid > 0 && !(options & WNOWAIT) &&
	    (info->si_code == CLD_EXITED || info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED))
		reaped(info->si_pid, info->si_code == CLD_EXITED ? 0 : SIGKILL);
	errno = saved;
	return r;
}

/* ---- /sys/kernel/debug: the knobs iommufd_fail_nth looks for ---- */

static const char *const DEBUGFS_FILES[] = {
	"failslab/ignore-gfp-wait", "failslab/verbose",
	"fail_page_alloc/ignore-gfp-wait", "fail_page_alloc/ignore-gfp-highmem", "fail_page_alloc/verbose",
};
#define NDEBUGFS_FILES (sizeof(DEBUGFS_FILES) / sizeof(DEBUGFS_FILES[0]))

/* A directory standing for debugfs when the adapter offers fault injection, made once for the
 * process tree; NULL otherwise (the real one is opened). */
static const char *fake_debugfs(void) {
	if (start() || !has_cap("test:fail-nth") || !sh) return NULL;
	if (sh->debugfs[0]) return sh->debugfs;
	char dir[64] = "/tmp/ioasid-fake-debugfs-XXXXXX";
	if (!mkdtemp(dir)) return NULL;
	char path[128];
	snprintf(path, sizeof(path), "%s/failslab", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/fail_page_alloc", dir);
	mkdir(path, 0700);
	for (unsigned i = 0; i < NDEBUGFS_FILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, DEBUGFS_FILES[i]);
		int fd = real_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) syscall(SYS_close, fd);
	}
	strcpy(sh->debugfs, dir);
	sh->debugfs_owner = my_os_pid;
	return sh->debugfs;
}

__attribute__((visibility("default"))) DIR *opendir(const char *path) {
	static DIR *(*real_opendir)(const char *);
	if (!real_opendir) real_opendir = (DIR *(*)(const char *))dlsym(RTLD_NEXT, "opendir");
	if ((!strcmp(path, "/sys/kernel/debug") || !strcmp(path, "/sys/kernel/debug/"))) {
		enter();
		const char *dir = fake_debugfs();
		leave();
		if (dir) return real_opendir(dir);
	}
	return real_opendir(path);
}

/* ---- life of the library ---- */

__attribute__((constructor)) static void fake_init(void) {
	my_os_pid = getpid();
	read_test_ops();
	void *p = real_mmap(NULL, (sizeof(struct shared) + PAGE - 1) & ~(PAGE - 1), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return;
	sh = p;
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&sh->lock, &at);
	pthread_mutexattr_destroy(&at);
	sh->next_id = 1;
}

__attribute__((destructor)) static void fake_fini(void) {
	if (!sh || !sh->debugfs[0] || sh->debugfs_owner != getpid()) return;
	char path[128];
	for (unsigned i = 0; i < NDEBUGFS_FILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", sh->debugfs, DEBUGFS_FILES[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/failslab", sh->debugfs);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/fail_page_alloc", sh->debugfs);
	rmdir(path);
	rmdir(sh->debugfs);
}
