/* SPDX-License-Identifier: MIT */
/* Forwarded steps: see remote.h and docs/agents.md.
 *
 * How this works: remote_start() opens a link to the chosen agent
 * (agent_link.c: TCP, TLS pinned to that agent, hello). When it is open the
 * step's request, as recorded in request.json (plus its stdin from the
 * sealed memfd), goes to the agent as a `run` with cancel_on_disconnect, so
 * that an agent whose supervisor vanishes does not keep running the step.
 * The agent's events drive the step here:
 *
 *   error (before accepted)  queue-full/draining: the agent is skipped for a
 *                            moment and the step goes back to the head of
 *                            the queue (another member may take it); any
 *                            other code ends the step `rejected`
 *   started                  the step is running
 *   output                   decoded and appended to our log, sent to our
 *                            clients with our offsets: byte for byte
 *   exit                     the agent's result is the step's result
 *   link closed              before accepted: queued again (another member
 *                            may take it); after: `lost`, or queued again
 *                            when the request said retry_safe
 *
 * The step holds one link; remote_release() closes it without a callback. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/agent_link.h"
#include "supervisor/agents.h"
#include "supervisor/daemon.h"
#include "supervisor/remote.h"

#define RUN_REQ 1
#define CANCEL_REQ 2

enum remote_choice remote_choose(struct daemon *d, struct step *s,
                                 char agent[PROJECT_NAME_MAX + 1], char *why, size_t why_len)
{
        const char *name = policy_project_pool(s->config, s->project);
        const struct policy_pool *pool = name ? policy_pool_find(s->config, name) : NULL;
        unsigned local = d->n_live - remote_live(d), cap = daemon_capacity(d);
        struct agent *a = NULL;

        if (!pool) /* no pools configured: this host only */
                return local < cap ? REMOTE_LOCAL : REMOTE_WAIT;
        switch (agents_pick(d->agents, pool, s->fwd ? s->fwd->requires : NULL, local, cap,
                            now_monotonic_usec(), &a, why, why_len)) {
        case AGENTS_PICK_BUILTIN:
                return REMOTE_LOCAL;
        case AGENTS_PICK_AGENT:
                snprintf(agent, PROJECT_NAME_MAX + 1, "%s", a->name);
                return REMOTE_AGENT;
        case AGENTS_PICK_NEVER:
                return REMOTE_NEVER;
        default:
                return REMOTE_WAIT;
        }
}

int remote_prepare(struct step *s, const struct proto_request *req)
{
        json_t *requires = json_object_get(req->obj, "requires");

        s->fwd = calloc(1, sizeof(*s->fwd));
        if (!s->fwd)
                return -ENOMEM;
        s->fwd->retry_safe = req->run.retry_safe;
        if (json_is_object(requires) && json_object_size(requires) > 0)
                s->fwd->requires = json_deep_copy(requires);
        return 0;
}

bool remote_active(const struct step *s)
{
        return s->fwd && s->fwd->agent[0];
}

unsigned remote_live(const struct daemon *d)
{
        unsigned n = 0;

        for (size_t i = 0; d->agents && i < d->agents->n; i++)
                n += d->agents->v[i].inflight;
        return n;
}

static struct agent *fwd_agent(struct daemon *d, struct step *s)
{
        return s->fwd->agent[0] ? agents_find(d->agents, s->fwd->agent) : NULL;
}

/* The step leaves its agent: counters, link (no callback). */
static void detach(struct daemon *d, struct step *s)
{
        struct agent *a = fwd_agent(d, s);

        if (a && a->inflight > 0)
                a->inflight--;
        agent_link_close(d, s->fwd->link);
        s->fwd->link = NULL;
        s->fwd->agent[0] = '\0';
        s->fwd->accepted = s->fwd->cancelling = false;
        s->fwd->remote_id[0] = '\0';
}

static void requeue(struct daemon *d, struct step *s, const char *why)
{
        log_info("event=step-requeue step=%s agent=%s reason=\"%s\"", s->id, s->fwd->agent, why);
        detach(d, s);
        s->state = STEP_QUEUED;
        d->n_live--;
        TAILQ_INSERT_HEAD(&d->queue, s, qlink);
        d->n_queued++;
}

static void finish(struct daemon *d, struct step *s, enum step_reason reason, const char *msg)
{
        struct step_result r = { .reason = reason, .exit_code = -1 };

        snprintf(r.message, sizeof(r.message), "%s", msg);
        detach(d, s);
        step_finish(d, s, &r);
}

