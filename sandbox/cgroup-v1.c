/* SPDX-License-Identifier: MIT */
/* cgroup v1 (and the hybrid layout): one hierarchy per controller (or per
 * co-mounted set); see cgroup.c. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/cgroup-internal.h"

/* ---- cgroup v1 (and hybrid) -------------------------------------------- */

static struct hierarchy *hierarchy_for_mount(struct cgroup_manager *m, const char *mount)
{
        for (size_t i = 0; i < m->n_h; i++)
                if (streq(m->h[i].mount, mount))
                        return &m->h[i];
        return NULL;
}

/* 0 when <base> exists and we may write there, else -errno. */
static int base_writable(const struct hierarchy *h, char *full, size_t full_len)
{
        snprintf(full, full_len, "%s%s", h->mount, h->base);
        return access(full, W_OK) < 0 ? negative_errno() : 0;
}

/* Create <base> (mkdir -p through libcgroup) and check we may write there. */
int cg_make_base(const struct hierarchy *h, char *err, size_t err_len)
{
        struct cgroup *cg = cgroup_new_cgroup(h->base);
        char full[PATH_MAX];
        int r = 0;

        if (!cg)
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
        for (size_t i = 0; i < h->n_ctrls && r == 0; i++)
                if (!cgroup_add_controller(cg, h->ctrls[i]))
                        r = -ENOMEM;
        if (r == 0)
                r = cg_errno(cgroup_create_cgroup(cg, 1));
        cgroup_free(&cg);
        if (r == 0)
                r = base_writable(h, full, sizeof(full));
        else
                snprintf(full, sizeof(full), "%s%s", h->mount, h->base);
        if (r < 0)
                return cg_fail(r, err, err_len, "cgroup controller '%s': cannot create or write %s: %s",
                            h->ctrls[0], full, strerror(-r));
        return 0;
}

static int v1_add_hierarchy(struct cgroup_manager *m, enum ctrl c, char *err, size_t err_len)
{
        _cleanup_free_ char *mount = NULL, *own = NULL;
        struct hierarchy *h;
        int r;

        r = cg_errno(cgroup_get_subsys_mount_point(cg_ctrl_names[c], &mount));
        if (r < 0 || !mount)
                return cg_fail(r < 0 ? r : -ENODEV, err, err_len,
                            "cgroup v1 controller '%s' is not mounted (no hierarchy for it under "
                            CGROUP_ROOT ")", cg_ctrl_names[c]);
        h = hierarchy_for_mount(m, mount);
        if (h) { /* co-mounted with one we have, e.g. cpu,cpuacct */
                h->ctrls[h->n_ctrls++] = cg_ctrl_names[c];
                m->of[c] = (size_t)(h - m->h);
                return 0;
        }
        r = cg_errno(cgroup_get_current_controller_path(getpid(), cg_ctrl_names[c], &own));
        if (r < 0 || !own)
                return cg_fail(r < 0 ? r : -ENOENT, err, err_len,
                            "cgroup controller '%s': cannot find our cgroup in /proc/self/cgroup",
                            cg_ctrl_names[c]);
        h = &m->h[m->n_h];
        h->base = cg_path_join(own, STEPD_DIR);
        if (!h->base)
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
        h->own = TAKE_PTR(own);
        h->mount = TAKE_PTR(mount);
        h->ctrls[h->n_ctrls++] = cg_ctrl_names[c];
        m->of[c] = m->n_h++;
        /* Every step's init leaves through it (see cgroup_step_self_leave_fds):
         * one open here, not one path walk per step and hierarchy. */
        h->own_tasks_fd = cg_open_own_tasks(h);
        /* An earlier run usually made it: then only the check. libcgroup's
         * create rereads /proc/mounts, which waits for every mount being
         * made on the host, a starting step's included. */
        char full[PATH_MAX];
        if (base_writable(h, full, sizeof(full)) == 0)
                return 0;
        return cg_make_base(h, err, err_len);
}

static int v1_setup(struct cgroup_manager *m, char *err, size_t err_len)
{
        const struct hierarchy *mem, *acct;

        for (enum ctrl c = 0; c < _CTRL_MAX; c++) {
                int r = v1_add_hierarchy(m, c, err, err_len);
                if (r < 0)
                        return r;
        }
        mem = &m->h[m->of[CTRL_MEMORY]];
        acct = &m->h[m->of[CTRL_CPUACCT]];
        m->has_memsw = cg_file_exists(mem->mount, mem->base, "memory.memsw.limit_in_bytes");
        m->has_usage_user = cg_file_exists(acct->mount, acct->base, "cpuacct.usage_user");
        return 0;
}

