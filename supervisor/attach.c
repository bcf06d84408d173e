/* SPDX-License-Identifier: MIT */
/*
 * Clients attached to steps. An attachment is either replaying (behind the
 * log: fed from disk, one chunk at a time, only while its client's output
 * buffer is under CLIENT_REPLAY_LOW_WATER, so replay never grows memory) or
 * live (caught up: each new chunk is encoded once and copied to every live
 * client). A live client whose buffer passes the cap is dropped with
 * slow-client; the step and its log never wait for anyone.
 *
 * `exit` goes to an attachment only once it has every byte of output: at
 * step end for live ones, when the replay reaches the end for the others.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/daemon.h"

json_t *attach_exit_event(const struct step *s)
{
        json_t *res = proto_result_to_json(&s->result, s->output_bytes);

        if (!res)
                return NULL;
        return json_pack("{s:s, s:s, s:o}", "type", "exit", "step", s->id, "result", res);
}

void attach_detach(struct attachment *a)
{
        if (!a)
                return;
        TAILQ_REMOVE(&a->step->attachments, a, by_step);
        TAILQ_REMOVE(&a->client->attachments, a, by_client);
        safe_close(a->log_fd);
        free(a);
}

int attach_client(struct daemon *d, struct client *c, struct step *s, uint64_t offset)
{
        struct attachment *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        *a = (struct attachment){ .step = s, .client = c, .offset = offset, .log_fd = -1 };
        if (offset == s->output_bytes && s->state != STEP_DONE) {
                a->live = true;
        } else if (s->output_bytes > 0) {
                a->log_fd = store_open_log(d, s);
                if (a->log_fd < 0) {
                        int r = a->log_fd;
                        free(a);
                        return r;
                }
        }
        TAILQ_INSERT_TAIL(&s->attachments, a, by_step);
        TAILQ_INSERT_TAIL(&c->attachments, a, by_client);
        client_mark_dirty(d, c); /* the pump runs at the flush */
        return 0;
}

/* Encode an output event as a frame into d->encbuf. */
static size_t encode_output(struct daemon *d, const struct step *s, const char *stream,
                            uint64_t offset, const uint8_t *data, size_t n)
{
        size_t len = proto_output_format(d->encbuf + FRAME_HEADER, s->id, stream, offset, data, n);

        frame_put_len((uint8_t *)d->encbuf, (uint32_t)len);
        return FRAME_HEADER + len;
}

static bool over_cap(const struct daemon *d, const struct client *c)
{
        return frame_buffer_size(&c->out) > d->opt.client_buffer_max;
}

void attach_broadcast_output(struct daemon *d, struct step *s, const char *stream,
                             uint64_t offset, const uint8_t *data, size_t n)
{
        struct attachment *a;
        size_t len = 0;

        TAILQ_FOREACH(a, &s->attachments, by_step) {
                if (!a->live || a->client->closing)
                        continue;
                if (len == 0)
                        len = encode_output(d, s, stream, offset, data, n);
                struct client *c = a->client;
                a->offset = offset + n;
                if (client_send_raw(d, c, d->encbuf, len) < 0 || over_cap(d, c)) {
                        d->metrics.clients_dropped_slow++;
                        log_notice("event=client-slow client=%llu uid=%u step=%s buffered=%zu",
                                   (unsigned long long)c->id, (unsigned)c->cred.uid, s->id,
                                   frame_buffer_size(&c->out));
                        /* only marks c closing: the list stays intact */
                        client_drop(d, c, PROTO_E_SLOW_CLIENT,
                                    "this client did not read its events fast enough");
                }
        }
}

void attach_broadcast(struct daemon *d, struct step *s, const json_t *event)
{
        struct attachment *a;

        TAILQ_FOREACH(a, &s->attachments, by_step)
                (void)client_send(d, a->client, event); /* never detaches */
}

void attach_step_done(struct daemon *d, struct step *s)
{
        struct attachment *a, *next;
        json_auto_t *ev = NULL;

        for (a = TAILQ_FIRST(&s->attachments); a; a = next) {
                next = TAILQ_NEXT(a, by_step);
                if (!a->live)
                        continue; /* its pump sends exit when it catches up */
                if (!ev && !(ev = attach_exit_event(s)))
                        return;
                (void)client_send(d, a->client, ev);
                attach_detach(a);
        }
}

/* Send the next piece of the log to a replaying attachment. */
static int replay_one(struct daemon *d, struct attachment *a)
{
        struct step *s = a->step;

        for (;;) {
                int stream;
                uint32_t len;
                int r = store_read_record(a->log_fd, a->rec_pos, &stream, &len);
                if (r <= 0)
                        return r < 0 ? r : -EIO;
                if (len > sizeof(d->iobuf))
                        return -EBADMSG;
                if (a->rec_out + len <= a->offset) {
                        a->rec_pos += LOG_RECORD_HEADER + len;
                        a->rec_out += len;
                        continue;
                }
                size_t skip = (size_t)(a->offset - a->rec_out), n = len - skip;
                ssize_t k = pread(a->log_fd, d->iobuf, n,
                                  (off_t)(a->rec_pos + LOG_RECORD_HEADER + skip));
                if (k < 0)
                        return -errno;
                if ((size_t)k != n)
                        return -EIO;
                size_t flen = encode_output(d, s, stream == LOG_STREAM_STDOUT ? "stdout" : "stderr",
                                            a->offset, d->iobuf, n);
                r = client_send_raw(d, a->client, d->encbuf, flen);
                if (r < 0)
                        return r;
                a->offset += n;
                a->rec_pos += LOG_RECORD_HEADER + len;
                a->rec_out += len;
                return 0;
        }
}

/* Feed c's replaying attachments while its buffer is low. Returns whether
 * anything was queued. */
bool attach_pump(struct daemon *d, struct client *c)
{
        struct attachment *a, *next;
        size_t low = MIN(CLIENT_REPLAY_LOW_WATER, d->opt.client_buffer_max / 2);
        bool added = false;

        for (a = TAILQ_FIRST(&c->attachments); a; a = next) {
                next = TAILQ_NEXT(a, by_client);
                while (!a->live && frame_buffer_size(&c->out) < low) {
                        struct step *s = a->step;
                        if (a->offset >= s->output_bytes) {
                                if (s->state != STEP_DONE) {
                                        a->live = true;
                                        a->log_fd = safe_close(a->log_fd);
                                        break;
                                }
                                json_auto_t *ev = attach_exit_event(s);
                                if (ev)
                                        (void)client_send(d, c, ev);
                                added = true;
                                attach_detach(a);
                                break;
                        }
                        int r = replay_one(d, a);
                        if (r < 0) {
                                log_errno(r, "event=replay-error step=%s client=%llu", s->id,
                                          (unsigned long long)c->id);
                                (void)client_send_error(d, c, false, 0, s->id, PROTO_E_INTERNAL,
                                                        "cannot read the step's log: %s",
                                                        strerror(-r));
                                attach_detach(a);
                                added = true;
                                break;
                        }
                        added = true;
                }
        }
        return added;
}