/* The request as recorded, made into a run for the agent. */
static json_t *forward_request(struct daemon *d, struct step *s)
{
        _cleanup_close_ int dfd = openat(d->steps_fd, s->id,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int fd = dfd < 0 ? -1 : openat(dfd, "request.json",
                                                       O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *text = NULL;
        size_t len;

        if (fd < 0 || read_full_fd(fd, &text, &len) < 0)
                return NULL;
        json_auto_t *rec = json_loadb(text, len, 0, NULL);
        json_t *r = json_deep_copy(json_object_get(rec, "request"));
        if (!json_is_object(r))
                return json_decref(r), NULL;
        static const char *const drop[] = { "stdin_bytes", "idempotency_key", "retry_safe",
                                             "requires", "type", "req" };
        for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
                json_object_del(r, drop[i]);
        json_object_set_new(r, "type", json_string("run"));
        json_object_set_new(r, "req", json_integer(RUN_REQ));
        json_object_set_new(r, "cancel_on_disconnect", json_true());
        return r;
}

static int add_stdin(struct step *s, json_t *run)
{
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ char *b64 = NULL;
        ssize_t n;

        if (s->stdin_fd < 0)
                return 0;
        buf = malloc(PROTO_STDIN_MAX + 1);
        if (!buf)
                return -ENOMEM;
        n = pread(s->stdin_fd, buf, PROTO_STDIN_MAX + 1, 0);
        if (n < 0 || n > (ssize_t)PROTO_STDIN_MAX)
                return n < 0 ? -errno : -EFBIG;
        b64 = malloc(4 * ((size_t)n / 3 + 1) + 1);
        if (!b64)
                return -ENOMEM;
        b64[base64_encode(b64, buf, (size_t)n)] = '\0';
        return json_object_set_new(run, "stdin", json_string(b64)) == 0 ? 0 : -ENOMEM;
}

static void on_open(struct daemon *d, struct agent_link *l)
{
        struct step *s = l->userdata;
        json_auto_t *run = forward_request(d, s);

        if (!run || add_stdin(s, run) < 0 || agent_link_send(d, l, run) < 0) {
                log_error("event=forward-error step=%s agent=%s cannot build the request", s->id,
                          l->name);
                finish(d, s, STEP_REASON_REJECTED, "the supervisor could not forward the step");
                step_schedule(d);
                return;
        }
        log_info("event=step-forwarded step=%s agent=%s version=%s", s->id, l->name,
                 l->peer_version);
}

static void on_refused(struct daemon *d, struct step *s, json_t *msg)
{
        const char *code = json_string_value(json_object_get(msg, "code")) ?: "?";
        const char *m = json_string_value(json_object_get(msg, "message")) ?: "";
        struct agent *a = fwd_agent(d, s);
        char why[320];

        snprintf(why, sizeof(why), "agent %s refused the step: %s: %s", s->fwd->agent, code, m);
        if (strcmp(code, "queue-full") == 0 || strcmp(code, "draining") == 0 ||
            strcmp(code, "too-many-connections") == 0) {
                if (a)
                        a->refused_until = now_monotonic_usec() + AGENTS_REFUSED_BACKOFF_USEC;
                requeue(d, s, why);
        } else {
                log_notice("event=step-rejected step=%s %s", s->id, why);
                finish(d, s, STEP_REASON_REJECTED, why);
        }
        step_schedule(d);
}

static void on_output(struct daemon *d, struct step *s, json_t *msg)
{
        const char *stream = json_string_value(json_object_get(msg, "stream"));
        const char *data = json_string_value(json_object_get(msg, "data"));
        size_t len = data ? strlen(data) : 0;
        _cleanup_free_ uint8_t *buf = malloc(len / 4 * 3 + 3);
        ssize_t n;

        if (!stream || !data || !buf)
                return;
        n = base64_decode(buf, data, len);
        if (n <= 0)
                return;
        step_output(d, s, strcmp(stream, "stderr") == 0 ? LOG_STREAM_STDERR : LOG_STREAM_STDOUT,
                    buf, (size_t)n);
}

static void on_exit_event(struct daemon *d, struct step *s, json_t *msg)
{
        struct step_result r;
        uint64_t out = 0;

        if (proto_result_from_json(json_object_get(msg, "result"), &r, &out) < 0) {
                finish(d, s, STEP_REASON_LOST, "the agent sent a malformed result");
        } else {
                detach(d, s);
                step_finish(d, s, &r);
        }
        step_schedule(d);
}

static void on_frame(struct daemon *d, struct agent_link *l, json_t *msg)
{
        struct step *s = l->userdata;
        const char *type = json_string_value(json_object_get(msg, "type"));
        json_int_t req = json_integer_value(json_object_get(msg, "req"));

        if (strcmp(type, "error") == 0 && req == RUN_REQ && !s->fwd->accepted)
                return on_refused(d, s, msg);
        if (strcmp(type, "accepted") == 0 && req == RUN_REQ) {
                const char *id = json_string_value(json_object_get(msg, "step"));
                s->fwd->accepted = true;
                snprintf(s->fwd->remote_id, sizeof(s->fwd->remote_id), "%s", id ?: "");
                if (s->fwd->cancelling)
                        (void)remote_cancel(d, s, "cancelled before the agent accepted it");
                return;
        }
        if (strcmp(type, "started") == 0)
                return step_mark_running(d, s);
        if (strcmp(type, "output") == 0)
                return on_output(d, s, msg);
        if (strcmp(type, "exit") == 0)
                return on_exit_event(d, s, msg);
        /* queued, cancelling, errors about a cancel: nothing to do */
}

static void on_closed(struct daemon *d, struct agent_link *l, int err)
{
        struct step *s = l->userdata;
        struct agent *a = fwd_agent(d, s);
        char why[400];

        s->fwd->link = NULL;
        if (a) {
                a->healthy = false;
                snprintf(a->error, sizeof(a->error), "%s", l->error);
        }
        if (!s->fwd->cancelling && (s->fwd->retry_safe || !s->fwd->accepted)) {
                /* not accepted: the agent never took it (and would cancel it
                 * on the disconnect if it had), so another member may */
                requeue(d, s, l->error);
        } else {
                snprintf(why, sizeof(why), "%s%s", l->error,
                         s->fwd->cancelling ? "" : " (not retried: the request is not retry_safe)");
                log_warning("event=step-lost step=%s agent=%s why=\"%s\"", s->id, s->fwd->agent,
                            l->error);
                finish(d, s, s->fwd->cancelling ? STEP_REASON_CANCELLED : STEP_REASON_LOST, why);
        }
        step_schedule(d);
}

static const struct agent_link_ops remote_ops = {
        .open = on_open,
        .frame = on_frame,
        .closed = on_closed,
};

int remote_start(struct daemon *d, struct step *s, const char *agent)
{
        struct agent *a = agents_find(d->agents, agent);
        char err[320] = "";
        int r;

        if (!s->fwd && !(s->fwd = calloc(1, sizeof(*s->fwd))))
                return -ENOMEM;
        if (!a || !d->agents->tls) {
                if (a)
                        a->healthy = false;
                return -ENOENT;
        }
        r = agent_link_open(d, d->agents->tls, a->name, a->address, a->pin, &remote_ops, s,
                            &s->fwd->link, err, sizeof(err));
        if (r < 0) {
                a->healthy = false;
                snprintf(a->error, sizeof(a->error), "%s", err[0] ? err : strerror(-r));
                return r;
        }
        snprintf(s->fwd->agent, sizeof(s->fwd->agent), "%s", a->name);
        s->fwd->attempts++;
        a->inflight++;
        s->state = STEP_STARTING;
        s->start_mono = now_monotonic_usec();
        d->n_live++;
        return 0;
}

int remote_cancel(struct daemon *d, struct step *s, const char *message)
{
        s->fwd->cancelling = true;
        if (!s->fwd->accepted)
                return 0; /* sent once the agent says which step it is */
        json_auto_t *o = json_pack("{s:s, s:i, s:s}", "type", "cancel", "req", CANCEL_REQ, "step",
                                   s->fwd->remote_id);
        return o ? agent_link_send(d, s->fwd->link, o) : -ENOMEM;
}

void remote_release(struct daemon *d, struct step *s)
{
        if (!s->fwd)
                return;
        if (s->fwd->link)
                detach(d, s);
        json_decref(s->fwd->requires);
        free(s->fwd);
        s->fwd = NULL;
}

void remote_tick(struct daemon *d, uint64_t now)
{
        struct step *s, *next;

        for (s = TAILQ_FIRST(&d->steps); s; s = next) {
                next = TAILQ_NEXT(s, link);
                if (!remote_active(s) || !s->fwd->link || s->fwd->accepted ||
                    now - s->start_mono < REMOTE_ACCEPT_USEC)
                        continue;
                char why[200];
                snprintf(why, sizeof(why), "agent %s did not accept the step within %u s",
                         s->fwd->agent, REMOTE_ACCEPT_USEC / 1000000u);
                agent_link_fail(d, s->fwd->link, -ETIMEDOUT, why); /* on_closed */
        }
}
