/* SPDX-License-Identifier: MIT */
/* Request decoding is table driven: each request type lists its members
 * with their JSON kind; a generic pass refuses unknown members
 * (unknown-field) and wrong kinds (bad-request naming the member), then a
 * small per-type function checks ranges and builds struct proto_request. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "common/util.h"
#include "ipc/proto.h"

static const struct {
        const char *name;
        bool closes;
} error_codes[_PROTO_E_MAX] = {
        [PROTO_E_BAD_FRAME] = { "bad-frame", true },
        [PROTO_E_FRAME_TOO_LARGE] = { "frame-too-large", true },
        [PROTO_E_HANDSHAKE_REQUIRED] = { "handshake-required", true },
        [PROTO_E_UNSUPPORTED_VERSION] = { "unsupported-version", true },
        [PROTO_E_UNKNOWN_TYPE] = { "unknown-type", false },
        [PROTO_E_BAD_REQUEST] = { "bad-request", false },
        [PROTO_E_UNKNOWN_FIELD] = { "unknown-field", false },
        [PROTO_E_PERMISSION_DENIED] = { "permission-denied", false },
        [PROTO_E_UNKNOWN_PROJECT] = { "unknown-project", false },
        [PROTO_E_NO_SUCH_STEP] = { "no-such-step", false },
        [PROTO_E_NOT_FINISHED] = { "not-finished", false },
        [PROTO_E_QUEUE_FULL] = { "queue-full", false },
        [PROTO_E_DRAINING] = { "draining", false },
        [PROTO_E_SLOW_CLIENT] = { "slow-client", true },
        [PROTO_E_INTERNAL] = { "internal", false },
        [PROTO_E_BAD_CONFIG] = { "bad-config", false },
        [PROTO_E_TOO_MANY_CONNECTIONS] = { "too-many-connections", true },
};

const char *proto_error_code_to_string(enum proto_error_code c)
{
        return (unsigned)c < _PROTO_E_MAX ? error_codes[c].name : "internal";
}

int proto_error_code_from_string(const char *s)
{
        for (int i = 0; i < _PROTO_E_MAX; i++)
                if (s && strcmp(s, error_codes[i].name) == 0)
                        return i;
        return -EINVAL;
}

bool proto_error_code_closes(enum proto_error_code c)
{
        return (unsigned)c < _PROTO_E_MAX && error_codes[c].closes;
}

enum kind { K_STRING, K_INT, K_UINT, K_BOOL, K_ARRAY, K_OBJECT };

static const char *const kind_names[] = {
        [K_STRING] = "a string",       [K_INT] = "an integer", [K_UINT] = "a non-negative integer",
        [K_BOOL] = "a boolean",        [K_ARRAY] = "an array", [K_OBJECT] = "an object",
};

struct member {
        const char *name;
        enum kind kind;
        bool required;
};

#define COMMON_MEMBERS { "type", K_STRING, true }, { "req", K_INT, false }

static const struct member hello_members[] = {
        COMMON_MEMBERS, { "version", K_INT, true }, { "client", K_STRING, false }, { NULL }
};
static const struct member run_members[] = {
        COMMON_MEMBERS,
        { "project", K_STRING, true },
        { "argv", K_ARRAY, false },
        { "script", K_STRING, false },
        { "interpreter", K_STRING, false },
        { "stdin", K_STRING, false },
        { "env", K_OBJECT, false },
        { "timeout_ms", K_UINT, false },
        { "labels", K_OBJECT, false },
        { "idempotency_key", K_STRING, false },
        { "cancel_on_disconnect", K_BOOL, false },
        { "retry_safe", K_BOOL, false },
        { "requires", K_OBJECT, false },
        { NULL },
};
static const struct member attach_members[] = {
        COMMON_MEMBERS, { "step", K_STRING, true }, { "offset", K_UINT, false }, { NULL }
};
static const struct member step_members[] = { COMMON_MEMBERS, { "step", K_STRING, true }, { NULL } };
static const struct member plain_members[] = { COMMON_MEMBERS, { NULL } };

static int decode_hello(struct proto_request *r, struct proto_error *err);
static int decode_run(struct proto_request *r, struct proto_error *err);
static int decode_step(struct proto_request *r, struct proto_error *err);

static const struct request_type {
        const char *name;
        const struct member *members;
        int (*decode)(struct proto_request *r, struct proto_error *err);
} request_types[_PROTO_TYPE_MAX] = {
        [PROTO_HELLO] = { "hello", hello_members, decode_hello },
        [PROTO_RUN] = { "run", run_members, decode_run },
        [PROTO_ATTACH] = { "attach", attach_members, decode_step },
        [PROTO_CANCEL] = { "cancel", step_members, decode_step },
        [PROTO_LIST] = { "list", plain_members, NULL },
        [PROTO_STATUS] = { "status", plain_members, NULL },
        [PROTO_RESULT] = { "result", step_members, decode_step },
        [PROTO_RELOAD] = { "reload", plain_members, NULL },
        [PROTO_METRICS] = { "metrics", plain_members, NULL },
        [PROTO_AGENTS] = { "agents", plain_members, NULL },
};

const char *proto_type_to_string(enum proto_type t)
{
        return (unsigned)t < _PROTO_TYPE_MAX ? request_types[t].name : "unknown";
}

_printf_(3, 4) static int fail(struct proto_error *err, enum proto_error_code code,
                               const char *fmt, ...)
{
        va_list ap;

        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool kind_matches(const json_t *v, enum kind k)
{
        switch (k) {
        case K_STRING:
                return json_is_string(v);
        case K_INT:
                return json_is_integer(v);
        case K_UINT:
                return json_is_integer(v) && json_integer_value(v) >= 0;
        case K_BOOL:
                return json_is_boolean(v);
        case K_ARRAY:
                return json_is_array(v);
        case K_OBJECT:
                return json_is_object(v);
        }
        return false;
}

static int check_members(const json_t *o, const struct request_type *t, struct proto_error *err)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)o, key, v) {
                const struct member *m = t->members;
                while (m->name && strcmp(m->name, key) != 0)
                        m++;
                if (!m->name)
                        return fail(err, PROTO_E_UNKNOWN_FIELD, "unknown member '%.64s' in %s",
                                    key, t->name);
                if (!kind_matches(v, m->kind))
                        return fail(err, PROTO_E_BAD_REQUEST, "member '%s' must be %s", key,
                                    kind_names[m->kind]);
        }
        for (const struct member *m = t->members; m->name; m++)
                if (m->required && !json_object_get(o, m->name))
                        return fail(err, PROTO_E_BAD_REQUEST, "member '%s' is required in %s",
                                    m->name, t->name);
        return 0;
}

/* A string member without NUL bytes and at most max bytes; NULL if absent. */
static int get_string(const json_t *o, const char *name, size_t max, const char **ret,
                      struct proto_error *err)
{
        const json_t *v = json_object_get(o, name);

