/* SPDX-License-Identifier: MIT */
#pragma once

/* Framing (docs/protocol.md): every message is a 4-byte big-endian length,
 * then that many bytes of one JSON object with a string member "type".
 *
 * struct frame_reader collects bytes from a non-blocking stream and hands out
 * whole frames; it never holds more than one frame plus one read's worth of
 * bytes. struct frame_buffer is a bounded queue of encoded frames waiting to
 * be written to a non-blocking socket. Both are plain memory: the caller owns
 * the fd. The blocking helpers at the end are for simple clients and tests. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/macro.h"

#define FRAME_MAX (1024u * 1024u) /* payload cap, both directions */
#define FRAME_HEADER 4u

static inline void frame_put_len(uint8_t *p, uint32_t n)
{
        p[0] = (uint8_t)(n >> 24);
        p[1] = (uint8_t)(n >> 16);
        p[2] = (uint8_t)(n >> 8);
        p[3] = (uint8_t)n;
}

static inline uint32_t frame_get_len(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct frame_reader {
        uint8_t *buf;
        size_t len;      /* bytes held */
        size_t start;    /* first byte not yet handed out */
        size_t alloc;
        size_t max_frame;
};

void frame_reader_init(struct frame_reader *r, size_t max_frame); /* 0: FRAME_MAX */
void frame_reader_done(struct frame_reader *r);

/* Append bytes (from a test, or a read done elsewhere). -ENOMEM. */
int frame_reader_feed(struct frame_reader *r, const void *data, size_t n);

/* One read() from fd into the reader. Returns bytes read (> 0), 0 on EOF,
 * -EAGAIN when nothing is there, or -errno. */
int frame_reader_fill(struct frame_reader *r, int fd);

/* Next whole frame: 1 and the payload in ret_payload, ret_len (valid until the next call
 * on r), 0 when more bytes are needed, -EBADMSG for a zero length,
 * -EMSGSIZE when the announced length is over the cap (the stream cannot be
 * trusted after either). */
int frame_reader_next(struct frame_reader *r, const uint8_t **ret_payload, size_t *ret_len);

/* Bytes held that are not yet a whole frame (a connection that closes with
 * some is truncated). */
size_t frame_reader_pending(const struct frame_reader *r);

/* Parse a payload: 0 with *ret an object with a string "type"; -EBADMSG
 * with a reason in err for anything else (not JSON, not an object, no type). */
int frame_parse_payload(const uint8_t *payload, size_t len, json_t **ret, char *err,
                        size_t err_len);

struct frame_buffer {
        uint8_t *buf;
        size_t head;     /* first unwritten byte */
        size_t tail;     /* end of data */
        size_t alloc;
        size_t frame_end; /* end of the frame the next write is in (for truncation) */
};

void frame_buffer_done(struct frame_buffer *b);
static inline size_t frame_buffer_size(const struct frame_buffer *b)
{
        return b->tail - b->head;
}

/* Append one encoded frame (header + payload) as is. -ENOMEM. */
int frame_buffer_append_raw(struct frame_buffer *b, const void *frame, size_t len);
/* Encode an object as a frame and append it. -EMSGSIZE over FRAME_MAX. */
int frame_buffer_append_json(struct frame_buffer *b, const json_t *obj);
/* Reserve room for a frame of up to max_payload bytes; returns where to
 * write the payload; commit with the real length. */
uint8_t *frame_buffer_begin(struct frame_buffer *b, size_t max_payload);
void frame_buffer_commit(struct frame_buffer *b, size_t payload_len);

/* Write as much as the socket takes (send, MSG_NOSIGNAL|MSG_DONTWAIT).
 * Returns 0 when empty, 1 when bytes remain (wait for EPOLLOUT), -errno. */
int frame_buffer_flush(struct frame_buffer *b, int fd);

/* Drop every whole frame not yet started, keeping the rest of the frame
 * currently being written so the stream stays well formed. Used before a
 * last error frame is queued for a client that is being dropped. */
void frame_buffer_truncate_unstarted(struct frame_buffer *b);

/* Encode an object into a fresh frame (header included). */
int frame_encode(const json_t *obj, uint8_t **ret, size_t *ret_len);

/* Blocking helpers for simple clients: one whole frame. frame_recv returns
 * 0 with *ret, -ENODATA on a clean EOF before any byte, -EPIPE on EOF in
 * the middle, -EMSGSIZE/-EBADMSG as above, or -errno. */
int frame_send(int fd, const json_t *obj);
int frame_recv(int fd, json_t **ret);

/* jansson provides json_decrefp(). */
#ifndef _cleanup_json_
#define _cleanup_json_ _cleanup_(json_decrefp)
#endif
