/* SPDX-License-Identifier: MIT */
/* Admission of a `run`: authorization, idempotency, queue limit, the
 * policy's resolution into a launch spec, the record on disk, the queue.
 * Everything that can refuse a request happens here, before anything is
 * started, so a refusal leaves nothing behind. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/daemon.h"
#include "supervisor/remote.h"

_printf_(3, 4) static int refuse(struct proto_error *err, enum proto_error_code code,
                                 const char *fmt, ...)
{
        va_list ap;

        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int daemon_authorize(struct daemon *d, const struct client *c, const char *project,
                     enum policy_action a, struct proto_error *err)
{
        char why[512] = "";
        struct peer p = { .uid = c->cred.uid, .gid = c->cred.gid, .pid = c->cred.pid,
                          .groups = c->cred.groups, .n_groups = c->cred.n_groups };
        int r = policy_authorize(d->config, project, &p, a, why, sizeof(why));

        if (r == 0)
                return 0;
        if (r == -ENOENT)
                return refuse(err, PROTO_E_UNKNOWN_PROJECT, "%s", why[0] ? why : "no such project");
        if (r == -EACCES || r == -EPERM)
                return refuse(err, PROTO_E_PERMISSION_DENIED, "%s",
                              why[0] ? why : "not allowed by the policy");
        if (r == -EINVAL)
                return refuse(err, PROTO_E_BAD_REQUEST, "%s", why[0] ? why : "invalid project");
        return refuse(err, PROTO_E_INTERNAL, "authorization failed: %s", strerror(-r));
}

static struct step *find_idempotent(struct daemon *d, uid_t uid, const char *project,
                                    const char *key)
{
        struct step *s;

        TAILQ_FOREACH_REVERSE(s, &d->steps, step_list, link)
                if (s->idempotency_key && s->uid == uid && strcmp(s->idempotency_key, key) == 0 &&
                    strcmp(s->project, project) == 0)
                        return s;
        return NULL;
}

static int resolve(struct daemon *d, const struct proto_run *run, struct step *s,
                   struct proto_error *err)
{
        char why[512] = "";
        struct step_request sr = {
                .project = run->project,
                .argv = run->argv,
                .script = run->script,
                .interpreter = run->interpreter,
                .env = run->env,
                .timeout_ms = run->timeout_ms,
        };
        int r = policy_resolve(s->config, &sr, &s->spec, why, sizeof(why));

        if (r == -ENOENT)
                return refuse(err, PROTO_E_UNKNOWN_PROJECT, "%s", why[0] ? why : "no such project");
        if (r == -EINVAL)
                return refuse(err, PROTO_E_BAD_REQUEST, "%s", why[0] ? why : "refused by the policy");
        if (r < 0)
                return refuse(err, PROTO_E_INTERNAL, "%s", why[0] ? why : strerror(-r));
        if (run->script) {
                _cleanup_free_ char *path = NULL;
                const char *target = s->spec->workdir_target ? s->spec->workdir_target : "/work";
                if (asprintf(&path, "%s/.stepd-script", strcmp(target, "/") == 0 ? "" : target) < 0 ||
                    strv_push(&s->spec->argv, path) < 0 || !(s->script = strdup(run->script)))
                        return refuse(err, PROTO_E_INTERNAL, "out of memory");
        }
        if (s->spec->timeout_ms == 0)
                s->spec->timeout_ms = policy_settings(s->config)->default_timeout_ms;
        s->spec->step_id = strdup(s->id);
        if (!s->spec->step_id)
                return refuse(err, PROTO_E_INTERNAL, "out of memory");
        return 0;
}

static int make_stdin(const struct proto_run *run, int *ret)
{
        _cleanup_close_ int fd = memfd_create("stepd-stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        if (fd < 0)
                return -errno;
        int r = loop_write(fd, run->stdin_data, run->stdin_len);
        if (r < 0)
                return r;
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return -errno;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        *ret = TAKE_FD(fd);
        return 0;
}

/* request.json: who asked, when, and the request (stdin as its length). */
static json_t *record_new(const struct step *s, const struct client *c,
                          const struct proto_request *req)
{
        json_t *r = json_deep_copy(req->obj);
        json_t *o;

        if (!r)
                return NULL;
        json_object_del(r, "type");
        json_object_del(r, "req");
        if (json_object_get(r, "stdin")) {
                json_object_del(r, "stdin");
                json_object_set_new(r, "stdin_bytes", json_integer((json_int_t)req->run.stdin_len));
        }
        o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "step", s->id, "project", s->project,
                      "uid", (json_int_t)c->cred.uid, "gid", (json_int_t)c->cred.gid, "pid",
                      (json_int_t)c->cred.pid, "created_usec", (json_int_t)s->created_usec,
                      "request", r);
        if (o && s->idempotency_key)
                json_object_set_new(o, "idempotency_key", json_string(s->idempotency_key));
        return o;
}

