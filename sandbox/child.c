/* SPDX-License-Identifier: MIT */
/*
 * The child side of a launch. How this works:
 *
 * Processes:
 *   parent   the launcher (stepd exec, or the supervisor). Holds the pidfd of
 *            the init, the read ends of stdout/stderr, its end of the sync
 *            socket.
 *   init     born by clone3() into new pid, mount, ipc, uts (and optionally
 *            user; for a bridge, network) namespaces: pid 1 of the step.
 *            Enters a spare network namespace the launcher made ahead, or
 *            makes its own (network "none"), builds its
 *            file system while the parent makes the cgroup (in a user
 *            namespace it first waits for "go": its id maps), waits for the
 *            parent's "go" (cgroup made, id maps and veth done), moves itself
 *            into the cgroup, brings up the network. Then it becomes the
 *            step: non-dumpable (it holds a copy of the launcher's static
 *            data and its own stack, though not its heap: plan.c),
 *            the step's oom score and rlimits, every capability dropped, the
 *            step's ids, no_new_privs; only then starts the payload, and
 *            reaps everything. (On v1 without a user namespace, the kernel
 *            memory of what it made before the move, its network namespace
 *            and a few KiB of mounts, stays charged to the launcher's
 *            cgroup; nothing of the step runs before the move.)
 *   payload  the step's own process, with no privilege from its start:
 *            stdio, session, cwd, fds, seccomp (last), execve(). Started
 *            with CLONE_VM|CLONE_VFORK on a stack of its own, as posix_spawn
 *            does: no copy of the init's memory is made only to be thrown
 *            away at exec. The init sleeps until the payload has exec'd or
 *            failed; a failure is left in their shared memory (struct
 *            payload_start).
 *
 * Pipes and sockets:
 *   sync     SOCK_SEQPACKET socketpair parent <-> init. Parent → init:
 *            "go" (two bytes: 'G' and how many fds are for joining), with
 *            (v1) the step cgroup's `tasks` fds, to join before the
 *            payload, and the launcher's own, to leave once it runs.
 *            Init → parent: STARTED, SETUP_FAILED (report), ENDED (the
 *            payload's wait status, how many processes were left, whether
 *            the init is out of the cgroup). EOF: the init is gone.
 *   stdout, stderr: pipes to the parent; stdin: /dev/null or the caller's fd.
 *
 * Signals: the init blocks the signals it passes on and waits with
 * sigtimedwait(). A
 * signal from outside the namespace (si_pid 0: the parent's pidfd) that is
 * SIGTERM begins teardown: SIGTERM to every process, the grace period, then
 * SIGKILL. Other signals are passed on to the payload. When the payload ends,
 * teardown runs the same way, so no process outlives its step. The parent's
 * backstop is SIGKILL to the init, which makes the kernel kill the whole pid
 * namespace.
 *
 * After clone there is no allocation, stdio or syslog here: everything was
 * prepared in the parent (struct sandbox_plan), and the init reads only its
 * frozen copy (plan.c): the launcher's malloc heap (brk) is not in the
 * init's memory at all, so a pointer into it crashes the init. This is also what makes the
 * clone safe in a launcher with threads (the daemon's cgroup worker): only
 * the cloning thread is copied, and a lock another thread held at that
 * moment (malloc's, stdio's, libcgroup's) stays held in the copy forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/internal.h"
#include "sandbox/seccomp.h"

static const char *const step_names[_STEP_MAX] = {
        [STEP_CGROUP] = "cgroup",       [STEP_WAIT_GO] = "wait-go",
        [STEP_SOURCES] = "sources",
        [STEP_USERNS] = "user-namespace",
        [STEP_CGROUP_NS] = "cgroup-namespace",
        [STEP_NETNS] = "network-namespace",
        [STEP_HOSTNAME] = "hostname",   [STEP_MOUNTS] = "mounts",
        [STEP_NET] = "network",         [STEP_FORK] = "fork",
        [STEP_STDIO] = "stdio",         [STEP_SESSION] = "session",
        [STEP_OOM_SCORE] = "oom-score", [STEP_RLIMITS] = "rlimits",
        [STEP_CWD] = "cwd",             [STEP_CAPS] = "capabilities",
        [STEP_IDS] = "identity",        [STEP_NNP] = "no-new-privs",
        [STEP_FDS] = "close-fds",       [STEP_SECCOMP] = "seccomp",
        [STEP_EXEC] = "exec",
};

const char *setup_step_to_string(enum setup_step s)
{
        return (unsigned)s < _STEP_MAX ? step_names[s] : "unknown";
}

int setup_step_from_string(const char *s)
{
        for (int i = 0; i < _STEP_MAX; i++)
                if (s && strcmp(s, step_names[i]) == 0)
                        return i;
        return -EINVAL;
}

typedef int (*setup_fn)(const struct sandbox_plan *p, char *what, size_t what_len);

struct setup_entry {
        enum setup_step id;
        setup_fn apply;
};

static void sync_send(int fd, const struct sync_msg *m)
{
        ssize_t n;

        do
                n = send(fd, m, sizeof(*m), MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
}

static _noreturn_ void init_fail(const struct sandbox_plan *p, struct setup_report *rep)
{
        struct sync_msg m = { .type = SYNC_MSG_SETUP_FAILED, .report = *rep };

        sync_send(p->sync_fd, &m);
        _exit(EXIT_SETUP);
}

static int run_step(const struct sandbox_plan *p, enum setup_step id, setup_fn fn,
                    struct setup_report *rep);

/* The init's steps in order; the first failure is reported and ends it. */
static void init_run(const struct sandbox_plan *p, const struct setup_entry *steps, size_t n)
{
        struct setup_report rep = { 0 };

        for (size_t i = 0; i < n; i++)
                if (run_step(p, steps[i].id, steps[i].apply, &rep) < 0)
                        init_fail(p, &rep);
}

