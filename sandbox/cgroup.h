/* SPDX-License-Identifier: MIT */
#pragma once

/* Per-step cgroups through libcgroup, on cgroup v1 (and the hybrid layout:
 * v1 controllers, empty v2 hierarchy) and on pure cgroup v2, detected once at
 * start. One table of functions per backend, chosen once (see crun).
 *
 * Where: stepd never assumes it may write at a hierarchy's root. For each
 * controller it reads its own cgroup from /proc/self/cgroup and creates
 * `<own>/stepd/<step>` below it (on v2 it first moves itself into
 * `<own>/supervisor`, since a v2 cgroup with processes cannot have
 * controllers enabled for children). Leftovers from a crashed run are killed
 * and removed by cgroup_manager_new(). */

#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"
#include "sandbox/spec.h"

enum cgroup_layout {
        CGROUP_LAYOUT_V1,     /* only v1 hierarchies */
        CGROUP_LAYOUT_HYBRID, /* v1 controllers + a v2 hierarchy without them */
        CGROUP_LAYOUT_V2,     /* unified */
        _CGROUP_LAYOUT_MAX,
};
const char *cgroup_layout_to_string(enum cgroup_layout l);

struct cgroup_manager;
struct step_cgroup;

struct cgroup_stats {
        uint64_t cpu_user_usec;
        uint64_t cpu_system_usec;
        uint64_t memory_peak_bytes; /* 0 if the kernel does not say */
        uint64_t oom_kills;
};

/* Detect, find our place, clean up leftovers of earlier runs. */
int cgroup_manager_new(struct cgroup_manager **ret, char *err, size_t err_len);
struct cgroup_manager *cgroup_manager_free(struct cgroup_manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cgroup_manager *, cgroup_manager_free);
enum cgroup_layout cgroup_manager_layout(const struct cgroup_manager *m);
/* The layout alone (statfs; no libcgroup): what cgroup_manager_new() will find. */
int cgroup_detect_layout(enum cgroup_layout *ret, char *err, size_t err_len);

/* Create <base>/stepd/<name> with the limits set. name: a step id. */
int cgroup_step_create(struct cgroup_manager *m, const char *name, const struct step_limits *l,
                       struct step_cgroup **ret, char *err, size_t err_len);
/* v2: an O_DIRECTORY fd of the step's cgroup for CLONE_INTO_CGROUP; -1 on v1. */
int cgroup_step_clone_fd(const struct step_cgroup *cg);
/* v1: move pid into the step's cgroup in every controller (v2: no-op when
 * the child was cloned into it). */
int cgroup_step_attach(struct step_cgroup *cg, pid_t pid);
/* v1: open the step's `tasks` file in every hierarchy (O_WRONLY|O_CLOEXEC)
 * for a child to move itself by writing "0". A thread moving itself skips
 * the global threadgroup rwsem, whose write lock costs an RCU grace period
 * (~10 ms on the dev machine) when the parent moves a pid instead. Returns
 * how many fds were opened into fds (0 on v2, where the child is cloned
 * into its cgroup), or -errno. The caller closes them. */
int cgroup_step_self_attach_fds(struct step_cgroup *cg, int *fds, size_t n_max);
int cgroup_step_stats(struct step_cgroup *cg, struct cgroup_stats *ret);
/* Number of processes in the step's cgroup now. */
int cgroup_step_count(struct step_cgroup *cg, unsigned *ret);
/* Send sig to every process of the cgroup; ret_count: how many were signalled. */
int cgroup_step_kill(struct step_cgroup *cg, int sig, unsigned *ret_count);
/* SIGKILL whatever is left, wait (bounded) until empty, remove the cgroup. */
int cgroup_step_destroy(struct step_cgroup *cg);
/* Destroy (best effort) and free; NULL-safe; the cleanup guard. */
struct step_cgroup *cgroup_step_abandon(struct step_cgroup *cg);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct step_cgroup *, cgroup_step_abandon);
