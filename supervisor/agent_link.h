/* SPDX-License-Identifier: MIT */
#pragma once

/* One connection from the supervisor to an agent, inside the epoll loop:
 * non-blocking TCP connect → TLS handshake (the agent's thumbprint pinned
 * for this connection) → hello → open. Then frames both ways, exactly as on
 * the local socket. Used by the health probes (agents.c) and by forwarded
 * steps (remote.c), one link each.
 *
 * Callbacks run from the loop. `closed` is called once when the link fails
 * (connect refused, handshake refused, hello refused, the agent went away),
 * with l->error saying why; the link is freed right after it returns. A
 * link closed by its owner (agent_link_close) gets no callback. Either way
 * the owner must forget the pointer. Timeouts are the owner's (tick). */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/util.h"
#include "ipc/frame.h"
#include "ipc/tls.h"
#include "supervisor/daemon.h"

enum agent_link_state {
        AGENT_LINK_CONNECTING,
        AGENT_LINK_HANDSHAKE,
        AGENT_LINK_HELLO,
        AGENT_LINK_OPEN,
        AGENT_LINK_CLOSED,
};

struct agent_link;
struct agent_link_ops {
        void (*open)(struct daemon *d, struct agent_link *l);
        void (*frame)(struct daemon *d, struct agent_link *l, json_t *msg);
        void (*closed)(struct daemon *d, struct agent_link *l, int err);
};

struct agent_link {
        struct watch w;
        struct tls_conn *tls;
        enum agent_link_state state;
        struct frame_reader in;
        struct frame_buffer out;
        const struct agent_link_ops *ops;
        void *userdata;
        char name[PROJECT_NAME_MAX + 1]; /* the agent's name, for messages */
        char peer_version[32];           /* from its hello: "stepd/0.1.0" */
        char error[320];
        uint32_t events;                 /* registered with epoll */
        bool in_handler, dead;
        struct agent_link *next_dead;    /* freed at the next tick */
};

int agent_link_open(struct daemon *d, struct tls_context *ctx, const char *name,
                    const char *address, const char *pin, const struct agent_link_ops *ops,
                    void *userdata, struct agent_link **ret, char *err, size_t err_len);
/* Queue one frame; it is written when the loop next sees the socket
 * writable. Never calls back. */
int agent_link_send(struct daemon *d, struct agent_link *l, const json_t *o);
/* Free the links closed since the last call (from the tick: no event of
 * theirs can be pending then). */
void agent_links_reap(struct daemon *d);
/* Close without a callback. NULL-safe. */
void agent_link_close(struct daemon *d, struct agent_link *l);
/* Fail the link as if the agent had (the `closed` callback runs). For the
 * owner's timeouts. */
void agent_link_fail(struct daemon *d, struct agent_link *l, int err, const char *why);
