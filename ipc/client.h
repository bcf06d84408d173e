/* SPDX-License-Identifier: MIT */
#pragma once

/* The client side of the stepd protocol (docs/protocol.md), for stepctl and
 * tests. Blocking I/O on one Unix stream socket: connect, hello, then send
 * requests and read replies and events, one frame (4-byte big-endian length
 * + one JSON object) at a time. Nothing here prints or exits; every fallible
 * function returns 0/positive or -errno.
 *
 *     _cleanup_(client_freep) struct client *c = NULL;
 *     r = client_connect(path, &c);             // -ENOENT, -ECONNREFUSED...
 *     r = client_hello(c, "stepctl/0.1.0", NULL);  // -EPROTO + client_error()
 *     req = client_run_request(c, &opts);       // {"type":"run","req":N,...}
 *     r = client_send(c, req);
 *     while ((r = client_recv(c, &ev)) > 0) ...  // 0: server closed
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/macro.h"
#include "common/result.h"

#define CLIENT_PROTOCOL_VERSION 1
#define CLIENT_FRAME_MAX (1024u * 1024u)
#define CLIENT_STDIN_MAX (512u * 1024u)
#define CLIENT_SCRIPT_MAX (512u * 1024u)

struct client;

/* Connect to a stepd socket. -ENAMETOOLONG when path does not fit
 * sockaddr_un, else connect()'s errno (ENOENT, ECONNREFUSED, EACCES...). */
int client_connect(const char *path, struct client **ret);
/* Adopt an already connected stream socket (e.g. one end of a socketpair). */
int client_new_fd(int fd, struct client **ret);
struct client *client_free(struct client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct client *, client_free);

int client_fd(const struct client *c);
/* After client_hello: what the server said. */
uid_t client_peer_uid(const struct client *c);
const char *client_server_name(const struct client *c);

/* A fresh request id (1, 2, 3...). */
int64_t client_next_req(struct client *c);

/* Raw frames: exactly `len` payload bytes behind a big-endian length. */
int client_send_frame(struct client *c, const void *payload, size_t len);
/* Read one frame. 1 with *ret (malloc'ed, NUL-terminated) and *ret_len, 0 on
 * a clean end of stream between frames, -ECONNRESET on a stream cut inside a
 * frame, -EBADMSG on a zero length, -EMSGSIZE over the frame limit. */
int client_recv_frame(struct client *c, char **ret, size_t *ret_len);

/* Encode one JSON object as a frame. */
int client_send(struct client *c, json_t *msg);
/* Read one frame and parse it: 1 with *ret (a JSON object with a string
 * `type`), 0 at end of stream, -EBADMSG for a payload that is not one. */
int client_recv(struct client *c, json_t **ret);

/* Send hello, read the reply. On an `error` reply returns -EPROTO, keeps it
 * for client_error(). ret_reply (may be NULL) gets the hello reply. */
int client_hello(struct client *c, const char *client_name, json_t **ret_reply);

/* Send `req` (its "req" member set to a fresh id if it has none) and read
 * until the reply carrying that id; events in between are dropped. An
 * `error` reply is returned like any reply (check client_is_error). */
int client_call(struct client *c, json_t *req, json_t **ret_reply);

/* The last error reply seen by client_hello (owned by c), or NULL. */
const json_t *client_error(const struct client *c);

/* Helpers on received messages; all NULL-safe. */
const char *client_msg_type(const json_t *msg);
bool client_is_error(const json_t *msg);
const char *client_msg_string(const json_t *msg, const char *key); /* NULL if absent */

/* "permission-denied: not your step" style text of an error reply. */
void client_error_format(const json_t *err, char *buf, size_t len);

struct client_run_opts {
        const char *project;
        char *const *argv;        /* NULL-terminated; or script */
        const char *script;
        const char *interpreter;  /* NULL: daemon default */
        char *const *env;         /* "KEY=VALUE"... NULL-terminated, may be NULL */
        char *const *labels;      /* "KEY=VALUE"... */
        const void *stdin_data;   /* NULL: no stdin member */
        size_t stdin_len;
        uint64_t timeout_ms;      /* 0: not sent */
        const char *idempotency_key;
        bool cancel_on_disconnect;
        bool retry_safe;
};

/* Build a `run` request with a fresh req id. -EINVAL (with a reason in
 * reterr) for entries without '=', neither/both argv and script. */
int client_run_request(struct client *c, const struct client_run_opts *o, json_t **ret,
                       char *reterr, size_t reterr_len);
/* {"type": TYPE, "req": N} plus "step" when step is not NULL. */
json_t *client_simple_request(struct client *c, const char *type, const char *step);

/* A protocol `result` object into struct step_result. -EBADMSG when a
 * member has the wrong type or the reason is unknown. */
int client_result_from_json(const json_t *j, struct step_result *ret);

/* base64 (RFC 4648, with padding). Decode rejects anything else (-EINVAL). */
char *client_base64_encode(const void *data, size_t len);
int client_base64_decode(const char *s, void **ret, size_t *ret_len);

/* Cleanup for json_t * locals (named apart from any shared helper). */
static inline void client_json_decrefp(json_t **p)
{
        if (*p)
                json_decref(*p);
}
#define _cleanup_client_json_ _cleanup_(client_json_decrefp)
