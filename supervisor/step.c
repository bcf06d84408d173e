/* SPDX-License-Identifier: MIT */
/*
 * A step's life, driven by events of the loop:
 *
 *   step_create()   authorized, resolved into a launch spec under the
 *                   configuration of the moment (a reference is kept), its
 *                   record written, queued
 *   step_schedule() while there is capacity: working folder, script file,
 *                   stdin memfd, sandbox_spawn(); then five fds are watched:
 *     sync fd    → started (the payload exec'd), a setup failure, or the
 *                  end: every process of the step gone (sandbox_step_result())
 *     stdout/err → read a chunk, append to the log, send to attached clients
 *     pidfd      → the init has exited: sandbox_step_reap(): the result, if
 *                  the end was not reported (the init was killed)
 *     timerfd    → timeout: sandbox_step_terminate(); after kill_grace + 1 s
 *                  the same timer fires again as a backstop: sandbox_step_kill()
 *   step_finish()   once ended (or reaped) AND both pipes at EOF (so every
 *                   byte is in the log and queued to clients before `exit`):
 *                   result.json, its fds out of the loop, next queued
 *                   started; the sandbox (cgroup) and working folder are
 *                   removed once the init has exited (its pidfd stays
 *                   watched until then) and the loop has flushed `exit` to
 *                   the clients (steps_release_pending())
 *
 * Exactly one reason is recorded: the sandbox's (exited, signaled, oom,
 * setup-failed), unless the supervisor killed the step (timeout, cancelled),
 * or the step never started (cancelled or rejected while queued).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/audit.h"
#include "supervisor/daemon.h"
#include "supervisor/remote.h"

#define SCRIPT_NAME ".stepd-script"

static const char *const state_names[_STEP_STATE_MAX] = {
        [STEP_QUEUED] = "queued",
        [STEP_STARTING] = "running",
        [STEP_RUNNING] = "running",
        [STEP_DONE] = "done",
};

const char *step_state_to_string(enum step_state s)
{
        return (unsigned)s < _STEP_STATE_MAX ? state_names[s] : "unknown";
}

/* Steps are kept for their retention, which may be many thousands: they
 * are found by id through a hash table (chained, doubled at load 1). */
static size_t id_hash(const char *id, size_t cap)
{
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */

        for (; *id; id++)
                h = (h ^ (uint8_t)*id) * 1099511628211ULL;
        return (size_t)(h & (cap - 1));
}

static int by_id_grow(struct daemon *d)
{
        size_t cap = d->by_id_cap ? d->by_id_cap * 2 : 256;
        struct step **t = calloc(cap, sizeof(*t));

        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < d->by_id_cap; i++)
                for (struct step *s = d->by_id[i], *next; s; s = next) {
                        size_t h = id_hash(s->id, cap);
                        next = s->id_next;
                        s->id_next = t[h];
                        t[h] = s;
                }
        free(d->by_id);
        d->by_id = t;
        d->by_id_cap = cap;
        return 0;
}

struct step *step_find(struct daemon *d, const char *id)
{
        for (struct step *s = d->by_id[id_hash(id, d->by_id_cap)]; s; s = s->id_next)
                if (strcmp(s->id, id) == 0)
                        return s;
        return NULL;
}

int steps_index_init(struct daemon *d)
{
        return by_id_grow(d);
}

void steps_add(struct daemon *d, struct step *s, struct step *after)
{
        size_t h;

        /* Growing is best effort: the chains only get longer without it. */
        if (d->n_steps >= d->by_id_cap)
                (void)by_id_grow(d);
        h = id_hash(s->id, d->by_id_cap);
        s->id_next = d->by_id[h];
        d->by_id[h] = s;
        d->n_steps++;
        if (after)
                TAILQ_INSERT_AFTER(&d->steps, after, s, link);
        else
                TAILQ_INSERT_HEAD(&d->steps, s, link);
}

