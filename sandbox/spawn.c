/* SPDX-License-Identifier: MIT */
/*
 * The parent side of a launch (see child.c for the whole picture).
 *
 * sandbox_spawn():  validate the spec; prepare the seccomp BPF (compiled once
 *                   per profile) and the network config; on v2 make the
 *                   cgroup (with limits); make the sync socketpair and the
 *                   output pipes; clone3() the init into its namespaces (on
 *                   v2 straight into its cgroup); on v1 make the cgroup now,
 *                   while the init builds its root; write the user
 *                   namespace's id maps, create the veth; send "go", with
 *                   (v1) the cgroup's tasks fds for the init to move itself
 *                   in, and the launcher's for it to move out again.
 * sandbox_step_on_sync(): STARTED / SETUP_FAILED / ENDED messages.
 * sandbox_step_release_ended(): at ENDED, with the init out of the cgroup
 *                   (v1), remove the cgroup now; free then skips the wait.
 * sandbox_step_reap(): the init's wait status, its final message, the
 *                   cgroup's accounting; the cgroup goes in
 *                   sandbox_step_free().
 *
 * Every resource is held by the step object from the moment it exists, so
 * a failure at any point is undone by sandbox_step_free().
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/internal.h"
#include "sandbox/seccomp.h"
#include "sandbox/worker.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct sandbox_step {
        struct sandbox_plan plan;
        struct step_cgroup *cgroup;
        struct cgroup_pool *pool; /* the context's, borrowed: removes the cgroup */
        struct net_veth *veth;
        pid_t pid;
        int pidfd;
        int sync_fd;   /* parent's end */
        int stdout_fd; /* parent's read ends */
        int stderr_fd;
        uint64_t start_usec;
        uint64_t end_usec; /* when the init reported the end */
        bool started;
        bool have_failure;
        bool have_end;
        bool have_stats;
        bool reaped;
        bool released;  /* sandbox_step_release_ended(): the init exits unwaited */
        struct netns_pool *netns_home; /* where plan.netns_fd goes back once reaped */
        uid_t netns_owner;
        struct setup_report failure;
        struct sync_msg end;
        struct cgroup_stats stats;
};

/* The spare network namespace stays open here (sandbox_step_free). */
static void plan_close_child_fds(struct sandbox_plan *p)
{
        p->sync_fd = safe_close(p->sync_fd);
        p->stdout_fd = safe_close(p->stdout_fd);
        p->stderr_fd = safe_close(p->stderr_fd);
        p->stdin_fd = safe_close(p->stdin_fd);
}

struct sandbox_step *sandbox_step_free(struct sandbox_step *s)
{
        if (!s)
                return NULL;
        if (s->pidfd >= 0 && !s->reaped && !s->released) {
                siginfo_t si;
                syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
                waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED);
        }
        cgroup_pool_release(s->pool, s->cgroup);
        net_veth_free(s->veth);
        plan_close_child_fds(&s->plan);
        /* Reaped: every process of the step is gone (the init is pid 1 of
         * them all), so the namespace holds what they left, if anything. */
        if (s->reaped && s->netns_home)
                netns_pool_give(s->netns_home, TAKE_FD(s->plan.netns_fd), s->netns_owner);
        safe_close(s->plan.netns_fd);
        free(s->plan.source_fds);
        free(s->plan.go);
        safe_close(s->pidfd);
        safe_close(s->sync_fd);
        safe_close(s->stdout_fd);
        safe_close(s->stderr_fd);
        free(s);
        return NULL;
}

static struct sandbox_step *step_alloc(void)
{
        struct sandbox_step *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->pidfd = s->sync_fd = s->stdout_fd = s->stderr_fd = -1;
        s->plan.sync_fd = s->plan.stdin_fd = s->plan.stdout_fd = s->plan.stderr_fd = -1;
        s->plan.netns_fd = -1;
        s->plan.fail_step = -1;
        return s;
}