        *ret = NULL;
        if (!v)
                return 0;
        size_t len = json_string_length(v);
        const char *s = json_string_value(v);
        if (strlen(s) != len)
                return fail(err, PROTO_E_BAD_REQUEST, "member '%s' contains a NUL byte", name);
        if (len > max)
                return fail(err, PROTO_E_BAD_REQUEST, "member '%s' is longer than %zu bytes",
                            name, max);
        *ret = s;
        return 0;
}

int proto_request_decode(json_t *obj, struct proto_request *ret, struct proto_error *err)
{
        *ret = (struct proto_request){ .obj = json_incref(obj) };
        const json_t *req = json_object_get(obj, "req");
        if (req && json_is_integer(req)) {
                ret->has_req = true;
                ret->req = json_integer_value(req);
        }
        const char *type = json_string_value(json_object_get(obj, "type"));
        if (!type)
                return fail(err, PROTO_E_BAD_FRAME, "payload has no string member \"type\"");
        for (int i = 0; i < _PROTO_TYPE_MAX; i++) {
                if (strcmp(type, request_types[i].name) != 0)
                        continue;
                ret->type = (enum proto_type)i;
                int r = check_members(obj, &request_types[i], err);
                if (r < 0)
                        return r;
                return request_types[i].decode ? request_types[i].decode(ret, err) : 0;
        }
        return fail(err, PROTO_E_UNKNOWN_TYPE, "unknown request type '%.64s'", type);
}

void proto_request_done(struct proto_request *r)
{
        free(r->run.argv);
        strv_free(r->run.env);
        free(r->run.stdin_data);
        json_decref(r->obj);
        *r = (struct proto_request){ 0 };
}

static int decode_hello(struct proto_request *r, struct proto_error *err)
{
        r->version = json_integer_value(json_object_get(r->obj, "version"));
        return get_string(r->obj, "client", 256, &r->client, err);
}

