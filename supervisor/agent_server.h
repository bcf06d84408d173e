/* SPDX-License-Identifier: MIT */
#pragma once

/* Agent mode (stepd agent): the daemon also listens on TCP with TLS and
 * serves the supervisors whose thumbprints it trusts. Each accepted
 * connection is checked in the TLS handshake (pinned thumbprint, no
 * certificate, wrong certificate: refused before any byte is read), then
 * joined to an ordinary client session through a socketpair, so forwarded
 * requests meet exactly the code, limits and policies local clients meet.
 * The session's peer is this daemon itself (uid 0): a trusted supervisor
 * may do what root may do here, under this host's own policies. */

#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

#include "supervisor/agent_config.h"
#include "supervisor/daemon.h"

struct agent_front;
LIST_HEAD(agent_front_list, agent_front);

struct agent_server {
        struct watch listen_w;
        struct tls_context *tls;
        char *address;
        char **labels;             /* "key=value", from stepd.json agent.labels */
        struct agent_front_list fronts;
        struct agent_front_list dead;  /* closed, freed at the next tick */
        unsigned n_fronts;
        uint64_t refused;          /* handshakes refused (metrics, tests) */
};

int agent_server_new(struct daemon *d, const struct link_config *lc, struct agent_server **ret);
void agent_server_free(struct daemon *d, struct agent_server *s);
/* Close handshakes that take too long. */
void agent_server_tick(struct daemon *d, struct agent_server *s, uint64_t now);
/* For the status reply: {"os", "arch", and the configured labels}. */
json_t *agent_server_labels(const struct agent_server *s);
