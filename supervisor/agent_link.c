/* SPDX-License-Identifier: MIT */
/* A link to an agent: see agent_link.h.
 *
 * How this works: the link is one watch in the loop. Its state only moves
 * forward (connecting → handshake → hello → open → closed). Each epoll
 * event runs advance(): finish the connect, drive the handshake, write what
 * is queued, read every frame OpenSSL holds (TLS may have decrypted more
 * than the socket signals, so reads go on until -EAGAIN) and hand them to
 * the owner. The epoll interest is recomputed after each step from what TLS
 * wants and whether bytes wait to be written. Callbacks may close the link;
 * it is then freed when the handler returns (in_handler/dead). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/agent_link.h"
#include "supervisor/agents.h"

#define LINK_CLIENT_NAME "stepd-supervisor/" STEPD_VERSION

/* Out of the loop at once; the memory only at the next tick: an event for
 * this watch may still wait in the current batch (its handler then sees
 * `dead` and returns). */
static void link_free(struct daemon *d, struct agent_link *l)
{
        if (l->w.fd >= 0) {
                watch_del(d, &l->w);
                l->w.fd = safe_close(l->w.fd);
        }
        l->tls = tls_conn_free(l->tls);
        frame_reader_done(&l->in);
        frame_buffer_done(&l->out);
        l->dead = true;
        if (d->agents) {
                l->next_dead = d->agents->dead_links;
                d->agents->dead_links = l;
        } else {
                free(l);
        }
}

void agent_links_reap(struct daemon *d)
{
        struct agent_link *l;

        while (d->agents && (l = d->agents->dead_links)) {
                d->agents->dead_links = l->next_dead;
                free(l);
        }
}

void agent_link_close(struct daemon *d, struct agent_link *l)
{
        if (!l)
                return;
        if (l->tls && l->state == AGENT_LINK_OPEN)
                tls_shutdown(l->tls);
        l->state = AGENT_LINK_CLOSED;
        if (l->in_handler)
                l->dead = true;
        else
                link_free(d, l);
}

void agent_link_fail(struct daemon *d, struct agent_link *l, int err, const char *why)
{
        if (!l || l->dead)
                return;
        snprintf(l->error, sizeof(l->error), "%s", why);
        l->state = AGENT_LINK_CLOSED;
        l->dead = true; /* the callback may not close it again */
        if (l->ops->closed)
                l->ops->closed(d, l, err);
        if (!l->in_handler)
                link_free(d, l);
}

static void fail(struct daemon *d, struct agent_link *l, int err, const char *fmt, ...)
        _printf_(4, 5);
static void fail(struct daemon *d, struct agent_link *l, int err, const char *fmt, ...)
{
        char why[320];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        agent_link_fail(d, l, err, why);
}

static void update_events(struct daemon *d, struct agent_link *l)
{
        uint32_t ev = EPOLLIN;

        if (l->dead)
                return;
        if (l->state == AGENT_LINK_CONNECTING)
                ev = EPOLLOUT;
        else if (l->state == AGENT_LINK_HANDSHAKE)
                ev = tls_conn_want(l->tls);
        else if (frame_buffer_size(&l->out) > 0)
                ev |= EPOLLOUT;
        if (ev != l->events && watch_mod(d, &l->w, ev) == 0)
                l->events = ev;
}

static int flush(struct daemon *d, struct agent_link *l)
{
        int r;

        if (l->state < AGENT_LINK_HELLO || l->dead)
                return 0;
        r = tls_frame_flush(l->tls, &l->out);
        if (r < 0) {
                fail(d, l, r, "agent %s: the connection broke while writing: %s", l->name,
                     tls_conn_error(l->tls)[0] ? tls_conn_error(l->tls) : strerror(-r));
                return r;
        }
        return 0;
}

int agent_link_send(struct daemon *d, struct agent_link *l, const json_t *o)
{
        int r;

        if (l->dead)
                return -ENOTCONN;
        r = frame_buffer_append_json(&l->out, o);
        if (r < 0)
                return r;
        /* written from the handler (EPOLLOUT), so that a broken connection
         * is reported through `closed`, never in the middle of the caller */
        update_events(d, l);
        return 0;
}

/* The agent's answer to our hello. */
static void on_hello(struct daemon *d, struct agent_link *l, json_t *msg)
{
        const char *type = json_string_value(json_object_get(msg, "type"));

        if (!type || strcmp(type, "hello") != 0) {
                const char *m = json_string_value(json_object_get(msg, "message"));
                fail(d, l, -EPROTO, "agent %s refused the handshake: %s", l->name,
                     m ? m : "no hello");
                return;
        }
        snprintf(l->peer_version, sizeof(l->peer_version), "%s",
                 json_string_value(json_object_get(msg, "server")) ?: "");
        l->state = AGENT_LINK_OPEN;
        if (l->ops->open)
                l->ops->open(d, l);
}