static int decode_step(struct proto_request *r, struct proto_error *err)
{
        int k = get_string(r->obj, "step", STEP_ID_MAX, &r->step, err);

        if (k < 0)
                return k;
        if (!step_id_valid(r->step))
                return fail(err, PROTO_E_BAD_REQUEST,
                            "member 'step' is not a step id ([A-Za-z0-9_-], 1..64 bytes)");
        const json_t *off = json_object_get(r->obj, "offset");
        r->offset = off ? (uint64_t)json_integer_value(off) : 0;
        return 0;
}

static int decode_argv(struct proto_request *r, const json_t *a, struct proto_error *err)
{
        size_t n = json_array_size(a);

        if (n == 0)
                return fail(err, PROTO_E_BAD_REQUEST, "member 'argv' must not be empty");
        if (n > PROTO_ARGV_MAX)
                return fail(err, PROTO_E_BAD_REQUEST, "member 'argv' has more than %d entries",
                            PROTO_ARGV_MAX);
        r->run.argv = calloc(n + 1, sizeof(char *));
        if (!r->run.argv)
                return fail(err, PROTO_E_INTERNAL, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const json_t *v = json_array_get(a, i);
                if (!json_is_string(v))
                        return fail(err, PROTO_E_BAD_REQUEST, "member 'argv[%zu]' must be a string",
                                    i);
                const char *s = json_string_value(v);
                if (strlen(s) != json_string_length(v))
                        return fail(err, PROTO_E_BAD_REQUEST, "member 'argv[%zu]' contains a NUL byte", i);
                if (json_string_length(v) > PROTO_STRING_MAX)
                        return fail(err, PROTO_E_BAD_REQUEST, "member 'argv[%zu]' is too long", i);
                r->run.argv[i] = (char *)s;
        }
        if (r->run.argv[0][0] == '\0')
                return fail(err, PROTO_E_BAD_REQUEST, "member 'argv[0]' must not be empty");
        return 0;
}

static bool env_name_valid(const char *s)
{
        if (!*s || (*s >= '0' && *s <= '9'))
                return false;
        for (; *s; s++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                      (*s >= '0' && *s <= '9') || *s == '_'))
                        return false;
        return true;
}

static int decode_env(struct proto_request *r, const json_t *o, struct proto_error *err)
{
        const char *key;
        json_t *v;

        if (json_object_size(o) > PROTO_ENV_MAX)
                return fail(err, PROTO_E_BAD_REQUEST, "member 'env' has more than %d variables",
                            PROTO_ENV_MAX);
        json_object_foreach((json_t *)o, key, v) {
                if (strlen(key) > 256 || !env_name_valid(key))
                        return fail(err, PROTO_E_BAD_REQUEST,
                                    "member 'env': '%.64s' is not a variable name", key);
                if (!json_is_string(v))
                        return fail(err, PROTO_E_BAD_REQUEST, "member 'env.%s' must be a string",
                                    key);
                const char *s = json_string_value(v);
                if (strlen(s) != json_string_length(v) || strlen(s) > PROTO_STRING_MAX)
                        return fail(err, PROTO_E_BAD_REQUEST,
                                    "member 'env.%s' contains a NUL byte or is too long", key);
                _cleanup_free_ char *kv = NULL;
                if (asprintf(&kv, "%s=%s", key, s) < 0 || strv_push(&r->run.env, kv) < 0)
                        return fail(err, PROTO_E_INTERNAL, "out of memory");
        }
        return 0;
}

static int decode_labels(const json_t *o, const char *name, struct proto_error *err)
{
        const char *key;
        json_t *v;

        if (json_object_size(o) > PROTO_LABELS_MAX)
                return fail(err, PROTO_E_BAD_REQUEST, "member '%s' has more than %d labels", name,
                            PROTO_LABELS_MAX);
        json_object_foreach((json_t *)o, key, v) {
                if (!*key || strlen(key) > 128)
                        return fail(err, PROTO_E_BAD_REQUEST,
                                    "member '%s': a label name is empty or too long", name);
                if (!json_is_string(v) || json_string_length(v) > PROTO_STRING_MAX)
                        return fail(err, PROTO_E_BAD_REQUEST,
                                    "member '%s.%.64s' must be a string (<= %u bytes)", name, key,
                                    PROTO_STRING_MAX);
        }
        return 0;
}

