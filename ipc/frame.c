/* SPDX-License-Identifier: MIT */
/* Framing: see frame.h and docs/protocol.md. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/frame.h"

#define READ_CHUNK (64u * 1024u)

void frame_reader_init(struct frame_reader *r, size_t max_frame)
{
        *r = (struct frame_reader){ .max_frame = max_frame ? max_frame : FRAME_MAX };
}

void frame_reader_done(struct frame_reader *r)
{
        free(r->buf);
        *r = (struct frame_reader){ .max_frame = r->max_frame };
}

/* Make room for n more bytes, first moving held bytes to the front. */
static int reader_reserve(struct frame_reader *r, size_t n)
{
        if (r->start > 0) {
                memmove(r->buf, r->buf + r->start, r->len - r->start);
                r->len -= r->start;
                r->start = 0;
        }
        if (r->alloc - r->len >= n)
                return 0;
        size_t want = MAX(r->len + n, r->alloc * 2);
        uint8_t *p = realloc(r->buf, want);
        if (!p)
                return -ENOMEM;
        r->buf = p;
        r->alloc = want;
        return 0;
}

int frame_reader_feed(struct frame_reader *r, const void *data, size_t n)
{
        int k = reader_reserve(r, n);

        if (k < 0)
                return k;
        memcpy(r->buf + r->len, data, n);
        r->len += n;
        return 0;
}