/* Run one setup step, with the test hook; fill rep on failure. */
static int run_step(const struct sandbox_plan *p, enum setup_step id, setup_fn fn,
                    struct setup_report *rep)
{
        int r;

        rep->what[0] = 0;
        /* The test hook fails a step before it runs; wait-go after it, so
         * that the parent's "go" still arrives and the failure is reported
         * from where a real one would be. */
        if (p->fail_step == (int)id && id != STEP_WAIT_GO) {
                r = -ECANCELED;
        } else {
                r = fn ? fn(p, rep->what, sizeof(rep->what)) : 0;
                if (r >= 0 && p->fail_step == (int)id)
                        r = -ECANCELED;
        }
        if (r == -ECANCELED && p->fail_step == (int)id)
                snprintf(rep->what, sizeof(rep->what), "STEPD_TEST_FAIL_STEP");
        if (r < 0) {
                rep->step = id;
                rep->err = -r;
        }
        return r;
}

/* ---- init-side setup steps ---- */

static int go_wait(const struct sandbox_plan *p, char *what, size_t what_len)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * GO_FDS_MAX)];
        } u;
        unsigned char go[2] = { 0 };
        struct iovec iov = { .iov_base = go, .iov_len = sizeof(go) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf) };
        ssize_t n;

        do
                n = recvmsg(p->sync_fd, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        /* The kernel closed what did not fit (MSG_CTRUNC): so do we, below. */
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < k; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (p->go->n < GO_FDS_MAX)
                                p->go->fd[p->go->n++] = fd;
                        else
                                close(fd);
                }
        }
        if (n == 0 || go[0] != 'G') {
                snprintf(what, what_len, "parent went away");
                return -ECONNABORTED;
        }
        if ((mh.msg_flags & MSG_CTRUNC) || n != sizeof(go) || go[1] > p->go->n ||
            (p->go->n > go[1] && p->go->n != 2 * (size_t)go[1])) {
                snprintf(what, what_len, "bad fds with \"go\"");
                return -EPROTO;
        }
        p->go->n_join = go[1];
        /* v1: never run outside the step's cgroup, whatever the parent sent */
        if (p->go->want_cgroup_fds && p->go->n_join == 0) {
                snprintf(what, what_len, "no cgroup with \"go\"");
                return -EPROTO;
        }
        return 0;
}

/* v1: move ourselves into the step's cgroup in every hierarchy. A thread
 * moving itself skips the kernel's global threadgroup lock; the parent
 * moving our pid would wait for an RCU grace period (~10 ms). (v2: we were
 * cloned into it.) */
static int cgroup_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        int r = 0;

        for (size_t i = 0; i < p->go->n_join; i++) {
                if (r == 0 && write(p->go->fd[i], "0", 1) != 1) {
                        snprintf(what, what_len, "hierarchy %zu", i);
                        r = -errno;
                }
                close(p->go->fd[i]);
        }
        return r;
}

