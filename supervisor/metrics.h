/* SPDX-License-Identifier: MIT */
#pragma once

/* Metrics in the Prometheus text exposition format (version 0.0.4): what
 * `stepctl metrics` returns and what the daemon writes, atomically, for
 * node_exporter's textfile collector. docs/operations.md lists every metric.
 *
 * The counters live in struct daemon_metrics (daemon.h), bumped where things
 * happen; this module adds the step-duration histogram and turns a snapshot
 * of the daemon into text. metrics_format() knows nothing of the daemon, so
 * it is tested on its own; metrics_render() fills the snapshot from a
 * struct daemon. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/result.h"
#include "ipc/proto.h"
#include "policy/policy.h"
#include "sandbox/sandbox.h"

/* Upper bounds of the step-duration buckets, in seconds; +Inf is implied. */
#define METRICS_DURATION_BOUNDS { 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 10800 }
#define METRICS_DURATION_BUCKETS 12

struct metrics_histogram {
        uint64_t bucket[METRICS_DURATION_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
        uint64_t count;
        uint64_t sum_usec;
};

/* Count one step's wall time (call once per step that started). */
void metrics_histogram_observe(struct metrics_histogram *h, uint64_t usec);

/* An agent as the remote executor sees it. `known` false: configured, health
 * not known yet (only stepd_agent_info is written). */
struct metrics_agent {
        const char *name;
        const char *address;
        bool known;
        bool up;
        unsigned running;   /* what it reported running (for anyone) */
        unsigned capacity;  /* what it reported */
        unsigned forwarded; /* our steps on it that have not ended */
};

/* One of the launcher's pools of ready-made parts (sandbox_spares). */
struct metrics_spares {
        const char *kind;   /* "cgroup", "netns" */
        struct sandbox_spares n;
};

/* Everything one exposition shows. */
struct metrics_view {
        uint64_t steps_accepted;
        uint64_t steps_started;
        uint64_t steps_ended[_STEP_REASON_MAX];   /* index: enum step_reason */
        uint64_t requests_rejected[_PROTO_E_MAX]; /* index: enum proto_error_code */
        uint64_t clients_accepted;
        uint64_t clients_dropped_slow;
        uint64_t output_bytes;
        const struct metrics_histogram *durations; /* NULL: all zero */
        unsigned running, queued, capacity, queue_limit, clients;
        bool draining;
        const struct metrics_agent *agents;
        size_t n_agents;
        const struct metrics_spares *spares; /* the pools that run */
        size_t n_spares;
        uint64_t written_usec; /* realtime; 0: leave stepd_metrics_timestamp_seconds out */
};

/* Write the exposition to f. 0 or -EIO. */
int metrics_format(const struct metrics_view *v, FILE *f);

/* Write text to path atomically for the textfile collector: a temporary file
 * in the same folder (mode 0644), fsync, rename over path. The temporary
 * file is removed on failure. 0 or -errno. */
int metrics_write_file(const char *path, const char *text, size_t len);

struct daemon;
struct agents;
/* The daemon's exposition in a new buffer (free()). The histogram is passed
 * separately so this module does not dictate where the daemon keeps it.
 * Configured agents appear as stepd_agent_info only (health unknown). */
int metrics_render(struct daemon *d, const struct metrics_histogram *durations, char **ret,
                   size_t *ret_len);
/* metrics_render() + metrics_write_file(): for the daemon's periodic tick. */
int metrics_write_textfile(struct daemon *d, const struct metrics_histogram *durations,
                           const char *path);
/* The same with each configured agent's health from the remote executor's
 * view (agents.h; NULL: unknown): stepd_agent_up and friends. */
int metrics_render_agents(struct daemon *d, const struct metrics_histogram *durations,
                          struct agents *agents, char **ret, size_t *ret_len);
int metrics_write_textfile_agents(struct daemon *d, const struct metrics_histogram *durations,
                                  struct agents *agents, const char *path);

/* One metrics_agent per configured agent (policy_agents() order), health from
 * A when it has probed the agent at least once. free() the array. */
size_t metrics_agents_view(const struct policy_config *c, struct agents *A,
                           struct metrics_agent **ret);
