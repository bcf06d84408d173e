/* SPDX-License-Identifier: MIT */
/*
 * Client connections. Each is non-blocking with a frame reader (1 MiB cap)
 * and a bounded output buffer. Replies and events are only queued while a
 * loop iteration runs; queued clients are flushed once at its end (one
 * send() per client per iteration), and EPOLLOUT is asked for only while a
 * send would block.
 *
 * A client is never freed in the middle of an iteration over steps or
 * attachments: client_drop() only marks it closing (it gets one last error
 * frame and is closed when that is written, or after CLIENT_LINGER_USEC);
 * the freeing, and what a disconnect means for its steps
 * (cancel_on_disconnect), happen at the top of the loop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/daemon.h"

#define CLIENT_LINGER_USEC (5 * 1000000ull)
#define CLIENT_HELLO_USEC (10 * 1000000ull) /* a connection must say hello by then */
#define READS_PER_EVENT 4

/* What the loop waits for on c: input unless closing or half-closed by
 * the peer, output while a send would block. */
static void client_update_events(struct daemon *d, struct client *c)
{
        uint32_t ev = (c->closing || c->read_shut ? 0 : EPOLLIN) | (c->want_out ? EPOLLOUT : 0);

        (void)watch_mod(d, &c->w, ev);
}

void client_mark_dirty(struct daemon *d, struct client *c)
{
        if (c->dirty)
                return;
        c->dirty = true;
        TAILQ_INSERT_TAIL(&d->dirty, c, dirty_link);
}

static void over_cap_check(struct daemon *d, struct client *c)
{
        if (frame_buffer_size(&c->out) <= d->opt.client_buffer_max)
                return;
        d->metrics.clients_dropped_slow++;
        log_notice("event=client-slow client=%llu uid=%u buffered=%zu", (unsigned long long)c->id,
                   (unsigned)c->cred.uid, frame_buffer_size(&c->out));
        client_drop(d, c, PROTO_E_SLOW_CLIENT, "this client did not read its events fast enough");
}

int client_send(struct daemon *d, struct client *c, const json_t *o)
{
        if (c->closing)
                return 0;
        int r = frame_buffer_append_json(&c->out, o);
        if (r < 0) {
                log_errno(r, "event=client-error client=%llu cannot encode a reply",
                          (unsigned long long)c->id);
                return r;
        }
        client_mark_dirty(d, c);
        over_cap_check(d, c);
        return 0;
}

int client_send_raw(struct daemon *d, struct client *c, const void *frame, size_t len)
{
        if (c->closing)
                return 0;
        int r = frame_buffer_append_raw(&c->out, frame, len);
        if (r < 0)
                return r;
        client_mark_dirty(d, c);
        return 0;
}

int client_send_error(struct daemon *d, struct client *c, bool has_req, int64_t req,
                      const char *step, enum proto_error_code code, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        d->metrics.requests_refused[code]++;
        json_auto_t *o = proto_error_new(has_req, req, step, code, msg);
        if (!o)
                return -ENOMEM;
        log_debug("event=request-refused client=%llu uid=%u code=%s message=\"%s\"",
                  (unsigned long long)c->id, (unsigned)c->cred.uid,
                  proto_error_code_to_string(code), msg);
        return client_send(d, c, o);
}

void client_drop(struct daemon *d, struct client *c, enum proto_error_code code, const char *msg)
{
        if (c->closing)
                return;
        if (code == PROTO_E_SLOW_CLIENT) {
                frame_buffer_truncate_unstarted(&c->out);
                c->dropped_slow = true;
        }
        json_auto_t *o = proto_error_new(false, 0, NULL, code, msg);
        if (o)
                (void)frame_buffer_append_json(&c->out, o);
        d->metrics.requests_refused[code]++;
        c->closing = true;
        c->closing_since = now_monotonic_usec();
        log_info("event=client-drop client=%llu uid=%u code=%s", (unsigned long long)c->id,
                 (unsigned)c->cred.uid, proto_error_code_to_string(code));
        c->want_out = true;
        client_update_events(d, c);
        client_mark_dirty(d, c);
}

