/* See layout.h. */
#include "layout.h"
#include <stdio.h>
#include <string.h>

const struct ioasid_layout_ioctl *layout_by_name(const char *name) {
	for (int i = 0; i < IOASID_LAYOUT_NIOCTLS; i++)
		if (!strcmp(ioasid_layout_ioctls[i].name, name)) return &ioasid_layout_ioctls[i];
	return NULL;
}

const struct ioasid_layout_ioctl *layout_by_request(unsigned long request) {
	for (int i = 0; i < IOASID_LAYOUT_NIOCTLS; i++)
		if (ioasid_layout_ioctls[i].request == request) return &ioasid_layout_ioctls[i];
	return NULL;
}

const char *errno_name(int number) {
	for (int i = 0; i < IOASID_LAYOUT_NERRNOS; i++)
		if (ioasid_layout_errnos[i].number == number) return ioasid_layout_errnos[i].name;
	return NULL;
}

int errno_number(const char *name) {
	for (int i = 0; i < IOASID_LAYOUT_NERRNOS; i++)
		if (!strcmp(ioasid_layout_errnos[i].name, name)) return ioasid_layout_errnos[i].number;
	return -1;
}

long layout_offset(const char *st, const char *path) {
	const struct ioasid_layout_struct *s = NULL;
	for (size_t i = 0; i < sizeof(ioasid_layout_structs) / sizeof(ioasid_layout_structs[0]); i++)
		if (!strcmp(ioasid_layout_structs[i].name, st)) { s = &ioasid_layout_structs[i]; break; }
	long at = 0;
	while (s) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		const struct ioasid_layout_field *f = NULL;
		for (unsigned i = 0; i < s->nfields; i++)
			if (strlen(s->fields[i].name) == len && !strncmp(s->fields[i].name, path, len)) { f = &s->fields[i]; break; }
		if (!f) return -1;
		at += f->offset;
		if (!dot) return at;
		if (f->sub < 0) return -1;
		s = &ioasid_layout_structs[f->sub];
		path = dot + 1;
	}
	return -1;
}

static void put(uint8_t *p, unsigned bytes, uint64_t v) {
	for (unsigned i = 0; i < bytes; i++) p[i] = v >> (8 * i);
}

static uint64_t get(const uint8_t *p, unsigned bytes) {
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int encode_one(const struct ioasid_layout_field *f, const struct json *v, uint8_t *at, const uint8_t *end, char *err, size_t errlen) {
	if (f->sub >= 0) {
		if (at + ioasid_layout_structs[f->sub].size > end) return 0;
		return layout_encode(f->sub, v, at, end - at, err, errlen);
	}
	if (at + f->elem_bytes > end) return 0;
	uint64_t u;
	if (json_u64(v, &u)) { snprintf(err, errlen, "%s: not an integer", f->name); return -1; }
	if (f->elem_bytes < 8 && !f->is_signed && (u >> (8 * f->elem_bytes))) { snprintf(err, errlen, "%s: does not fit %u bytes", f->name, f->elem_bytes); return -1; }
	put(at, f->elem_bytes, u);
	return 0;
}

int layout_encode(int st, const struct json *arg, uint8_t *buf, size_t limit, char *err, size_t errlen) {
	const struct ioasid_layout_struct *s = &ioasid_layout_structs[st];
	if (!arg || arg->type != J_OBJ) { snprintf(err, errlen, "%s: expected an object", s->name); return -1; }
	for (const struct json *m = arg->child; m; m = m->next) {
		for (unsigned i = 0; i < s->nfields; i++) {
			const struct ioasid_layout_field *f = &s->fields[i];
			if (strcmp(f->name, m->key)) continue;
			if (f->count) {
				if (m->type != J_ARR) { snprintf(err, errlen, "%s: expected an array", f->name); return -1; }
				unsigned k = 0;
				for (const struct json *e = m->child; e && k < f->count; e = e->next, k++)
					if (encode_one(f, e, buf + f->offset + k * f->elem_bytes, buf + limit, err, errlen)) return -1;
			} else if (encode_one(f, m, buf + f->offset, buf + limit, err, errlen)) return -1;
			break;
		}
	}
	return 0;
}

static void decode_one(const struct ioasid_layout_field *f, const uint8_t *at, struct jbuf *out) {
	if (f->sub >= 0) {
		int first = 1;
		jb_str(out, "{");
		layout_decode(f->sub, at, ioasid_layout_structs[f->sub].size, out, &first);
		jb_str(out, "}");
		return;
	}
	uint64_t v = get(at, f->elem_bytes);
	if (f->is_signed) {
		int64_t sv = f->elem_bytes == 4 ? (int64_t)(int32_t)v : (int64_t)v;
		if (sv < 0 && sv >= -9007199254740991ll) { jb_printf(out, "%lld", (long long)sv); return; }
		if (sv < 0) { jb_printf(out, "\"%lld\"", (long long)sv); return; }
	}
	jb_u64(out, v);
}

void layout_decode(int st, const uint8_t *buf, size_t limit, struct jbuf *out, int *first) {
	const struct ioasid_layout_struct *s = &ioasid_layout_structs[st];
	for (unsigned i = 0; i < s->nfields; i++) {
		const struct ioasid_layout_field *f = &s->fields[i];
		unsigned whole = f->sub >= 0 ? ioasid_layout_structs[f->sub].size : f->elem_bytes;
		if (f->count) whole *= f->count;
		if (f->offset + whole > limit) continue;
		if (!*first) jb_str(out, ",");
		*first = 0;
		jb_quote(out, f->name);
		jb_str(out, ":");
		if (!f->count) { decode_one(f, buf + f->offset, out); continue; }
		unsigned eb = f->sub >= 0 ? ioasid_layout_structs[f->sub].size : f->elem_bytes;
		jb_str(out, "[");
		for (unsigned k = 0; k < f->count; k++) {
			if (k) jb_str(out, ",");
			decode_one(f, buf + f->offset + k * eb, out);
		}
		jb_str(out, "]");
	}
}