void steps_remove(struct daemon *d, struct step *s)
{
        struct step **pp = &d->by_id[id_hash(s->id, d->by_id_cap)];

        while (*pp && *pp != s)
                pp = &(*pp)->id_next;
        if (*pp)
                *pp = s->id_next;
        s->id_next = NULL;
        d->n_steps--;
        TAILQ_REMOVE(&d->steps, s, link);
}

void step_set_owner(struct step *s, struct client *c)
{
        if (s->owner)
                TAILQ_REMOVE(&s->owner->owned, s, olink);
        s->owner = c;
        if (c)
                TAILQ_INSERT_TAIL(&c->owned, s, olink);
}

unsigned step_queue_position(struct daemon *d, const struct step *s)
{
        const struct step *t;
        unsigned i = 1;

        if (s->state != STEP_QUEUED)
                return 0;
        TAILQ_FOREACH(t, &d->queue, qlink) {
                if (t == s)
                        return i;
                i++;
        }
        return 0;
}

static void release_sandbox(struct daemon *d, struct step *s);
static void step_unwatch(struct daemon *d, struct step *s);

void step_free(struct daemon *d, struct step *s)
{
        struct attachment *a;

        if (!s)
                return;
        step_unwatch(d, s); /* a pidfd still watched for the init's exit */
        if (s->release_pending) {
                TAILQ_REMOVE(&d->releasing, s, rlink);
                s->release_pending = false;
        }
        /* the working folder too; and a sandbox whose init is still exiting
         * (the daemon stops): sandbox_step_free() kills and waits for it */
        release_sandbox(d, s);
        while ((a = TAILQ_FIRST(&s->attachments)))
                attach_detach(a);
        step_set_owner(s, NULL);
        remote_release(d, s);
        safe_close(s->timer_w.fd);
        sandbox_step_free(s->sbx);
        safe_close(s->stdin_fd);
        safe_close(s->log_fd);
        launch_spec_free(s->spec);
        policy_config_unref(s->config);
        free(s->script);
        free(s->project);
        free(s->idempotency_key);
        free(s);
}

static void send_queue_positions(struct daemon *d)
{
        struct step *s;
        unsigned i = 1;

        TAILQ_FOREACH(s, &d->queue, qlink) {
                json_auto_t *ev = json_pack("{s:s, s:s, s:i}", "type", "queued", "step", s->id,
                                            "queue_position", (int)i++);
                if (ev)
                        attach_broadcast(d, s, ev);
        }
}

/* Every fd of the step out of the loop; but the pidfd while the init is
 * still on its way out, when keep_pid. */
static void step_unwatch_but(struct daemon *d, struct step *s, bool keep_pid)
{
        if (s->sync_open)
                watch_del(d, &s->sync_w);
        if (s->out_open)
                watch_del(d, &s->out_w);
        if (s->err_open)
                watch_del(d, &s->err_w);
        if (s->pid_open && !keep_pid) {
                watch_del(d, &s->pid_w);
                s->pid_open = false;
        }
        s->sync_open = s->out_open = s->err_open = false;
        if (s->timer_w.fd >= 0) {
                watch_del(d, &s->timer_w);
                s->timer_w.fd = safe_close(s->timer_w.fd);
        }
}

static void step_unwatch(struct daemon *d, struct step *s)
{
        step_unwatch_but(d, s, false);
}

/* What a step held while it ran that takes time to undo: the cgroup (and
 * veth), the working folder. */
static void release_sandbox(struct daemon *d, struct step *s)
{
        s->sbx = sandbox_step_free(s->sbx);
        if (s->has_workdir) {
                _cleanup_close_ int wfd = store_work_dir(d, s->project, false);
                int r = wfd < 0 ? wfd : workdir_remove(wfd, s->id);
                if (r < 0)
                        log_warning_errno(r, "event=workdir-error step=%s cannot remove", s->id);
                s->has_workdir = false;
        }
        s->spec = launch_spec_free(s->spec);
        s->config = policy_config_unref(s->config);
        free(s->script);
        s->script = NULL;
}

