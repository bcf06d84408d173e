/* SPDX-License-Identifier: MIT */
#pragma once

/* sandbox/: turn a launch spec into a running, contained step and tear it
 * down again. Non-blocking: the caller (stepd exec's small loop, or the
 * supervisor's epoll loop) watches the fds a step exposes and calls back:
 *
 *   sandbox_spawn()            → step running its setup; watch:
 *     sync_fd   (EPOLLIN)      → sandbox_step_on_sync(): started / setup failure
 *                                / ended: sandbox_step_result()
 *     stdout_fd, stderr_fd     → read the step's output until EOF
 *     pidfd     (EPOLLIN)      → the step's init has exited: sandbox_step_reap()
 *   sandbox_step_terminate()   → timeout/cancel: SIGTERM to everything, the init
 *                                waits kill_grace_ms, then SIGKILLs the rest
 *   sandbox_step_kill()        → SIGKILL the whole step now (backstop)
 *   sandbox_step_free()        → kills what is left, removes the cgroup (with a
 *                                pool: hands it to the pool's worker); after
 *                                sandbox_step_release_ended(), only frees
 *
 * When the init reports the end, or (it was killed) the pidfd fires, every
 * process of the step is gone, so everything the step wrote is in the
 * pipes: the caller reads what is buffered (until EAGAIN, bounded) and then
 * stops. It must not wait for EOF: a step can pass its pipe ends to a
 * process outside the step, which would then decide when the step ends.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"
#include "common/result.h"
#include "sandbox/spec.h"

/* Process-wide preparation, once at start: detect the cgroup layout,
 * protect the launcher from the OOM killer. Returns -errno with a human
 * detail in err. */
struct sandbox_context;
int sandbox_context_new(struct sandbox_context **ret, char *err, size_t err_len);
struct sandbox_context *sandbox_context_free(struct sandbox_context *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sandbox_context *, sandbox_context_free);
/* Make the cgroup manager now: find where this process may create cgroups,
 * check it can, and remove what a crashed launcher left there. Otherwise it
 * happens at the first sandbox_spawn(); a daemon calls this at start, to
 * fail early and to clean up before it serves. Returns -errno, err. */
int sandbox_context_prepare_cgroups(struct sandbox_context *c, char *err, size_t err_len);
/* The same, started on a thread now, for a launcher with other work to do
 * first (`stepd exec`): sandbox_context_prepare_cgroups() and the first
 * sandbox_spawn() then wait for it and return its error. Returns -errno if
 * no thread could be started (it then happens at first use, as without). */
int sandbox_context_prepare_cgroups_ahead(struct sandbox_context *c);
/* For a long-lived launcher: step cgroups made ahead (`spares` of them, with
 * the limits of the last step) and removed behind, by a worker thread (see
 * cgroup_pool_new). Prepares the cgroups first. A step's cgroup is then
 * removed after sandbox_step_free() returns, not during it. */
int sandbox_context_start_pool(struct sandbox_context *c, unsigned spares, char *err,
                               size_t err_len);
/* For a long-lived launcher: network namespaces made ahead by a worker
 * thread (`spares` of them, lo up), which steps with network "none" and no
 * user namespace enter instead of making their own (see netns_pool_new).
 * Returns -errno, err. */
int sandbox_context_start_netns_pool(struct sandbox_context *c, unsigned spares, char *err,
                                     size_t err_len);
/* What a pool of spares has done, for metrics. */
struct sandbox_spares {
        unsigned ready;          /* spares ready now */
        uint64_t made;           /* spares made */
        uint64_t taken;          /* launches that took one */
        uint64_t missed;         /* launches that found none ready and made their own */
        uint64_t failed;         /* the worker's makes (and, for cgroups, removals) that failed */
        uint64_t recycled;       /* network: namespaces handed back unused, spares again */
        uint64_t discarded;      /* network: namespaces handed back used (or with no room) */
};
/* The counters of the step-cgroup pool and of the network-namespace pool;
 * false (and zeros) when that pool does not run. */
bool sandbox_context_cgroup_spares(struct sandbox_context *c, struct sandbox_spares *ret);
bool sandbox_context_netns_spares(struct sandbox_context *c, struct sandbox_spares *ret);
/* A condition the caller should log (e.g. the launcher could not be
 * protected from the OOM killer), or NULL. */
const char *sandbox_context_warning(const struct sandbox_context *c);
/* "v1", "v2" or "hybrid" (v1 controllers, empty v2 hierarchy) */
const char *sandbox_context_cgroup_layout(const struct sandbox_context *c);

