/*
 * Force-included (-include) into every file of the fake /dev/iommu library: the fake's
 * allocations go to its own heap (fake-alloc.c), not the program's.
 */
#ifndef IOASID_FAKE_ALLOC_H
#define IOASID_FAKE_ALLOC_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>
void *ioasid_fake_malloc(size_t n);
void *ioasid_fake_calloc(size_t n, size_t size);
void *ioasid_fake_realloc(void *p, size_t n);
void ioasid_fake_free(void *p);
char *ioasid_fake_strdup(const char *s);
char *ioasid_fake_strndup(const char *s, size_t n);
/* A copy in libc's heap, for memory handed to the program, which frees it with free(). */
char *ioasid_fake_libc_strndup(const char *s, size_t n);
#define malloc ioasid_fake_malloc
#define calloc ioasid_fake_calloc
#define realloc ioasid_fake_realloc
#define free ioasid_fake_free
#define strdup ioasid_fake_strdup
#define strndup ioasid_fake_strndup
#endif