static const char *env_lookup(char *const *envp, const char *key)
{
        size_t n = strlen(key);

        for (; envp && *envp; envp++)
                if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
                        return *envp + n + 1;
        return NULL;
}

static int make_channels(struct sandbox_step *s, const struct sandbox_io *io)
{
        int sp[2], out[2], errp[2];

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        s->sync_fd = sp[0];
        s->plan.sync_fd = sp[1];
        if (pipe2(out, O_CLOEXEC) < 0)
                return -errno;
        s->stdout_fd = out[0];
        s->plan.stdout_fd = out[1];
        if (pipe2(errp, O_CLOEXEC) < 0)
                return -errno;
        s->stderr_fd = errp[0];
        s->plan.stderr_fd = errp[1];
        if (io && io->stdin_fd >= 0)
                s->plan.stdin_fd = fcntl(io->stdin_fd, F_DUPFD_CLOEXEC, 3);
        else
                s->plan.stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (s->plan.stdin_fd < 0)
                return -errno;
        if (fd_set_nonblock(s->stdout_fd, true) < 0 || fd_set_nonblock(s->stderr_fd, true) < 0 ||
            fd_set_nonblock(s->sync_fd, true) < 0)
                return -errno;
        return 0;
}

static void test_hook(struct sandbox_plan *p)
{
#if STEPD_TEST_HOOKS
        const char *f = getenv("STEPD_TEST_FAIL_STEP");

        if (f)
                p->fail_step = setup_step_from_string(f);
#endif
}

/* Everything the child will need, before it exists. */
static int prepare(struct sandbox_context *c, struct sandbox_step *s,
                   const struct launch_spec *spec, char *err, size_t err_len)
{
        int r;

        r = launch_spec_validate(spec, err, err_len);
        if (r < 0)
                return r;
        s->plan.spec = spec;
        s->plan.cap_last = sandbox_context_cap_last(c);
        s->plan.path_env = env_lookup(spec->envp, "PATH");
        /* In a user namespace the step is root without capabilities inside,
         * which is the spec's uid on the host (see write_id_maps). */
        s->plan.run_uid = spec->user_namespace ? 0 : spec->uid;
        s->plan.run_gid = spec->user_namespace ? 0 : spec->gid;
        s->plan.source_fds = malloc((spec->n_binds + 1) * sizeof(int));
        if (!s->plan.source_fds)
                return -ENOMEM;
        for (size_t i = 0; i <= spec->n_binds; i++)
                s->plan.source_fds[i] = -1;
        s->plan.go = calloc(1, sizeof(*s->plan.go));
        if (!s->plan.go)
                return -ENOMEM;
        s->plan.go->want_cgroup_fds = sandbox_context_layout(c) != CGROUP_LAYOUT_V2;
        test_hook(&s->plan);
        if (spec->seccomp) {
                r = seccomp_prepare(spec->seccomp, err, err_len);
                if (r < 0)
                        return r;
                s->plan.bpf = spec->seccomp->bpf;
                s->plan.bpf_len = spec->seccomp->bpf_len;
        }
        /* a spare network namespace, if one is ready: else the init makes one */
        if (spec->net == NET_NONE && !spec->user_namespace) {
                struct netns_pool *pool = sandbox_context_netns_pool(c);
                int fd = netns_pool_take(pool, spec->uid);

                s->plan.netns_fd = fd >= 0 ? fd : -1;
                if (fd >= 0 && spec->reuse_netns) {
                        s->netns_home = pool;
                        s->netns_owner = spec->uid;
                }
        }
        return net_prepare(spec, &s->plan.net, err, err_len);
}

static int make_cgroup(struct sandbox_context *c, struct sandbox_step *s, char *err,
                       size_t err_len)
{
        const struct launch_spec *spec = s->plan.spec;
        int r = sandbox_context_prepare_cgroups(c, err, err_len);

        if (r < 0)
                return r;
        s->pool = sandbox_context_pool(c);
        /* a spare with these limits, or (none, or its rename failed) a new one */
        if (s->pool && cgroup_pool_take(s->pool, spec->step_id, &spec->limits, &s->cgroup) == 0)
                return 0;
        return cgroup_step_create(sandbox_context_cgroups(c), spec->step_id, &spec->limits,
                                  &s->cgroup, err, err_len);
}

