/* SPDX-License-Identifier: MIT */
/* The request handlers: one small function per request type, dispatched
 * through a table once the request is decoded and validated (ipc/proto.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/agent_server.h"
#include "supervisor/agents.h"
#include "supervisor/daemon.h"
#include "supervisor/remote.h"

#define LIST_MAX 1000

typedef void (*handler_fn)(struct daemon *d, struct client *c, const struct proto_request *r);

static void reply(struct daemon *d, struct client *c, json_t *o)
{
        if (o)
                (void)client_send(d, c, o);
        json_decref(o);
}

static void refuse(struct daemon *d, struct client *c, const struct proto_request *r,
                   const char *step, const struct proto_error *e)
{
        if (proto_error_code_closes(e->code))
                client_drop(d, c, e->code, e->message);
        else
                (void)client_send_error(d, c, r->has_req, r->req, step, e->code, "%s", e->message);
}

static void on_hello(struct daemon *d, struct client *c, const struct proto_request *r)
{
        if (r->version < 1) {
                struct proto_error e = { PROTO_E_UNSUPPORTED_VERSION, "" };
                snprintf(e.message, sizeof(e.message), "version %lld is not spoken; this server speaks 1",
                         (long long)r->version);
                client_drop(d, c, e.code, e.message);
                return;
        }
        c->hello = true;
        json_t *o = proto_reply_new("hello", r->has_req, r->req);
        if (o)
                json_object_update_new(o, json_pack("{s:i, s:s, s:i, s:I}", "version", PROTO_VERSION,
                                                    "server", "stepd/" STEPD_VERSION, "max_frame",
                                                    (int)FRAME_MAX, "uid",
                                                    (json_int_t)c->cred.uid));
        reply(d, c, o);
}

static void on_run(struct daemon *d, struct client *c, const struct proto_request *r)
{
        struct proto_error e = { 0 };
        struct step *s = NULL;
        int k = step_create(d, c, r, &s, &e);

        if (k < 0)
                return refuse(d, c, r, NULL, &e);
        unsigned pos = 0;
        if (s->state == STEP_QUEUED && (d->draining || d->n_live >= daemon_capacity(d)))
                pos = step_queue_position(d, s);
        json_t *o = proto_reply_new("accepted", r->has_req, r->req);
        if (o)
                json_object_update_new(o, json_pack("{s:s, s:i, s:b}", "step", s->id,
                                                    "queue_position", (int)pos, "existing", k == 1));
        reply(d, c, o);
        if (k == 0)
                step_set_owner(s, c);
        k = attach_client(d, c, s, 0);
        if (k < 0)
                (void)client_send_error(d, c, r->has_req, r->req, s->id, PROTO_E_INTERNAL,
                                        "cannot attach to the step: %s", strerror(-k));
        step_schedule(d);
}

/* attach, result and list: whom the project's policy admits now (root
 * too only when stepd.json keeps root_always_allowed; then also for the
 * records of a project since removed). */
static int may_see(struct daemon *d, struct client *c, const struct step *s, struct proto_error *e)
{
        if (c->cred.uid == 0 && policy_settings(d->config)->root_always_allowed)
                return 0;
        return daemon_authorize(d, c, s->project, POLICY_ATTACH, e);
}

static struct step *lookup(struct daemon *d, struct client *c, const struct proto_request *r)
{
        struct proto_error e = { PROTO_E_NO_SUCH_STEP, "" };
        struct step *s = step_find(d, r->step);

        if (!s) {
                snprintf(e.message, sizeof(e.message), "no live or kept step '%s'", r->step);
                refuse(d, c, r, r->step, &e);
                return NULL;
        }
        if (may_see(d, c, s, &e) < 0) {
                if (e.code != PROTO_E_PERMISSION_DENIED)
                        e.code = PROTO_E_PERMISSION_DENIED;
                refuse(d, c, r, r->step, &e);
                return NULL;
        }
        return s;
}