static struct step *step_new(struct daemon *d, const struct client *c, const struct proto_run *run)
{
        struct step *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->log_fd = s->stdin_fd = -1;
        s->timer_w.fd = s->sync_w.fd = s->out_w.fd = s->err_w.fd = s->pid_w.fd = -1;
        TAILQ_INIT(&s->attachments);
        do
                make_step_id(s->id, sizeof(s->id));
        while (step_find(d, s->id));
        s->uid = c->cred.uid;
        s->gid = c->cred.gid;
        s->peer_pid = c->cred.pid;
        s->created_usec = now_realtime_usec();
        s->project = strdup(run->project);
        if (run->idempotency_key)
                s->idempotency_key = strdup(run->idempotency_key);
        s->config = policy_config_ref(d->config);
        s->cancel_on_disconnect = run->cancel_on_disconnect;
        if (!s->project || (run->idempotency_key && !s->idempotency_key)) {
                step_free(d, s);
                return NULL;
        }
        return s;
}

/* Returns 0 with a new queued step, 1 with an existing one (same
 * idempotency key), or -EINVAL with err. */
int step_create(struct daemon *d, struct client *c, const struct proto_request *req,
                struct step **ret, struct proto_error *err)
{
        const struct proto_run *run = &req->run;
        struct step *s;
        int r;

        if (d->draining)
                return refuse(err, PROTO_E_DRAINING, "the supervisor is stopping; not taking new steps");
        r = daemon_authorize(d, c, run->project, POLICY_RUN, err);
        if (r < 0)
                return r;
        if (run->idempotency_key &&
            (s = find_idempotent(d, c->cred.uid, run->project, run->idempotency_key))) {
                *ret = s;
                return 1;
        }
        if (d->n_live >= daemon_capacity(d) && d->n_queued >= daemon_queue_limit(d))
                return refuse(err, PROTO_E_QUEUE_FULL, "%u steps running and %u queued; try again later",
                              d->n_live, d->n_queued);
        s = step_new(d, c, run);
        if (!s)
                return refuse(err, PROTO_E_INTERNAL, "out of memory");
        r = resolve(d, run, s, err);
        if (r == 0 && remote_prepare(s, req) < 0)
                r = refuse(err, PROTO_E_INTERNAL, "out of memory");
        if (r == 0 && run->has_stdin && (r = make_stdin(run, &s->stdin_fd)) < 0)
                r = refuse(err, PROTO_E_INTERNAL, "cannot hold stdin: %s", strerror(-r));
        if (r == 0) {
                json_auto_t *rec = record_new(s, c, req);
                r = rec ? store_step_create(d, s, rec) : -ENOMEM;
                if (r < 0) {
                        log_errno(r, "event=store-error step=%s cannot create the record", s->id);
                        r = refuse(err, PROTO_E_INTERNAL, "cannot create the step's record: %s",
                                   strerror(-r));
                }
        }
        if (r < 0) {
                step_free(d, s);
                return r;
        }
        s->state = STEP_QUEUED;
        steps_add(d, s, TAILQ_LAST(&d->steps, step_list));
        TAILQ_INSERT_TAIL(&d->queue, s, qlink);
        d->n_queued++;
        d->metrics.steps_accepted++;
        log_info("event=step-accepted step=%s project=%s peer_uid=%u peer_pid=%d", s->id,
                 s->project, (unsigned)s->uid, (int)c->cred.pid);
        *ret = s;
        return 0;
}
