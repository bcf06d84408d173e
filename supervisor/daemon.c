/* SPDX-License-Identifier: MIT */
/*
 * `stepd daemon`: the supervisor. Start-up: configuration (policy_load),
 * state folder (records of steps that were running become `lost`, their
 * working folders go), sandbox context (which also cleans up cgroups left
 * by a crash), the listening sockets, a signalfd and a 1 s tick timerfd;
 * then READY=1 and one epoll loop (see daemon.h for the modules).
 *
 * Signals: HUP reloads the configuration (new steps get it, running ones
 * keep theirs; a broken one is logged and the last good one stays). TERM
 * and INT drain: stop accepting, refuse queued steps (rejected), let running
 * ones finish up to the grace period, then cancel them; exit 0 when none is
 * left. A second TERM/INT cancels at once.
 *
 * Work that may free clients or steps (linger expiry, pruning) runs after a
 * batch of epoll events, never inside one, so no pending event of the batch
 * can point at freed memory.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/agents.h"
#include "supervisor/daemon.h"
#include "supervisor/verbs.h"

#define PRUNE_INTERVAL_USEC (60 * 1000000ull)
#define METRICS_INTERVAL_MS_DEFAULT (15 * 1000ull)
#define DRAIN_GRACE_MS_DEFAULT (30 * 1000ull)
#define MAX_CONNECTIONS_PER_UID_DEFAULT 64

int watch_add(struct daemon *d, struct watch *w, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = w };

        return epoll_ctl(d->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

int watch_mod(struct daemon *d, struct watch *w, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = w };

        return epoll_ctl(d->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void watch_del(struct daemon *d, struct watch *w)
{
        if (w->fd >= 0)
                (void)epoll_ctl(d->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

/* Step cgroups kept ready (with the limits of the last step): making one
 * takes ~0.5 ms (v1), off the loop's thread this way. */
#define CGROUP_SPARES 4
/* Network namespaces kept ready for "none" steps: making one is ~1 ms of
 * kernel work in the step's init, on every launch's critical path. */
#define NETNS_SPARES 4

unsigned daemon_capacity(const struct daemon *d)
{
        if (d->opt.capacity >= 0)
                return (unsigned)d->opt.capacity;
        return policy_settings(d->config)->capacity;
}

unsigned daemon_queue_limit(const struct daemon *d)
{
        if (d->opt.queue_limit >= 0)
                return (unsigned)d->opt.queue_limit;
        return policy_settings(d->config)->queue_limit;
}

static int load_config(struct daemon *d, struct policy_config **ret, char *err, size_t err_len)
{
        struct policy_load_options o = { .state_dir = d->opt.state_dir };
        struct policy_error perr = { 0 };
        int r = policy_load_with(d->opt.config_dir, &o, ret, &perr);

        if (r < 0) {
                policy_error_format(&perr, err, err_len);
                if (!err[0])
                        snprintf(err, err_len, "%s", strerror(-r));
        }
        return r;
}

int daemon_reload(struct daemon *d, char *err, size_t err_len)
{
        struct policy_config *c = NULL;
        int r;

        notify("RELOADING=1");
        r = load_config(d, &c, err, err_len);
        if (r < 0) {
                log_error("event=reload-failed keeping=last-good error=\"%s\"", err);
                notify("READY=1\nSTATUS=reload failed; running with the last good configuration");
                return r;
        }
        policy_config_unref(d->config);
        d->config = c;
        log_info("event=reloaded capacity=%u queue_limit=%u", daemon_capacity(d),
                 daemon_queue_limit(d));
        notify("READY=1\nSTATUS=running");
        step_schedule(d);
        return 0;
}

static void start_drain(struct daemon *d)
{
        struct step *s, *next;
        uint64_t now = now_monotonic_usec();

        if (d->draining) {
                log_notice("event=drain-now cancelling every running step");
                d->drain_deadline = now;
                steps_drain_tick(d, now);
                return;
        }
        d->draining = true;
        d->drain_deadline = now + d->opt.drain_grace_ms * 1000;
        notify("STOPPING=1\nSTATUS=draining");
        log_info("event=draining running=%u queued=%u grace_ms=%llu", d->n_live, d->n_queued,
                 (unsigned long long)d->opt.drain_grace_ms);
        listen_close(d);
        for (s = TAILQ_FIRST(&d->queue); s; s = next) {
                next = TAILQ_NEXT(s, qlink);
                step_cancel(d, s, STEP_REASON_REJECTED, "the supervisor is stopping");
        }
}

