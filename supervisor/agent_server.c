/* SPDX-License-Identifier: MIT */
/* Agent mode: TLS in front of ordinary client sessions. See agent_server.h.
 *
 * How this works: the listening TCP socket is one watch. An accepted
 * connection becomes a `front`: its TCP fd (net) with a TLS connection that
 * first runs the handshake, pinned to the trusted supervisors. A refused
 * handshake is logged with the reason and the connection closed; nothing
 * it sent is ever read as a request. After the handshake the front makes a
 * socketpair, gives one end to the session code as a new client
 * (client_adopt) and pumps bytes both ways:
 *
 *   net --tls_read--> a[] --write--> loc      (requests)
 *   net <--tls_write-- b[] <--read-- loc      (replies, events, output)
 *
 * Each direction holds at most one buffer; a full buffer stops reading
 * that side (epoll interest follows), so a slow supervisor slows only its
 * own session, whose bounded output buffer then applies as for any client.
 * Either side closing closes both. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/tls.h"
#include "supervisor/agent_server.h"
#include "supervisor/agents.h"

#define FRONT_HANDSHAKE_USEC (10u * 1000000u)
#define FRONTS_MAX 256
#define NET_BUF (16u * 1024u)
#define LOC_BUF (64u * 1024u)

struct agent_front {
        LIST_ENTRY(agent_front) link;
        struct agent_server *server;
        struct watch net_w, loc_w;
        struct tls_conn *tls;
        uint64_t since;
        char peer[64];
        bool established;
        bool dead;              /* closed; freed at the next tick */
        uint32_t net_ev, loc_ev;
        size_t a_len, a_off, b_len, b_off;
        uint8_t a[NET_BUF];
        uint8_t b[LOC_BUF];
};

/* Closed at once, freed at the next tick: an event for one of its two
 * watches may still wait in the current batch (handlers check `dead`). */
static void front_free(struct daemon *d, struct agent_front *f)
{
        if (f->dead)
                return;
        f->dead = true;
        LIST_REMOVE(f, link);
        LIST_INSERT_HEAD(&f->server->dead, f, link);
        f->server->n_fronts--;
        if (f->tls && f->established)
                tls_shutdown(f->tls);
        f->tls = tls_conn_free(f->tls);
        watch_del(d, &f->net_w);
        safe_close(f->net_w.fd);
        if (f->loc_w.fd >= 0) {
                watch_del(d, &f->loc_w);
                f->loc_w.fd = safe_close(f->loc_w.fd);
        }
        f->net_w.fd = -1;
}

static void fronts_reap(struct agent_server *s)
{
        while (!LIST_EMPTY(&s->dead)) {
                struct agent_front *f = LIST_FIRST(&s->dead);
                LIST_REMOVE(f, link);
                free(f);
        }
}

static void set_events(struct daemon *d, struct watch *w, uint32_t *cur, uint32_t ev)
{
        if (ev != *cur && watch_mod(d, w, ev) == 0)
                *cur = ev;
}

/* Move bytes until neither direction makes progress. 0, or -1 when the
 * front is finished (caller frees). */
