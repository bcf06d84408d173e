/* SPDX-License-Identifier: MIT */
/* cgroup v2 (unified): one hierarchy; stepd moves itself into
 * <own>/supervisor and enables its controllers below <own>; see cgroup.c. */
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

/* ---- cgroup v2 ---------------------------------------------------------- */

/* Our path in the unified hierarchy: the "0::" line of /proc/self/cgroup.
 * Raw read: libcgroup 2.0.2 looks paths up by controller name, and a v2-only
 * line carries none. */
static int v2_own_path(char **ret)
{
        _cleanup_free_ char *buf = NULL;
        char *p, *e;
        int r = read_full_file("/proc/self/cgroup", &buf, NULL);

        if (r < 0)
                return r;
        p = strstr(buf, "0::");
        if (!p || (p != buf && p[-1] != '\n'))
                return -ENOENT;
        p += 3;
        e = strchr(p, '\n');
        if (e)
                *e = 0;
        /* Already moved by an earlier manager of this process. */
        e = strrchr(p, '/');
        if (e && streq(e, "/supervisor"))
                *(e == p ? e + 1 : e) = 0;
        *ret = strdup(*p ? p : "/");
        return *ret ? 0 : -ENOMEM;
}

/* A v2 cgroup holding processes cannot enable controllers for its children,
 * so we move ourselves into <own>/supervisor first. Raw I/O: libcgroup 2.0.2
 * creates a cgroup with controllers by enabling them in the parent first,
 * which is exactly what fails while we still sit in <own>, and it has no
 * call that only mkdirs a v2 cgroup. */
static int v2_move_self(const char *mount, const char *own, char *err, size_t err_len)
{
        char dir[PATH_MAX], procs[PATH_MAX + 16];
        int r;

        snprintf(dir, sizeof(dir), "%s%s%s", mount, streq(own, "/") ? "" : own, "/supervisor");
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return cg_fail(-errno, err, err_len, "cannot create %s: %m", dir);
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
        r = write_string_file(procs, "0");
        if (r < 0)
                return cg_fail(r, err, err_len, "cannot move stepd into %s: %s", dir, strerror(-r));
        return 0;
}

/* Raw read: libcgroup 2.0.2 reports controllers of the mount root, not those
 * a given cgroup may use. */
static int v2_check_controllers(const char *mount, const char *own, char *err, size_t err_len)
{
        _cleanup_free_ char *buf = NULL;
        char path[PATH_MAX];
        int r;

        snprintf(path, sizeof(path), "%s%s/cgroup.controllers", mount, streq(own, "/") ? "" : own);
        r = read_full_file(path, &buf, NULL);
        if (r < 0)
                return cg_fail(r, err, err_len, "cannot read %s: %s", path, strerror(-r));
        for (enum ctrl c = 0; c < CTRL_CPUACCT; c++) {
                const char *p = buf;
                size_t n = strlen(cg_ctrl_names[c]);
                bool found = false;

                while (!found && (p = strstr(p, cg_ctrl_names[c]))) {
                        found = (p == buf || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]);
                        p += n;
                }
                if (!found)
                        return cg_fail(-ENODEV, err, err_len,
                                    "cgroup v2 controller '%s' is not available in %s (the parent "
                                    "must delegate it, e.g. systemd Delegate=yes)",
                                    cg_ctrl_names[c], path);
        }
        return 0;
}

