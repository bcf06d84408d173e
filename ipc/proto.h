/* SPDX-License-Identifier: MIT */
#pragma once

/* Messages of docs/protocol.md: strict decoding of requests (every member
 * known, of its type and in range), builders for replies and events, the
 * step result as JSON, and the table of error codes. No I/O here. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/result.h"

#define PROTO_VERSION 1
#define PROTO_SCRIPT_MAX (512u * 1024u)
#define PROTO_STDIN_MAX (512u * 1024u)
#define PROTO_ENV_MAX 256
#define PROTO_ARGV_MAX 256
#define PROTO_LABELS_MAX 64
#define PROTO_IDEMPOTENCY_KEY_MAX 128
#define PROTO_STRING_MAX 4096 /* argv entries, env values, labels, interpreter */

enum proto_error_code {
        PROTO_E_BAD_FRAME,
        PROTO_E_FRAME_TOO_LARGE,
        PROTO_E_HANDSHAKE_REQUIRED,
        PROTO_E_UNSUPPORTED_VERSION,
        PROTO_E_UNKNOWN_TYPE,
        PROTO_E_BAD_REQUEST,
        PROTO_E_UNKNOWN_FIELD,
        PROTO_E_PERMISSION_DENIED,
        PROTO_E_UNKNOWN_PROJECT,
        PROTO_E_NO_SUCH_STEP,
        PROTO_E_NOT_FINISHED,
        PROTO_E_QUEUE_FULL,
        PROTO_E_DRAINING,
        PROTO_E_SLOW_CLIENT,
        PROTO_E_INTERNAL,
        PROTO_E_BAD_CONFIG,
        PROTO_E_TOO_MANY_CONNECTIONS,
        _PROTO_E_MAX,
};
const char *proto_error_code_to_string(enum proto_error_code c);
int proto_error_code_from_string(const char *s);
/* Whether the server closes the connection after sending this error. */
bool proto_error_code_closes(enum proto_error_code c);

struct proto_error {
        enum proto_error_code code;
        char message[256];
};

enum proto_type {
        PROTO_HELLO,
        PROTO_RUN,
        PROTO_ATTACH,
        PROTO_CANCEL,
        PROTO_LIST,
        PROTO_STATUS,
        PROTO_RESULT,
        PROTO_RELOAD,
        PROTO_METRICS,
        PROTO_AGENTS,
        _PROTO_TYPE_MAX,
};
const char *proto_type_to_string(enum proto_type t);

struct proto_run {
        const char *project;
        char **argv;             /* NULL-terminated, strings borrowed from the object */
        const char *script;
        const char *interpreter; /* NULL: default */
        uint8_t *stdin_data;     /* decoded; owned */
        size_t stdin_len;
        bool has_stdin;
        char **env;              /* "KEY=VALUE", owned */
        uint64_t timeout_ms;     /* 0: default */
        json_t *labels;          /* borrowed object, may be NULL */
        json_t *requires;        /* borrowed {label: value} an executor must have, may be NULL */
        const char *idempotency_key;
        bool cancel_on_disconnect;
        bool retry_safe;
};

struct proto_request {
        enum proto_type type;
        bool has_req;
        int64_t req;
        int64_t version;         /* hello */
        const char *client;      /* hello, may be NULL */
        const char *step;        /* attach, cancel, result */
        uint64_t offset;         /* attach */
        struct proto_run run;    /* run */
        json_t *obj;             /* the request; holds the borrowed strings */
};

/* Decode and validate one request object (takes a reference to obj).
 * On failure fills err (bad-request naming the member, unknown-field naming
 * the member, unknown-type) and still sets ret->has_req/req when the request
 * carried a valid "req", so the error can answer it; proto_request_done()
 * must be called either way. */
int proto_request_decode(json_t *obj, struct proto_request *ret, struct proto_error *err);
void proto_request_done(struct proto_request *r);

/* Replies and events. Each returns a new object or NULL on ENOMEM. req < 0
 * (or !has_req) leaves "req" out. */
json_t *proto_error_new(bool has_req, int64_t req, const char *step, enum proto_error_code code,
                        const char *message);
json_t *proto_reply_new(const char *type, bool has_req, int64_t req);

/* The step result, with output_bytes (the size of the step's output). */
json_t *proto_result_to_json(const struct step_result *r, uint64_t output_bytes);
int proto_result_from_json(const json_t *o, struct step_result *ret, uint64_t *ret_output_bytes);

/* An output event, formatted straight into buf (no JSON objects built per
 * chunk). proto_output_max(n) is the most bytes it needs for n data bytes.
 * Returns the payload length. step must be a valid step id. */
size_t proto_output_max(size_t n);
size_t proto_output_format(char *buf, const char *step, const char *stream, uint64_t offset,
                           const void *data, size_t n);

/* Standard base64 with padding. encode writes 4*ceil(n/3) bytes (no NUL).
 * decode returns the length or -EINVAL; out needs 3*len/4 bytes. */
size_t base64_encode(char *out, const uint8_t *in, size_t n);
ssize_t base64_decode(uint8_t *out, const char *in, size_t len);
