/* SPDX-License-Identifier: MIT */
/*
 * `stepd exec [OPTIONS] -- COMMAND [ARG...]`: run one command in the sandbox
 * without the daemon (for admins and tests), like `isolate --run` or
 * `nsjail -Mo`. How this works: build a launch spec from the options
 * (exec_options.c), create a fresh working folder under the state folder,
 * sandbox_spawn(), then a small poll() loop passes the step's output
 * through, enforces the timeout (SIGTERM, grace, SIGKILL backstop), turns
 * SIGINT/SIGTERM into a cancel, and as soon as the init reports the end
 * removes the working folder and (v1: the init has left it) the cgroup,
 * and is done: the init's own exit, its namespaces' teardown, is not
 * waited for (whoever inherits it reaps it). On v2 the init is still in
 * the cgroup then: its exit is waited for and it is reaped. The result
 * goes to stderr as one line (or JSON with --json); the exit status is the
 * step's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/proto.h"
#include "sandbox/sandbox.h"
#include "supervisor/exec_options.h"
#include "supervisor/verbs.h"

enum { FD_PID, FD_SYNC, FD_OUT, FD_ERR, FD_TIMER, FD_SIGNAL, _FD_MAX };

struct exec_loop {
        struct sandbox_step *step;
        struct exec_options *o;
        struct pollfd pfd[_FD_MAX];
        enum step_reason forced;   /* timeout / cancelled, when we ended it */
        bool ending;               /* SIGTERM sent, backstop armed */
        bool ended;                /* the init reported the end */
        uint64_t grace_ms;
        bool exited;               /* reaped, or released at the end */
        bool released;             /* sandbox_step_release_ended() */
};

static int arm_timer(int tfd, uint64_t ms)
{
        struct itimerspec its = {
                .it_value = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L },
        };

        if (ms == 0)
                its.it_value.tv_nsec = 1;
        return timerfd_settime(tfd, 0, &its, NULL) < 0 ? -errno : 0;
}

/* Copy what is there from a step's pipe to ours, at most max bytes; stop
 * watching on EOF. When our reader is gone, close the step's pipe too: the
 * step then gets EPIPE/SIGPIPE like any writer into a closed pipe. */