static int v2_setup(struct cgroup_manager *m, char *err, size_t err_len)
{
        _cleanup_free_ char *mount = NULL, *own = NULL;
        struct hierarchy *h = &m->h[0];
        int r;

        r = cg_errno(cgroup_get_subsys_mount_point("memory", &mount));
        if (r < 0 || !mount)
                mount = strdup(CGROUP_ROOT);
        if (!mount)
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
        r = v2_own_path(&own);
        if (r < 0)
                return cg_fail(r, err, err_len, "cannot find our cgroup v2 path in /proc/self/cgroup");
        r = v2_check_controllers(mount, own, err, err_len);
        if (r < 0)
                return r;
        r = v2_move_self(mount, own, err, err_len);
        if (r < 0)
                return r;
        h->base = cg_path_join(own, STEPD_DIR);
        if (!h->base)
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
        h->mount = TAKE_PTR(mount);
        for (enum ctrl c = 0; c < CTRL_CPUACCT; c++) {
                h->ctrls[h->n_ctrls++] = cg_ctrl_names[c];
                m->of[c] = 0;
        }
        m->of[CTRL_CPUACCT] = 0;
        m->n_h = 1;
        r = cg_make_base(h, err, err_len); /* enables +memory +pids +cpu in <own> */
        if (r < 0)
                return r;
        /* Steps are plain directories below <base> (cgroup.c): they have the
         * controllers <base> enables for its children. Raw write, as for
         * cgroup.kill: libcgroup enables them only while it creates. */
        char ctl[PATH_MAX];
        snprintf(ctl, sizeof(ctl), "%s%s/cgroup.subtree_control", h->mount, h->base);
        r = write_string_file(ctl, "+memory +pids +cpu");
        if (r < 0)
                return cg_fail(r, err, err_len, "cannot enable memory, pids and cpu in %s: %s", ctl,
                            strerror(-r));
        m->has_swap_max = cg_file_exists(h->mount, h->base, "memory.swap.max");
        m->has_peak = cg_file_exists(h->mount, h->base, "memory.peak");
        m->has_kill = cg_file_exists(h->mount, h->base, "cgroup.kill");
        return 0;
}

static size_t v2_settings(const struct cgroup_manager *m, size_t hi, const struct step_limits *l,
                          struct cg_setting out[CG_SETTINGS_MAX])
{
        size_t n = 0;

        (void)hi; /* one hierarchy */
        if (l->memory_bytes > 0) {
                n = cg_setting_u64(out, n, "memory.max", l->memory_bytes);
                /* like memsw on v1: swap must not let a step dodge its limit */
                if (m->has_swap_max)
                        n = cg_setting_u64(out, n, "memory.swap.max", 0);
        }
        if (l->pids_max > 0)
                n = cg_setting_u64(out, n, "pids.max", l->pids_max);
        if (l->cpu_millis > 0) {
                assert(n < CG_SETTINGS_MAX);
                out[n].file = "cpu.max";
                snprintf(out[n].value, sizeof(out[n].value), "%llu %llu",
                         (unsigned long long)cg_cfs_quota_us(l->cpu_millis), CFS_PERIOD_US);
                n++;
        }
        return n;
}

static int v2_stats(const struct step_cgroup *s, struct cgroup_stats *ret)
{
        struct cgroup_stats st = { 0 };
        const char *p = s->path[0];
        int r;

        if (!s->cg[0])
                return -ENOENT;
        r = cg_read_u64("cpu", p, "cpu.stat", "user_usec", &st.cpu_user_usec);
        if (r == 0)
                r = cg_read_u64("cpu", p, "cpu.stat", "system_usec", &st.cpu_system_usec);
        if (r == 0 && s->m->has_peak)
                r = cg_read_u64("memory", p, "memory.peak", NULL, &st.memory_peak_bytes);
        if (r == 0)
                r = cg_read_u64("memory", p, "memory.events", "oom_kill", &st.oom_kills);
        if (r < 0)
                return r;
        *ret = st;
        return 0;
}

/* Raw write: cgroup.kill is a core file of no controller, which libcgroup
 * 2.0.2 cannot address. */
static int v2_kill_all(const struct step_cgroup *s)
{
        char path[PATH_MAX];

        if (!s->m->has_kill || !s->cg[0])
                return 0;
        snprintf(path, sizeof(path), "%s%s/cgroup.kill", s->m->h[0].mount, s->path[0]);
        return write_string_file(path, "1");
}

const struct backend cg_backend_v2 = {
        .setup = v2_setup,
        .settings = v2_settings,
        .stats = v2_stats,
        .kill_all = v2_kill_all,
};
