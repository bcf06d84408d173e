/* SPDX-License-Identifier: MIT */
/* Process-wide preparation of the launcher, once at start. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

#include "common/util.h"
#include "sandbox/internal.h"
#include "sandbox/worker.h"

struct sandbox_context {
        enum cgroup_layout layout;
        struct cgroup_manager *cgroups; /* made on first use, or by prepare_cgroups */
        struct cgroup_pool *pool;       /* a daemon's; NULL for `stepd exec` */
        struct netns_pool *netns_pool;  /* likewise */
        int cap_last;
        char warning[256];
        /* the manager being made by a thread (prepare_cgroups_ahead) */
        pthread_t ahead;
        bool ahead_running;
        struct cgroup_manager *ahead_cgroups;
        int ahead_r;
        char ahead_err[256];
};

static int read_cap_last(void)
{
        _cleanup_free_ char *s = NULL;
        uint64_t v;

        if (read_full_file("/proc/sys/kernel/cap_last_cap", &s, NULL) < 0)
                return (int)cap_max_bits() - 1;
        s[strcspn(s, "\n")] = 0;
        if (parse_uint64(s, &v) < 0 || v > 255)
                return (int)cap_max_bits() - 1;
        return (int)v;
}

int sandbox_context_new(struct sandbox_context **ret, char *err, size_t err_len)
{
        struct sandbox_context *c;
        int r;

        if (geteuid() != 0) {
                snprintf(err, err_len, "stepd must run as root to build sandboxes");
                return -EPERM;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        /* The launcher is never the OOM killer's choice. Steps go back to 0.
         * Without CAP_SYS_RESOURCE (some containers) this is refused; stepd
         * still works (a step's memory limit only ever kills inside the
         * step's cgroup), so the caller is told, not stopped. */
        r = write_string_file("/proc/self/oom_score_adj", "-1000");
        if (r < 0)
                snprintf(c->warning, sizeof(c->warning),
                         "cannot protect stepd from the OOM killer (oom_score_adj -1000): %s",
                         strerror(-r));
        c->cap_last = read_cap_last();
        plan_heap_init();
        r = cgroup_detect_layout(&c->layout, err, err_len);
        if (r < 0) {
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static void *prepare_ahead_run(void *arg)
{
        struct sandbox_context *c = arg;

        c->ahead_r = cgroup_manager_new(&c->ahead_cgroups, c->ahead_err, sizeof(c->ahead_err));
        return NULL;
}

/* libcgroup's start alone (cgroup_init) takes ~0.8 ms, most of it faulting
 * in its static tables. `stepd exec` has that done by a thread while it
 * makes the working folder and the plan, and clones the init; with v1
 * cgroups the step's cgroup is then made while the init builds its root
 * (see sandbox_spawn), and both take about as long. */
int sandbox_context_prepare_cgroups_ahead(struct sandbox_context *c)
{
        int r;

        if (c->cgroups || c->ahead_running)
                return 0;
        r = thread_start_elsewhere(&c->ahead, prepare_ahead_run, c);
        if (r < 0)
                return r;
        c->ahead_running = true;
        return 0;
}

/* Only ever called by one thread at a time: the launcher's, or (stepd exec)
 * the one that makes the step's cgroup meanwhile. */
int sandbox_context_prepare_cgroups(struct sandbox_context *c, char *err, size_t err_len)
{
        if (c->ahead_running) {
                pthread_join(c->ahead, NULL);
                c->ahead_running = false;
                if (c->ahead_r < 0) {
                        snprintf(err, err_len, "%s", c->ahead_err);
                        return c->ahead_r;
                }
                c->cgroups = TAKE_PTR(c->ahead_cgroups);
        }
        if (c->cgroups)
                return 0;
        return cgroup_manager_new(&c->cgroups, err, err_len);
}

int sandbox_context_start_pool(struct sandbox_context *c, unsigned spares, char *err,
                               size_t err_len)
{
        int r = sandbox_context_prepare_cgroups(c, err, err_len);

        if (r < 0 || c->pool)
                return r;
        return cgroup_pool_new(c->cgroups, spares, &c->pool, err, err_len);
}

struct cgroup_pool *sandbox_context_pool(struct sandbox_context *c)
{
        return c->pool;
}

int sandbox_context_start_netns_pool(struct sandbox_context *c, unsigned spares, char *err,
                                     size_t err_len)
{
        if (c->netns_pool)
                return 0;
        return netns_pool_new(spares, &c->netns_pool, err, err_len);
}

struct netns_pool *sandbox_context_netns_pool(struct sandbox_context *c)
{
        return c->netns_pool;
}

bool sandbox_context_cgroup_spares(struct sandbox_context *c, struct sandbox_spares *ret)
{
        struct cgroup_pool_stats st;

        cgroup_pool_stats(c->pool, &st);
        *ret = (struct sandbox_spares){ .ready = st.spares, .made = st.made, .taken = st.taken,
                                        .missed = st.missed, .failed = st.failed };
        return c->pool != NULL;
}

bool sandbox_context_netns_spares(struct sandbox_context *c, struct sandbox_spares *ret)
{
        netns_pool_stats(c->netns_pool, ret);
        return c->netns_pool != NULL;
}

struct sandbox_context *sandbox_context_free(struct sandbox_context *c)
{
        if (!c)
                return NULL;
        if (c->ahead_running)
                pthread_join(c->ahead, NULL);
        cgroup_manager_free(c->ahead_cgroups);
        cgroup_pool_free(c->pool); /* before the manager its cgroups belong to */
        netns_pool_free(c->netns_pool);
        cgroup_manager_free(c->cgroups);
        free(c);
        return NULL;
}

const char *sandbox_context_warning(const struct sandbox_context *c)
{
        return c->warning[0] ? c->warning : NULL;
}

const char *sandbox_context_cgroup_layout(const struct sandbox_context *c)
{
        return cgroup_layout_to_string(c->layout);
}

enum cgroup_layout sandbox_context_layout(const struct sandbox_context *c)
{
        return c->layout;
}

struct cgroup_manager *sandbox_context_cgroups(struct sandbox_context *c)
{
        return c->cgroups;
}

int sandbox_context_cap_last(const struct sandbox_context *c)
{
        return c->cap_last;
}
