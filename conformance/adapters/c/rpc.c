/* See rpc.h. Uses raw read/write on pipes: the fake interposes neither. */
#define _GNU_SOURCE
#include "rpc.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

extern char **environ;

int rpc_start(struct rpc *r, const char *command) {
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) return -1;
	size_t n = 0;
	while (environ[n]) n++;
	char **env = calloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11)) env[k++] = environ[i];
	env[k] = NULL;
	pid_t pid = fork();
	if (pid < 0) return -1;
	if (pid == 0) {
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		char *argv[] = { "/bin/sh", "-c", (char *)command, NULL };
		execve("/bin/sh", argv, env);
		_exit(127);
	}
	free(env);
	close(in[0]);
	close(out[1]);
	r->pid = pid;
	r->to = in[1];
	r->from = out[0];
	r->next_id = 1;
	r->buf = NULL;
	r->len = r->cap = 0;
	r->log = getenv("IOASID_FAKE_LOG") != NULL;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int write_all(int fd, const char *p, size_t n) {
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return -1;
		p += w;
		n -= w;
	}
	return 0;
}

/* One line (without its newline) into r->buf; its length, or -1 at the end of the stream. */
static long read_line(struct rpc *r) {
	for (;;) {
		char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
		if (nl) return nl - r->buf;
		if (r->len + 65536 > r->cap) {
			r->cap = r->cap ? r->cap * 2 : 1 << 20;
			r->buf = realloc(r->buf, r->cap);
			if (!r->buf) return -1;
		}
		ssize_t got = read(r->from, r->buf + r->len, r->cap - r->len - 1);
		if (got < 0 && errno == EINTR) continue;
		if (got <= 0) return -1;
		r->len += got;
	}
}

struct json *rpc_call(struct rpc *r, const char *method, const char *params, struct json **arena, char *msg, size_t msglen) {
	struct jbuf b;
	jb_init(&b);
	long id = r->next_id++;
	jb_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\",\"params\":", id, method);
	jb_str(&b, params);
	jb_str(&b, "}\n");
	if (r->log) fprintf(stderr, "fake-iommu → %.*s", (int)(b.len > 2000 ? 2000 : b.len), b.p);
	int bad = write_all(r->to, b.p, b.len);
	jb_free(&b);
	*arena = NULL;
	r->last_error = 0;
	if (bad) { snprintf(msg, msglen, "writing to the adapter failed"); return NULL; }
	long n = read_line(r);
	if (n < 0) { snprintf(msg, msglen, "the adapter closed its stdout"); return NULL; }
	r->buf[n] = 0;
	if (r->log) fprintf(stderr, "fake-iommu ← %.2000s\n", r->buf);
	struct json *resp = json_parse(r->buf, arena);
	memmove(r->buf, r->buf + n + 1, r->len - n - 1);
	r->len -= n + 1;
	if (!resp) { snprintf(msg, msglen, "the adapter's answer is not JSON"); return NULL; }
	struct json *err = json_get(resp, "error");
	if (err) {
		struct json *m = json_get(err, "message");
		int64_t code;
		r->last_error = json_i64(json_get(err, "code"), &code) ? -32000 : (int)code;
		snprintf(msg, msglen, "%s: JSON-RPC error: %s", method, m && m->type == J_STR ? m->str : "?");
		return NULL;
	}
	struct json *res = json_get(resp, "result");
	if (!res) snprintf(msg, msglen, "%s: answer without result", method);
	return res;
}