static void on_signal(struct daemon *d, struct watch *w, uint32_t events)
{
        struct signalfd_siginfo si;
        char err[1024];

        while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
                log_info("event=signal signal=%s", strsignal((int)si.ssi_signo));
                if (si.ssi_signo == SIGHUP)
                        (void)daemon_reload(d, err, sizeof(err));
                else
                        start_drain(d);
        }
}

static void on_tick(struct daemon *d, struct watch *w, uint32_t events)
{
        uint64_t n;

        if (read(w->fd, &n, sizeof(n)) > 0)
                d->tick_due = true;
}

static void tick(struct daemon *d)
{
        uint64_t now = now_monotonic_usec(), real = now_realtime_usec();

        d->tick_due = false;
        listen_resume(d);
        clients_tick(d, now);
        steps_drain_tick(d, now);
        agents_daemon_tick(d, now);
        if (real - d->last_prune_usec >= PRUNE_INTERVAL_USEC)
                store_prune(d, real);
        if (d->opt.metrics_file &&
            now - d->last_metrics_usec >= d->opt.metrics_interval_ms * 1000) {
                d->last_metrics_usec = now;
                int r = metrics_write_textfile_agents(d, &d->metrics.durations, d->agents,
                                                      d->opt.metrics_file);
                if (r < 0)
                        log_warning_errno(r, "event=metrics-error path=%s", d->opt.metrics_file);
        }
}

static int setup_signals(struct daemon *d)
{
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return -errno;
        d->signal_w = (struct watch){ signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC), on_signal };
        if (d->signal_w.fd < 0)
                return -errno;
        d->tick_w = (struct watch){ timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
                                    on_tick };
        if (d->tick_w.fd < 0)
                return -errno;
        struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
        if (timerfd_settime(d->tick_w.fd, 0, &its, NULL) < 0)
                return -errno;
        int r = watch_add(d, &d->signal_w, EPOLLIN);
        return r < 0 ? r : watch_add(d, &d->tick_w, EPOLLIN);
}

static int run_loop(struct daemon *d)
{
        struct epoll_event ev[64];

        for (;;) {
                int n = epoll_wait(d->epfd, ev, ARRAY_SIZE(ev), -1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return log_errno(-errno, "event=fatal epoll_wait failed");
                for (int i = 0; i < n; i++) {
                        struct watch *w = ev[i].data.ptr;
                        w->ready(d, w, ev[i].events);
                }
                if (d->tick_due)
                        tick(d);
                clients_flush_dirty(d);
                steps_release_pending(d);
                if (d->draining && d->n_live == 0)
                        return 0;
        }
}

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: stepd [daemon] [OPTIONS]\n\n"
                "Run the supervisor in the foreground; logs go to stderr.\n\n"
                "  --config DIR            configuration folder (default " STEPD_SYSCONFDIR ")\n"
                "  --socket PATH           listen here (default: from stepd.json)\n"
                "  --socket-mode MODE      octal mode of the socket (default: from stepd.json)\n"
                "  --state DIR             state folder (default: from stepd.json)\n"
                "  --log-level LEVEL       err, warning, notice, info (default), debug\n"
                "  --capacity N            max running steps (overrides stepd.json)\n"
                "  --queue-limit N         max queued steps (overrides stepd.json)\n"
                "  --client-buffer SIZE    per-client output buffer cap (default 16M)\n"
                "  --drain-grace DURATION  on TERM, how long running steps may finish (default 30s)\n"
                "  --max-connections N     connections per uid (default 64)\n"
                "  --metrics-file PATH     write Prometheus metrics there (node_exporter\n"
                "                          textfile collector), atomically\n"
                "  --metrics-interval DURATION  how often (default 15s; 1s..1h)\n");
}

static int parse_level(const char *s)
{
        static const char *const names[] = { "emerg", "alert", "crit", "err",
                                              "warning", "notice", "info", "debug" };
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return (int)i;
        if (strcmp(s, "error") == 0)
                return LOG_ERR;
        if (strcmp(s, "warn") == 0)
                return LOG_WARNING;
        return -EINVAL;
}

enum {
        OPT_CONFIG = 0x100, OPT_SOCKET, OPT_SOCKET_MODE, OPT_STATE, OPT_LOG_LEVEL, OPT_CAPACITY,
        OPT_QUEUE_LIMIT, OPT_CLIENT_BUFFER, OPT_DRAIN_GRACE, OPT_MAX_CONNECTIONS,
        OPT_METRICS_FILE, OPT_METRICS_INTERVAL,
};

