/*
 * A small JSON reader and writer for the adapter protocol (one JSON-RPC message a line), so
 * that the C programs of this folder need nothing beyond libc. The reader parses one text into
 * a tree of nodes kept in one allocation list (json_free releases it); every node remembers its
 * span in the text, so that a subtree (a topology) can be passed on verbatim. Numbers keep
 * their text: the protocol's u64 rule (a number, or a "0x…"/decimal string) is json_u64's.
 */
#ifndef IOASID_JSON_H
#define IOASID_JSON_H
#include <stddef.h>
#include <stdint.h>

enum json_type { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct json {
	enum json_type type;
	char *str;            /* J_STR: unescaped; J_NUM: the literal; J_OBJ member: key in `key` */
	char *key;            /* the member name when this node is an object member */
	int boolean;
	struct json *child;   /* first element / member */
	struct json *next;    /* next sibling */
	const char *start, *end; /* span in the parsed text */
	struct json *alloc_next;
};

struct json *json_parse(const char *text, struct json **arena);
void json_free(struct json *arena);
struct json *json_get(const struct json *obj, const char *key);
/* A u64 by the protocol's rule; -1 (and *ok = 0) when it is none. Negative decimals allowed. */
int json_u64(const struct json *v, uint64_t *out);
int json_i64(const struct json *v, int64_t *out);

/* A growable output buffer. */
struct jbuf { char *p; size_t len, cap; };
void jb_init(struct jbuf *b);
void jb_free(struct jbuf *b);
void jb_raw(struct jbuf *b, const char *s, size_t n);
void jb_str(struct jbuf *b, const char *s); /* raw text */
void jb_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jb_quote(struct jbuf *b, const char *s); /* a JSON string */
void jb_u64(struct jbuf *b, uint64_t v);     /* by the wire rule: a number up to 2^53-1, else "0x…" */
void jb_hex(struct jbuf *b, const uint8_t *data, size_t n); /* "…" lowercase hex */
/* Hex string → bytes (malloc'd); -1 when it is not hex. */
long hex_decode(const char *s, uint8_t **out);
#endif
