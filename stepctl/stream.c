/* SPDX-License-Identifier: MIT */
/* Following a step: the events of run, attach and logs.
 *
 * How this works: SIGINT and SIGTERM are blocked and read from a signalfd,
 * so one poll() watches both the connection and the user. The server writes
 * whole frames, so when the socket is readable a blocking client_recv() of
 * one frame returns promptly. Output bytes are written as they come, to
 * stdout or stderr as the step wrote them; `offset` tracks how far we got so
 * that a repeat is dropped and a detach can say where to resume.
 *
 * run: the first signal sends `cancel` (once the step id is known) and keeps
 * waiting for `exit`; the second detaches. attach/logs: the first detaches. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "stepctl/stepctl.h"

/* How long `logs` waits for more backlog when stepd does not say how much
 * output there is (no `output_bytes` in `attached`): it stops after a pause
 * this long, or this long after attaching for a step that never pauses. */
#define LOGS_IDLE_MS 300
#define LOGS_MAX_USEC (10 * 1000 * 1000ULL)

struct stream {
        const struct stepctl *ctl;
        const struct stream_opts *o;
        struct client *c;
        char step[STEP_ID_MAX + 1];
        json_int_t req;
        uint64_t offset;
        uint64_t attached_usec; /* monotonic, when `attached` came */
        int64_t until;       /* logs: stop at this offset; -1: unknown */
        bool attached;       /* `accepted`/`attached` seen */
        bool running;        /* attach/logs: the step is not done */
        bool cancel_sent;
        bool want_cancel;    /* a signal came before the step id */
        bool queue_line;     /* a queue position is on the terminal */
        unsigned n_signals;
        int exit_status;     /* set when done; -1 until then */
};

static void clear_queue_line(struct stream *s)
{
        if (s->queue_line)
                fputs("\r\033[K", stderr);
        s->queue_line = false;
}

static void show_queue(struct stream *s, json_int_t pos)
{
        if (!s->ctl->err_tty || s->ctl->json || pos <= 0)
                return;
        fprintf(stderr, "\r\033[Kstepctl: step %s queued, position %" JSON_INTEGER_FORMAT,
                s->step, pos);
        fflush(stderr);
        s->queue_line = true;
}

static int send_cancel(struct stream *s)
{
        _cleanup_client_json_ json_t *req = client_simple_request(s->c, "cancel", s->step);
        int r;

        if (!req)
                return stepctl_fail("out of memory");
        r = client_send(s->c, req);
        if (r < 0)
                return stepctl_lost(s->ctl, r);
        s->cancel_sent = true;
        return 0;
}

static int detach(struct stream *s)
{
        clear_queue_line(s);
        if (s->step[0])
                stepctl_fail("detached from step %s; resume with: stepctl attach %s "
                             "--offset %" PRIu64,
                             s->step, s->step, s->offset);
        else
                stepctl_fail("detached before the step was accepted");
        return EXIT_DETACHED;
}

static int on_signal(struct stream *s, int sfd)
{
        struct signalfd_siginfo si;

        while (read(sfd, &si, sizeof(si)) < 0 && errno == EINTR)
                ;
        s->n_signals++;
        if (!s->o->cancel_on_int || s->n_signals > 1)
                return detach(s);
        clear_queue_line(s);
        if (!s->step[0]) {
                s->want_cancel = true;
                return 0;
        }
        fprintf(stderr, "stepctl: cancelling step %s (again to detach)\n", s->step);
        return send_cancel(s);
}

static int on_accepted(struct stream *s, const json_t *m)
{
        const char *step = client_msg_string(m, "step");
        json_t *pos = json_object_get(m, "queue_position");

        if (!step_id_valid(step))
                return stepctl_fail("bad message from stepd: `accepted` without a valid step");
        snprintf(s->step, sizeof(s->step), "%s", step);
        s->attached = true;
        if (json_is_true(json_object_get(m, "existing")) && !s->ctl->json)
                fprintf(stderr, "stepctl: following step %s, already started with this "
                                "idempotency key\n", s->step);
        if (json_is_integer(pos))
                show_queue(s, json_integer_value(pos));
        if (s->want_cancel) {
                fprintf(stderr, "stepctl: cancelling step %s (again to detach)\n", s->step);
                return send_cancel(s);
        }
        return 0;
}