void client_free(struct daemon *d, struct client *c)
{
        struct attachment *a;

        if (!c)
                return;
        step_client_gone(d, c);
        while ((a = TAILQ_FIRST(&c->attachments)))
                attach_detach(a);
        if (c->dirty)
                TAILQ_REMOVE(&d->dirty, c, dirty_link);
        TAILQ_REMOVE(&d->clients, c, link);
        watch_del(d, &c->w);
        /* shutdown first: a copy of the fd held elsewhere (a step's init
         * forked while this client was connected) must not keep the
         * connection open */
        (void)shutdown(c->w.fd, SHUT_RDWR);
        safe_close(c->w.fd);
        frame_reader_done(&c->in);
        frame_buffer_done(&c->out);
        d->n_clients--;
        log_debug("event=client-gone client=%llu", (unsigned long long)c->id);
        free(c);
}

/* Write what is queued, refill from replaying attachments, repeat while the
 * socket takes it. */
static void client_flush(struct daemon *d, struct client *c)
{
        int r;

        for (;;) {
                r = frame_buffer_flush(&c->out, c->w.fd);
                if (r < 0) {
                        log_debug_errno(r, "event=client-write-error client=%llu",
                                        (unsigned long long)c->id);
                        return client_free(d, c);
                }
                if (c->closing || !attach_pump(d, c))
                        break;
        }
        /* a peer that only shut its sending side still gets its steps'
         * events; it is done when those are written */
        if (r == 0 && (c->closing || (c->read_shut && TAILQ_EMPTY(&c->attachments))))
                return client_free(d, c);
        if ((r == 1) != c->want_out) {
                c->want_out = r == 1;
                client_update_events(d, c);
        }
}

void clients_flush_dirty(struct daemon *d)
{
        struct client *c;

        while ((c = TAILQ_FIRST(&d->dirty))) {
                TAILQ_REMOVE(&d->dirty, c, dirty_link);
                c->dirty = false;
                client_flush(d, c);
        }
}

void clients_tick(struct daemon *d, uint64_t now)
{
        struct client *c, *next;

        for (c = TAILQ_FIRST(&d->clients); c; c = next) {
                next = TAILQ_NEXT(c, link);
                if (c->closing && now - c->closing_since > CLIENT_LINGER_USEC)
                        client_free(d, c);
                else if (!c->hello && !c->closing && now - c->connected_usec > CLIENT_HELLO_USEC)
                        client_drop(d, c, PROTO_E_HANDSHAKE_REQUIRED,
                                    "no hello within 10 seconds of connecting");
        }
}

static void frame_error(struct daemon *d, struct client *c, int r, const char *detail)
{
        if (r == -EMSGSIZE)
                client_drop(d, c, PROTO_E_FRAME_TOO_LARGE,
                            "a frame announced more than 1048576 bytes");
        else
                client_drop(d, c, PROTO_E_BAD_FRAME, detail);
}

/* Handle every whole frame held. */
static void client_process(struct daemon *d, struct client *c)
{
        char err[256];
        const uint8_t *p;
        size_t len;
        int r;

        while (!c->closing && (r = frame_reader_next(&c->in, &p, &len)) != 0) {
                json_t *obj = NULL;
                if (r < 0)
                        return frame_error(d, c, r, "a frame has length 0");
                if (frame_parse_payload(p, len, &obj, err, sizeof(err)) < 0)
                        return frame_error(d, c, -EBADMSG, err);
                request_dispatch(d, c, obj);
                json_decref(obj);
        }
}

