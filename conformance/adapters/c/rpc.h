/*
 * The client side of the stdio protocol for C: spawns an adapter command (through /bin/sh, in
 * its own process group, without LD_PRELOAD so that a preloaded fake does not load into it) and
 * makes one JSON-RPC call at a time over its stdin/stdout. Used by the fake /dev/iommu, which
 * interposes fork, read and write: so this file spawns with posix_spawn and moves bytes with
 * raw system calls.
 */
#ifndef IOASID_RPC_H
#define IOASID_RPC_H
#include "json.h"

struct rpc {
	int pid, to, from;
	long next_id;
	long *shared_id; /* when set, ids come from here (processes sharing one adapter after fork) */
	char *buf;
	size_t len, cap;
	int log;
	int last_error; /* the last JSON-RPC error code, 0 if none */
};

int rpc_start(struct rpc *r, const char *command);
/* Sends {method, params} (params: JSON text) and returns the response's `result`, or NULL with
 * *msg set (a JSON-RPC error or a dead adapter). The tree lives in *arena (json_free it). */
struct json *rpc_call(struct rpc *r, const char *method, const char *params, struct json **arena, char *msg, size_t msglen);
/* Drops the rest of an answer another process left unread (it died in the middle of an
 * exchange): reads up to the next newline, waiting at most timeout_ms. */
void rpc_discard_line(struct rpc *r, int timeout_ms);
#endif