static int on_attached(struct stream *s, const json_t *m)
{
        const char *state = client_msg_string(m, "state");
        json_t *n = json_object_get(m, "output_bytes");

        s->attached = true;
        s->attached_usec = now_monotonic_usec();
        s->running = !state || strcmp(state, "done") != 0;
        if (json_is_integer(n) && json_integer_value(n) >= 0)
                s->until = json_integer_value(n);
        return 0;
}

static int on_output(struct stream *s, const json_t *m)
{
        _cleanup_free_ void *data = NULL;
        const char *stream = client_msg_string(m, "stream");
        json_t *off = json_object_get(m, "offset");
        size_t len, skip = 0;
        uint64_t at;
        int r;

        if (!json_is_integer(off) || json_integer_value(off) < 0 || !stream ||
            client_base64_decode(client_msg_string(m, "data"), &data, &len) < 0)
                return stepctl_fail("bad message from stepd: malformed `output`");
        at = (uint64_t)json_integer_value(off);
        if (at + len <= s->offset)
                return 0; /* all seen already */
        if (at < s->offset)
                skip = (size_t)(s->offset - at);
        s->offset = at + len;
        clear_queue_line(s);
        if (s->ctl->json)
                return stepctl_print_json(m) < 0 ? stepctl_fail("cannot write to stdout") : 0;
        fflush(stdout);
        r = loop_write(strcmp(stream, "stderr") == 0 ? STDERR_FILENO : STDOUT_FILENO,
                       (char *)data + skip, len - skip);
        if (r < 0 && strcmp(stream, "stderr") != 0)
                return stepctl_fail("cannot write the step's output: %s", strerror(-r));
        return 0;
}

static void print_summary(const struct stream *s, const struct step_result *res, int status)
{
        char line[1024];
        bool notable = res->reason != STEP_REASON_EXITED && res->reason != STEP_REASON_SIGNALED;

        if (s->ctl->json || (!s->ctl->err_tty && !notable))
                return;
        step_result_format(res, line, sizeof(line));
        if (s->ctl->color)
                fprintf(stderr, "stepctl: step %s %s%s\033[0m\n", s->step,
                        status == 0 ? "\033[32m" : "\033[31m", line);
        else
                fprintf(stderr, "stepctl: step %s %s\n", s->step, line);
}

static int on_exit_event(struct stream *s, const json_t *m)
{
        struct step_result res;

        clear_queue_line(s);
        if (s->ctl->json)
                stepctl_print_json(m);
        if (client_result_from_json(json_object_get(m, "result"), &res) < 0)
                return stepctl_fail("bad message from stepd: malformed `exit` result");
        s->exit_status = step_result_exit_status(&res);
        if (s->exit_status < 0 || s->exit_status > 255)
                s->exit_status = EXIT_STEPCTL;
        if (s->o->exit_with_step)
                print_summary(s, &res, s->exit_status);
        else
                s->exit_status = 0;
        return 0;
}

static bool concerns_us(const struct stream *s, const json_t *m)
{
        const char *step = client_msg_string(m, "step");
        json_t *req = json_object_get(m, "req");

        if (req)
                return json_is_integer(req) && json_integer_value(req) == s->req;
        return !step || !s->step[0] || strcmp(step, s->step) == 0;
}