/* v1, once the payload runs (its children are born into the step's cgroup
 * from it): move back to the launcher's cgroup, the same cheap way. Then
 * the step's cgroup is empty as soon as the step has ended, and the
 * launcher need not wait for our exit (our namespaces' teardown) to remove
 * it. Best effort: still inside, we are simply killed and waited for.
 * Returns whether we are out in every hierarchy. */
static bool cgroup_leave(const struct sandbox_plan *p)
{
        bool out = p->go->n > p->go->n_join;

        for (size_t i = p->go->n_join; i < p->go->n; i++) {
                if (write(p->go->fd[i], "0", 1) != 1)
                        out = false;
                close(p->go->fd[i]);
        }
        p->go->n = p->go->n_join = 0;
        return out;
}

/* Open what will be bound while we are still the host's root: in a user
 * namespace the init's ids become the step's, which may not traverse the
 * state folder (0700) to reach them. */
static int sources_open(const struct sandbox_plan *p, char *what, size_t what_len)
{
        const struct launch_spec *s = p->spec;

        for (size_t i = 0; i <= s->n_binds; i++) {
                const char *path = i == 0 ? s->workdir : s->binds[i - 1].source;

                p->source_fds[i] = open(path, O_PATH | O_CLOEXEC);
                if (p->source_fds[i] < 0) {
                        snprintf(what, what_len, "%s", path);
                        return -errno;
                }
        }
        return 0;
}

/* In a user namespace the init starts as an unmapped id (the host's root):
 * become the namespace's root, which the parent mapped to the step's ids,
 * keeping every capability inside the namespace for the setup to come. */
static int userns_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        if (!p->spec->user_namespace)
                return 0;
        return sys_set_ids(0, 0, false); /* groups: as before the namespace, for the mounts */
}

static int cgroupns_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        /* After we moved into our cgroup (or were cloned into it), so the
         * namespace's root is our own cgroup. */
        return unshare(CLONE_NEWCGROUP) < 0 ? -errno : 0;
}

/* Network "none": a namespace of our own with only lo, up. A daemon hands
 * us a spare its worker made ahead (net.h: netns_pool), given to no other
 * step; its kernel memory stays charged to the launcher's cgroup, which
 * made it. Otherwise it is made here rather than by the launcher's clone,
 * so that its cost (~1 ms of kernel work) is ours, not the launcher's. On
 * v1 without a user namespace it is made while the launcher makes the
 * cgroup, so, like the early mounts, its kernel memory is charged to the
 * launcher's cgroup too; on v2 we were cloned into the step's. (A bridge's
 * namespace comes with the clone: the launcher moves the veth into it.) */
static int netns_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        int r;

        if (p->spec->net != NET_NONE)
                return 0;
        /* lo up at once, off the path from "go" to the payload (net_step
         * has nothing left to do for "none") */
        if (p->netns_fd < 0)
                return unshare(CLONE_NEWNET) < 0 ? -errno : net_apply(&p->net, what, what_len);
        /* a spare, made ahead by the launcher's worker (net.h: netns_pool) */
        snprintf(what, what_len, "spare namespace");
        r = setns(p->netns_fd, CLONE_NEWNET) < 0 ? -errno : 0;
        close(p->netns_fd);
        return r;
}

static int hostname_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        const char *h = p->spec->hostname;

        snprintf(what, what_len, "%s", h);
        return sethostname(h, strlen(h)) < 0 ? -errno : 0;
}

/* "none": done with the namespace (netns_apply; a spare comes with lo up). */
static int net_step(const struct sandbox_plan *p, char *what, size_t what_len)
{
        if (p->spec->net == NET_NONE)
                return 0;
        return net_apply(&p->net, what, what_len);
}

/* ---- payload-side setup steps ---- */

static int stdio_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        const int from[3] = { p->stdin_fd, p->stdout_fd, p->stderr_fd };

        for (int i = 0; i < 3; i++) {
                snprintf(what, what_len, "fd %d", i);
                if (from[i] == i) {
                        int fl = fcntl(i, F_GETFD);
                        if (fl < 0 || fcntl(i, F_SETFD, fl & ~FD_CLOEXEC) < 0)
                                return -errno;
                } else if (dup2(from[i], i) < 0)
                        return -errno;
        }
        return 0;
}

