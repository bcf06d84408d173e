/* SPDX-License-Identifier: MIT */
/* Agents: health probes and member selection. See agents.h.
 *
 * How this works: every interval, each agent without a probe in flight gets
 * a fresh link (agent_link.c): TLS with its pinned thumbprint, hello, one
 * `status` request. The answer makes it healthy and refreshes its capacity,
 * load, labels and version; a refused handshake, a closed connection or no
 * answer within the probe deadline makes it unhealthy with the reason kept
 * for `stepctl agents`. A fresh connection per probe proves what a step
 * needs: that a new connection gets through, now. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/agent_config.h"
#include "supervisor/agent_link.h"
#include "supervisor/agent_server.h"
#include "supervisor/agents.h"
#include "supervisor/daemon.h"
#include "supervisor/remote.h"

#define PROBE_TIMEOUT_USEC_MAX (5u * 1000000u)

struct agent *agents_find(struct agents *A, const char *name)
{
        for (size_t i = 0; A && i < A->n; i++)
                if (strcmp(A->v[i].name, name) == 0)
                        return &A->v[i];
        return NULL;
}

static void agent_done(struct daemon *d, struct agent *a)
{
        agent_link_close(d, a->probe);
        free(a->name);
        free(a->address);
        strv_free(a->labels);
        json_decref(a->reported_labels);
}

void agents_free(struct daemon *d, struct agents *A)
{
        if (!A)
                return;
        for (size_t i = 0; i < A->n; i++)
                agent_done(d, &A->v[i]);
        while (A->dead_links) {
                struct agent_link *l = A->dead_links;
                A->dead_links = l->next_dead;
                free(l);
        }
        free(A->v);
        tls_context_free(A->tls);
        free(A);
}

static int agent_init(struct agent *a, const struct policy_agent *p)
{
        if (!(a->name = strdup(p->name)) || !(a->address = strdup(p->address)) ||
            !(a->labels = strv_copy(p->labels ? p->labels : (char *[]){ NULL })))
                return -ENOMEM;
        if (tls_pin_parse(p->thumbprint, a->pin) < 0)
                return -EINVAL;
        snprintf(a->error, sizeof(a->error), "not probed yet");
        return 0;
}

int agents_new(const struct policy_config *c, const char *cert, const char *key,
               uint64_t interval_ms, struct agents **ret)
{
        const struct policy_agent *pa;
        size_t n = policy_agents(c, &pa);
        struct agents *A = calloc(1, sizeof(*A));
        int r = 0;

        if (!A || !(A->v = calloc(n + 1, sizeof(*A->v)))) {
                free(A);
                return -ENOMEM;
        }
        A->interval_usec = (interval_ms ? interval_ms : AGENTS_INTERVAL_MS_DEFAULT) * 1000u;
        for (size_t i = 0; i < n && r == 0; i++, A->n++)
                r = agent_init(&A->v[i], &pa[i]);
        if (r < 0) {
                agents_free(NULL, A);
                return r;
        }
        if (n > 0 && cert && key) {
                char *none[] = { NULL };
                if (tls_context_new(TLS_CLIENT, cert, key, none, &A->tls, A->tls_error,
                                    sizeof(A->tls_error)) < 0)
                        A->tls = NULL;
        } else if (n > 0) {
                snprintf(A->tls_error, sizeof(A->tls_error),
                         "no certificate for the agent link is configured");
        }
        *ret = A;
        return 0;
}

/* ---- probes ---------------------------------------------------------------- */

static void agent_unhealthy(struct agent *a, const char *why)
{
        if (a->healthy || strcmp(a->error, why) != 0)
                log_warning("event=agent-unhealthy agent=%s reason=\"%s\"", a->name, why);
        a->healthy = false;
        snprintf(a->error, sizeof(a->error), "%s", why);
}

static void probe_open(struct daemon *d, struct agent_link *l)
{
        json_auto_t *o = json_pack("{s:s, s:i}", "type", "status", "req", 1);

        if (!o || agent_link_send(d, l, o) < 0)
                agent_link_fail(d, l, -ENOMEM, "cannot send the status request");
}

static unsigned uint_member(const json_t *o, const char *key)
{
        json_int_t v = json_integer_value(json_object_get(o, key));

        return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
}

