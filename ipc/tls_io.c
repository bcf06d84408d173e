/* SPDX-License-Identifier: MIT */
/* Frames over TLS, and the blocking helpers (poll with a deadline) built on
 * the non-blocking primitives of tls.c. See tls.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/util.h"
#include "ipc/tls.h"

#define TLS_READ_CHUNK (16u * 1024u) /* one TLS record */

int tls_frame_fill(struct tls_conn *c, struct frame_reader *r)
{
        uint8_t buf[TLS_READ_CHUNK];
        ssize_t n = tls_read(c, buf, sizeof(buf));
        int k;

        if (n <= 0)
                return (int)n;
        k = frame_reader_feed(r, buf, (size_t)n);
        return k < 0 ? k : (int)n;
}

int tls_frame_flush(struct tls_conn *c, struct frame_buffer *b)
{
        while (b->head < b->tail) {
                ssize_t n = tls_write(c, b->buf + b->head, b->tail - b->head);

                if (n == -EAGAIN)
                        return 1;
                if (n < 0)
                        return (int)n;
                b->head += (size_t)n;
        }
        b->head = b->tail = b->frame_end = 0;
        return 0;
}

static uint64_t deadline_of(uint64_t timeout_ms)
{
        return timeout_ms ? now_monotonic_usec() + timeout_ms * 1000u : 0;
}

/* Wait for what the connection wants, until the deadline (0: none). */
static int wait_want(struct tls_conn *c, uint64_t deadline)
{
        struct pollfd p = {
                .fd = tls_conn_fd(c),
                .events = tls_conn_want(c) == EPOLLOUT ? POLLOUT : POLLIN,
        };
        int ms = -1;

        if (deadline) {
                uint64_t now = now_monotonic_usec();

                if (now >= deadline)
                        return -ETIMEDOUT;
                ms = (int)MIN((deadline - now + 999) / 1000, (uint64_t)INT32_MAX);
        }
        int k = poll(&p, 1, ms);
        if (k < 0)
                return errno == EINTR ? 0 : -errno;
        return k == 0 ? -ETIMEDOUT : 0;
}

int tls_handshake_wait(struct tls_conn *c, uint64_t timeout_ms)
{
        uint64_t deadline = deadline_of(timeout_ms);

        for (;;) {
                int k = tls_handshake(c);

                if (k != -EAGAIN)
                        return k;
                k = wait_want(c, deadline);
                if (k < 0)
                        return k;
        }
}

static int write_all(struct tls_conn *c, const uint8_t *p, size_t n, uint64_t deadline)
{
        while (n > 0) {
                ssize_t k = tls_write(c, p, n);

                if (k == -EAGAIN) {
                        int w = wait_want(c, deadline);
                        if (w < 0)
                                return w;
                        continue;
                }
                if (k < 0)
                        return (int)k;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

int tls_write_all(struct tls_conn *c, const void *buf, size_t n, uint64_t timeout_ms)
{
        return write_all(c, buf, n, deadline_of(timeout_ms));
}

/* Read exactly n bytes. *got counts what arrived (to tell a clean end). */
static int read_exact(struct tls_conn *c, uint8_t *p, size_t n, uint64_t deadline, size_t *got)
{
        while (*got < n) {
                ssize_t k = tls_read(c, p + *got, n - *got);

                if (k == -EAGAIN) {
                        int w = wait_want(c, deadline);
                        if (w < 0)
                                return w;
                        continue;
                }
                if (k < 0)
                        return (int)k;
                if (k == 0)
                        return -EPIPE;
                *got += (size_t)k;
        }
        return 0;
}

int tls_frame_send(struct tls_conn *c, const json_t *obj, uint64_t timeout_ms)
{
        _cleanup_free_ uint8_t *frame = NULL;
        size_t len;
        int k = frame_encode(obj, &frame, &len);

        if (k < 0)
                return k;
        return write_all(c, frame, len, deadline_of(timeout_ms));
}

int tls_frame_recv(struct tls_conn *c, json_t **ret, uint64_t timeout_ms)
{
        uint64_t deadline = deadline_of(timeout_ms);
        _cleanup_free_ uint8_t *payload = NULL;
        uint8_t hdr[FRAME_HEADER];
        size_t got = 0;
        uint32_t len;
        char why[128];
        int k;

        k = read_exact(c, hdr, sizeof(hdr), deadline, &got);
        if (k == -EPIPE && got == 0)
                return -ENODATA;
        if (k < 0)
                return k;
        len = frame_get_len(hdr);
        if (len == 0)
                return -EBADMSG;
        if (len > FRAME_MAX)
                return -EMSGSIZE;
        payload = malloc(len);
        if (!payload)
                return -ENOMEM;
        got = 0;
        k = read_exact(c, payload, len, deadline, &got);
        if (k < 0)
                return k;
        return frame_parse_payload(payload, len, ret, why, sizeof(why));
}

int tls_connect(struct tls_context *ctx, const char *address, uint64_t timeout_ms,
                struct tls_conn **ret, int *ret_fd, char *err, size_t err_len)
{
        _cleanup_(tls_conn_freep) struct tls_conn *c = NULL;
        _cleanup_close_ int fd = -1;
        int k;

        k = tcp_connect(address, timeout_ms, &fd, err, err_len);
        if (k < 0)
                return k;
        k = fd_set_nonblock(fd, true);
        if (k < 0)
                return k;
        k = tls_conn_new(ctx, fd, &c);
        if (k < 0)
                return k;
        k = tls_handshake_wait(c, timeout_ms);
        if (k < 0) {
                if (k == -ETIMEDOUT)
                        snprintf(err, err_len, "%s: TLS handshake timed out", address);
                else
                        snprintf(err, err_len, "%s: %s", address, tls_conn_error(c));
                return k;
        }
        *ret = TAKE_PTR(c);
        *ret_fd = TAKE_FD(fd);
        return 0;
}