static void relay(struct exec_loop *l, struct pollfd *p, int to, size_t max)
{
        char buf[65536];

        while (max > 0) {
                ssize_t n = read(p->fd, buf, MIN(sizeof(buf), max));
                if (n > 0) {
                        if (loop_write(to, buf, (size_t)n) == -EPIPE) {
                                sandbox_step_close_output(l->step, p->fd);
                                p->fd = -1;
                                return;
                        }
                        max -= (size_t)n;
                        continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                p->fd = -1; /* EOF or error: the step's fd stays owned by the step */
                return;
        }
}

/* End the step: SIGTERM now, SIGKILL after the grace period (+1 s slack for
 * the init's own teardown). */
static void end_step(struct exec_loop *l, enum step_reason why)
{
        /* Already ending: the backstop. Or already ended (the init said
         * so; it is exiting, and its folder may be going): a late timeout
         * or signal changes nothing of the result, and the kill only
         * hurries the init. */
        if (l->ending || l->ended) {
                sandbox_step_kill(l->step);
                return;
        }
        l->forced = why;
        l->ending = true;
        sandbox_step_terminate(l->step);
        arm_timer(l->pfd[FD_TIMER].fd, l->grace_ms + 1000);
}

static void on_timer(struct exec_loop *l)
{
        uint64_t n;

        (void)!read(l->pfd[FD_TIMER].fd, &n, sizeof(n));
        if (!l->ending)
                end_step(l, STEP_REASON_TIMEOUT);
        else
                sandbox_step_kill(l->step);
}

static void on_signal(struct exec_loop *l)
{
        struct signalfd_siginfo si;

        if (read(l->pfd[FD_SIGNAL].fd, &si, sizeof(si)) == sizeof(si))
                end_step(l, STEP_REASON_CANCELLED);
}

/* The step has ended (its init said so, or it has exited), so every
 * process of the step is gone and all it wrote is in the pipes. A step may
 * have passed its pipe ends to a process outside (over a unix socket):
 * waiting for EOF would wait for that one. So take what is buffered
 * (bounded, in case someone keeps writing), and stop. */
static void drain_after_exit(struct exec_loop *l)
{
        for (int i = FD_OUT; i <= FD_ERR; i++)
                if (l->pfd[i].fd >= 0) {
                        relay(l, &l->pfd[i], i == FD_OUT ? STDOUT_FILENO : STDERR_FILENO,
                              (size_t)16 << 20);
                        l->pfd[i].fd = -1;
                }
}

static int run_loop(struct exec_loop *l)
{
        while (!l->exited) {
                int n = poll(l->pfd, _FD_MAX, -1);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (l->pfd[FD_OUT].revents)
                        relay(l, &l->pfd[FD_OUT], STDOUT_FILENO, SIZE_MAX);
                if (l->pfd[FD_ERR].revents)
                        relay(l, &l->pfd[FD_ERR], STDERR_FILENO, SIZE_MAX);
                if (l->pfd[FD_SYNC].revents) {
                        int r = sandbox_step_on_sync(l->step);
                        if (r == SANDBOX_SYNC_EOF || r < 0)
                                l->pfd[FD_SYNC].fd = -1;
                        /* Nothing of the step is left to write there: the
                         * folder goes while the init's exit runs elsewhere,
                         * and the cgroup too where the init has left it. */
                        if (r == SANDBOX_SYNC_ENDED) {
                                l->ended = true;
                                exec_workdir_remove(l->o);
                                l->released = sandbox_step_release_ended(l->step) == 0;
                                l->exited = l->released;
                        }
                }
                if (l->pfd[FD_TIMER].revents)
                        on_timer(l);
                if (l->pfd[FD_SIGNAL].revents)
                        on_signal(l);
                if (l->pfd[FD_PID].revents) {
                        l->exited = true;
                        l->pfd[FD_PID].fd = -1;
                }
        }
        drain_after_exit(l);
        return 0;
}

static int signals_block(sigset_t *ret)
{
        sigemptyset(ret);
        sigaddset(ret, SIGINT);
        sigaddset(ret, SIGTERM);
        sigaddset(ret, SIGHUP);
        if (sigprocmask(SIG_BLOCK, ret, NULL) < 0)
                return -errno;
        return 0;
}

static void print_result(const struct step_result *r, bool json)
{
        char line[1024];

        if (json) {
                json_t *o = proto_result_to_json(r, 0);
                char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

                fprintf(stderr, "%s\n", s ? s : "{}");
                free(s);
                json_decref(o);
                return;
        }
        step_result_format(r, line, sizeof(line));
        fprintf(stderr, "stepd: %s\n", line);
}

static int supervise(struct sandbox_context *ctx, struct exec_options *o,
                     struct step_result *ret)
{
        _cleanup_(sandbox_step_freep) struct sandbox_step *step = NULL;
        _cleanup_close_ int tfd = -1, sfd = -1;
        struct sandbox_io io = { .stdin_fd = o->pass_stdin ? STDIN_FILENO : -1 };
        struct exec_loop l = { .o = o, .grace_ms = o->spec->kill_grace_ms };
        sigset_t mask;
        char err[512];
        int r;

        r = signals_block(&mask);
        if (r < 0)
                return log_errno(r, "cannot block signals");
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (sfd < 0 || tfd < 0)
                return log_errno(-errno, "cannot create the timer or signal fd");
        r = sandbox_spawn(ctx, o->spec, &io, &step, err, sizeof(err));
        if (r < 0)
                return log_errno(r, "cannot start the step: %s", err);
        if (o->spec->timeout_ms > 0 && arm_timer(tfd, o->spec->timeout_ms) < 0)
                return log_errno(-errno, "cannot arm the timeout");
        l.step = step;
        l.pfd[FD_PID] = (struct pollfd){ .fd = sandbox_step_pidfd(step), .events = POLLIN };
        l.pfd[FD_SYNC] = (struct pollfd){ .fd = sandbox_step_sync_fd(step), .events = POLLIN };
        l.pfd[FD_OUT] = (struct pollfd){ .fd = sandbox_step_stdout_fd(step), .events = POLLIN };
        l.pfd[FD_ERR] = (struct pollfd){ .fd = sandbox_step_stderr_fd(step), .events = POLLIN };
        l.pfd[FD_TIMER] = (struct pollfd){ .fd = tfd, .events = POLLIN };
        l.pfd[FD_SIGNAL] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        r = run_loop(&l);
        if (r < 0)
                return log_errno(r, "poll failed");
        r = l.released ? sandbox_step_result(step, ret) : sandbox_step_reap(step, ret);
        if (r < 0)
                return log_errno(r, "cannot collect the step's result");
        if (l.forced != STEP_REASON_NONE && ret->reason != STEP_REASON_SETUP_FAILED)
                ret->reason = l.forced;
        return 0;
}

int verb_exec(int argc, char **argv)
{
        _cleanup_(exec_options_done) struct exec_options o = { 0 };
        _cleanup_(sandbox_context_freep) struct sandbox_context *ctx = NULL;
        struct step_result res;
        char err[512];
        int r;

        log_set_prefix("stepd exec");
        /* `stepd exec ... | head`: a gone reader must not kill the launcher
         * before it has cleaned up (relay() passes EPIPE on to the step). */
        signal(SIGPIPE, SIG_IGN);
        r = exec_options_parse(argc, argv, &o);
        if (r <= 0)
                return r < 0 ? 125 : 0; /* error, or --help */
        r = sandbox_context_new(&ctx, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "stepd exec: %s\n", err);
                return 125;
        }
        /* libcgroup's start, meanwhile: the working folder, the plan */
        (void)sandbox_context_prepare_cgroups_ahead(ctx);
        if (sandbox_context_warning(ctx) && !o.quiet)
                fprintf(stderr, "stepd exec: warning: %s\n", sandbox_context_warning(ctx));
        r = exec_workdir_create(&o);
        if (r < 0)
                return 125;
        r = supervise(ctx, &o, &res);
        exec_workdir_remove(&o);
        if (r < 0)
                return 125;
        if (!o.quiet)
                print_result(&res, o.json);
        return step_result_exit_status(&res);
}