int frame_reader_fill(struct frame_reader *r, int fd)
{
        int k = reader_reserve(r, READ_CHUNK);
        ssize_t n;

        if (k < 0)
                return k;
        do
                n = read(fd, r->buf + r->len, r->alloc - r->len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        r->len += (size_t)n;
        return (int)MIN(n, (ssize_t)INT32_MAX);
}

int frame_reader_next(struct frame_reader *r, const uint8_t **ret_payload, size_t *ret_len)
{
        size_t avail = r->len - r->start;

        if (avail < FRAME_HEADER)
                return 0;
        uint32_t n = frame_get_len(r->buf + r->start);
        if (n == 0)
                return -EBADMSG;
        if (n > r->max_frame)
                return -EMSGSIZE;
        if (avail - FRAME_HEADER < n)
                return 0;
        *ret_payload = r->buf + r->start + FRAME_HEADER;
        *ret_len = n;
        r->start += FRAME_HEADER + n;
        if (r->start == r->len)
                r->start = r->len = 0; /* payload stays valid: bytes are not moved */
        return 1;
}

size_t frame_reader_pending(const struct frame_reader *r)
{
        return r->len - r->start;
}

int frame_parse_payload(const uint8_t *payload, size_t len, json_t **ret, char *err,
                        size_t err_len)
{
        json_error_t jerr;
        json_t *o = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);

        if (!o) {
                snprintf(err, err_len, "payload is not JSON: %s (at byte %d)", jerr.text,
                         jerr.position);
                return -EBADMSG;
        }
        if (!json_is_object(o)) {
                json_decref(o);
                snprintf(err, err_len, "payload is not a JSON object");
                return -EBADMSG;
        }
        json_t *t = json_object_get(o, "type");
        if (!t || !json_is_string(t)) {
                json_decref(o);
                snprintf(err, err_len, "payload has no string member \"type\"");
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

void frame_buffer_done(struct frame_buffer *b)
{
        free(b->buf);
        *b = (struct frame_buffer){ 0 };
}

/* Move frame_end (always a frame boundary) up to the end of the frame that
 * head is in, or to head when head sits on a boundary. Whole frames are
 * appended, so the header at frame_end is always held. */
static void walk_frame_end(struct frame_buffer *b)
{
        while (b->frame_end < b->head)
                b->frame_end += FRAME_HEADER + frame_get_len(b->buf + b->frame_end);
}

static int buffer_reserve(struct frame_buffer *b, size_t n)
{
        if (b->head == b->tail) {
                b->head = b->tail = b->frame_end = 0;
        } else if (b->head > 0 && (b->alloc - b->tail < n || b->head > b->alloc / 2)) {
                walk_frame_end(b);
                memmove(b->buf, b->buf + b->head, b->tail - b->head);
                b->tail -= b->head;
                b->frame_end -= b->head;
                b->head = 0;
        }
        if (b->alloc - b->tail >= n)
                return 0;
        size_t want = MAX(b->tail + n, b->alloc * 2);
        uint8_t *p = realloc(b->buf, want);
        if (!p)
                return -ENOMEM;
        b->buf = p;
        b->alloc = want;
        return 0;
}

int frame_buffer_append_raw(struct frame_buffer *b, const void *frame, size_t len)
{
        int r = buffer_reserve(b, len);

        if (r < 0)
                return r;
        memcpy(b->buf + b->tail, frame, len);
        b->tail += len;
        return 0;
}

uint8_t *frame_buffer_begin(struct frame_buffer *b, size_t max_payload)
{
        if (buffer_reserve(b, FRAME_HEADER + max_payload) < 0)
                return NULL;
        return b->buf + b->tail + FRAME_HEADER;
}

void frame_buffer_commit(struct frame_buffer *b, size_t payload_len)
{
        frame_put_len(b->buf + b->tail, (uint32_t)payload_len);
        b->tail += FRAME_HEADER + payload_len;
}

int frame_buffer_append_json(struct frame_buffer *b, const json_t *obj)
{
        size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);

        if (n == 0)
                return -EINVAL;
        if (n > FRAME_MAX)
                return -EMSGSIZE;
        uint8_t *p = frame_buffer_begin(b, n);
        if (!p)
                return -ENOMEM;
        if (json_dumpb(obj, (char *)p, n, JSON_COMPACT) != n)
                return -EINVAL;
        frame_buffer_commit(b, n);
        return 0;
}

int frame_buffer_flush(struct frame_buffer *b, int fd)
{
        while (b->head < b->tail) {
                ssize_t n = send(fd, b->buf + b->head, b->tail - b->head,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 1;
                        return -errno;
                }
                b->head += (size_t)n;
        }
        b->head = b->tail = b->frame_end = 0;
        return 0;
}

void frame_buffer_truncate_unstarted(struct frame_buffer *b)
{
        if (b->head == b->tail)
                return;
        walk_frame_end(b);
        if (b->frame_end < b->tail)
                b->tail = b->frame_end;
}

int frame_encode(const json_t *obj, uint8_t **ret, size_t *ret_len)
{
        size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);

        if (n == 0)
                return -EINVAL;
        if (n > FRAME_MAX)
                return -EMSGSIZE;
        uint8_t *p = malloc(FRAME_HEADER + n);
        if (!p)
                return -ENOMEM;
        json_dumpb(obj, (char *)p + FRAME_HEADER, n, JSON_COMPACT);
        frame_put_len(p, (uint32_t)n);
        *ret = p;
        *ret_len = FRAME_HEADER + n;
        return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == ENOTSOCK)
                        n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                                (void)poll(&pfd, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int frame_send(int fd, const json_t *obj)
{
        _cleanup_free_ uint8_t *f = NULL;
        size_t len;
        int r = frame_encode(obj, &f, &len);

        if (r < 0)
                return r;
        return write_all(fd, f, len);
}

/* Read exactly len bytes. 0, -ENODATA (EOF before any byte), -EPIPE. */
static int read_exact(int fd, uint8_t *p, size_t len)
{
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, p + got, len - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                                (void)poll(&pfd, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                if (n == 0)
                        return got == 0 ? -ENODATA : -EPIPE;
                got += (size_t)n;
        }
        return 0;
}

int frame_recv(int fd, json_t **ret)
{
        uint8_t hdr[FRAME_HEADER];
        char err[256];
        int r = read_exact(fd, hdr, sizeof(hdr));

        if (r < 0)
                return r;
        uint32_t n = frame_get_len(hdr);
        if (n == 0)
                return -EBADMSG;
        if (n > FRAME_MAX)
                return -EMSGSIZE;
        _cleanup_free_ uint8_t *p = malloc(n);
        if (!p)
                return -ENOMEM;
        r = read_exact(fd, p, n);
        if (r < 0)
                return r == -ENODATA ? -EPIPE : r;
        return frame_parse_payload(p, n, ret, err, sizeof(err));
}