/* Its fds leave the loop now; the sandbox goes after the clients have had
 * their exit (steps_release_pending(), after the loop's flush): removing a
 * cgroup and a working folder is no part of a client's wait. A step that
 * ended by its init's report still has that init exiting: its pidfd stays
 * watched, and on_pidfd() calls this again once it is reaped. */
static void release_live(struct daemon *d, struct step *s)
{
        bool init_exiting = s->sbx && !s->reaped && s->pid_open;

        remote_release(d, s);
        step_unwatch_but(d, s, init_exiting);
        s->stdin_fd = safe_close(s->stdin_fd);
        s->log_fd = safe_close(s->log_fd);
        if (init_exiting)
                return;
        if (!s->release_pending && (s->sbx || s->has_workdir || s->spec || s->config || s->script)) {
                s->release_pending = true;
                TAILQ_INSERT_TAIL(&d->releasing, s, rlink);
        }
}

void steps_release_pending(struct daemon *d)
{
        struct step *s;

        while ((s = TAILQ_FIRST(&d->releasing))) {
                TAILQ_REMOVE(&d->releasing, s, rlink);
                s->release_pending = false;
                release_sandbox(d, s);
        }
}

/* The one place a step ends. */
void step_finish(struct daemon *d, struct step *s, const struct step_result *r)
{
        char line[256];
        bool was_live = s->state == STEP_STARTING || s->state == STEP_RUNNING;

        if (s->state == STEP_DONE)
                return; /* exactly one end */
        struct audit_step audit = {
                .step = s->id, .project = s->project, .peer_uid = s->uid,
                .peer_pid = s->peer_pid, .run_uid = s->spec ? s->spec->uid : (uid_t)-1,
                .run_gid = s->spec ? s->spec->gid : (gid_t)-1, .result = &s->result,
        };
        char hash[80] = "";
        const char *h = s->config ? policy_project_hash(s->config, s->project) : NULL;
        if (h) {
                snprintf(hash, sizeof(hash), "%s", h); /* the config goes before we log */
                audit.policy_hash = hash;
        }
        s->result = *r;
        s->ended_usec = now_realtime_usec();
        if (was_live && s->result.wall_usec == 0)
                s->result.wall_usec = now_monotonic_usec() - s->start_mono;
        if (was_live)
                d->n_live--;
        s->state = STEP_DONE;
        int k = store_write_result(d, s);
        if (k < 0)
                log_errno(k, "event=store-error step=%s cannot write result.json", s->id);
        d->metrics.steps_ended[s->result.reason]++;
        d->metrics.step_wall_usec_total += s->result.wall_usec;
        if (was_live)
                metrics_histogram_observe(&d->metrics.durations, s->result.wall_usec);
        step_result_format(&s->result, line, sizeof(line));
        log_info("event=step-end step=%s project=%s reason=%s output=%llu result=\"%s\"", s->id,
                 s->project, step_reason_to_string(s->result.reason),
                 (unsigned long long)s->output_bytes, line);
        audit_step_log(&audit);
        attach_step_done(d, s);
        /* Clients have their exit: now the cgroup, the working folder... */
        release_live(d, s);
        step_schedule(d);
}

static void step_end_early(struct daemon *d, struct step *s, enum step_reason reason,
                           const char *message)
{
        struct step_result r = { .reason = reason, .exit_code = -1 };

        snprintf(r.message, sizeof(r.message), "%s", message);
        step_finish(d, s, &r);
}

static void maybe_end(struct daemon *d, struct step *s)
{
        if (!(s->ended || s->reaped) || s->out_open || s->err_open)
                return;
        struct step_result r = s->reap_result;
        if (s->killing && (r.reason == STEP_REASON_EXITED || r.reason == STEP_REASON_SIGNALED))
                r.reason = s->kill_reason;
        step_finish(d, s, &r);
}