static void on_attach(struct daemon *d, struct client *c, const struct proto_request *r)
{
        struct step *s = lookup(d, c, r);

        if (!s)
                return;
        if (r->offset > s->output_bytes) {
                struct proto_error e = { PROTO_E_BAD_REQUEST, "" };
                snprintf(e.message, sizeof(e.message),
                         "member 'offset': %llu is beyond the step's output (%llu bytes so far)",
                         (unsigned long long)r->offset, (unsigned long long)s->output_bytes);
                return refuse(d, c, r, s->id, &e);
        }
        json_t *o = proto_reply_new("attached", r->has_req, r->req);
        if (o)
                json_object_update_new(o, json_pack("{s:s, s:s, s:I}", "step", s->id, "state",
                                                    step_state_to_string(s->state),
                                                    "output_bytes",
                                                    (json_int_t)s->output_bytes));
        reply(d, c, o);
        int k = attach_client(d, c, s, r->offset);
        if (k < 0)
                (void)client_send_error(d, c, r->has_req, r->req, s->id, PROTO_E_INTERNAL,
                                        "cannot attach to the step: %s", strerror(-k));
}

static void on_cancel(struct daemon *d, struct client *c, const struct proto_request *r)
{
        struct proto_error e = { PROTO_E_PERMISSION_DENIED, "" };
        struct step *s = step_find(d, r->step);

        if (!s) {
                e.code = PROTO_E_NO_SUCH_STEP;
                snprintf(e.message, sizeof(e.message), "no live or kept step '%s'", r->step);
                return refuse(d, c, r, r->step, &e);
        }
        /* the project's policy must admit the peer, who must also be the
         * one that started the step, or root */
        if (daemon_authorize(d, c, s->project, POLICY_CANCEL, &e) < 0) {
                e.code = PROTO_E_PERMISSION_DENIED;
                return refuse(d, c, r, s->id, &e);
        }
        if (c->cred.uid != 0 && c->cred.uid != s->uid) {
                snprintf(e.message, sizeof(e.message),
                         "uid %u may not cancel a step started by uid %u", (unsigned)c->cred.uid,
                         (unsigned)s->uid);
                return refuse(d, c, r, s->id, &e);
        }
        if (s->state == STEP_DONE) {
                e.code = PROTO_E_BAD_REQUEST;
                snprintf(e.message, sizeof(e.message), "the step has already ended (%s)",
                         step_reason_to_string(s->result.reason));
                return refuse(d, c, r, s->id, &e);
        }
        json_t *o = proto_reply_new("cancelling", r->has_req, r->req);
        if (o)
                json_object_set_new(o, "step", json_string(s->id));
        reply(d, c, o);
        (void)step_cancel(d, s, STEP_REASON_CANCELLED, "cancelled by a client");
}

static json_t *list_entry(const struct step *s)
{
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "step", s->id, "project", s->project,
                              "state", step_state_to_string(s->state), "uid", (json_int_t)s->uid,
                              "created_usec", (json_int_t)s->created_usec);

        if (o)
                json_object_set_new(o, "reason",
                                    s->state == STEP_DONE
                                            ? json_string(step_reason_to_string(s->result.reason))
                                            : json_null());
        return o;
}

static void on_list(struct daemon *d, struct client *c, const struct proto_request *r)
{
        json_t *steps = json_array();
        struct step *s;
        unsigned n = 0;

        /* newest first, so the cap keeps the interesting ones */
        TAILQ_FOREACH_REVERSE(s, &d->steps, step_list, link) {
                struct proto_error e;
                if (n >= LIST_MAX)
                        break;
                if (may_see(d, c, s, &e) < 0)
                        continue;
                json_array_append_new(steps, list_entry(s));
                n++;
        }
        json_t *o = proto_reply_new("list", r->has_req, r->req);
        if (o)
                json_object_set_new(o, "steps", steps);
        else
                json_decref(steps);
        reply(d, c, o);
}

static void on_status(struct daemon *d, struct client *c, const struct proto_request *r)
{
        json_t *o = proto_reply_new("status", r->has_req, r->req);

        if (o)
                json_object_update_new(o, json_pack("{s:s, s:i, s:i, s:i, s:i, s:b}", "version",
                                                    STEPD_VERSION, "running", (int)d->n_live,
                                                    "queued", (int)d->n_queued, "capacity",
                                                    (int)daemon_capacity(d), "queue_limit",
                                                    (int)daemon_queue_limit(d), "draining",
                                                    d->draining));
        if (o && d->agent_server) /* what a supervisor matches `requires` against */
                json_object_set_new(o, "labels", agent_server_labels(d->agent_server));
        reply(d, c, o);
}