/* A launcher without a pool (`stepd exec`) makes the step's cgroup itself:
 * most of that is libcgroup's own start (cgroup_init, 0.6-0.9 ms:
 * faulting in its tables), which finds the hierarchies. On v1 that can
 * overlap the init's setup,
 * but only on another CPU: the new init takes the launcher's CPU as soon as
 * it exists, and (perf sched, this 2-CPU VM) the other one stayed idle
 * meanwhile. So a thread makes it, started on a CPU other than ours
 * (thread_start_elsewhere); the launcher joins it after the clone. The
 * thread may hold malloc's or libcgroup's locks at the clone: the init
 * takes none (child.c). */
struct cgroup_ahead {
        pthread_t thread;
        struct sandbox_context *c;
        struct sandbox_step *s;
        int r;
        char err[256];
};

static void *cgroup_ahead_run(void *arg)
{
        struct cgroup_ahead *a = arg;

        a->r = make_cgroup(a->c, a->s, a->err, sizeof(a->err));
        return NULL;
}

/* cgfd: v2, the cgroup to clone straight into; -1: none */
static int do_clone(struct sandbox_step *s, int cgfd)
{
        const struct launch_spec *spec = s->plan.spec;
        struct clone_args args = {
                .flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS,
                .pidfd = (uint64_t)(uintptr_t)&s->pidfd,
                .exit_signal = SIGCHLD,
        };
        struct sandbox_plan *frozen;
        size_t frozen_size = 0;
        long pid;
        int err;

        /* A bridge's veth goes into the namespace right after the clone;
         * "none" leaves entering a spare, or making one (~1 ms of kernel
         * work), to the init, off the launcher's thread (see child.c:
         * netns_apply). */
        if (spec->net == NET_BRIDGE)
                args.flags |= CLONE_NEWNET;
        if (spec->user_namespace)
                args.flags |= CLONE_NEWUSER;
        if (cgfd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t)cgfd;
        }
        /* The init gets the frozen plan and no heap (see plan.c). */
        frozen = plan_freeze(&s->plan, &frozen_size);
        if (!frozen)
                return -errno;
        (void)plan_heap_exclude(true);
        pid = syscall(SYS_clone3, &args, sizeof(args));
        err = errno;
        if (pid == 0)
                sandbox_child(frozen);
        (void)plan_heap_exclude(false);
        plan_thaw(frozen, frozen_size);
        if (pid < 0)
                return -err;
        s->pid = (pid_t)pid;
        return 0;
}

static int write_id_maps(struct sandbox_step *s, char *err, size_t err_len)
{
        const struct launch_spec *spec = s->plan.spec;
        char path[64], line[64];
        int r;

        /* One id each: 0 inside is the spec's uid/gid outside, so the init
         * can build the mounts as the namespace's owner, and files keep the
         * project's owner on the host. No other id exists inside. */
        snprintf(path, sizeof(path), "/proc/%d/uid_map", s->pid);
        snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)spec->uid);
        r = write_string_file(path, line);
        if (r >= 0) {
                snprintf(path, sizeof(path), "/proc/%d/gid_map", s->pid);
                snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)spec->gid);
                r = write_string_file(path, line);
        }
        if (r < 0)
                snprintf(err, err_len, "cannot write %s: %s", path, strerror(-r));
        return r;
}

/* "go", with fds for the init to take: v1, the step's tasks files (n_join)
 * and, after them, the launcher's own. */
static int send_go(int fd, const int *fds, size_t n, size_t n_join)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * GO_FDS_MAX)];
        } u;
        unsigned char go[2] = { 'G', (unsigned char)n_join };
        struct iovec iov = { .iov_base = go, .iov_len = sizeof(go) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n > GO_FDS_MAX || n_join > n)
                return -E2BIG;
        if (n > 0) {
                struct cmsghdr *cm;

                memset(&u, 0, sizeof(u));
                mh.msg_control = u.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
        }
        return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(go) ? 0 : negative_errno();
}