static int parse_option(struct daemon_options *o, int c, const char *arg)
{
        uint64_t v;
        int r = 0;

        switch (c) {
        case OPT_CONFIG: o->config_dir = arg; return 0;
        case OPT_SOCKET:
        case OPT_STATE:
                if (arg[0] != '/')
                        return -EINVAL; /* absolute paths only */
                if (c == OPT_SOCKET)
                        o->socket_path = arg;
                else
                        o->state_dir = arg;
                return 0;
        case OPT_METRICS_FILE:
                if (arg[0] != '/')
                        return -EINVAL;
                o->metrics_file = arg;
                return 0;
        case OPT_SOCKET_MODE: {
                char *end;
                unsigned long m = strtoul(arg, &end, 8);
                if (!*arg || *end || m > 07777)
                        return -EINVAL;
                o->socket_mode = (mode_t)m;
                return 0;
        }
        case OPT_LOG_LEVEL:
                r = parse_level(arg);
                if (r >= 0)
                        log_set_level(r);
                return r;
        case OPT_CAPACITY:
        case OPT_QUEUE_LIMIT:
        case OPT_MAX_CONNECTIONS:
                r = parse_uint64(arg, &v);
                if (r < 0 || v > 1000000 || (v == 0 && c != OPT_QUEUE_LIMIT))
                        return -EINVAL;
                if (c == OPT_CAPACITY)
                        o->capacity = (long)v;
                else if (c == OPT_QUEUE_LIMIT)
                        o->queue_limit = (long)v;
                else
                        o->max_connections_per_uid = (unsigned)v;
                return 0;
        case OPT_CLIENT_BUFFER:
                r = parse_size(arg, &o->client_buffer_max);
                return r < 0 ? r : (o->client_buffer_max < 256 * 1024 ? -EINVAL : 0);
        case OPT_DRAIN_GRACE:
                return parse_duration_ms(arg, &o->drain_grace_ms);
        case OPT_METRICS_INTERVAL:
                r = parse_duration_ms(arg, &o->metrics_interval_ms);
                return r < 0 ? r : (o->metrics_interval_ms < 1000 ||
                                    o->metrics_interval_ms > 3600 * 1000 ? -EINVAL : 0);
        }
        return -EINVAL;
}