static void read_frames(struct daemon *d, struct agent_link *l)
{
        const uint8_t *p;
        size_t len;
        char why[200];
        int r;

        for (;;) {
                r = tls_frame_fill(l->tls, &l->in);
                if (r == -EAGAIN)
                        return;
                if (r <= 0) {
                        const char *e = tls_conn_error(l->tls);
                        fail(d, l, r ?: -ECONNRESET, "agent %s closed the connection%s%s", l->name,
                             r < 0 && e[0] ? ": " : "", r < 0 ? e : "");
                        return;
                }
                while ((r = frame_reader_next(&l->in, &p, &len)) != 0) {
                        json_t *msg = NULL;
                        if (r < 0 || frame_parse_payload(p, len, &msg, why, sizeof(why)) < 0) {
                                fail(d, l, -EBADMSG, "agent %s sent a malformed frame", l->name);
                                return;
                        }
                        if (l->state == AGENT_LINK_HELLO)
                                on_hello(d, l, msg);
                        else if (l->ops->frame)
                                l->ops->frame(d, l, msg);
                        json_decref(msg);
                        if (l->dead)
                                return;
                }
        }
}

static int send_hello(struct daemon *d, struct agent_link *l)
{
        json_auto_t *o = json_pack("{s:s, s:i, s:s}", "type", "hello", "version", PROTO_VERSION,
                                   "client", LINK_CLIENT_NAME);
        /* hello goes first: in front of anything the owner queued early */
        struct frame_buffer early = l->out;
        int r;

        if (!o)
                return -ENOMEM;
        l->out = (struct frame_buffer){ 0 };
        r = frame_buffer_append_json(&l->out, o);
        if (r == 0 && frame_buffer_size(&early) > 0)
                r = frame_buffer_append_raw(&l->out, early.buf + early.head,
                                            frame_buffer_size(&early));
        frame_buffer_done(&early);
        return r;
}

static void advance(struct daemon *d, struct agent_link *l, uint32_t events)
{
        int r;

        if (l->state == AGENT_LINK_CONNECTING) {
                r = tcp_connect_result(l->w.fd);
                if (r < 0)
                        return fail(d, l, r, "agent %s: cannot connect: %s", l->name,
                                    strerror(-r));
                l->state = AGENT_LINK_HANDSHAKE;
        }
        if (l->state == AGENT_LINK_HANDSHAKE) {
                r = tls_handshake(l->tls);
                if (r == -EAGAIN)
                        return update_events(d, l);
                if (r < 0)
                        return fail(d, l, r, "agent %s: %s", l->name, tls_conn_error(l->tls));
                l->state = AGENT_LINK_HELLO;
                r = send_hello(d, l);
                if (r < 0)
                        return fail(d, l, r, "agent %s: cannot queue hello", l->name);
        }
        if (flush(d, l) < 0)
                return;
        if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || l->state >= AGENT_LINK_HELLO)
                read_frames(d, l);
        if (!l->dead && flush(d, l) == 0)
                update_events(d, l);
}

static void on_link(struct daemon *d, struct watch *w, uint32_t events)
{
        struct agent_link *l = container_of(w, struct agent_link, w);

        if (l->dead)
                return; /* a stale event: see link_free() */
        l->in_handler = true;
        advance(d, l, events);
        l->in_handler = false;
        if (l->dead)
                link_free(d, l);
}

int agent_link_open(struct daemon *d, struct tls_context *ctx, const char *name,
                    const char *address, const char *pin, const struct agent_link_ops *ops,
                    void *userdata, struct agent_link **ret, char *err, size_t err_len)
{
        struct agent_link *l;
        int fd = -1, r;

        r = tcp_connect_start(address, &fd, err, err_len);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(*l));
        if (!l) {
                safe_close(fd);
                return -ENOMEM;
        }
        l->w = (struct watch){ fd, on_link };
        l->ops = ops;
        l->userdata = userdata;
        l->state = r == 1 ? AGENT_LINK_CONNECTING : AGENT_LINK_HANDSHAKE;
        snprintf(l->name, sizeof(l->name), "%s", name);
        frame_reader_init(&l->in, FRAME_MAX);
        r = tls_conn_new(ctx, fd, &l->tls);
        if (r == 0 && (r = tls_conn_set_pin(l->tls, pin)) < 0)
                snprintf(err, err_len, "agent %s: its thumbprint is malformed", name);
        if (r == 0) {
                l->events = l->state == AGENT_LINK_CONNECTING ? EPOLLOUT : EPOLLIN | EPOLLOUT;
                r = watch_add(d, &l->w, l->events);
        }
        if (r < 0) {
                link_free(d, l);
                return r;
        }
        *ret = l;
        return 0;
}