static void on_client(struct daemon *d, struct watch *w, uint32_t events)
{
        struct client *c = container_of(w, struct client, w);

        if ((events & EPOLLERR) || ((c->closing || c->read_shut) && (events & EPOLLHUP))) {
                client_free(d, c); /* nothing more can be written */
                return;
        }
        if (events & EPOLLOUT) {
                client_flush(d, c); /* may free c */
                return;
        }
        if (c->closing || c->read_shut)
                return;
        for (int i = 0; i < READS_PER_EVENT; i++) {
                int r = frame_reader_fill(&c->in, c->w.fd);
                if (r == -EAGAIN)
                        break;
                if (r == 0 && frame_reader_pending(&c->in) == 0 &&
                    (!TAILQ_EMPTY(&c->attachments) || frame_buffer_size(&c->out) > 0)) {
                        c->read_shut = true; /* half-closed: keep sending */
                        client_update_events(d, c);
                        client_mark_dirty(d, c);
                        return;
                }
                if (r <= 0) {
                        if (frame_reader_pending(&c->in) > 0)
                                log_info("event=client-truncated client=%llu pending=%zu",
                                         (unsigned long long)c->id, frame_reader_pending(&c->in));
                        return client_free(d, c);
                }
                client_process(d, c);
                if (c->closing)
                        break;
        }
}

static unsigned connections_of(struct daemon *d, uid_t uid)
{
        struct client *c;
        unsigned n = 0;

        TAILQ_FOREACH(c, &d->clients, link)
                if (c->cred.uid == uid && !c->closing)
                        n++;
        return n;
}

static void refuse_connection(int fd, const char *msg)
{
        json_auto_t *o = proto_error_new(false, 0, NULL, PROTO_E_TOO_MANY_CONNECTIONS, msg);
        _cleanup_free_ uint8_t *f = NULL;
        size_t len;

        if (o && frame_encode(o, &f, &len) == 0)
                (void)send(fd, f, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)shutdown(fd, SHUT_RDWR);
        safe_close(fd);
}

static int client_new(struct daemon *d, int fd)
{
        struct client *c = calloc(1, sizeof(*c));
        int r;

        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->w = (struct watch){ fd, on_client };
        TAILQ_INIT(&c->attachments);
        TAILQ_INIT(&c->owned);
        frame_reader_init(&c->in, FRAME_MAX);
        r = peercred_get(fd, &c->cred);
        if (r < 0) {
                safe_close(fd);
                free(c);
                return r;
        }
        if (connections_of(d, c->cred.uid) >= d->opt.max_connections_per_uid) {
                char msg[128];
                snprintf(msg, sizeof(msg), "uid %u has %u connections open (the limit)",
                         (unsigned)c->cred.uid, d->opt.max_connections_per_uid);
                log_notice("event=client-refused uid=%u pid=%d reason=too-many-connections",
                           (unsigned)c->cred.uid, (int)c->cred.pid);
                refuse_connection(fd, msg);
                free(c);
                return -EUSERS;
        }
        r = watch_add(d, &c->w, EPOLLIN);
        if (r < 0) {
                safe_close(fd);
                free(c);
                return r;
        }
        c->id = ++d->next_client_id;
        c->connected_usec = now_monotonic_usec();
        TAILQ_INSERT_TAIL(&d->clients, c, link);
        d->n_clients++;
        d->metrics.clients_accepted++;
        log_debug("event=client-new client=%llu uid=%u gid=%u pid=%d", (unsigned long long)c->id,
                  (unsigned)c->cred.uid, (unsigned)c->cred.gid, (int)c->cred.pid);
        return 0;
}

int client_adopt(struct daemon *d, int fd)
{
        return client_new(d, fd);
}

void client_accept(struct daemon *d, int listen_fd)
{
        for (int i = 0; i < 64; i++) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                                return;
                        log_warning_errno(-errno, "event=accept-error");
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                            errno == ENOMEM)
                                listen_pause(d); /* until the next tick, not a busy loop */
                        return;
                }
                (void)client_new(d, fd);
        }
}