static int decode_stdin(struct proto_request *r, const char *b64, struct proto_error *err)
{
        size_t len = strlen(b64);

        if (len > (PROTO_STDIN_MAX + 2) / 3 * 4)
                return fail(err, PROTO_E_BAD_REQUEST, "member 'stdin' is larger than %u bytes",
                            PROTO_STDIN_MAX);
        r->run.stdin_data = malloc(len / 4 * 3 + 1);
        if (!r->run.stdin_data)
                return fail(err, PROTO_E_INTERNAL, "out of memory");
        ssize_t n = base64_decode(r->run.stdin_data, b64, len);
        if (n < 0)
                return fail(err, PROTO_E_BAD_REQUEST, "member 'stdin' is not valid base64");
        if ((size_t)n > PROTO_STDIN_MAX)
                return fail(err, PROTO_E_BAD_REQUEST, "member 'stdin' is larger than %u bytes",
                            PROTO_STDIN_MAX);
        r->run.stdin_len = (size_t)n;
        r->run.has_stdin = true;
        return 0;
}

static int decode_run_strings(struct proto_request *r, struct proto_error *err)
{
        struct proto_run *run = &r->run;
        const char *b64 = NULL;
        int k;

        if ((k = get_string(r->obj, "project", 256, &run->project, err)) < 0 ||
            (k = get_string(r->obj, "script", PROTO_SCRIPT_MAX, &run->script, err)) < 0 ||
            (k = get_string(r->obj, "interpreter", PROTO_STRING_MAX, &run->interpreter, err)) < 0 ||
            (k = get_string(r->obj, "idempotency_key", PROTO_IDEMPOTENCY_KEY_MAX,
                            &run->idempotency_key, err)) < 0 ||
            (k = get_string(r->obj, "stdin", SIZE_MAX, &b64, err)) < 0)
                return k;
        if (!project_name_valid(run->project))
                return fail(err, PROTO_E_BAD_REQUEST,
                            "member 'project' is not a project name ([a-z0-9_.-], no leading "
                            "dot, 1..64 bytes)");
        if (run->idempotency_key && !*run->idempotency_key)
                return fail(err, PROTO_E_BAD_REQUEST, "member 'idempotency_key' is empty");
        if (run->interpreter && run->interpreter[0] != '/')
                return fail(err, PROTO_E_BAD_REQUEST, "member 'interpreter' must be an absolute path");
        return b64 ? decode_stdin(r, b64, err) : 0;
}

static int decode_run(struct proto_request *r, struct proto_error *err)
{
        struct proto_run *run = &r->run;
        const json_t *argv = json_object_get(r->obj, "argv");
        const json_t *env = json_object_get(r->obj, "env");
        const json_t *v;
        int k = decode_run_strings(r, err);

        if (k < 0)
                return k;
        if (!argv == !run->script)
                return fail(err, PROTO_E_BAD_REQUEST, "exactly one of 'argv' and 'script' is required");
        if (run->interpreter && !run->script)
                return fail(err, PROTO_E_BAD_REQUEST, "member 'interpreter' needs 'script'");
        if (argv && (k = decode_argv(r, argv, err)) < 0)
                return k;
        if (env && (k = decode_env(r, env, err)) < 0)
                return k;
        run->labels = json_object_get(r->obj, "labels");
        if (run->labels && (k = decode_labels(run->labels, "labels", err)) < 0)
                return k;
        run->requires = json_object_get(r->obj, "requires");
        if (run->requires && (k = decode_labels(run->requires, "requires", err)) < 0)
                return k;
        if ((v = json_object_get(r->obj, "timeout_ms")))
                run->timeout_ms = (uint64_t)json_integer_value(v);
        run->cancel_on_disconnect = json_is_true(json_object_get(r->obj, "cancel_on_disconnect"));
        run->retry_safe = json_is_true(json_object_get(r->obj, "retry_safe"));
        return 0;
}

json_t *proto_error_new(bool has_req, int64_t req, const char *step, enum proto_error_code code,
                        const char *message)
{
        json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code",
                              proto_error_code_to_string(code), "message", message ? message : "");

        if (!o)
                return NULL;
        if (has_req)
                json_object_set_new(o, "req", json_integer(req));
        if (step)
                json_object_set_new(o, "step", json_string(step));
        return o;
}

json_t *proto_reply_new(const char *type, bool has_req, int64_t req)
{
        json_t *o = json_pack("{s:s}", "type", type);

        if (o && has_req)
                json_object_set_new(o, "req", json_integer(req));
        return o;
}

