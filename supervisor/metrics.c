/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition of the daemon's state (see metrics.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "supervisor/agents.h"
#include "supervisor/daemon.h"
#include "supervisor/metrics.h"

static const double duration_bounds[METRICS_DURATION_BUCKETS] = METRICS_DURATION_BOUNDS;

void metrics_histogram_observe(struct metrics_histogram *h, uint64_t usec)
{
        size_t i = 0;

        while (i < METRICS_DURATION_BUCKETS && (double)usec > duration_bounds[i] * 1e6)
                i++;
        h->bucket[i]++;
        h->count++;
        h->sum_usec += usec;
}

/* A label value: \ " and newline escaped, as the format wants. */
static void put_label(FILE *f, const char *s)
{
        for (; s && *s; s++) {
                if (*s == '\\' || *s == '"')
                        fputc('\\', f);
                if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
        }
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
        family(f, name, type, help);
        fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void format_steps(const struct metrics_view *v, FILE *f)
{
        scalar(f, "stepd_steps_accepted_total", "counter",
               "Run requests accepted (started at once or queued).", v->steps_accepted);
        scalar(f, "stepd_steps_started_total", "counter", "Steps handed to a sandbox.",
               v->steps_started);
        family(f, "stepd_steps_ended_total", "counter", "Steps ended, by recorded reason.");
        for (int r = STEP_REASON_NONE + 1; r < _STEP_REASON_MAX; r++)
                fprintf(f, "stepd_steps_ended_total{reason=\"%s\"} %llu\n",
                        step_reason_to_string((enum step_reason)r),
                        (unsigned long long)v->steps_ended[r]);
        scalar(f, "stepd_steps_running", "gauge", "Steps starting or running now.", v->running);
        scalar(f, "stepd_steps_queued", "gauge", "Steps waiting for capacity.", v->queued);
        scalar(f, "stepd_capacity", "gauge", "Steps that may run at once.", v->capacity);
        scalar(f, "stepd_queue_limit", "gauge", "Steps that may wait in the queue.",
               v->queue_limit);
        scalar(f, "stepd_draining", "gauge", "1 while the daemon is stopping.", v->draining);
}

static void format_durations(const struct metrics_view *v, FILE *f)
{
        static const struct metrics_histogram zero;
        const struct metrics_histogram *h = v->durations ? v->durations : &zero;
        uint64_t cum = 0;

        family(f, "stepd_step_duration_seconds", "histogram",
               "Wall time of steps that started, from start to end.");
        for (size_t i = 0; i < METRICS_DURATION_BUCKETS; i++) {
                cum += h->bucket[i];
                fprintf(f, "stepd_step_duration_seconds_bucket{le=\"%g\"} %llu\n",
                        duration_bounds[i], (unsigned long long)cum);
        }
        fprintf(f, "stepd_step_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)h->count);
        fprintf(f, "stepd_step_duration_seconds_sum %.6f\n", (double)h->sum_usec / 1e6);
        fprintf(f, "stepd_step_duration_seconds_count %llu\n", (unsigned long long)h->count);
}

static void format_requests(const struct metrics_view *v, FILE *f)
{
        family(f, "stepd_requests_rejected_total", "counter",
               "Requests and connections refused, by error code.");
        for (int c = 0; c < _PROTO_E_MAX; c++)
                fprintf(f, "stepd_requests_rejected_total{cause=\"%s\"} %llu\n",
                        proto_error_code_to_string((enum proto_error_code)c),
                        (unsigned long long)v->requests_rejected[c]);
        scalar(f, "stepd_clients_connected", "gauge", "Client connections open now.", v->clients);
        scalar(f, "stepd_clients_accepted_total", "counter", "Client connections accepted.",
               v->clients_accepted);
        scalar(f, "stepd_clients_dropped_slow_total", "counter",
               "Clients disconnected because they did not read their events.",
               v->clients_dropped_slow);
        scalar(f, "stepd_output_bytes_total", "counter", "Bytes of step output read.",
               v->output_bytes);
}

static void format_spares(const struct metrics_view *v, FILE *f)
{
        static const struct {
                const char *name, *type, *help;
        } fams[] = {
                { "stepd_spares_ready", "gauge", "Ready-made parts of a launch, by kind." },
                { "stepd_spares_taken_total", "counter", "Launches that took a ready-made part." },
                { "stepd_spares_missed_total", "counter",
                  "Launches that found none ready and made their own." },
                { "stepd_spares_made_total", "counter", "Ready-made parts made." },
                { "stepd_spares_failed_total", "counter",
                  "Failures of the worker that makes (and removes) them." },
                { "stepd_spares_recycled_total", "counter",
                  "Parts handed back unused by an ended step and ready again." },
                { "stepd_spares_discarded_total", "counter",
                  "Parts handed back by an ended step and closed: used, not looked at, or no room." },
        };

        if (v->n_spares == 0)
                return;
        for (size_t k = 0; k < ARRAY_SIZE(fams); k++) {
                family(f, fams[k].name, fams[k].type, fams[k].help);
                for (size_t i = 0; i < v->n_spares; i++) {
                        const struct metrics_spares *s = &v->spares[i];
                        const uint64_t val[] = { s->n.ready,  s->n.taken,  s->n.missed,
                                                 s->n.made,   s->n.failed, s->n.recycled,
                                                 s->n.discarded };

                        fprintf(f, "%s{kind=\"", fams[k].name);
                        put_label(f, s->kind);
                        fprintf(f, "\"} %llu\n", (unsigned long long)val[k]);
                }
        }
}

static void format_agents(const struct metrics_view *v, FILE *f)
{
        family(f, "stepd_agent_info", "gauge", "Configured remote agents (always 1).");
        for (size_t i = 0; i < v->n_agents; i++) {
                fputs("stepd_agent_info{agent=\"", f);
                put_label(f, v->agents[i].name);
                fputs("\",address=\"", f);
                put_label(f, v->agents[i].address);
                fputs("\"} 1\n", f);
        }
        static const char *const names[] = { "stepd_agent_up", "stepd_agent_steps_running",
                                             "stepd_agent_capacity",
                                             "stepd_agent_steps_forwarded" };
        static const char *const helps[] = { "1 when the agent answers and is healthy.",
                                             "Steps the agent reported running.",
                                             "Capacity the agent reported.",
                                             "Our steps on the agent that have not ended." };
        for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
                family(f, names[k], "gauge", helps[k]);
                for (size_t i = 0; i < v->n_agents; i++) {
                        const struct metrics_agent *a = &v->agents[i];
                        unsigned vals[] = { a->up, a->running, a->capacity, a->forwarded };
                        if (!a->known)
                                continue;
                        fprintf(f, "%s{agent=\"", names[k]);
                        put_label(f, a->name);
                        fprintf(f, "\"} %u\n", vals[k]);
                }
        }
}

int metrics_format(const struct metrics_view *v, FILE *f)
{
        family(f, "stepd_build_info", "gauge", "stepd's version (always 1).");
        fprintf(f, "stepd_build_info{version=\"%s\"} 1\n", STEPD_VERSION);
        format_steps(v, f);
        format_durations(v, f);
        format_requests(v, f);
        format_agents(v, f);
        format_spares(v, f);
        if (v->written_usec) {
                family(f, "stepd_metrics_timestamp_seconds", "gauge",
                       "When stepd wrote these metrics (textfile only).");
                fprintf(f, "stepd_metrics_timestamp_seconds %.3f\n", (double)v->written_usec / 1e6);
        }
        return ferror(f) ? -EIO : 0;
}

int metrics_write_file(const char *path, const char *text, size_t len)
{
        _cleanup_free_ char *dup = strdup(path), *base = strdup(path), *tmp = NULL;
        int r;

        if (!dup || !base)
                return -ENOMEM;
        /* A dot file without the .prom suffix: the collector never reads it half-written. */
        if (asprintf(&tmp, "%s/.%s.XXXXXX", dirname(dup), basename(base)) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = fchmod(fd, 0644) < 0 ? -errno : 0;
        if (r == 0)
                r = loop_write(fd, text, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void)unlink(tmp);
        return r;
}

size_t metrics_agents_view(const struct policy_config *c, struct agents *A,
                           struct metrics_agent **ret)
{
        const struct policy_agent *pa = NULL;
        size_t n = c ? policy_agents(c, &pa) : 0;
        struct metrics_agent *a = n ? calloc(n, sizeof(*a)) : NULL;

        if (!a)
                return 0;
        for (size_t i = 0; i < n; i++) {
                const struct agent *ag = agents_find(A, pa[i].name);
                a[i] = (struct metrics_agent){ .name = pa[i].name, .address = pa[i].address };
                if (!ag || (!ag->seen && !ag->error[0]))
                        continue; /* not probed yet: health unknown */
                a[i].known = true;
                a[i].up = ag->healthy;
                a[i].running = ag->running;
                a[i].capacity = ag->capacity;
                a[i].forwarded = ag->inflight;
        }
        *ret = a;
        return n;
}

/* The launcher's pools that run, into out[2]; how many. */
static size_t spares_view(struct daemon *d, struct metrics_spares out[2])
{
        size_t n = 0;

        if (!d->sandbox)
                return 0;
        out[n].kind = "cgroup";
        if (sandbox_context_cgroup_spares(d->sandbox, &out[n].n))
                n++;
        out[n].kind = "netns";
        if (sandbox_context_netns_spares(d->sandbox, &out[n].n))
                n++;
        return n;
}

static int render(struct daemon *d, const struct metrics_histogram *durations,
                  struct agents *A, bool stamp, char **ret, size_t *ret_len)
{
        _cleanup_free_ struct metrics_agent *agents = NULL;
        struct metrics_spares spares[2];
        struct metrics_view v = {
                .steps_accepted = d->metrics.steps_accepted,
                .steps_started = d->metrics.steps_started,
                .clients_accepted = d->metrics.clients_accepted,
                .clients_dropped_slow = d->metrics.clients_dropped_slow,
                .output_bytes = d->metrics.output_bytes,
                .durations = durations,
                .running = d->n_live,
                .queued = d->n_queued,
                .capacity = daemon_capacity(d),
                .queue_limit = daemon_queue_limit(d),
                .clients = d->n_clients,
                .draining = d->draining,
                .written_usec = stamp ? now_realtime_usec() : 0,
        };
        char *buf = NULL;
        size_t len = 0;

        memcpy(v.steps_ended, d->metrics.steps_ended, sizeof(v.steps_ended));
        memcpy(v.requests_rejected, d->metrics.requests_refused, sizeof(v.requests_rejected));
        v.n_agents = metrics_agents_view(d->config, A, &agents);
        v.agents = agents;
        v.spares = spares;
        v.n_spares = spares_view(d, spares);
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        int r = metrics_format(&v, f);
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}

int metrics_render_agents(struct daemon *d, const struct metrics_histogram *durations,
                          struct agents *agents, char **ret, size_t *ret_len)
{
        return render(d, durations, agents, false, ret, ret_len);
}

int metrics_render(struct daemon *d, const struct metrics_histogram *durations, char **ret,
                   size_t *ret_len)
{
        return render(d, durations, NULL, false, ret, ret_len);
}

int metrics_write_textfile_agents(struct daemon *d, const struct metrics_histogram *durations,
                                  struct agents *agents, const char *path)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = render(d, durations, agents, true, &text, &len);

        return r < 0 ? r : metrics_write_file(path, text, len);
}

int metrics_write_textfile(struct daemon *d, const struct metrics_histogram *durations,
                           const char *path)
{
        return metrics_write_textfile_agents(d, durations, NULL, path);
}
