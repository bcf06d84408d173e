/* SPDX-License-Identifier: MIT */
/* The client side of docs/protocol.md: blocking frames over a Unix socket.
 *
 * How this works: one connected SOCK_STREAM fd, used blocking. A frame is
 * read as 4 length bytes then exactly that many payload bytes (loops over
 * short reads and EINTR), so a caller may poll() the fd for readability and
 * then call client_recv(): the server always writes whole frames. Writes use
 * MSG_NOSIGNAL so a closed server gives -EPIPE, not SIGPIPE. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/client.h"

struct client {
        int fd;
        int64_t next_req;
        uint32_t max_frame;
        uid_t peer_uid;
        char *server;
        json_t *last_error;
};

int client_new_fd(int fd, struct client **ret)
{
        struct client *c;

        if (fd < 0)
                return -EBADF;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = fd;
        c->next_req = 1;
        c->max_frame = CLIENT_FRAME_MAX;
        c->peer_uid = (uid_t)-1;
        *ret = c;
        return 0;
}

int client_connect(const char *path, struct client **ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        size_t len;
        int r;

        if (!path || !*path)
                return -EINVAL;
        len = strlen(path);
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len + 1);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                if (errno != EINTR)
                        return negative_errno();
        r = client_new_fd(fd, ret);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        return 0;
}

struct client *client_free(struct client *c)
{
        if (!c)
                return NULL;
        safe_close(c->fd);
        free(c->server);
        if (c->last_error)
                json_decref(c->last_error);
        free(c);
        return NULL;
}

int client_fd(const struct client *c)
{
        return c ? c->fd : -EBADF;
}

uid_t client_peer_uid(const struct client *c)
{
        return c->peer_uid;
}

const char *client_server_name(const struct client *c)
{
        return c->server;
}

int64_t client_next_req(struct client *c)
{
        return c->next_req++;
}

const json_t *client_error(const struct client *c)
{
        return c ? c->last_error : NULL;
}

static int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Read exactly len bytes. 1: done; 0: EOF before the first byte;
 * -ECONNRESET: EOF in the middle. */
static int read_exact(int fd, void *buf, size_t len)
{
        char *p = buf;
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, p + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        return got == 0 ? 0 : -ECONNRESET;
                got += (size_t)n;
        }
        return 1;
}

int client_send_frame(struct client *c, const void *payload, size_t len)
{
        uint32_t be;
        int r;

        if (len > UINT32_MAX)
                return -EMSGSIZE;
        be = htonl((uint32_t)len);
        r = write_all(c->fd, &be, sizeof(be));
        if (r < 0)
                return r;
        return write_all(c->fd, payload, len);
}

int client_recv_frame(struct client *c, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *buf = NULL;
        uint32_t be, len;
        int r;

        r = read_exact(c->fd, &be, sizeof(be));
        if (r <= 0)
                return r;
        len = ntohl(be);
        if (len == 0)
                return -EBADMSG;
        if (len > c->max_frame)
                return -EMSGSIZE;
        buf = malloc((size_t)len + 1);
        if (!buf)
                return -ENOMEM;
        r = read_exact(c->fd, buf, len);
        if (r == 0)
                return -ECONNRESET;
        if (r < 0)
                return r;
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 1;
}