/* out[n] = file, v; n + 1 */
size_t cg_setting_u64(struct cg_setting *out, size_t n, const char *file, uint64_t v)
{
        assert(n < CG_SETTINGS_MAX);
        out[n].file = file;
        snprintf(out[n].value, sizeof(out[n].value), "%llu", (unsigned long long)v);
        return n + 1;
}

uint64_t cg_cfs_quota_us(uint32_t cpu_millis)
{
        /* The kernel refuses quotas under 1 ms: 10 millicpus is the floor. */
        return MAX((uint64_t)cpu_millis * CFS_PERIOD_US / 1000, 1000ULL);
}

static size_t v1_settings(const struct cgroup_manager *m, size_t hi, const struct step_limits *l,
                          struct cg_setting out[CG_SETTINGS_MAX])
{
        const struct hierarchy *h = &m->h[hi];
        size_t n = 0;

        for (size_t i = 0; i < h->n_ctrls; i++) {
                const char *name = h->ctrls[i];

                if (streq(name, "memory") && l->memory_bytes > 0) {
                        /* limit first: the kernel wants memsw >= limit */
                        n = cg_setting_u64(out, n, "memory.limit_in_bytes", l->memory_bytes);
                        if (m->has_memsw)
                                n = cg_setting_u64(out, n, "memory.memsw.limit_in_bytes",
                                                   l->memory_bytes);
                } else if (streq(name, "pids") && l->pids_max > 0) {
                        n = cg_setting_u64(out, n, "pids.max", l->pids_max);
                } else if (streq(name, "cpu") && l->cpu_millis > 0) {
                        /* The period of a new v1 cgroup is the kernel's
                         * default (100 ms, CFS_PERIOD_US), not its parent's. */
                        n = cg_setting_u64(out, n, "cpu.cfs_quota_us", cg_cfs_quota_us(l->cpu_millis));
                }
        }
        return n;
}

static int v1_stats(const struct step_cgroup *s, struct cgroup_stats *ret)
{
        const struct cgroup_manager *m = s->m;
        size_t a = m->of[CTRL_CPUACCT], mm = m->of[CTRL_MEMORY];
        struct cgroup_stats st = { 0 };
        uint64_t user, sys;
        int r;

        if (!s->cg[a] || !s->cg[mm])
                return -ENOENT;
        if (m->has_usage_user) {
                r = cg_read_u64("cpuacct", s->path[a], "cpuacct.usage_user", NULL, &user);
                if (r == 0)
                        r = cg_read_u64("cpuacct", s->path[a], "cpuacct.usage_sys", NULL, &sys);
                if (r < 0)
                        return r;
                st.cpu_user_usec = user / 1000; /* ns */
                st.cpu_system_usec = sys / 1000;
        } else {
                long hz = sysconf(_SC_CLK_TCK);

                r = cg_read_u64("cpuacct", s->path[a], "cpuacct.stat", "user", &user);
                if (r == 0)
                        r = cg_read_u64("cpuacct", s->path[a], "cpuacct.stat", "system", &sys);
                if (r < 0)
                        return r;
                hz = hz > 0 ? hz : 100;
                st.cpu_user_usec = user * 1000000ULL / (uint64_t)hz;
                st.cpu_system_usec = sys * 1000000ULL / (uint64_t)hz;
        }
        r = cg_read_u64("memory", s->path[mm], "memory.max_usage_in_bytes", NULL,
                        &st.memory_peak_bytes);
        if (r < 0)
                return r;
        r = cg_read_u64("memory", s->path[mm], "memory.oom_control", "oom_kill", &st.oom_kills);
        if (r == -ENODATA) /* kernels before 4.13 do not count */
                r = 0;
        if (r < 0)
                return r;
        *ret = st;
        return 0;
}

static int v1_kill_all(const struct step_cgroup *s)
{
        return 0; /* v1 has no cgroup.kill: the destroy loop does it */
}

const struct backend cg_backend_v1 = {
        .setup = v1_setup,
        .settings = v1_settings,
        .stats = v1_stats,
        .kill_all = v1_kill_all,
};