/* One message. 0: go on; an exit status otherwise (s->exit_status set on exit). */
static int on_message(struct stream *s, const json_t *m)
{
        const char *type = client_msg_type(m);
        bool json_echo = s->ctl->json;

        if (client_is_error(m)) {
                if (!json_object_get(m, "req") || concerns_us(s, m)) {
                        clear_queue_line(s);
                        return stepctl_print_error_reply(s->ctl, m);
                }
                return 0; /* e.g. our cancel raced the end of the step */
        }
        if (!concerns_us(s, m))
                return 0;
        if (strcmp(type, "output") == 0)
                return on_output(s, m);
        if (strcmp(type, "exit") == 0)
                return on_exit_event(s, m);
        if (json_echo && strcmp(type, "cancelling") != 0)
                stepctl_print_json(m);
        if (strcmp(type, "accepted") == 0)
                return on_accepted(s, m);
        if (strcmp(type, "attached") == 0)
                return on_attached(s, m);
        if (strcmp(type, "queued") == 0)
                show_queue(s, json_integer_value(json_object_get(m, "queue_position")));
        else if (strcmp(type, "started") == 0)
                clear_queue_line(s);
        return 0;
}

static int block_signals(sigset_t *old)
{
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, old) < 0)
                return negative_errno();
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        return fd;
}

/* logs without --follow: done once the backlog present at attach is out. */
static bool logs_done(const struct stream *s)
{
        if (!s->o->until_now || !s->attached || !s->running)
                return false;
        if (s->until >= 0)
                return s->offset >= (uint64_t)s->until;
        return now_monotonic_usec() - s->attached_usec > LOGS_MAX_USEC;
}

static int wait_ready(struct stream *s, int sfd)
{
        struct pollfd p[2] = {
                { .fd = client_fd(s->c), .events = POLLIN },
                { .fd = sfd, .events = POLLIN },
        };
        bool idle_limit = s->o->until_now && s->attached && s->running && s->until < 0;
        int n;

        do
                n = poll(p, 2, idle_limit ? LOGS_IDLE_MS : -1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return stepctl_fail("poll: %s", strerror(errno));
        if (n == 0)
                return 0; /* logs: no more backlog */
        if (p[1].revents & POLLIN) {
                int r = on_signal(s, sfd);
                if (r != 0)
                        return r;
        }
        return (p[0].revents & (POLLIN | POLLHUP | POLLERR)) ? -1 : -2;
}

static int loop(struct stream *s, int sfd)
{
        for (;;) {
                _cleanup_client_json_ json_t *m = NULL;
                int r;

                if (logs_done(s))
                        return 0;
                r = wait_ready(s, sfd);
                if (r >= 0)
                        return r;
                if (r == -2)
                        continue;
                r = client_recv(s->c, &m);
                if (r <= 0) {
                        clear_queue_line(s);
                        if (s->step[0])
                                stepctl_fail("connection to stepd lost while following step %s "
                                             "(stepctl attach %s --offset %" PRIu64 ")",
                                             s->step, s->step, s->offset);
                        else
                                stepctl_lost(s->ctl, r);
                        return EXIT_STEPCTL;
                }
                r = on_message(s, m);
                if (r != 0)
                        return r;
                if (s->exit_status >= 0)
                        return s->exit_status;
        }
}

int stream_events(const struct stepctl *ctl, struct client *c, json_t *first_request,
                  const struct stream_opts *o)
{
        struct stream s = { .ctl = ctl, .o = o, .c = c, .offset = o->offset, .until = -1,
                            .exit_status = -1 };
        _cleanup_close_ int sfd = -1;
        sigset_t old;
        int r;

        if (o->step)
                snprintf(s.step, sizeof(s.step), "%s", o->step);
        s.req = json_integer_value(json_object_get(first_request, "req"));
        sfd = block_signals(&old);
        if (sfd < 0)
                return stepctl_fail("cannot watch signals: %s", strerror(-sfd));
        r = client_send(c, first_request);
        if (r < 0)
                r = stepctl_lost(ctl, r);
        else
                r = loop(&s, sfd);
        fflush(stdout);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}
