/* See rpc.h. Raw read/write system calls on the pipes and posix_spawn for the adapter: the fake
 * interposes read, write and fork. */
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
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>

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
	/* posix_spawn, not fork: a preloaded fake interposes fork() to share its adapter. */
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	char *argv[] = { "/bin/sh", "-c", (char *)command, NULL };
	pid_t pid;
	int bad = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (bad) { free(env); return -1; }
	free(env);
	syscall(SYS_close, in[0]);
	syscall(SYS_close, out[1]);
	r->pid = pid;
	r->to = in[1];
	r->from = out[0];
	r->next_id = 1;
	r->shared_id = NULL;
	r->buf = NULL;
	r->len = r->cap = 0;
	r->log = getenv("IOASID_FAKE_LOG") != NULL;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int write_all(int fd, const char *p, size_t n) {
	while (n) {
		ssize_t w = syscall(SYS_write, fd, p, n);
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
		ssize_t got = syscall(SYS_read, r->from, r->buf + r->len, r->cap - r->len - 1);
		if (got < 0 && errno == EINTR) continue;
		if (got <= 0) return -1;
		r->len += got;
	}
}

struct json *rpc_call(struct rpc *r, const char *method, const char *params, struct json **arena, char *msg, size_t msglen) {
	struct jbuf b;
	jb_init(&b);
	long id = r->shared_id ? __atomic_fetch_add(r->shared_id, 1, __ATOMIC_SEQ_CST) : r->next_id++;
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

void rpc_discard_line(struct rpc *r, int timeout_ms) {
	char c;
	struct pollfd p = { r->from, POLLIN, 0 };
	r->len = 0;
	while (poll(&p, 1, timeout_ms) == 1) {
		if (syscall(SYS_read, r->from, &c, 1) != 1 || c == '\n') return;
	}
}