void step_mark_running(struct daemon *d, struct step *s)
{
        if (s->state != STEP_STARTING)
                return;
        s->state = STEP_RUNNING;
        json_auto_t *ev = json_pack("{s:s, s:s}", "type", "started", "step", s->id);
        if (ev)
                attach_broadcast(d, s, ev);
}

void step_output(struct daemon *d, struct step *s, int stream, const uint8_t *data, size_t n)
{
        uint64_t offset = s->output_bytes;

        step_mark_running(d, s);
        (void)store_log_append(d, s, stream, data, n);
        s->output_bytes += n;
        d->metrics.output_bytes += n;
        attach_broadcast_output(d, s, stream == LOG_STREAM_STDOUT ? "stdout" : "stderr", offset,
                                data, n);
}

static void read_output(struct daemon *d, struct step *s, struct watch *w, int stream)
{
        if (!(stream == LOG_STREAM_STDOUT ? s->out_open : s->err_open))
                return; /* a stale event: see daemon.h */
        ssize_t n = read(w->fd, d->iobuf, sizeof(d->iobuf));

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                watch_del(d, w);
                if (stream == LOG_STREAM_STDOUT)
                        s->out_open = false;
                else
                        s->err_open = false;
                maybe_end(d, s);
                return;
        }
        step_output(d, s, stream, d->iobuf, (size_t)n);
}

/* The step has ended (its init reported it, or exited): every process of
 * the step is gone, all it wrote is in the pipes. Take what is buffered
 * and stop; never wait for EOF, which a process outside the step could
 * hold back with pipe ends the step passed it (over a unix socket).
 * Bounded in case that process keeps writing. */
static void drain_after_exit(struct daemon *d, struct step *s)
{
        struct {
                struct watch *w;
                bool *open;
                int stream;
        } pipes[] = { { &s->out_w, &s->out_open, LOG_STREAM_STDOUT },
                      { &s->err_w, &s->err_open, LOG_STREAM_STDERR } };

        for (size_t i = 0; i < ARRAY_SIZE(pipes); i++) {
                size_t budget = (size_t)16 << 20;

                while (*pipes[i].open && budget > 0) {
                        ssize_t n = read(pipes[i].w->fd, d->iobuf,
                                         MIN(sizeof(d->iobuf), budget));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                break;
                        step_output(d, s, pipes[i].stream, d->iobuf, (size_t)n);
                        budget -= (size_t)n;
                }
                if (*pipes[i].open) {
                        watch_del(d, pipes[i].w);
                        *pipes[i].open = false;
                }
        }
}

static void on_stdout(struct daemon *d, struct watch *w, uint32_t events)
{
        read_output(d, container_of(w, struct step, out_w), w, LOG_STREAM_STDOUT);
}

static void on_stderr(struct daemon *d, struct watch *w, uint32_t events)
{
        read_output(d, container_of(w, struct step, err_w), w, LOG_STREAM_STDERR);
}

static void step_ended(struct daemon *d, struct step *s);

static void on_sync(struct daemon *d, struct watch *w, uint32_t events)
{
        struct step *s = container_of(w, struct step, sync_w);

        if (!s->sync_open)
                return; /* a stale event: the fd may be closed, its number reused */
        /* The sandbox closes the sync fd itself at EOF: take it out of the
         * epoll set while it is surely still open, put it back if it stays.
         * (DEL on a closed fd number could hit another step's fd.) */
        watch_del(d, w);
        s->sync_open = false;
        int r = sandbox_step_on_sync(s->sbx);

        if (r == SANDBOX_SYNC_STARTED)
                step_mark_running(d, s);
        if (r < 0)
                log_warning_errno(r, "event=sync-error step=%s", s->id);
        if (r >= 0 && r != SANDBOX_SYNC_EOF && sandbox_step_sync_fd(s->sbx) == w->fd &&
            watch_add(d, w, EPOLLIN) == 0)
                s->sync_open = true;
        if (r == SANDBOX_SYNC_ENDED)
                step_ended(d, s);
}