json_t *proto_result_to_json(const struct step_result *r, uint64_t output_bytes)
{
        return json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:s, s:i, s:s}",
                         "reason", step_reason_to_string(r->reason), "exit_code", r->exit_code,
                         "signal", r->signal, "wall_ms", r->wall_usec / 1000.0, "cpu_user_ms",
                         r->cpu_user_usec / 1000.0, "cpu_system_ms", r->cpu_system_usec / 1000.0,
                         "memory_peak_bytes", (json_int_t)r->memory_peak_bytes, "oom_kills",
                         (json_int_t)r->oom_kills, "processes_killed",
                         (json_int_t)r->processes_killed, "output_bytes",
                         (json_int_t)output_bytes, "setup_step", r->setup_step, "setup_errno",
                         r->setup_errno, "message", r->message);
}

static uint64_t ms_to_usec(const json_t *v)
{
        double d = json_number_value(v);
        return d > 0 ? (uint64_t)(d * 1000.0 + 0.5) : 0;
}

int proto_result_from_json(const json_t *o, struct step_result *ret, uint64_t *ret_output_bytes)
{
        struct step_result r = { 0 };
        const char *s;

        if (!json_is_object(o))
                return -EINVAL;
        int reason = step_reason_from_string(json_string_value(json_object_get(o, "reason")));
        if (reason < 0)
                return -EINVAL;
        r.reason = (enum step_reason)reason;
        r.exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
        r.signal = (int)json_integer_value(json_object_get(o, "signal"));
        r.wall_usec = ms_to_usec(json_object_get(o, "wall_ms"));
        r.cpu_user_usec = ms_to_usec(json_object_get(o, "cpu_user_ms"));
        r.cpu_system_usec = ms_to_usec(json_object_get(o, "cpu_system_ms"));
        r.memory_peak_bytes = (uint64_t)json_integer_value(json_object_get(o, "memory_peak_bytes"));
        r.oom_kills = (uint64_t)json_integer_value(json_object_get(o, "oom_kills"));
        r.processes_killed = (uint32_t)json_integer_value(json_object_get(o, "processes_killed"));
        r.setup_errno = (int)json_integer_value(json_object_get(o, "setup_errno"));
        if ((s = json_string_value(json_object_get(o, "setup_step"))))
                snprintf(r.setup_step, sizeof(r.setup_step), "%s", s);
        if ((s = json_string_value(json_object_get(o, "message"))))
                snprintf(r.message, sizeof(r.message), "%s", s);
        if (ret_output_bytes)
                *ret_output_bytes = (uint64_t)json_integer_value(json_object_get(o, "output_bytes"));
        *ret = r;
        return 0;
}

#define OUTPUT_FIXED 128 /* the members around data, with a 20-digit offset */

size_t proto_output_max(size_t n)
{
        return OUTPUT_FIXED + STEP_ID_MAX + (n + 2) / 3 * 4;
}

size_t proto_output_format(char *buf, const char *step, const char *stream, uint64_t offset,
                           const void *data, size_t n)
{
        int k = sprintf(buf, "{\"type\":\"output\",\"step\":\"%s\",\"stream\":\"%s\",\"offset\":%" PRIu64
                        ",\"data\":\"", step, stream, offset);
        size_t len = (size_t)k;

        len += base64_encode(buf + len, data, n);
        memcpy(buf + len, "\"}", 2);
        return len + 2;
}

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(char *out, const uint8_t *in, size_t n)
{
        char *o = out;
        size_t i = 0;

        for (; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
                *o++ = b64_chars[v >> 18];
                *o++ = b64_chars[(v >> 12) & 63];
                *o++ = b64_chars[(v >> 6) & 63];
                *o++ = b64_chars[v & 63];
        }
        if (i < n) {
                uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
                *o++ = b64_chars[v >> 18];
                *o++ = b64_chars[(v >> 12) & 63];
                *o++ = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
                *o++ = '=';
        }
        return (size_t)(o - out);
}

static int b64_value(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

ssize_t base64_decode(uint8_t *out, const char *in, size_t len)
{
        size_t o = 0;

        if (len % 4 != 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i += 4) {
                int v[4];
                bool last = i + 4 == len;
                for (int j = 0; j < 4; j++) {
                        v[j] = b64_value(in[i + j]);
                        if (v[j] < 0 && !(last && j >= 2 && in[i + j] == '='))
                                return -EINVAL;
                }
                if (v[2] < 0 && v[3] >= 0)
                        return -EINVAL;
                uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                             (uint32_t)(v[2] < 0 ? 0 : v[2]) << 6 | (uint32_t)(v[3] < 0 ? 0 : v[3]);
                out[o++] = (uint8_t)(w >> 16);
                if (v[2] >= 0)
                        out[o++] = (uint8_t)(w >> 8);
                if (v[3] >= 0)
                        out[o++] = (uint8_t)w;
        }
        return (ssize_t)o;
}