static void probe_frame(struct daemon *d, struct agent_link *l, json_t *msg)
{
        struct agent *a = l->userdata;
        const char *type = json_string_value(json_object_get(msg, "type"));
        json_t *labels = json_object_get(msg, "labels");

        if (!type || strcmp(type, "status") != 0) {
                const char *m = json_string_value(json_object_get(msg, "message"));
                char why[320];
                snprintf(why, sizeof(why), "agent %s answered status with %s: %s", a->name,
                         type ? type : "?", m ? m : "");
                a->probe = NULL;
                agent_unhealthy(a, why);
                agent_link_close(d, l);
                return;
        }
        if (!a->healthy)
                log_info("event=agent-healthy agent=%s version=%s", a->name, l->peer_version);
        a->healthy = a->seen = true;
        a->error[0] = '\0';
        a->capacity = uint_member(msg, "capacity");
        a->running = uint_member(msg, "running");
        a->queued = uint_member(msg, "queued");
        a->draining = json_is_true(json_object_get(msg, "draining"));
        a->last_seen_usec = now_realtime_usec();
        snprintf(a->version, sizeof(a->version), "%s",
                 json_string_value(json_object_get(msg, "version")) ?: l->peer_version);
        json_decref(a->reported_labels);
        a->reported_labels = json_is_object(labels) ? json_incref(labels) : NULL;
        a->probe = NULL;
        agent_link_close(d, l);
        step_schedule(d); /* a step may have waited for this member */
}

static void probe_closed(struct daemon *d, struct agent_link *l, int err)
{
        struct agent *a = l->userdata;

        a->probe = NULL;
        agent_unhealthy(a, l->error);
}

static const struct agent_link_ops probe_ops = {
        .open = probe_open,
        .frame = probe_frame,
        .closed = probe_closed,
};

static void probe_start(struct daemon *d, struct agents *A, struct agent *a, uint64_t now)
{
        char err[320] = "";
        int r;

        if (a->probe)
                return;
        if (!A->tls) {
                agent_unhealthy(a, A->tls_error);
                return;
        }
        r = agent_link_open(d, A->tls, a->name, a->address, a->pin, &probe_ops, a, &a->probe,
                            err, sizeof(err));
        if (r < 0) {
                a->probe = NULL;
                agent_unhealthy(a, err[0] ? err : strerror(-r));
                return;
        }
        a->probe_deadline = now + MIN(A->interval_usec, (uint64_t)PROBE_TIMEOUT_USEC_MAX);
}

void agents_probe_all(struct daemon *d, struct agents *A)
{
        uint64_t now = now_monotonic_usec();

        for (size_t i = 0; A && i < A->n; i++)
                probe_start(d, A, &A->v[i], now);
        if (A)
                A->next_probe = now + A->interval_usec;
}

void agents_tick(struct daemon *d, struct agents *A, uint64_t now)
{
        if (!A)
                return;
        for (size_t i = 0; i < A->n; i++) {
                struct agent *a = &A->v[i];
                if (a->probe && now >= a->probe_deadline) {
                        char why[160];
                        snprintf(why, sizeof(why), "agent %s did not answer within %llu ms",
                                 a->name,
                                 (unsigned long long)(MIN(A->interval_usec,
                                                          (uint64_t)PROBE_TIMEOUT_USEC_MAX) / 1000));
                        agent_link_fail(d, a->probe, -ETIMEDOUT, why); /* clears a->probe */
                }
        }
        if (now >= A->next_probe)
                agents_probe_all(d, A);
}

int agents_setup(struct daemon *d)
{
        const struct policy_agent *pa;
        struct link_config lc;
        char err[512] = "";
        int r;

        r = link_config_parse(policy_link_settings(d->config), &lc, err, sizeof(err));
        if (r < 0)
                return log_errno(r, "event=fatal configuration: %s", err);
        if (d->opt.agent_mode && !lc.listen) {
                log_error("event=fatal agent mode needs an \"agent\" object in stepd.json "
                          "(listen, certificate, key, trusted; see docs/agents.md)");
                r = -EINVAL;
        }
        if (r == 0 && d->opt.agent_mode)
                r = agent_server_new(d, &lc, &d->agent_server);
        if (r == 0 && policy_agents(d->config, &pa) > 0) {
                r = agents_new(d->config, lc.tls_certificate, lc.tls_key, lc.health_interval_ms,
                               &d->agents);
                if (r < 0)
                        log_errno(r, "event=fatal agents");
                else if (!d->agents->tls)
                        log_warning("event=agents-unreachable reason=\"%s\"", d->agents->tls_error);
                if (r == 0)
                        agents_probe_all(d, d->agents);
        }
        link_config_done(&lc);
        return r;
}

void agents_daemon_tick(struct daemon *d, uint64_t now)
{
        agents_tick(d, d->agents, now);
        remote_tick(d, now);
        agent_server_tick(d, d->agent_server, now);
        agent_links_reap(d);
        if (d->n_queued > 0)
                step_schedule(d); /* refusals expire, probes come back */
}

void agents_teardown(struct daemon *d)
{
        agent_server_free(d, d->agent_server);
        d->agent_server = NULL;
        agent_links_reap(d);
        agents_free(d, d->agents);
        d->agents = NULL;
}