struct sandbox_io {
        int stdin_fd;          /* -1: /dev/null */
};

struct sandbox_step;

/* Prepare in the parent (cgroup, seccomp BPF, network) and start the step.
 * On failure returns -errno and a human detail in err; nothing is left behind. */
int sandbox_spawn(struct sandbox_context *c, const struct launch_spec *spec,
                  const struct sandbox_io *io, struct sandbox_step **ret, char *err,
                  size_t err_len);

int sandbox_step_pidfd(const struct sandbox_step *s);
int sandbox_step_sync_fd(const struct sandbox_step *s);
int sandbox_step_stdout_fd(const struct sandbox_step *s); /* non-blocking read end */
int sandbox_step_stderr_fd(const struct sandbox_step *s);
pid_t sandbox_step_pid(const struct sandbox_step *s);      /* the step's init, host pid */
/* Close our read end of the step's stdout or stderr (fd as returned above),
 * so that the step's writes fail with EPIPE/SIGPIPE, as when the reader of
 * a plain pipe goes away. */
void sandbox_step_close_output(struct sandbox_step *s, int fd);

/* Call when sync_fd is readable (one message per call; poll again).
 * sandbox_step_on_sync() and sandbox_step_reap() close the sync fd
 * themselves once the init is gone (EOF): an epoll caller removes it from
 * its set before calling them. Returns:
 *   SANDBOX_SYNC_NONE     nothing complete yet (spurious wakeup)
 *   SANDBOX_SYNC_STARTED  the payload has exec'd: the step is running
 *   SANDBOX_SYNC_FAILED   setup failed; the details will be in the result
 *   SANDBOX_SYNC_ENDED    the step has ended: every process of it is gone
 *                         but the init, which exits next (then the pidfd
 *                         fires). No process of the step can write to
 *                         its working folder any more (one outside it that
 *                         the step gave an fd still could, as after the
 *                         init's exit): a caller may remove the folder now,
 *                         while the init's exit runs on another CPU.
 *                         The cgroup's accounting is taken here.
 *   SANDBOX_SYNC_EOF      the init is gone (stop watching sync_fd)
 * or -errno (-EPROTO for a malformed message). */
enum {
        SANDBOX_SYNC_NONE,
        SANDBOX_SYNC_STARTED,
        SANDBOX_SYNC_FAILED,
        SANDBOX_SYNC_ENDED,
        SANDBOX_SYNC_EOF,
};
int sandbox_step_on_sync(struct sandbox_step *s);

int sandbox_step_terminate(struct sandbox_step *s);
int sandbox_step_kill(struct sandbox_step *s);

/* After SANDBOX_SYNC_ENDED: the step's result as its init reported it, with
 * the cgroup's accounting, without waiting for the init's own exit (its
 * mount namespace going, ~0.3 ms): a caller may report the end now.
 * -EAGAIN before ENDED. */
int sandbox_step_result(struct sandbox_step *s, struct step_result *ret);

/* Call when pidfd is readable: collects the init's report, the wait status
 * and the cgroup's accounting. Fills ret (reason exited, signaled, oom or
 * setup-failed; the same as sandbox_step_result() gave if ENDED came). The
 * cgroup and veth are removed by sandbox_step_free(), so a caller can report
 * first and clean up after; an init not reaped yet, sandbox_step_free()
 * kills and waits for. */
int sandbox_step_reap(struct sandbox_step *s, struct step_result *ret);
bool sandbox_step_reaped(const struct sandbox_step *s);
/* After SANDBOX_SYNC_ENDED, for a launcher that exits right after its step
 * (stepd exec): remove the step's cgroup and veth now rather than after the
 * init's exit, which still has its namespaces to tear down (~0.5 ms). Only
 * once the init has left the cgroup (v1: it does as soon as its payload
 * runs; on v2 it stays in): then returns 0, and the init, which has nothing
 * left to do but exit, is not waited for by sandbox_step_free(): whoever
 * inherits it reaps it. -EBUSY otherwise (also for a launcher with a cgroup
 * pool, which is long-lived and must reap): reap, then free. */
int sandbox_step_release_ended(struct sandbox_step *s);

struct sandbox_step *sandbox_step_free(struct sandbox_step *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sandbox_step *, sandbox_step_free);

/* Working folders: created and removed from a dirfd with openat-style calls
 * that never follow links a step planted. */
int workdir_create(int parent_dirfd, const char *name, uid_t uid, gid_t gid, mode_t mode);
int workdir_remove(int parent_dirfd, const char *name);