static int parse_args(int argc, char **argv, struct daemon_options *o)
{
        static const struct option opts[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, OPT_CONFIG },
                { "socket", required_argument, NULL, OPT_SOCKET },
                { "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
                { "state", required_argument, NULL, OPT_STATE },
                { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
                { "capacity", required_argument, NULL, OPT_CAPACITY },
                { "queue-limit", required_argument, NULL, OPT_QUEUE_LIMIT },
                { "client-buffer", required_argument, NULL, OPT_CLIENT_BUFFER },
                { "drain-grace", required_argument, NULL, OPT_DRAIN_GRACE },
                { "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
                { "metrics-file", required_argument, NULL, OPT_METRICS_FILE },
                { "metrics-interval", required_argument, NULL, OPT_METRICS_INTERVAL },
                {},
        };
        int c;

        *o = (struct daemon_options){ .capacity = -1, .queue_limit = -1,
                                      .client_buffer_max = CLIENT_BUFFER_MAX_DEFAULT,
                                      .drain_grace_ms = DRAIN_GRACE_MS_DEFAULT,
                                      .metrics_interval_ms = METRICS_INTERVAL_MS_DEFAULT,
                                      .max_connections_per_uid = MAX_CONNECTIONS_PER_UID_DEFAULT };
        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                if (c == 'h') {
                        usage(stdout);
                        return 0;
                }
                if (c == '?') {
                        usage(stderr);
                        return -EINVAL;
                }
                if (parse_option(o, c, optarg) < 0) {
                        fprintf(stderr, "stepd: invalid value for --%s: '%s'\n",
                                opts[c - OPT_CONFIG + 1].name, optarg);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "stepd: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* Many clients and steps need many fds: take the hard limit. Steps get
 * their own RLIMIT_NOFILE from the spec. */
static void raise_nofile(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static int daemon_setup(struct daemon *d)
{
        char err[1024] = "";
        int r;

        raise_nofile();
        if (steps_index_init(d) < 0)
                return log_errno(-ENOMEM, "event=fatal out of memory");
        d->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (d->epfd < 0)
                return log_errno(-errno, "event=fatal epoll_create1");
        r = load_config(d, &d->config, err, sizeof(err));
        if (r < 0)
                return log_errno(r, "event=fatal configuration: %s", err);
        const char *state = d->opt.state_dir ? d->opt.state_dir : policy_settings(d->config)->state_dir;
        d->state_dir = strdup(state ? state : STEPD_STATEDIR);
        d->encbuf = malloc(FRAME_HEADER + proto_output_max(OUTPUT_CHUNK));
        if (!d->state_dir || !d->encbuf)
                return log_errno(-ENOMEM, "event=fatal");
        r = store_open(d);
        if (r < 0)
                return r;
        r = sandbox_context_new(&d->sandbox, err, sizeof(err));
        if (r >= 0)
                r = sandbox_context_prepare_cgroups(d->sandbox, err, sizeof(err));
        if (r < 0)
                return log_errno(r, "event=fatal sandbox: %s", err);
        if (sandbox_context_start_pool(d->sandbox, CGROUP_SPARES, err, sizeof(err)) < 0)
                log_warning("event=sandbox-warning no cgroup pool (each step makes and removes "
                            "its own): %s", err);
        if (sandbox_context_start_netns_pool(d->sandbox, NETNS_SPARES, err, sizeof(err)) < 0)
                log_warning("event=sandbox-warning no network namespace pool (each step's init "
                            "makes its own): %s", err);
        const char *warn = sandbox_context_warning(d->sandbox);
        if (warn)
                log_warning("event=sandbox-warning %s", warn);
        log_info("event=sandbox cgroups=%s", sandbox_context_cgroup_layout(d->sandbox));
        r = store_recover(d);
        if (r < 0)
                return log_errno(r, "event=fatal cannot read %s/steps", d->state_dir);
        store_prune(d, now_realtime_usec());
        r = setup_signals(d);
        if (r < 0)
                return log_errno(r, "event=fatal signals");
        r = listen_setup(d);
        return r < 0 ? r : agents_setup(d);
}

static void daemon_teardown(struct daemon *d)
{
        struct client *c;
        struct step *s;

        listen_close(d);
        while ((c = TAILQ_FIRST(&d->clients)))
                client_free(d, c);
        while ((s = TAILQ_FIRST(&d->steps))) {
                steps_remove(d, s);
                step_free(d, s);
        }
        agents_teardown(d);
        safe_close(d->signal_w.fd);
        safe_close(d->tick_w.fd);
        safe_close(d->steps_fd);
        safe_close(d->work_fd);
        safe_close(d->state_fd);
        safe_close(d->epfd);
        sandbox_context_free(d->sandbox);
        policy_config_unref(d->config);
        free(d->state_dir);
        free(d->encbuf);
        free(d->by_id);
}

static int daemon_main(int argc, char **argv, bool agent_mode)
{
        struct daemon *d = calloc(1, sizeof(*d));
        int r;

        if (!d)
                return 1;
        *d = (struct daemon){ .epfd = -1, .state_fd = -1, .steps_fd = -1, .work_fd = -1,
                              .signal_w.fd = -1, .tick_w.fd = -1 };
        TAILQ_INIT(&d->clients);
        TAILQ_INIT(&d->dirty);
        TAILQ_INIT(&d->steps);
        TAILQ_INIT(&d->releasing);
        TAILQ_INIT(&d->queue);
        r = parse_args(argc, argv, &d->opt);
        if (r <= 0) {
                free(d);
                return r < 0 ? 2 : 0;
        }
        d->opt.agent_mode = agent_mode;
        r = daemon_setup(d);
        if (r >= 0) {
                log_info("event=ready version=%s state=%s capacity=%u queue_limit=%u", STEPD_VERSION,
                         d->state_dir, daemon_capacity(d), daemon_queue_limit(d));
                notify("READY=1\nSTATUS=running");
                r = run_loop(d);
                log_info("event=stopped steps_started=%llu", (unsigned long long)d->metrics.steps_started);
        }
        daemon_teardown(d);
        free(d);
        return r < 0 ? 1 : 0;
}

int verb_daemon(int argc, char **argv)
{
        return daemon_main(argc, argv, false);
}

/* The same daemon, also serving supervisors over TLS (docs/agents.md). */
int verb_agent(int argc, char **argv)
{
        return daemon_main(argc, argv, true);
}