static int session_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        /* Own session, no controlling terminal: TIOCSTI has nothing to inject into. */
        return setsid() < 0 ? -errno : 0;
}

static int oom_score_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        /* The launcher runs at -1000; while we still hold CAP_SYS_RESOURCE,
         * writing 0 also raises the floor, so the step cannot go back down.
         * The init and the payload, which inherits it, are both the step's.
         * Nothing to do when the launcher could not lower itself. */
        char cur[16] = "";
        int fd, r = 0;
        ssize_t n;

        snprintf(what, what_len, "/proc/self/oom_score_adj");
        fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, cur, sizeof(cur) - 1);
        close(fd);
        if (n <= 0 || strncmp(cur, "0\n", 2) == 0)
                return n < 0 ? -errno : 0;
        fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, "0", 1) != 1)
                r = -errno;
        close(fd);
        return r;
}

static int cwd_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        snprintf(what, what_len, "%s", p->spec->workdir_target);
        return chdir(p->spec->workdir_target) < 0 ? -errno : 0;
}

static int fds_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        /* Only 0, 1, 2 survive exec. */
        if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                return -errno;
        return 0;
}

static int seccomp_step(const struct sandbox_plan *p, char *what, size_t what_len)
{
        if (!p->bpf)
                return 0;
        return seccomp_apply(p->bpf, p->bpf_len);
}

/* execvpe() searches the launcher's PATH, not the step's: search ourselves. */
static int exec_payload(const struct sandbox_plan *p, char *what, size_t what_len)
{
        char *const *argv = p->spec->argv;
        const char *path = p->path_env ? p->path_env : "/usr/local/bin:/usr/bin:/bin";
        char buf[4096];
        int err = ENOENT;

        snprintf(what, what_len, "%s", argv[0]);
        if (strchr(argv[0], '/')) {
                execve(argv[0], argv, p->spec->envp);
                return -errno;
        }
        while (*path) {
                const char *end = strchrnul(path, ':');
                size_t n = (size_t)(end - path);

                if (n > 0 && n + strlen(argv[0]) + 2 < sizeof(buf)) {
                        memcpy(buf, path, n);
                        buf[n] = '/';
                        strcpy(buf + n + 1, argv[0]);
                        execve(buf, argv, p->spec->envp);
                        if (errno != ENOENT && errno != ENOTDIR)
                                err = errno;
                }
                path = *end ? end + 1 : end;
        }
        return -err;
}

/* The payload holds no privilege: the init gave them up before it. */
static const struct setup_entry payload_steps[] = {
        { STEP_STDIO, stdio_apply },     { STEP_SESSION, session_apply },
        { STEP_CWD, cwd_apply },         { STEP_FDS, fds_apply },
        { STEP_SECCOMP, seccomp_step }, /* last */
        { STEP_EXEC, exec_payload },
};

/* Shared by the init and its payload until the payload execs. */
struct payload_start {
        const struct sandbox_plan *plan;
        struct setup_report report;
        volatile int failed;
};

/* The payload, on its own stack in the init's memory (CLONE_VM|CLONE_VFORK,
 * as posix_spawn does): no copy of the init's memory to make and then throw
 * away at exec. The init sleeps until we exec or exit, with every signal
 * blocked. What runs here shares the init's memory: system calls and
 * lock-free libc only (no malloc, stdio, exit, raise or abort); a failure
 * is left in *ps for the init. */
static int payload_run(void *arg)
{
        struct payload_start *ps = arg;
        const struct sandbox_plan *p = ps->plan;
        struct setup_report rep = { 0 };
        sigset_t none;

        /* Signals: default dispositions and an empty mask for the step. */
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);

        for (size_t i = 0; i < ARRAY_SIZE(payload_steps); i++)
                if (run_step(p, payload_steps[i].id, payload_steps[i].apply, &rep) < 0)
                        break;
        /* Only reached on failure: exec did not happen. */
        ps->report = rep;
        ps->failed = 1;
        _exit(EXIT_SETUP);
}

#define PAYLOAD_STACK (256 * 1024)

/* Start the payload; when this returns it has exec'd or failed (ps). */
static pid_t payload_start(struct payload_start *ps)
{
        void *stack = mmap(NULL, PAYLOAD_STACK, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
        sigset_t all, old;
        pid_t pid;
        int err;

        if (stack == MAP_FAILED)
                return -1;
        /* No handler of ours may run in the payload on shared memory before
         * it has reset them: it starts with every signal blocked. */
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, &old);
        pid = clone(payload_run, (char *)stack + PAYLOAD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD,
                    ps);
        err = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        munmap(stack, PAYLOAD_STACK);
        errno = err;
        return pid;
}