/* The init reported the end: every process of the step is gone, all it
 * wrote is in the pipes (drained as after its exit, below). The step ends
 * now; the init's own exit (its mount namespace going, ~0.3 ms) is no part
 * of a client's wait. */
static void step_ended(struct daemon *d, struct step *s)
{
        if (s->ended || s->reaped || sandbox_step_result(s->sbx, &s->reap_result) < 0)
                return;
        s->ended = true;
        drain_after_exit(d, s);
        maybe_end(d, s);
}

static void on_pidfd(struct daemon *d, struct watch *w, uint32_t events)
{
        struct step *s = container_of(w, struct step, pid_w);

        if (!s->pid_open)
                return; /* a stale event */
        if (s->state == STEP_DONE) {
                /* Ended by the init's report, which the result came from:
                 * now that the init is gone, its sandbox can go. */
                struct step_result ignored;
                int r = sandbox_step_reap(s->sbx, &ignored);

                if (r == -EAGAIN)
                        return; /* still watched */
                if (r < 0)
                        log_warning_errno(r, "event=reap-error step=%s", s->id);
                s->reaped = true;
                release_live(d, s);
                return;
        }
        /* reap reads the sync fd to its end and closes it: unwatch first */
        if (s->sync_open) {
                watch_del(d, &s->sync_w);
                s->sync_open = false;
        }
        watch_del(d, w);
        s->pid_open = false;
        int r = sandbox_step_reap(s->sbx, &s->reap_result);

        if (r == -EAGAIN) {
                if (watch_add(d, w, EPOLLIN) == 0)
                        s->pid_open = true;
                return;
        }
        s->reaped = true;
        drain_after_exit(d, s);
        if (r < 0) {
                log_errno(r, "event=reap-error step=%s", s->id);
                s->reap_result = (struct step_result){ .reason = STEP_REASON_SETUP_FAILED,
                                                       .exit_code = -1 };
                snprintf(s->reap_result.message, sizeof(s->reap_result.message),
                         "collecting the step's status failed: %s", strerror(-r));
        }
        maybe_end(d, s);
}

static int arm_timer(struct step *s, uint64_t ms)
{
        struct itimerspec its = { .it_value = { .tv_sec = (time_t)(ms / 1000),
                                                .tv_nsec = (long)(ms % 1000) * 1000000 } };

        /* 0 disarms: no timeout */
        return timerfd_settime(s->timer_w.fd, 0, &its, NULL) < 0 ? -errno : 0;
}

static void step_terminate(struct daemon *d, struct step *s, enum step_reason why)
{
        if (s->killing)
                return;
        s->killing = true;
        s->kill_reason = why;
        int r = sandbox_step_terminate(s->sbx);
        if (r < 0)
                log_warning_errno(r, "event=terminate-error step=%s", s->id);
        r = arm_timer(s, s->spec->kill_grace_ms + 1000);
        if (r < 0)
                log_warning_errno(r, "event=timer-error step=%s", s->id);
}

static void on_timer(struct daemon *d, struct watch *w, uint32_t events)
{
        struct step *s = container_of(w, struct step, timer_w);
        uint64_t ticks;

        if (s->state == STEP_DONE || w->fd < 0)
                return; /* a stale event */
        if (read(w->fd, &ticks, sizeof(ticks)) < 0)
                return;
        if (!s->killing) {
                log_info("event=step-timeout step=%s timeout_ms=%llu", s->id,
                         (unsigned long long)s->spec->timeout_ms);
                step_terminate(d, s, STEP_REASON_TIMEOUT);
                return;
        }
        log_warning("event=step-kill step=%s the step outlived its grace period", s->id);
        int r = sandbox_step_kill(s->sbx);
        if (r < 0)
                log_warning_errno(r, "event=kill-error step=%s", s->id);
}

