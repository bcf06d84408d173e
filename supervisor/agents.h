/* SPDX-License-Identifier: MIT */
#pragma once

/* The supervisor's view of its remote agents (docs/agents.md): who they
 * are (from stepd.json "agents"), whether they answer (a status probe over
 * TLS every interval), what they can take (capacity, running, queued, as
 * they last reported, plus the steps we forwarded and that have not ended),
 * and which member of a pool gets the next step. */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ipc/tls.h"
#include "policy/policy.h"

struct daemon;
struct agent_link;

#define AGENTS_BUILTIN "builtin"
#define AGENTS_INTERVAL_MS_DEFAULT 5000u
#define AGENTS_REFUSED_BACKOFF_USEC (2u * 1000000u) /* after a queue-full */

struct agent {
        char *name;
        char *address;
        char pin[TLS_THUMBPRINT_HEX + 1];
        char **labels;             /* configured here, "key=value" */
        json_t *reported_labels;   /* from its status (os, arch, its own labels) */
        char version[64];
        bool healthy;
        bool seen;                 /* answered at least once */
        bool draining;
        unsigned capacity, running, queued;  /* its last status */
        unsigned inflight;         /* steps we forwarded that have not ended */
        uint64_t last_seen_usec;   /* realtime, 0: never */
        uint64_t refused_until;    /* monotonic usec: it said queue-full */
        char error[320];           /* why it is not healthy */
        struct agent_link *probe;
        uint64_t probe_deadline;   /* monotonic usec */
};

struct agents {
        struct tls_context *tls;   /* NULL: no certificate configured, agents unreachable */
        char tls_error[512];
        struct agent *v;
        size_t n;
        uint64_t interval_usec;
        uint64_t next_probe;       /* monotonic usec */
        struct agent_link *dead_links; /* closed, freed at the next tick */
};

/* From the configuration's agents; cert/key (may be NULL: then every agent
 * is reported unhealthy with the reason). */
int agents_new(const struct policy_config *c, const char *cert, const char *key,
               uint64_t interval_ms, struct agents **ret);
void agents_free(struct daemon *d, struct agents *A);
struct agent *agents_find(struct agents *A, const char *name);

/* Probe every agent when the interval has passed; fail probes past their
 * deadline. Called from the daemon's tick. */
void agents_tick(struct daemon *d, struct agents *A, uint64_t now);
/* Probe now (start-up, reload). */
void agents_probe_all(struct daemon *d, struct agents *A);

/* Which member of pool gets a step with these requirements (an object of
 * strings, or NULL). The builtin member's load is local_running of
 * local_capacity. */
enum agents_pick {
        AGENTS_PICK_BUILTIN,
        AGENTS_PICK_AGENT,   /* *ret_agent */
        AGENTS_PICK_WAIT,    /* someone qualifies but nobody can take it now */
        AGENTS_PICK_NEVER,   /* no member can ever meet the requirements (why) */
};
enum agents_pick agents_pick(struct agents *A, const struct policy_pool *pool,
                             const json_t *requires, unsigned local_running,
                             unsigned local_capacity, uint64_t now, struct agent **ret_agent,
                             char *why, size_t why_len);

/* Whether a member's labels meet the requirements. */
bool agents_labels_match(char *const *configured, const json_t *reported,
                         const json_t *requires);
/* This host's labels: {"os": "linux", "arch": "x86_64"} plus extra ("k=v"). */
json_t *agents_host_labels(char *const *extra);

/* The daemon's side (daemon.c): read stepd.json's agent-link settings, make
 * d->agents (when agents are configured) and d->agent_server (stepd agent),
 * probe; the tick; the end. */
int agents_setup(struct daemon *d);
void agents_daemon_tick(struct daemon *d, uint64_t now);
void agents_teardown(struct daemon *d);

/* The `agents` reply's list: builtin and every agent with health, capacity,
 * load, last seen, version. */
json_t *agents_to_json(struct agents *A, const struct policy_config *c, unsigned local_running,
                       unsigned local_capacity, unsigned local_queued);
