/*
 * Protocol JSON fields ↔ the bytes of a uAPI struct, by the generated tables of
 * uapi-layouts.h (little-endian, LP64). Shared by the fake /dev/iommu and the C adapter.
 */
#ifndef IOASID_LAYOUT_H
#define IOASID_LAYOUT_H
#include <stddef.h>
#include <stdint.h>
#include "json.h"
#include "uapi-layouts.h"

const struct ioasid_layout_ioctl *layout_by_name(const char *name);
const struct ioasid_layout_ioctl *layout_by_request(unsigned long request);
const char *errno_name(int number);
int errno_number(const char *name);
/* The byte offset of `path` ("field" or "member.field", through embedded structs and union
 * members) in struct `st`, from the generated tables; -1 when the struct has no such field. */
long layout_offset(const char *st, const char *path);
/* Stores every field `arg` names into buf (struct `st` at offset 0, `limit` bytes); members
 * that are not fields (`device`, `__trailing`) are left to the caller. -1 with a message on a
 * value that is not an integer or does not fit. */
int layout_encode(int st, const struct json *arg, uint8_t *buf, size_t limit, char *err, size_t errlen);
/* Appends `"name":value` members for every field lying wholly below `limit`; *first tracks
 * whether a comma is due. */
void layout_decode(int st, const uint8_t *buf, size_t limit, struct jbuf *out, int *first);
#endif