/* ---- the init ---- */

static void noop_handler(int sig)
{
}

static const int forwarded_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                                         SIGCHLD, SIGALRM, SIGWINCH, SIGCONT };

static void init_signals(sigset_t *ret_set)
{
        struct sigaction sa = { .sa_handler = noop_handler };

        /* pid 1 only receives signals it has a handler for; we take them
         * with sigtimedwait(), so the handler never runs. */
        sigemptyset(ret_set);
        for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++) {
                sigaction(forwarded_signals[i], &sa, NULL);
                sigaddset(ret_set, forwarded_signals[i]);
        }
        sigprocmask(SIG_BLOCK, ret_set, NULL);
}

/* Reap what has exited; note the payload's status. Returns how many others. */
static unsigned reap_some(pid_t payload, int *payload_status, bool *payload_done, int flags,
                          bool *ret_none_left)
{
        unsigned n = 0;

        *ret_none_left = false;
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, flags);

                if (pid < 0 && errno == EINTR)
                        continue;
                if (pid < 0) {
                        *ret_none_left = (errno == ECHILD);
                        return n;
                }
                if (pid == 0)
                        return n;
                if (pid == payload) {
                        *payload_status = status;
                        *payload_done = true;
                } else
                        n++;
        }
}

static uint64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* SIGTERM to everything but us, a grace period, then SIGKILL; reap all.
 * Returns how many processes other than the payload had to go. */
static unsigned teardown(const struct sandbox_plan *p, const sigset_t *set, pid_t payload,
                         int *payload_status, bool *payload_done)
{
        uint64_t deadline = mono_ms() + p->spec->kill_grace_ms;
        unsigned killed = 0;
        bool none_left;

        if (kill(-1, SIGTERM) < 0 && errno == ESRCH && *payload_done)
                return 0;
        for (;;) {
                uint64_t now = mono_ms();
                struct timespec ts;

                killed += reap_some(payload, payload_status, payload_done, WNOHANG, &none_left);
                if (none_left || now >= deadline)
                        break;
                ts.tv_sec = (time_t)((deadline - now) / 1000);
                ts.tv_nsec = (long)((deadline - now) % 1000) * 1000000L;
                sigtimedwait(set, NULL, &ts);
        }
        if (!none_left) {
                kill(-1, SIGKILL);
                killed += reap_some(payload, payload_status, payload_done, 0, &none_left);
        }
        return killed;
}

/* Tell the launcher how the payload's start went. */
static void report_start(const struct sandbox_plan *p, const struct payload_start *ps)
{
        struct sync_msg m = { .type = SYNC_MSG_STARTED };

        if (ps->failed) {
                m.type = SYNC_MSG_SETUP_FAILED;
                m.report = ps->report;
        }
        sync_send(p->sync_fd, &m);
}

static _noreturn_ void init_loop(const struct sandbox_plan *p, const sigset_t *set,
                                 pid_t payload, bool outside)
{
        struct sync_msg end = { .type = SYNC_MSG_ENDED, .outside = outside };
        int status = 0;
        bool done = false, none_left;

        while (!done) {
                siginfo_t si;
                int sig = sigwaitinfo(set, &si);

                if (sig < 0)
                        continue;
                if (sig == SIGCHLD) {
                        reap_some(payload, &status, &done, WNOHANG, &none_left);
                        continue;
                }
                if (sig == SIGTERM && si.si_pid == 0 && si.si_code == SI_USER) {
                        /* From outside our namespace (kill/pidfd_send_signal, not a
                         * forged sigqueue): the launcher ends the step. */
                        end.terminated = 1;
                        break;
                }
                kill(payload, sig);
        }
        end.killed = teardown(p, set, payload, &status, &done);
        end.wait_status = status;
        sync_send(p->sync_fd, &end);
        /* The launcher, just woken, often shares our CPU: let it handle the
         * end before our exit (namespaces, memory) holds it ~0.15 ms. */
        sched_yield();
        _exit(0);
}

/* Without a user namespace the init builds its file system while the
 * parent makes the cgroup (about as long), then waits for "go". In one, it
 * waits for "go" first: nothing works before its id maps are written. */