int step_cancel(struct daemon *d, struct step *s, enum step_reason why, const char *message)
{
        switch (s->state) {
        case STEP_QUEUED:
                TAILQ_REMOVE(&d->queue, s, qlink);
                d->n_queued--;
                step_end_early(d, s, why, message);
                send_queue_positions(d);
                return 0;
        case STEP_STARTING:
        case STEP_RUNNING:
                log_info("event=step-cancel step=%s reason=%s why=\"%s\"", s->id,
                         step_reason_to_string(why), message);
                if (remote_active(s))
                        return remote_cancel(d, s, message);
                step_terminate(d, s, why);
                return 0;
        default:
                return -EALREADY;
        }
}

static int write_script(struct daemon *d, struct step *s, int wfd)
{
        _cleanup_close_ int dfd = openat(wfd, s->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int fd = -1;

        if (dfd < 0)
                return -errno;
        fd = openat(dfd, SCRIPT_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0500);
        if (fd < 0)
                return -errno;
        int r = loop_write(fd, s->script, strlen(s->script));
        if (r < 0)
                return r;
        if (fchown(fd, s->spec->uid, s->spec->gid) < 0)
                return -errno;
        return 0;
}

static int prepare_workdir(struct daemon *d, struct step *s, char *err, size_t err_len)
{
        _cleanup_close_ int wfd = store_work_dir(d, s->project, true);
        int r;

        if (wfd < 0)
                return snprintf(err, err_len, "cannot open the project's work folder: %s",
                                strerror(-wfd)), wfd;
        r = workdir_create(wfd, s->id, s->spec->uid, s->spec->gid, 0700);
        if (r < 0)
                return snprintf(err, err_len, "cannot create the working folder: %s",
                                strerror(-r)), r;
        s->has_workdir = true;
        free(s->spec->workdir);
        if (asprintf(&s->spec->workdir, "%s/work/%s/%s", d->state_dir, s->project, s->id) < 0) {
                s->spec->workdir = NULL;
                return -ENOMEM;
        }
        if (s->script && (r = write_script(d, s, wfd)) < 0)
                return snprintf(err, err_len, "cannot write the script: %s", strerror(-r)), r;
        if (policy_project_cache(s->config, s->project)) {
                _cleanup_free_ char *cache = NULL;

                r = store_cache_dir(d, s->project, s->spec->uid, s->spec->gid, &cache);
                if (r >= 0)
                        r = launch_spec_add_bind(s->spec, cache, "/cache", true);
                if (r < 0)
                        return snprintf(err, err_len, "cannot prepare the project's cache: %s",
                                        strerror(-r)), r;
        }
        return 0;
}

static int watch_step_fds(struct daemon *d, struct step *s)
{
        int r;

        s->sync_w = (struct watch){ sandbox_step_sync_fd(s->sbx), on_sync };
        s->out_w = (struct watch){ sandbox_step_stdout_fd(s->sbx), on_stdout };
        s->err_w = (struct watch){ sandbox_step_stderr_fd(s->sbx), on_stderr };
        s->pid_w = (struct watch){ sandbox_step_pidfd(s->sbx), on_pidfd };
        s->timer_w = (struct watch){ timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
                                     on_timer };
        if (s->timer_w.fd < 0)
                return -errno;
        if ((r = watch_add(d, &s->timer_w, EPOLLIN)) < 0)
                return r;
        if ((r = watch_add(d, &s->pid_w, EPOLLIN)) < 0)
                return r;
        s->pid_open = true;
        if (s->sync_w.fd >= 0 && watch_add(d, &s->sync_w, EPOLLIN) == 0)
                s->sync_open = true;
        if ((r = watch_add(d, &s->out_w, EPOLLIN)) < 0)
                return r;
        s->out_open = true;
        if ((r = watch_add(d, &s->err_w, EPOLLIN)) < 0)
                return r;
        s->err_open = true;
        return arm_timer(s, s->spec->timeout_ms);
}

static void step_start(struct daemon *d, struct step *s)
{
        char err[512] = "";
        struct sandbox_io io = { .stdin_fd = s->stdin_fd };
        int r;

        s->state = STEP_STARTING;
        s->start_mono = now_monotonic_usec();
        d->n_live++;
        r = prepare_workdir(d, s, err, sizeof(err));
        if (r < 0) {
                log_errno(r, "event=step-setup-error step=%s %s", s->id, err);
                return step_end_early(d, s, STEP_REASON_SETUP_FAILED, err);
        }
        r = sandbox_spawn(d->sandbox, s->spec, &io, &s->sbx, err, sizeof(err));
        s->stdin_fd = safe_close(s->stdin_fd);
        if (r < 0) {
                log_errno(r, "event=step-spawn-error step=%s %s", s->id, err);
                struct step_result res = { .reason = STEP_REASON_SETUP_FAILED, .exit_code = -1,
                                           .setup_errno = -r };
                snprintf(res.setup_step, sizeof(res.setup_step), "spawn");
                snprintf(res.message, sizeof(res.message), "%s", err[0] ? err : strerror(-r));
                return step_finish(d, s, &res);
        }
        d->metrics.steps_started++;
        r = watch_step_fds(d, s);
        if (r < 0) {
                log_errno(r, "event=step-watch-error step=%s", s->id);
                step_unwatch(d, s);
                sandbox_step_kill(s->sbx);
                return step_end_early(d, s, STEP_REASON_SETUP_FAILED,
                                      "the supervisor could not watch the step");
        }
        log_info("event=step-start step=%s project=%s uid=%u pid=%d timeout_ms=%llu", s->id,
                 s->project, (unsigned)s->spec->uid, (int)sandbox_step_pid(s->sbx),
                 (unsigned long long)s->spec->timeout_ms);
}

/* Each queued step goes to the member of its pool that can take it now
 * (remote_choose): this host, an agent, or nobody yet. Any start may end a
 * step and schedule again, so the walk restarts from the head after each. */
void step_schedule(struct daemon *d)
{
        bool moved = false;
        struct step *s;
        char why[256], agent[PROJECT_NAME_MAX + 1];

restart:
        TAILQ_FOREACH(s, &d->queue, qlink) {
                if (d->draining)
                        break;
                enum remote_choice x = remote_choose(d, s, agent, why, sizeof(why));
                if (x == REMOTE_WAIT)
                        continue;
                TAILQ_REMOVE(&d->queue, s, qlink);
                d->n_queued--;
                moved = true;
                if (x == REMOTE_LOCAL) {
                        step_start(d, s);
                } else if (x == REMOTE_NEVER) {
                        step_end_early(d, s, STEP_REASON_REJECTED, why);
                } else if (remote_start(d, s, agent) < 0) {
                        TAILQ_INSERT_HEAD(&d->queue, s, qlink); /* that agent is down now */
                        d->n_queued++;
                }
                goto restart;
        }
        if (moved)
                send_queue_positions(d);
}

void step_client_gone(struct daemon *d, struct client *c)
{
        struct step *s;

        while ((s = TAILQ_FIRST(&c->owned))) {
                step_set_owner(s, NULL);
                /* dropping a slow client is our doing, not a disconnect */
                if (s->cancel_on_disconnect && s->state != STEP_DONE && !c->dropped_slow)
                        step_cancel(d, s, STEP_REASON_CANCELLED, "the client disconnected");
        }
}

void steps_drain_tick(struct daemon *d, uint64_t now)
{
        struct step *s;

        if (!d->draining || now < d->drain_deadline)
                return;
        TAILQ_FOREACH(s, &d->steps, link)
                if (s->state == STEP_STARTING || s->state == STEP_RUNNING)
                        step_cancel(d, s, STEP_REASON_CANCELLED,
                                    "the supervisor is stopping and the grace period ran out");
}