static void on_agents(struct daemon *d, struct client *c, const struct proto_request *r)
{
        json_t *o = proto_reply_new("agents", r->has_req, r->req);
        unsigned remote = remote_live(d);

        if (o)
                json_object_set_new(o, "agents",
                                    agents_to_json(d->agents, d->config, d->n_live - remote,
                                                   daemon_capacity(d), d->n_queued));
        reply(d, c, o);
}

static void on_result(struct daemon *d, struct client *c, const struct proto_request *r)
{
        struct step *s = lookup(d, c, r);

        if (!s)
                return;
        if (s->state != STEP_DONE) {
                struct proto_error e = { PROTO_E_NOT_FINISHED, "" };
                snprintf(e.message, sizeof(e.message), "the step is %s",
                         step_state_to_string(s->state));
                return refuse(d, c, r, s->id, &e);
        }
        json_t *o = proto_reply_new("result", r->has_req, r->req);
        if (o)
                json_object_update_new(o, json_pack("{s:s, s:o}", "step", s->id, "result",
                                                    proto_result_to_json(&s->result, s->output_bytes)));
        reply(d, c, o);
}

static void on_reload(struct daemon *d, struct client *c, const struct proto_request *r)
{
        struct proto_error e = { PROTO_E_PERMISSION_DENIED, "only root may reload" };

        if (c->cred.uid != 0)
                return refuse(d, c, r, NULL, &e);
        if (daemon_reload(d, e.message, sizeof(e.message)) < 0) {
                e.code = PROTO_E_BAD_CONFIG;
                return refuse(d, c, r, NULL, &e);
        }
        reply(d, c, proto_reply_new("reloaded", r->has_req, r->req));
}

static void on_metrics(struct daemon *d, struct client *c, const struct proto_request *r)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int k = metrics_render_agents(d, &d->metrics.durations, d->agents, &text, &len);

        if (k < 0) {
                struct proto_error e = { PROTO_E_INTERNAL, "cannot render the metrics" };
                return refuse(d, c, r, NULL, &e);
        }
        json_t *o = proto_reply_new("metrics", r->has_req, r->req);
        if (o)
                json_object_set_new(o, "text", json_stringn(text, len));
        reply(d, c, o);
}

static const handler_fn handlers[_PROTO_TYPE_MAX] = {
        [PROTO_HELLO] = on_hello,   [PROTO_RUN] = on_run,       [PROTO_ATTACH] = on_attach,
        [PROTO_CANCEL] = on_cancel, [PROTO_LIST] = on_list,     [PROTO_STATUS] = on_status,
        [PROTO_RESULT] = on_result, [PROTO_RELOAD] = on_reload,     [PROTO_METRICS] = on_metrics, [PROTO_AGENTS] = on_agents,
};

void request_dispatch(struct daemon *d, struct client *c, json_t *obj)
{
        struct proto_request r;
        struct proto_error e = { 0 };
        int k = proto_request_decode(obj, &r, &e);

        if (!c->hello && !(r.type == PROTO_HELLO && (k == 0 || e.code != PROTO_E_UNKNOWN_TYPE))) {
                client_drop(d, c, PROTO_E_HANDSHAKE_REQUIRED, "the first frame must be hello");
        } else if (k < 0) {
                refuse(d, c, &r, NULL, &e);
        } else if (!handlers[r.type]) {
                e = (struct proto_error){ PROTO_E_UNKNOWN_TYPE, "" };
                snprintf(e.message, sizeof(e.message), "request type '%s' is not served here",
                         proto_type_to_string(r.type));
                refuse(d, c, &r, NULL, &e);
        } else {
                log_debug("event=request client=%llu uid=%u type=%s", (unsigned long long)c->id,
                          (unsigned)c->cred.uid, proto_type_to_string(r.type));
                handlers[r.type](d, c, &r);
        }
        proto_request_done(&r);
}