int client_send(struct client *c, json_t *msg)
{
        _cleanup_free_ char *s = NULL;

        if (!json_is_object(msg))
                return -EINVAL;
        s = json_dumps(msg, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        return client_send_frame(c, s, strlen(s));
}

int client_recv(struct client *c, json_t **ret)
{
        _cleanup_free_ char *buf = NULL;
        json_error_t jerr;
        size_t len;
        json_t *j;
        int r;

        r = client_recv_frame(c, &buf, &len);
        if (r <= 0)
                return r;
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return -EBADMSG;
        if (!json_is_object(j) || !json_is_string(json_object_get(j, "type"))) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 1;
}

const char *client_msg_type(const json_t *msg)
{
        return json_string_value(json_object_get(msg, "type"));
}

bool client_is_error(const json_t *msg)
{
        const char *t = client_msg_type(msg);
        return t && strcmp(t, "error") == 0;
}

const char *client_msg_string(const json_t *msg, const char *key)
{
        return json_string_value(json_object_get(msg, key));
}

void client_error_format(const json_t *err, char *buf, size_t len)
{
        const char *code = client_msg_string(err, "code");
        const char *msg = client_msg_string(err, "message");

        if (msg && *msg)
                snprintf(buf, len, "%s: %s", code ? code : "error", msg);
        else
                snprintf(buf, len, "%s", code ? code : "error");
}

static void keep_error(struct client *c, json_t *err)
{
        if (c->last_error)
                json_decref(c->last_error);
        c->last_error = json_incref(err);
}

static int hello_accept(struct client *c, json_t *reply)
{
        json_t *v;

        if (client_is_error(reply)) {
                keep_error(c, reply);
                return -EPROTO;
        }
        if (strcmp(client_msg_type(reply), "hello") != 0)
                return -EBADMSG;
        v = json_object_get(reply, "version");
        if (!json_is_integer(v) || json_integer_value(v) != CLIENT_PROTOCOL_VERSION)
                return -EPROTONOSUPPORT;
        v = json_object_get(reply, "max_frame");
        if (json_is_integer(v) && json_integer_value(v) > 0 &&
            json_integer_value(v) <= 64 * (json_int_t)CLIENT_FRAME_MAX)
                c->max_frame = (uint32_t)json_integer_value(v);
        v = json_object_get(reply, "uid");
        if (json_is_integer(v) && json_integer_value(v) >= 0)
                c->peer_uid = (uid_t)json_integer_value(v);
        free(c->server);
        c->server = client_msg_string(reply, "server") ?
                            strdup(client_msg_string(reply, "server")) : NULL;
        return 0;
}

int client_hello(struct client *c, const char *client_name, json_t **ret_reply)
{
        _cleanup_client_json_ json_t *hello = NULL, *reply = NULL;
        int r, k;

        hello = json_pack("{s:s, s:i, s:s}", "type", "hello", "version",
                          CLIENT_PROTOCOL_VERSION, "client", client_name ? client_name : "client");
        if (!hello)
                return -ENOMEM;
        r = client_send(c, hello);
        /* A server that refuses at once (too-many-connections) may have
         * closed before our hello arrived: its error is still there to read. */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                return r;
        k = client_recv(c, &reply);
        if (k <= 0)
                return r < 0 ? r : k == 0 ? -ECONNRESET : k;
        r = hello_accept(c, reply);
        if (r < 0)
                return r;
        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return 0;
}

int client_call(struct client *c, json_t *req, json_t **ret_reply)
{
        json_t *id = json_object_get(req, "req");
        json_int_t want;
        int r;

        if (!json_is_integer(id)) {
                if (json_object_set_new(req, "req", json_integer(client_next_req(c))) < 0)
                        return -ENOMEM;
                id = json_object_get(req, "req");
        }
        want = json_integer_value(id);
        r = client_send(c, req);
        if (r < 0)
                return r;
        for (;;) {
                json_t *m = NULL;

                r = client_recv(c, &m);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ECONNRESET;
                id = json_object_get(m, "req");
                /* An error that closes the connection may carry no req. */
                if ((json_is_integer(id) && json_integer_value(id) == want) ||
                    (!id && client_is_error(m))) {
                        *ret_reply = m;
                        return 0;
                }
                json_decref(m);
        }
}

json_t *client_simple_request(struct client *c, const char *type, const char *step)
{
        json_t *j = json_pack("{s:s, s:I}", "type", type, "req", (json_int_t)client_next_req(c));

        if (j && step && json_object_set_new(j, "step", json_string(step)) < 0) {
                json_decref(j);
                return NULL;
        }
        return j;
}

/* "KEY=VALUE" strings into an object member. */
static int pairs_to_object(char *const *v, const char *what, json_t **ret, char *reterr,
                           size_t reterr_len)
{
        _cleanup_client_json_ json_t *o = json_object();

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; v && v[i]; i++) {
                const char *eq = strchr(v[i], '=');
                _cleanup_free_ char *key = NULL;

                if (!eq || eq == v[i]) {
                        snprintf(reterr, reterr_len, "%s '%s': expected KEY=VALUE", what, v[i]);
                        return -EINVAL;
                }
                key = strndup(v[i], (size_t)(eq - v[i]));
                if (!key || json_object_set_new(o, key, json_string(eq + 1)) < 0) {
                        snprintf(reterr, reterr_len, "%s '%s': not valid UTF-8", what, v[i]);
                        return -EINVAL;
                }
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static int run_set_command(json_t *j, const struct client_run_opts *o, char *reterr,
                           size_t reterr_len)
{
        _cleanup_client_json_ json_t *argv = NULL;

        if (!!o->argv == !!o->script) {
                snprintf(reterr, reterr_len, "give either a command or a script");
                return -EINVAL;
        }
        if (o->script) {
                if (json_object_set_new(j, "script", json_string(o->script)) < 0) {
                        snprintf(reterr, reterr_len, "the script is not valid UTF-8 text");
                        return -EINVAL;
                }
                return 0;
        }
        if (!o->argv[0]) {
                snprintf(reterr, reterr_len, "the command is empty");
                return -EINVAL;
        }
        argv = json_array();
        if (!argv)
                return -ENOMEM;
        for (size_t i = 0; o->argv[i]; i++)
                if (json_array_append_new(argv, json_string(o->argv[i])) < 0) {
                        snprintf(reterr, reterr_len, "argument '%s' is not valid UTF-8",
                                 o->argv[i]);
                        return -EINVAL;
                }
        return json_object_set_new(j, "argv", TAKE_PTR(argv)) < 0 ? -ENOMEM : 0;
}

static int run_set_optional(json_t *j, const struct client_run_opts *o, char *reterr,
                            size_t reterr_len)
{
        json_t *env = NULL, *labels = NULL;
        int r;

        if (o->interpreter && json_object_set_new(j, "interpreter",
                                                  json_string(o->interpreter)) < 0)
                return -ENOMEM;
        if (o->env) {
                r = pairs_to_object(o->env, "environment variable", &env, reterr, reterr_len);
                if (r < 0 || json_object_set_new(j, "env", env) < 0)
                        return r < 0 ? r : -ENOMEM;
        }
        if (o->labels) {
                r = pairs_to_object(o->labels, "label", &labels, reterr, reterr_len);
                if (r < 0 || json_object_set_new(j, "labels", labels) < 0)
                        return r < 0 ? r : -ENOMEM;
        }
        if (o->stdin_data) {
                _cleanup_free_ char *b64 = client_base64_encode(o->stdin_data, o->stdin_len);
                if (!b64 || json_object_set_new(j, "stdin", json_string(b64)) < 0)
                        return -ENOMEM;
        }
        if (o->timeout_ms > 0 &&
            json_object_set_new(j, "timeout_ms", json_integer((json_int_t)o->timeout_ms)) < 0)
                return -ENOMEM;
        if (o->idempotency_key && json_object_set_new(j, "idempotency_key",
                                                      json_string(o->idempotency_key)) < 0) {
                snprintf(reterr, reterr_len, "the idempotency key is not valid UTF-8");
                return -EINVAL;
        }
        if (o->cancel_on_disconnect &&
            json_object_set_new(j, "cancel_on_disconnect", json_true()) < 0)
                return -ENOMEM;
        if (o->retry_safe && json_object_set_new(j, "retry_safe", json_true()) < 0)
                return -ENOMEM;
        return 0;
}

int client_run_request(struct client *c, const struct client_run_opts *o, json_t **ret,
                       char *reterr, size_t reterr_len)
{
        _cleanup_client_json_ json_t *j = NULL;
        int r;

        if (!o->project || !*o->project) {
                snprintf(reterr, reterr_len, "a project is required");
                return -EINVAL;
        }
        j = json_pack("{s:s, s:I, s:s}", "type", "run", "req", (json_int_t)client_next_req(c),
                      "project", o->project);
        if (!j) {
                snprintf(reterr, reterr_len, "the project name is not valid UTF-8");
                return -EINVAL;
        }
        r = run_set_command(j, o, reterr, reterr_len);
        if (r < 0)
                return r;
        r = run_set_optional(j, o, reterr, reterr_len);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(j);
        return 0;
}

/* A number of milliseconds (integer or real) into microseconds. */
static int get_ms_as_usec(const json_t *j, const char *key, uint64_t *ret)
{
        json_t *v = json_object_get(j, key);
        double ms;

        if (!v) {
                *ret = 0;
                return 0;
        }
        if (!json_is_number(v))
                return -EBADMSG;
        ms = json_number_value(v);
        if (ms < 0 || ms > 1e15)
                return -EBADMSG;
        *ret = (uint64_t)(ms * 1000.0 + 0.5);
        return 0;
}

static int get_int(const json_t *j, const char *key, json_int_t min, json_int_t dflt,
                   json_int_t *ret)
{
        json_t *v = json_object_get(j, key);

        if (!v || json_is_null(v)) {
                *ret = dflt;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < min)
                return -EBADMSG;
        *ret = json_integer_value(v);
        return 0;
}

static int result_numbers(const json_t *j, struct step_result *r)
{
        json_int_t code, sig, peak, ooms, killed, err;

        if (get_int(j, "exit_code", -1, -1, &code) < 0 || code > 255 ||
            get_int(j, "signal", 0, 0, &sig) < 0 || sig > 128 ||
            get_int(j, "memory_peak_bytes", 0, 0, &peak) < 0 ||
            get_int(j, "oom_kills", 0, 0, &ooms) < 0 ||
            get_int(j, "processes_killed", 0, 0, &killed) < 0 || killed > UINT32_MAX ||
            get_int(j, "setup_errno", 0, 0, &err) < 0 || err > 4095)
                return -EBADMSG;
        r->exit_code = (int)code;
        r->signal = (int)sig;
        r->memory_peak_bytes = (uint64_t)peak;
        r->oom_kills = (uint64_t)ooms;
        r->processes_killed = (uint32_t)killed;
        r->setup_errno = (int)err;
        if (get_ms_as_usec(j, "wall_ms", &r->wall_usec) < 0 ||
            get_ms_as_usec(j, "cpu_user_ms", &r->cpu_user_usec) < 0 ||
            get_ms_as_usec(j, "cpu_system_ms", &r->cpu_system_usec) < 0)
                return -EBADMSG;
        return 0;
}

int client_result_from_json(const json_t *j, struct step_result *ret)
{
        struct step_result r = { 0 };
        const char *s;
        int reason;

        if (!json_is_object(j))
                return -EBADMSG;
        reason = step_reason_from_string(client_msg_string(j, "reason"));
        if (reason <= STEP_REASON_NONE)
                return -EBADMSG;
        r.reason = (enum step_reason)reason;
        if (result_numbers(j, &r) < 0)
                return -EBADMSG;
        s = client_msg_string(j, "setup_step");
        if (s)
                snprintf(r.setup_step, sizeof(r.setup_step), "%s", s);
        s = client_msg_string(j, "message");
        if (s)
                snprintf(r.message, sizeof(r.message), "%s", s);
        *ret = r;
        return 0;
}

static const char b64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *client_base64_encode(const void *data, size_t len)
{
        const unsigned char *in = data;
        char *out, *o;

        if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
                return NULL;
        out = malloc((len + 2) / 3 * 4 + 1);
        if (!out)
                return NULL;
        o = out;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16;
                size_t left = len - i;

                if (left > 1)
                        v |= (uint32_t)in[i + 1] << 8;
                if (left > 2)
                        v |= in[i + 2];
                *o++ = b64_alphabet[(v >> 18) & 63];
                *o++ = b64_alphabet[(v >> 12) & 63];
                *o++ = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
                *o++ = left > 2 ? b64_alphabet[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

static int b64_value(char ch)
{
        const char *p = ch ? strchr(b64_alphabet, ch) : NULL;
        return p ? (int)(p - b64_alphabet) : -1;
}

int client_base64_decode(const char *s, void **ret, size_t *ret_len)
{
        _cleanup_free_ unsigned char *out = NULL;
        size_t len = s ? strlen(s) : 0, n = 0;

        if (!s || len % 4 != 0)
                return -EINVAL;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i += 4) {
                bool last = i + 4 == len;
                int a = b64_value(s[i]), b = b64_value(s[i + 1]);
                int c = s[i + 2] == '=' && last && s[i + 3] == '=' ? -2 : b64_value(s[i + 2]);
                int d = s[i + 3] == '=' && last ? -2 : b64_value(s[i + 3]);

                if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2))
                        return -EINVAL;
                out[n++] = (unsigned char)(a << 2 | b >> 4);
                if (c >= 0)
                        out[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
                if (d >= 0)
                        out[n++] = (unsigned char)((c & 3) << 6 | d);
        }
        *ret = TAKE_PTR(out);
        *ret_len = n;
        return 0;
}