static const struct setup_entry init_steps[] = {
        { STEP_SOURCES, sources_open },    { STEP_HOSTNAME, hostname_apply },
        { STEP_NETNS, netns_apply },
        { STEP_MOUNTS, mount_apply },      { STEP_WAIT_GO, go_wait },
        { STEP_CGROUP, cgroup_apply },     { STEP_USERNS, userns_apply }, /* no-op here */
        { STEP_CGROUP_NS, cgroupns_apply }, { STEP_NET, net_step },
};

static const struct setup_entry init_steps_userns[] = {
        { STEP_WAIT_GO, go_wait },         { STEP_CGROUP, cgroup_apply },
        { STEP_SOURCES, sources_open },    { STEP_USERNS, userns_apply },
        { STEP_CGROUP_NS, cgroupns_apply }, { STEP_NETNS, netns_apply },
        { STEP_HOSTNAME, hostname_apply }, { STEP_MOUNTS, mount_apply },
        { STEP_NET, net_step },
};

/* The init becomes the step before any of its code runs: its oom score
 * and limits, then no privilege at all; the payload inherits all of it. */
static const struct setup_entry init_drop_steps[] = {
        { STEP_OOM_SCORE, oom_score_apply }, { STEP_RLIMITS, rlimits_apply },
        { STEP_CAPS, caps_apply },           { STEP_IDS, ids_apply },
        { STEP_NNP, nnp_apply },
};

/* The launcher's end of the sync socket closed: it is gone. */
static bool launcher_gone(const struct sandbox_plan *p)
{
        struct pollfd pfd = { .fd = p->sync_fd, .events = POLLIN };

        return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR));
}

static int cmp_int(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
}

/* The init never execs, so close-on-exec protects nothing here: drop every
 * fd of the launcher (client sockets, other steps' pipes) but the plan's. */
static void close_inherited_fds(const struct sandbox_plan *p)
{
        int keep[5] = { p->sync_fd, p->stdin_fd, p->stdout_fd, p->stderr_fd, p->netns_fd };
        size_t n = ARRAY_SIZE(keep);
        unsigned from = 3; /* 0-2 stay: new fds must not land there before stdio is set */

        qsort(keep, n, sizeof(int), cmp_int);
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0 || (unsigned)keep[i] < from)
                        continue;
                if ((unsigned)keep[i] > from)
                        syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
                from = (unsigned)keep[i] + 1;
        }
        syscall(SYS_close_range, from, ~0U, 0);
}

_noreturn_ void sandbox_child(const struct sandbox_plan *p)
{
        struct setup_report rep = { 0 };
        struct payload_start ps = { .plan = p };
        sigset_t set;
        pid_t payload;
        bool outside;

        close_inherited_fds(p);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        init_signals(&set);
        if (p->spec->user_namespace)
                init_run(p, init_steps_userns, ARRAY_SIZE(init_steps_userns));
        else
                init_run(p, init_steps, ARRAY_SIZE(init_steps));

        /* We hold a copy of the launcher's static data: no process of the step
         * may ever read it. Non-dumpable before and after the change of
         * ids (which resets it to fs.suid_dumpable), and all of it before
         * the payload, which shares this memory until it execs, exists. */
        prctl(PR_SET_DUMPABLE, 0);
        init_run(p, init_drop_steps, ARRAY_SIZE(init_drop_steps));
        prctl(PR_SET_DUMPABLE, 0);
        /* Changing credentials cleared the death signal: set it again, and
         * look whether the launcher died in between. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (launcher_gone(p))
                _exit(EXIT_SETUP);
        payload = payload_start(&ps);
        if (payload < 0) {
                rep = (struct setup_report){ .step = STEP_FORK, .err = errno };
                init_fail(p, &rep);
        }
        /* The step's stdio belongs to the payload alone: EOF on the parent's
         * side then means every process of the step is gone. */
        close(p->stdout_fd);
        close(p->stderr_fd);
        if (p->stdin_fd > 2)
                close(p->stdin_fd);
        report_start(p, &ps);
        outside = cgroup_leave(p);
        /* The launcher's stdio, kept only so that no fd landed on 0-2 before
         * the payload set up its own: its caller may read it until EOF, and
         * the launcher may exit before we do. We open nothing from here on. */
        for (int fd = 0; fd <= 2; fd++)
                if (fd != p->sync_fd)
                        close(fd);
        init_loop(p, &set, payload, outside);
}