static int sync_read_one(struct sandbox_step *s);

/* Between clone and "go": what only the parent can do to the child. */
static int attach(struct sandbox_step *s, char *err, size_t err_len)
{
        const struct launch_spec *spec = s->plan.spec;
        int fds[GO_FDS_MAX];
        size_t n_fds = 0, n_join = 0;
        int r;

        if (spec->user_namespace) {
                r = write_id_maps(s, err, err_len);
                if (r < 0)
                        return r;
        }
        if (spec->net == NET_BRIDGE) {
                r = net_veth_setup(spec, s->pid, &s->veth, err, err_len);
                if (r < 0)
                        return r;
        }
        /* v2: cloned into it; v1: the init moves itself (cgroup_apply) */
        if (cgroup_step_clone_fd(s->cgroup) < 0) {
                r = cgroup_step_self_attach_fds(s->cgroup, fds, ARRAY_SIZE(fds) / 2);
                if (r < 0) {
                        snprintf(err, err_len, "cannot open the step's cgroup: %s", strerror(-r));
                        return r;
                }
                n_fds = n_join = (size_t)r;
                /* and out again once the payload runs; without these
                 * (the launcher's cgroup is gone?) it stays in, and its
                 * end is waited for */
                r = cgroup_step_self_leave_fds(s->cgroup, fds + n_join, n_join);
                if (r == (int)n_join)
                        n_fds += n_join;
        }
        r = send_go(s->sync_fd, fds, n_fds, n_join);
        for (size_t i = 0; i < n_fds; i++)
                safe_close(fds[i]);
        /* EPIPE, ECONNRESET: the child already failed (its report waits on
         * the socket) or died: the sync fd and the pidfd tell which. */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
                snprintf(err, err_len, "cannot start the step: %s", strerror(-r));
                return r;
        }
        return 0;
}

/* The step's pipes and its init. */
static int start_init(struct sandbox_step *s, const struct sandbox_io *io, int cgfd, char *err,
                      size_t err_len)
{
        int r = make_channels(s, io);

        if (r < 0) {
                snprintf(err, err_len, "cannot create the step's pipes: %s", strerror(-r));
                return r;
        }
        s->start_usec = now_monotonic_usec();
        r = do_clone(s, cgfd);
        if (r < 0) {
                snprintf(err, err_len, "clone3: %s", strerror(-r));
                return r;
        }
        plan_close_child_fds(&s->plan);
        if (!s->netns_home) /* not to be handed back: the init has its own */
                s->plan.netns_fd = safe_close(s->plan.netns_fd);
        return 0;
}

