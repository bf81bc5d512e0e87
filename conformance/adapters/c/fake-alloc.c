/*
 * The fake /dev/iommu's own heap: memory the fake allocates (JSON trees, message buffers,
 * shadow copies) comes from mappings of its own, made with the raw system call, never from the
 * program's malloc heap. The fake mirrors the program's heap pages when a pointer reaches them
 * (fake-iommu.c) and pushes every page that changed before each call; its own allocations
 * there would change heap pages at every call and cost a MEM_WRITE each time.
 *
 * fake-alloc.h renames malloc, calloc, realloc, free, strdup and strndup to these functions in
 * every file of the library (the Makefile force-includes it). Sizes are rounded up to a power of
 * two from 32 bytes; a freed block goes on its class's list; blocks above 256 KiB are mappings
 * of their own. One lock; a forked child inherits the lists with its copy of the memory.
 *
 * Invariant: every block starts 16 bytes after a header holding its class (or, for a mapping,
 * its length with the top bit set).
 */
#define _GNU_SOURCE
#include "fake-alloc.h"
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The libc functions themselves in this file (the Makefile force-includes fake-alloc.h). */
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef strdup
#undef strndup

#define HEADER 16
#define MIN_SHIFT 5
#define MAX_SHIFT 18
#define CHUNK (1ul << 20)
#define BIG (1ull << 63)

struct block { struct block *next; };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct block *lists[MAX_SHIFT + 1];
static uint8_t *chunk, *chunk_end;

static void *map(size_t len) {
	void *p = (void *)syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int shift_of(size_t n) {
	int s = MIN_SHIFT;
	while (((size_t)1 << s) < n + HEADER) s++;
	return s;
}

void *ioasid_fake_malloc(size_t n) {
	int s = shift_of(n);
	if (s > MAX_SHIFT) {
		size_t len = (n + HEADER + 4095) & ~(size_t)4095;
		uint8_t *p = map(len);
		if (!p) return NULL;
		*(uint64_t *)p = BIG | len;
		return p + HEADER;
	}
	pthread_mutex_lock(&lock);
	struct block *b = lists[s];
	uint8_t *p;
	if (b) {
		lists[s] = b->next;
		p = (uint8_t *)b;
	} else {
		size_t size = (size_t)1 << s;
		if (!chunk || chunk + size > chunk_end) {
			chunk = map(CHUNK);
			chunk_end = chunk ? chunk + CHUNK : NULL;
		}
		p = chunk;
		if (p) chunk += size;
	}
	pthread_mutex_unlock(&lock);
	if (!p) return NULL;
	*(uint64_t *)p = s;
	return p + HEADER;
}

void ioasid_fake_free(void *q) {
	if (!q) return;
	uint8_t *p = (uint8_t *)q - HEADER;
	uint64_t h = *(uint64_t *)p;
	if (h & BIG) {
		syscall(SYS_munmap, p, (size_t)(h & ~BIG));
		return;
	}
	pthread_mutex_lock(&lock);
	((struct block *)p)->next = lists[h];
	lists[h] = (struct block *)p;
	pthread_mutex_unlock(&lock);
}

static size_t usable(void *q) {
	uint64_t h = *(uint64_t *)((uint8_t *)q - HEADER);
	return (h & BIG ? (size_t)(h & ~BIG) : (size_t)1 << h) - HEADER;
}

void *ioasid_fake_calloc(size_t n, size_t size) {
	if (size && n > SIZE_MAX / size) return NULL;
	void *p = ioasid_fake_malloc(n * size);
	/* A block of its own mapping is zero already (and stays untouched: a shadow of a large
	 * mapping costs no memory until used); a recycled one is not. */
	if (p && shift_of(n * size) <= MAX_SHIFT) memset(p, 0, n * size);
	return p;
}

void *ioasid_fake_realloc(void *q, size_t n) {
	if (!q) return ioasid_fake_malloc(n);
	size_t have = usable(q);
	if (n <= have) return q;
	void *p = ioasid_fake_malloc(n);
	if (!p) return NULL;
	memcpy(p, q, have);
	ioasid_fake_free(q);
	return p;
}

char *ioasid_fake_strndup(const char *s, size_t n) {
	size_t len = strnlen(s, n);
	char *p = ioasid_fake_malloc(len + 1);
	if (!p) return NULL;
	memcpy(p, s, len);
	p[len] = 0;
	return p;
}

char *ioasid_fake_strdup(const char *s) {
	return ioasid_fake_strndup(s, strlen(s));
}

char *ioasid_fake_libc_strndup(const char *s, size_t n) {
	return strndup(s, n);
}
