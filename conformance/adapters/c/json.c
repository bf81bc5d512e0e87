/* See json.h. A recursive-descent parser; the protocol's messages are shallow. */
#include "json.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser { const char *p; struct json **arena; int depth; };

static struct json *node(struct parser *ps, enum json_type t) {
	struct json *n = calloc(1, sizeof(*n));
	if (!n) return NULL;
	n->type = t;
	n->alloc_next = *ps->arena;
	*ps->arena = n;
	return n;
}

static void ws(struct parser *ps) {
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static int hexval(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static char *parse_string(struct parser *ps) {
	const char *s = ++ps->p;
	size_t cap = 16, len = 0;
	char *out = malloc(cap);
	if (!out) return NULL;
	for (;;) {
		char c = *s++;
		if (c == 0) { free(out); return NULL; }
		if (c == '"') break;
		if (len + 8 > cap) { cap *= 2; char *n = realloc(out, cap); if (!n) { free(out); return NULL; } out = n; }
		if (c != '\\') { out[len++] = c; continue; }
		c = *s++;
		switch (c) {
		case 'n': out[len++] = '\n'; break;
		case 't': out[len++] = '\t'; break;
		case 'r': out[len++] = '\r'; break;
		case 'b': out[len++] = '\b'; break;
		case 'f': out[len++] = '\f'; break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 0; i < 4; i++) { int h = hexval(*s++); if (h < 0) { free(out); return NULL; } cp = cp << 4 | h; }
			if (cp < 0x80) out[len++] = cp;
			else if (cp < 0x800) { out[len++] = 0xc0 | cp >> 6; out[len++] = 0x80 | (cp & 0x3f); }
			else { out[len++] = 0xe0 | cp >> 12; out[len++] = 0x80 | ((cp >> 6) & 0x3f); out[len++] = 0x80 | (cp & 0x3f); }
			break;
		}
		case 0: free(out); return NULL;
		default: out[len++] = c;
		}
	}
	out[len] = 0;
	ps->p = s;
	return out;
}

static struct json *value(struct parser *ps);

static struct json *container(struct parser *ps, int obj) {
	struct json *n = node(ps, obj ? J_OBJ : J_ARR), *last = NULL;
	if (!n) return NULL;
	n->start = ps->p++;
	ws(ps);
	if (*ps->p == (obj ? '}' : ']')) { n->end = ++ps->p; return n; }
	for (;;) {
		char *key = NULL;
		ws(ps);
		if (obj) {
			if (*ps->p != '"' || !(key = parse_string(ps))) return NULL;
			ws(ps);
			if (*ps->p++ != ':') { free(key); return NULL; }
		}
		struct json *v = value(ps);
		if (!v) { free(key); return NULL; }
		v->key = key;
		if (last) last->next = v; else n->child = v;
		last = v;
		ws(ps);
		if (*ps->p == ',') { ps->p++; continue; }
		if (*ps->p == (obj ? '}' : ']')) { n->end = ++ps->p; return n; }
		return NULL;
	}
}

static struct json *value(struct parser *ps) {
	if (++ps->depth > 64) return NULL;
	ws(ps);
	struct json *n = NULL;
	const char *start = ps->p;
	char c = *ps->p;
	if (c == '{' || c == '[') n = container(ps, c == '{');
	else if (c == '"') {
		char *s = parse_string(ps);
		if (s && (n = node(ps, J_STR))) n->str = s; else free(s);
	} else if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
		if ((n = node(ps, J_BOOL))) { n->boolean = c == 't'; ps->p += n->boolean ? 4 : 5; }
	} else if (!strncmp(ps->p, "null", 4)) {
		if ((n = node(ps, J_NULL))) ps->p += 4;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		const char *e = ps->p + 1;
		while ((*e >= '0' && *e <= '9') || *e == '.' || *e == 'e' || *e == 'E' || *e == '+' || *e == '-') e++;
		if ((n = node(ps, J_NUM))) { n->str = strndup(ps->p, e - ps->p); ps->p = e; }
	}
	ps->depth--;
	if (n) { n->start = start; n->end = ps->p; }
	return n;
}

struct json *json_parse(const char *text, struct json **arena) {
	struct parser ps = { text, arena, 0 };
	*arena = NULL;
	struct json *v = value(&ps);
	if (!v) return NULL;
	ws(&ps);
	return *ps.p ? NULL : v;
}

void json_free(struct json *arena) {
	while (arena) {
		struct json *n = arena->alloc_next;
		free(arena->str);
		free(arena->key);
		free(arena);
		arena = n;
	}
}

struct json *json_get(const struct json *obj, const char *key) {
	if (!obj || obj->type != J_OBJ) return NULL;
	for (struct json *m = obj->child; m; m = m->next)
		if (!strcmp(m->key, key)) return m;
	return NULL;
}

static int parse_int_text(const char *s, uint64_t *out, int allow_neg) {
	char *end;
	if (!*s) return -1;
	if (s[0] == '-') {
		if (!allow_neg) return -1;
		long long v = strtoll(s, &end, 10);
		if (*end) return -1;
		*out = (uint64_t)v;
		return 0;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) *out = strtoull(s + 2, &end, 16);
	else *out = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

int json_u64(const struct json *v, uint64_t *out) {
	if (!v) return -1;
	if (v->type == J_NUM || v->type == J_STR) return parse_int_text(v->str, out, 1);
	if (v->type == J_BOOL) { *out = v->boolean; return 0; }
	return -1;
}

int json_i64(const struct json *v, int64_t *out) {
	uint64_t u;
	if (json_u64(v, &u)) return -1;
	*out = (int64_t)u;
	return 0;
}

void jb_init(struct jbuf *b) { b->p = NULL; b->len = b->cap = 0; }
void jb_free(struct jbuf *b) { free(b->p); jb_init(b); }

void jb_raw(struct jbuf *b, const char *s, size_t n) {
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1) cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void jb_str(struct jbuf *b, const char *s) { jb_raw(b, s, strlen(s)); }

void jb_printf(struct jbuf *b, const char *fmt, ...) {
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < (int)sizeof(small)) { jb_raw(b, small, n); return; }
	char *big = malloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	jb_raw(b, big, n);
	free(big);
}

void jb_quote(struct jbuf *b, const char *s) {
	jb_raw(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') { char e[2] = { '\\', c }; jb_raw(b, e, 2); }
		else if (c < 0x20) jb_printf(b, "\\u%04x", c);
		else jb_raw(b, (const char *)&c, 1);
	}
	jb_raw(b, "\"", 1);
}

void jb_u64(struct jbuf *b, uint64_t v) {
	if (v <= 9007199254740991ull) jb_printf(b, "%llu", (unsigned long long)v);
	else jb_printf(b, "\"0x%llx\"", (unsigned long long)v);
}

void jb_hex(struct jbuf *b, const uint8_t *data, size_t n) {
	static const char digits[] = "0123456789abcdef";
	jb_raw(b, "\"", 1);
	char chunk[512];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		chunk[k++] = digits[data[i] >> 4];
		chunk[k++] = digits[data[i] & 15];
		if (k == sizeof(chunk)) { jb_raw(b, chunk, k); k = 0; }
	}
	jb_raw(b, chunk, k);
	jb_raw(b, "\"", 1);
}

long hex_decode(const char *s, uint8_t **out) {
	size_t n = strlen(s);
	if (n % 2) return -1;
	uint8_t *d = malloc(n / 2 + 1);
	if (!d) return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) { free(d); return -1; }
		d[i] = hi << 4 | lo;
	}
	*out = d;
	return n / 2;
}