int sandbox_spawn(struct sandbox_context *c, const struct launch_spec *spec,
                  const struct sandbox_io *io, struct sandbox_step **ret, char *err,
                  size_t err_len)
{
        _cleanup_(sandbox_step_freep) struct sandbox_step *s = step_alloc();
        struct cgroup_ahead ahead = { .c = c };
        bool early_cgroup, ahead_running = false;
        int r;

        if (!s)
                return -ENOMEM;
        err[0] = 0;
        r = prepare(c, s, spec, err, err_len);
        if (r < 0)
                return r;
        /* v2: the cgroup first, to clone straight into it. v1: the init
         * moves itself in on "go", so the cgroup is made while the init
         * builds its file system: taken from the pool, or made by a thread
         * meanwhile (cgroup_ahead), or (no thread) after the clone. */
        early_cgroup = sandbox_context_layout(c) == CGROUP_LAYOUT_V2;
        if (early_cgroup) {
                r = make_cgroup(c, s, err, err_len);
                if (r < 0)
                        return r;
        } else if (!sandbox_context_pool(c)) {
                ahead.s = s;
                ahead_running =
                        thread_start_elsewhere(&ahead.thread, cgroup_ahead_run, &ahead) == 0;
        }
        r = start_init(s, io, early_cgroup ? cgroup_step_clone_fd(s->cgroup) : -1, err, err_len);
        if (ahead_running) {
                pthread_join(ahead.thread, NULL);
                if (r >= 0 && ahead.r < 0) {
                        snprintf(err, err_len, "%s", ahead.err);
                        r = ahead.r;
                }
        } else if (r >= 0 && !early_cgroup) {
                r = make_cgroup(c, s, err, err_len);
        }
        if (r < 0)
                return r; /* the guard kills a waiting init and removes the cgroup */
        r = attach(s, err, err_len);
        /* An init that failed before "go" (its sources, its mounts) took its
         * network namespace with it, so a bridge's veth fails too: its own
         * report is the precise one, and the pidfd and sync fd deliver it. */
        if (r < 0 && sync_read_one(s) == SANDBOX_SYNC_FAILED) {
                err[0] = 0;
                r = 0;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int sandbox_step_pidfd(const struct sandbox_step *s)
{
        return s->pidfd;
}

int sandbox_step_sync_fd(const struct sandbox_step *s)
{
        return s->sync_fd;
}

int sandbox_step_stdout_fd(const struct sandbox_step *s)
{
        return s->stdout_fd;
}

int sandbox_step_stderr_fd(const struct sandbox_step *s)
{
        return s->stderr_fd;
}

pid_t sandbox_step_pid(const struct sandbox_step *s)
{
        return s->pid;
}

void sandbox_step_close_output(struct sandbox_step *s, int fd)
{
        if (fd >= 0 && fd == s->stdout_fd)
                s->stdout_fd = safe_close(s->stdout_fd);
        else if (fd >= 0 && fd == s->stderr_fd)
                s->stderr_fd = safe_close(s->stderr_fd);
}

/* Read one message; SANDBOX_SYNC_* or -errno. */
static int sync_read_one(struct sandbox_step *s)
{
        struct sync_msg m;
        ssize_t n;

        if (s->sync_fd < 0)
                return SANDBOX_SYNC_EOF;
        n = recv(s->sync_fd, &m, sizeof(m), MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? SANDBOX_SYNC_NONE : -errno;
        if (n == 0) {
                s->sync_fd = safe_close(s->sync_fd);
                return SANDBOX_SYNC_EOF;
        }
        if (n != (ssize_t)sizeof(m))
                return -EPROTO;
        switch (m.type) {
        case SYNC_MSG_STARTED:
                s->started = true;
                return SANDBOX_SYNC_STARTED;
        case SYNC_MSG_SETUP_FAILED:
                if (m.report.step >= _STEP_MAX)
                        return -EPROTO;
                m.report.what[sizeof(m.report.what) - 1] = 0;
                s->failure = m.report;
                s->have_failure = true;
                return SANDBOX_SYNC_FAILED;
        case SYNC_MSG_ENDED:
                s->end = m;
                s->have_end = true;
                s->end_usec = now_monotonic_usec();
                return SANDBOX_SYNC_ENDED;
        default:
                return -EPROTO;
        }
}

/* The cgroup's accounting, once the step has ended: when the init reports
 * the end (every process of the step gone), or at reaping if it never did.
 * What the init spends on its own exit after its report is not the step's. */
static void take_stats(struct sandbox_step *s)
{
        if (s->have_stats)
                return;
        s->have_stats = cgroup_step_stats(s->cgroup, &s->stats) >= 0;
}

int sandbox_step_on_sync(struct sandbox_step *s)
{
        int r = sync_read_one(s);

        if (r == SANDBOX_SYNC_ENDED)
                take_stats(s);
        return r;
}

int sandbox_step_terminate(struct sandbox_step *s)
{
        if (s->reaped)
                return 0;
        if (syscall(SYS_pidfd_send_signal, s->pidfd, SIGTERM, NULL, 0) < 0)
                return errno == ESRCH ? 0 : -errno;
        return 0;
}

int sandbox_step_kill(struct sandbox_step *s)
{
        if (s->reaped)
                return 0;
        if (syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0) < 0)
                return errno == ESRCH ? 0 : -errno;
        return 0;
}

static void result_from_status(struct step_result *r, int status)
{
        if (WIFEXITED(status)) {
                r->reason = STEP_REASON_EXITED;
                r->exit_code = WEXITSTATUS(status);
        } else {
                r->reason = STEP_REASON_SIGNALED;
                r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
        }
}

static void result_compose(struct sandbox_step *s, const siginfo_t *si, struct step_result *r)
{
        *r = (struct step_result){ .exit_code = -1 };
        if (s->have_failure) {
                r->reason = STEP_REASON_SETUP_FAILED;
                snprintf(r->setup_step, sizeof(r->setup_step), "%s",
                         setup_step_to_string(s->failure.step));
                r->setup_errno = s->failure.err;
                snprintf(r->message, sizeof(r->message), "%s: %s%s%s",
                         setup_step_to_string(s->failure.step), strerror(s->failure.err),
                         s->failure.what[0] ? ": " : "", s->failure.what);
        } else if (s->have_end) {
                result_from_status(r, s->end.wait_status);
                r->processes_killed = s->end.killed;
        } else {
                /* The init itself died without a word (killed from outside). */
                r->reason = STEP_REASON_SIGNALED;
                r->signal = si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED
                                    ? si->si_status
                                    : SIGKILL;
                snprintf(r->message, sizeof(r->message), "the step's init ended early");
        }
}

/* The result: what the init reported, or (it died without a word) its wait
 * status si; with the cgroup's accounting. */
static void result_finish(struct sandbox_step *s, const siginfo_t *si, struct step_result *ret)
{
        result_compose(s, si, ret);
        ret->wall_usec = (s->end_usec ? s->end_usec : now_monotonic_usec()) - s->start_usec;
        take_stats(s);
        if (s->have_stats) {
                ret->cpu_user_usec = s->stats.cpu_user_usec;
                ret->cpu_system_usec = s->stats.cpu_system_usec;
                ret->memory_peak_bytes = s->stats.memory_peak_bytes;
                ret->oom_kills = s->stats.oom_kills;
        }
        if (ret->oom_kills > 0 &&
            (ret->reason == STEP_REASON_SIGNALED ||
             (ret->reason == STEP_REASON_EXITED && ret->exit_code != 0)))
                ret->reason = STEP_REASON_OOM;
}

int sandbox_step_result(struct sandbox_step *s, struct step_result *ret)
{
        if (!s->have_end)
                return -EAGAIN;
        result_finish(s, NULL, ret);
        return 0;
}

int sandbox_step_release_ended(struct sandbox_step *s)
{
        /* A pool means a long-lived launcher: it must reap, not leave a
         * zombie behind for its whole life. */
        if (!s->have_end || !s->end.outside || s->pool)
                return -EBUSY;
        if (!s->released) {
                /* After its report it only exits: nothing to kill. */
                s->released = true;
                cgroup_pool_release(s->pool, s->cgroup);
                s->cgroup = NULL;
                s->veth = net_veth_free(s->veth);
        }
        return 0;
}

bool sandbox_step_reaped(const struct sandbox_step *s)
{
        return s->reaped;
}

int sandbox_step_reap(struct sandbox_step *s, struct step_result *ret)
{
        siginfo_t si = { 0 };

        if (waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) < 0)
                return -errno;
        if (si.si_pid == 0)
                return -EAGAIN; /* not yet */
        s->reaped = true;
        /* The init sent its last message before it exited: collect it. */
        while (s->sync_fd >= 0 && sync_read_one(s) > SANDBOX_SYNC_NONE)
                ; /* STARTED, FAILED, ENDED: keep reading; NONE, EOF or error: done */
        result_finish(s, &si, ret);
        /* The cgroup (empty: the pid namespace died with the init) and the
         * veth go in sandbox_step_free(), after the caller has reported. */
        return 0;
}
