/* SPDX-License-Identifier: MIT */
#pragma once

/* The remote executor: a step the pool sends to an agent (docs/agents.md).
 * step.c asks agents_pick() which member runs a queued step; for an agent
 * it calls remote_start(), and from then on this module drives the step
 * from the agent's events, through the same step.c functions a local step
 * uses (step_mark_running, step_output, step_finish), so the log, the
 * result and every attached client see exactly what they would for a local
 * step. */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/util.h"

struct daemon;
struct step;
struct agent_link;
struct proto_request;

struct step_forward {
        json_t *requires;          /* {"label": "value"}, or NULL */
        bool retry_safe;
        struct agent_link *link;   /* while forwarded */
        char agent[PROJECT_NAME_MAX + 1]; /* the agent it went to, "" when local */
        char remote_id[STEP_ID_MAX + 1];
        bool accepted;
        bool cancelling;
        unsigned attempts;
};

enum remote_choice {
        REMOTE_LOCAL,   /* start it on this host */
        REMOTE_AGENT,   /* forward it to the agent named in agent */
        REMOTE_WAIT,    /* nobody can take it now: it stays queued */
        REMOTE_NEVER,   /* nobody ever can (why): it ends `rejected` */
};
/* Which member of the step's pool takes a queued step now. */
enum remote_choice remote_choose(struct daemon *d, struct step *s,
                                 char agent[PROJECT_NAME_MAX + 1], char *why, size_t why_len);

/* At step_create: what scheduling needs from the request. 0 or -ENOMEM. */
int remote_prepare(struct step *s, const struct proto_request *req);
/* Forward a queued step to agent (name). The step becomes STARTING; on a
 * failure to even begin, the step stays queued and -errno is returned. */
int remote_start(struct daemon *d, struct step *s, const char *agent);
/* Cancel a forwarded step: ask the agent; its `exit` ends the step. */
int remote_cancel(struct daemon *d, struct step *s, const char *message);
/* Fail forwards the agent has not accepted within REMOTE_ACCEPT_USEC (a
 * peer that takes the connection but never answers). From the tick. */
#define REMOTE_ACCEPT_USEC (15u * 1000000u)
void remote_tick(struct daemon *d, uint64_t now);
/* Free what the step holds (link closed without a callback). */
void remote_release(struct daemon *d, struct step *s);
bool remote_active(const struct step *s);
/* Steps forwarded and not ended (they are live but use no local capacity). */
unsigned remote_live(const struct daemon *d);
