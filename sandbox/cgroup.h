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
/* v1: the same for the launcher's own cgroup (where the child came from),
 * in the same order: for the child to leave the step's cgroup again, the
 * same cheap way. 0 on v2 (leaving cgroup.procs takes that rwsem). */
int cgroup_step_self_leave_fds(struct step_cgroup *cg, int *fds, size_t n_max);
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

/* A pool for a long-lived launcher (the daemon): a worker thread makes step
 * cgroups ahead of need, with the limits last asked for, and removes
 * released ones, so neither costs the caller's thread. Making the four v1
 * directories takes ~0.5 ms (libcgroup re-reads /proc/mounts for each and
 * mkdir -p's it from "/"; the limits are written through the directory's
 * fd), removing them ~0.3 ms.
 *
 * A spare is named `spare-<pid>-<random>-<n>` and locked like any step
 * cgroup; it becomes a step by a rename (v1 renames cgroups in place). v2 has no
 * rename, so there the pool only removes. The caller's children must not
 * take locks the worker may hold at clone time: the sandbox's init and
 * payload allocate nothing after clone (see child.c). */
struct cgroup_pool;
/* Start the worker; spares: how many to keep ready (0: none, only removal). */
int cgroup_pool_new(struct cgroup_manager *m, unsigned spares, struct cgroup_pool **ret,
                    char *err, size_t err_len);
/* Stop the worker; what is left (spares, removals) is removed here. */
struct cgroup_pool *cgroup_pool_free(struct cgroup_pool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cgroup_pool *, cgroup_pool_free);
/* A ready cgroup with exactly these limits, renamed to name; -EAGAIN when
 * there is none (the pool then makes spares with these limits), or the
 * rename's -errno. The caller then creates one itself. */
int cgroup_pool_take(struct cgroup_pool *p, const char *name, const struct step_limits *l,
                     struct step_cgroup **ret);
/* Hand a step cgroup over for removal (kill what is left, rmdir, free).
 * NULL-safe. Without a pool (p NULL) it is done here and now. */
void cgroup_pool_release(struct cgroup_pool *p, struct step_cgroup *cg);

struct cgroup_pool_stats {
        unsigned spares;     /* ready now */
        uint64_t taken;      /* takes served from a spare */
        uint64_t missed;     /* takes that found none */
        uint64_t made;       /* spares made */
        uint64_t removed;    /* cgroups removed by the worker */
        uint64_t failed;     /* makes or removals that failed */
};
void cgroup_pool_stats(struct cgroup_pool *p, struct cgroup_pool_stats *ret);