static int pump(struct agent_front *f)
{
        bool progress = true;

        while (progress) {
                progress = false;
                if (f->a_off == f->a_len) {
                        ssize_t n = tls_read(f->tls, f->a, sizeof(f->a));
                        if (n == 0 || (n < 0 && n != -EAGAIN))
                                return -1;
                        if (n > 0) {
                                f->a_len = (size_t)n;
                                f->a_off = 0;
                                progress = true;
                        }
                }
                if (f->a_off < f->a_len) {
                        ssize_t n = send(f->loc_w.fd, f->a + f->a_off, f->a_len - f->a_off,
                                         MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -1;
                        if (n > 0) {
                                f->a_off += (size_t)n;
                                progress = true;
                        }
                }
                if (f->b_off == f->b_len) {
                        ssize_t n = recv(f->loc_w.fd, f->b, sizeof(f->b), MSG_DONTWAIT);
                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                                return -1;
                        if (n > 0) {
                                f->b_len = (size_t)n;
                                f->b_off = 0;
                                progress = true;
                        }
                }
                if (f->b_off < f->b_len) {
                        ssize_t n = tls_write(f->tls, f->b + f->b_off, f->b_len - f->b_off);
                        if (n < 0 && n != -EAGAIN)
                                return -1;
                        if (n > 0) {
                                f->b_off += (size_t)n;
                                progress = true;
                        }
                }
        }
        return 0;
}

static void front_update(struct daemon *d, struct agent_front *f)
{
        uint32_t net = 0, loc = 0;

        if (f->a_off == f->a_len)
                net |= EPOLLIN;  /* room for what the supervisor sends */
        else
                loc |= EPOLLOUT;
        if (f->b_off == f->b_len)
                loc |= EPOLLIN;
        else
                net |= tls_conn_want(f->tls) == EPOLLIN ? EPOLLIN : EPOLLOUT;
        set_events(d, &f->net_w, &f->net_ev, net);
        set_events(d, &f->loc_w, &f->loc_ev, loc);
}

static void on_loc(struct daemon *d, struct watch *w, uint32_t events)
{
        struct agent_front *f = container_of(w, struct agent_front, loc_w);

        if (f->dead)
                return; /* a stale event */
        if (pump(f) < 0)
                return front_free(d, f);
        front_update(d, f);
}

static int front_join(struct daemon *d, struct agent_front *f)
{
        int sv[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        r = client_adopt(d, sv[1]); /* takes sv[1] */
        if (r < 0) {
                safe_close(sv[0]);
                return r;
        }
        f->loc_w = (struct watch){ sv[0], on_loc };
        f->loc_ev = EPOLLIN;
        r = watch_add(d, &f->loc_w, EPOLLIN);
        if (r < 0)
                f->loc_w.fd = safe_close(sv[0]);
        return r;
}

static void on_net(struct daemon *d, struct watch *w, uint32_t events)
{
        struct agent_front *f = container_of(w, struct agent_front, net_w);
        int r;

        if (f->dead)
                return; /* a stale event */
        if (!f->established) {
                r = tls_handshake(f->tls);
                if (r == -EAGAIN)
                        return set_events(d, &f->net_w, &f->net_ev, tls_conn_want(f->tls));
                if (r < 0) {
                        f->server->refused++;
                        log_notice("event=agent-refused peer=%s reason=\"%s\"", f->peer,
                                   tls_conn_error(f->tls));
                        return front_free(d, f);
                }
                f->established = true;
                log_info("event=agent-supervisor peer=%s thumbprint=%s", f->peer,
                         tls_conn_peer_thumbprint(f->tls));
                r = front_join(d, f);
                if (r < 0) {
                        log_errno(r, "event=agent-error peer=%s cannot start a session", f->peer);
                        return front_free(d, f);
                }
        }
        if (pump(f) < 0)
                return front_free(d, f);
        front_update(d, f);
}

static void peer_name(int fd, char *buf, size_t len)
{
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;

        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
                if (ss.ss_family == AF_INET) {
                        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
                        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
                        port = ntohs(in->sin_port);
                } else if (ss.ss_family == AF_INET6) {
                        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
                        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                        port = ntohs(in6->sin6_port);
                }
        }
        snprintf(buf, len, "%s:%u", host, port);
}

static void front_new(struct daemon *d, struct agent_server *s, int fd)
{
        struct agent_front *f;

        if (s->n_fronts >= FRONTS_MAX) {
                log_notice("event=agent-refused reason=\"%u connections open\"", s->n_fronts);
                safe_close(fd);
                return;
        }
        f = calloc(1, sizeof(*f));
        if (!f || tls_conn_new(s->tls, fd, &f->tls) < 0) {
                free(f);
                safe_close(fd);
                return;
        }
        f->server = s;
        f->since = now_monotonic_usec();
        f->net_w = (struct watch){ fd, on_net };
        f->loc_w.fd = -1;
        f->net_ev = EPOLLIN;
        peer_name(fd, f->peer, sizeof(f->peer));
        LIST_INSERT_HEAD(&s->fronts, f, link);
        s->n_fronts++;
        if (watch_add(d, &f->net_w, EPOLLIN) < 0)
                front_free(d, f);
}

static void on_listen(struct daemon *d, struct watch *w, uint32_t events)
{
        struct agent_server *s = container_of(w, struct agent_server, listen_w);

        for (int i = 0; i < 64; i++) {
                int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                                log_warning_errno(-errno, "event=agent-accept-error");
                        return;
                }
                front_new(d, s, fd);
        }
}

void agent_server_tick(struct daemon *d, struct agent_server *s, uint64_t now)
{
        struct agent_front *f, *next;

        if (!s)
                return;
        fronts_reap(s);
        for (f = LIST_FIRST(&s->fronts); f; f = next) {
                next = LIST_NEXT(f, link);
                if (!f->established && now - f->since > FRONT_HANDSHAKE_USEC) {
                        log_notice("event=agent-refused peer=%s reason=\"no TLS handshake "
                                   "within 10 s\"", f->peer);
                        front_free(d, f);
                }
        }
}

json_t *agent_server_labels(const struct agent_server *s)
{
        return agents_host_labels(s ? s->labels : NULL);
}

void agent_server_free(struct daemon *d, struct agent_server *s)
{
        if (!s)
                return;
        while (!LIST_EMPTY(&s->fronts))
                front_free(d, LIST_FIRST(&s->fronts));
        fronts_reap(s);
        if (s->listen_w.fd >= 0) {
                watch_del(d, &s->listen_w);
                safe_close(s->listen_w.fd);
        }
        tls_context_free(s->tls);
        strv_free(s->labels);
        free(s->address);
        free(s);
}

int agent_server_new(struct daemon *d, const struct link_config *lc, struct agent_server **ret)
{
        struct agent_server *s = calloc(1, sizeof(*s));
        char err[512] = "";
        int r;

        if (!s)
                return -ENOMEM;
        s->listen_w = (struct watch){ -1, on_listen };
        LIST_INIT(&s->fronts);
        LIST_INIT(&s->dead);
        s->address = strdup(lc->listen);
        s->labels = strv_copy(lc->labels ? lc->labels : (char *[]){ NULL });
        if (!s->address || !s->labels) {
                agent_server_free(d, s);
                return -ENOMEM;
        }
        r = tls_context_new(TLS_SERVER, lc->agent_certificate, lc->agent_key, lc->trusted,
                            &s->tls, err, sizeof(err));
        if (r == 0)
                r = tcp_listen(lc->listen, 64, &s->listen_w.fd, err, sizeof(err));
        if (r == 0)
                r = watch_add(d, &s->listen_w, EPOLLIN);
        if (r < 0) {
                log_errno(r, "event=fatal agent mode: %s", err[0] ? err : "cannot listen");
                agent_server_free(d, s);
                return r;
        }
        log_info("event=agent-listen address=%s thumbprint=%s trusted=%zu", s->address,
                 tls_context_thumbprint(s->tls), strv_length(lc->trusted));
        *ret = s;
        return 0;
}
