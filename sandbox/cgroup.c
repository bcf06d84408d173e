/* SPDX-License-Identifier: MIT */
/* Per-step cgroups through libcgroup.
 *
 * How this works
 * - cgroup_manager_new() detects the layout once (statfs of /sys/fs/cgroup)
 *   and picks one backend table (v1 for v1 and hybrid, v2 for unified). The
 *   backend finds, for each controller stepd needs, the hierarchy it is
 *   mounted in and stepd's own cgroup there (/proc/self/cgroup), and creates
 *   `<own>/stepd` below it. Controllers that share a mount (cpu,cpuacct on
 *   many distros) share one `struct hierarchy`; on v2 there is one.
 * - A step cgroup is one libcgroup `struct cgroup` per hierarchy, named
 *   `<own>/stepd/<step>`, created with its limits as libcgroup values.
 *   Creation opens each step directory and holds a POSIX read lock on it for
 *   the step's life: that lock (listed in /proc/locks, not inherited by
 *   fork, gone when we die) is what tells a live step from a leftover.
 * - Leftovers: cgroup_manager_new() walks `<own>/stepd` of every hierarchy;
 *   a directory that nobody holds a lock on belongs to no living manager, so
 *   its processes are killed and it is removed (an empty one only once it is
 *   2 s old: it may be a step another manager is just creating).
 *   Two stepd processes (or test runs) sharing a hierarchy never touch each
 *   other's live steps.
 * - Processes are listed from cgroup.procs of every hierarchy and deduplicated
 *   (a process is in each). Killing on v1 is list + kill(), repeated by
 *   cgroup_step_destroy() until empty (bounded, 1 s), so a forking step
 *   cannot outrun it for long (its pids.max bounds it); v2 adds cgroup.kill.
 * - Removal happens only once a cgroup is empty: libcgroup's delete would
 *   otherwise migrate survivors to the parent, out of the step's limits.
 *
 * Caveat: a POSIX lock is dropped when this process closes *any* fd of the
 * locked directory, so nothing else in the daemon may open a step directory
 * (the v2 clone fd is O_PATH, whose close does not drop locks).
 *
 * Cost (dev machine, v1 hybrid, 4 hierarchies, 5 values, unit test figure):
 * create ~720 us, attach ~190 us, stats ~60 us, destroy ~290 us: ~1.3 ms a
 * step. Most of create is libcgroup itself: it re-reads /proc/mounts for
 * every hierarchy and every value it writes, and mkdir -p's from "/".
 * cgroup_get_cgroup() alone costs ~850 us (it reads every file of the
 * controller), so stats read only the files they need through
 * cgroup_read_value_*() instead. */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "common/util.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define STEPD_DIR "stepd"
#define CFS_PERIOD_US 100000ULL
#define DESTROY_TIMEOUT_USEC 1000000ULL

#define streq(a, b) (strcmp((a), (b)) == 0)

enum ctrl { CTRL_MEMORY, CTRL_PIDS, CTRL_CPU, CTRL_CPUACCT, _CTRL_MAX };
static const char *const ctrl_names[_CTRL_MAX] = { "memory", "pids", "cpu", "cpuacct" };

struct hierarchy {
        char *mount;                     /* /sys/fs/cgroup/memory */
        char *base;                      /* <own>/stepd, relative to mount, starts with '/' */
        const char *ctrls[_CTRL_MAX];
        size_t n_ctrls;
};

struct backend;

struct cgroup_manager {
        enum cgroup_layout layout;
        const struct backend *be;
        struct hierarchy h[_CTRL_MAX];
        size_t n_h;
        size_t of[_CTRL_MAX];            /* controller -> index in h[] */
        bool has_memsw;                  /* v1 memory.memsw.limit_in_bytes */
        bool has_usage_user;             /* v1 cpuacct.usage_user/_sys */
        bool has_swap_max;               /* v2 memory.swap.max */
        bool has_peak;                   /* v2 memory.peak (5.19+) */
        bool has_kill;                   /* v2 cgroup.kill (5.14+) */
};

struct step_cgroup {
        struct cgroup_manager *m;        /* borrowed: the manager outlives its steps */
        struct cgroup *cg[_CTRL_MAX];    /* per hierarchy; NULL once removed (or never made) */
        char *path[_CTRL_MAX];           /* relative to the hierarchy's mount */
        int fd[_CTRL_MAX];               /* the step directory, POSIX-locked: "alive" */
        int clone_fd;                    /* v2: O_PATH of the directory, for CLONE_INTO_CGROUP */
};

struct backend {
        /* Find hierarchies and our place, check controllers, create <own>/stepd. */
        int (*setup)(struct cgroup_manager *m, char *err, size_t err_len);
        /* Add controllers of hierarchy hi and the limits as libcgroup values. */
        int (*add_values)(const struct cgroup_manager *m, size_t hi, struct cgroup *cg,
                          const struct step_limits *l);
        int (*stats)(const struct step_cgroup *s, struct cgroup_stats *ret);
        /* Kill every process atomically where the kernel can; 0 if it cannot. */
        int (*kill_all)(const struct step_cgroup *s);
};

/* ---- small helpers ---------------------------------------------------- */

_printf_(4, 5) static int fail(int r, char *err, size_t err_len, const char *fmt, ...)
{
        va_list ap;

        if (err && err_len > 0) {
                va_start(ap, fmt);
                vsnprintf(err, err_len, fmt, ap);
                va_end(ap);
        }
        return r;
}

/* The one place libcgroup's ECG* codes become -errno. */
static int cg_errno(int ecg)
{
        int e;

        switch (ecg) {
        case 0:
                return 0;
        case ECGOTHER:
        case ECGCANTSETVALUE:
                e = cgroup_get_last_errno();
                return e > 0 ? -e : -EIO;
        case ECGROUPNOTEXIST:
        case ECGROUPVALUENOTEXIST:
                return -ENOENT;
        case ECGROUPNOTMOUNTED:
        case ECGROUPSUBSYSNOTMOUNTED:
                return -ENODEV;
        case ECGROUPNOTOWNER:
        case ECGROUPNOTALLOWED:
                return -EPERM;
        case ECGINVAL:
                return -EINVAL;
        case ECGNONEMPTY:
                return -EBUSY;
        case ECGEOF:
                return -ENODATA;
        default:
                return -EIO;
        }
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result; /* set once by cg_init_once(): libcgroup wants one cgroup_init() */

static void cg_init_once(void)
{
        init_result = cg_errno(cgroup_init());
}

const char *cgroup_layout_to_string(enum cgroup_layout l)
{
        static const char *const names[_CGROUP_LAYOUT_MAX] = {
                [CGROUP_LAYOUT_V1] = "v1",
                [CGROUP_LAYOUT_HYBRID] = "hybrid",
                [CGROUP_LAYOUT_V2] = "v2",
        };
        return (unsigned)l < _CGROUP_LAYOUT_MAX ? names[l] : NULL;
}

/* "/a" + "b" -> "/a/b"; "/" + "b" -> "/b". */
static char *path_join(const char *a, const char *b)
{
        char *p;
        size_t n = strlen(a);

        while (n > 0 && a[n - 1] == '/')
                n--;
        if (asprintf(&p, "%.*s/%s", (int)n, a, b) < 0)
                return NULL;
        return p;
}

static bool file_exists(const char *mount, const char *rel, const char *file)
{
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "%s%s/%s", mount, rel, file);
        return access(p, F_OK) == 0;
}

/* Call fn for each line of a cgroup file, read through libcgroup. */
static int cg_for_each_line(const char *ctrl, const char *rel, const char *file,
                            int (*fn)(const char *line, void *u), void *u)
{
        void *h = NULL;
        char buf[256];
        int r, ecg;

        ecg = cgroup_read_value_begin(ctrl, rel, (char *)file, &h, buf, sizeof(buf));
        for (r = 0; ecg == 0 && r == 0;) {
                buf[strcspn(buf, "\n")] = 0;
                r = fn(buf, u);
                if (r == 0)
                        ecg = cgroup_read_value_next(&h, buf, sizeof(buf));
        }
        if (h)
                cgroup_read_value_end(&h);
        if (r < 0)
                return r;
        return ecg == ECGEOF ? 0 : cg_errno(ecg);
}

struct key_query {
        const char *key; /* NULL: the first line's number */
        uint64_t value;
        bool found;
};

static int key_line(const char *line, void *u)
{
        struct key_query *q = u;
        const char *v = line;
        size_t n;

        if (q->key) {
                n = strlen(q->key);
                if (strncmp(line, q->key, n) != 0 || line[n] != ' ')
                        return 0;
                v = line + n + 1;
        }
        if (parse_uint64(v, &q->value) < 0)
                return -EBADMSG;
        q->found = true;
        return 1; /* stop */
}

/* Read "key N" from a flat-keyed file, or the number on its first line. */
static int cg_read_u64(const char *ctrl, const char *rel, const char *file, const char *key,
                       uint64_t *ret)
{
        struct key_query q = { .key = key };
        int r = cg_for_each_line(ctrl, rel, file, key_line, &q);

        if (r < 0)
                return r;
        if (!q.found)
                return -ENODATA;
        *ret = q.value;
        return 0;
}

/* ---- process sets ------------------------------------------------------ */

struct pid_set {
        pid_t *p;
        size_t n, cap;
};

static int pid_line(const char *line, void *u)
{
        struct pid_set *s = u;
        uint64_t v;

        if (!*line)
                return 0;
        if (parse_uint64(line, &v) < 0 || v == 0 || v > INT32_MAX)
                return -EBADMSG;
        for (size_t i = 0; i < s->n; i++)
                if (s->p[i] == (pid_t)v)
                        return 0;
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                pid_t *p = reallocarray(s->p, cap, sizeof(pid_t));
                if (!p)
                        return -ENOMEM;
                s->p = p;
                s->cap = cap;
        }
        s->p[s->n++] = (pid_t)v;
        return 0;
}

/* Union of cgroup.procs over every hierarchy the step still has. */
static int step_pids(const struct step_cgroup *s, struct pid_set *set)
{
        const struct cgroup_manager *m = s->m;

        for (size_t i = 0; i < m->n_h; i++) {
                int r;

                if (!s->cg[i])
                        continue;
                r = cg_for_each_line(m->h[i].ctrls[0], s->path[i], "cgroup.procs", pid_line, set);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}

/* ---- cgroup v1 (and hybrid) -------------------------------------------- */

static struct hierarchy *hierarchy_for_mount(struct cgroup_manager *m, const char *mount)
{
        for (size_t i = 0; i < m->n_h; i++)
                if (streq(m->h[i].mount, mount))
                        return &m->h[i];
        return NULL;
}

/* Create <base> (mkdir -p through libcgroup) and check we may write there. */
static int make_base(const struct hierarchy *h, char *err, size_t err_len)
{
        struct cgroup *cg = cgroup_new_cgroup(h->base);
        char full[PATH_MAX];
        int r = 0;

        if (!cg)
                return fail(-ENOMEM, err, err_len, "out of memory");
        for (size_t i = 0; i < h->n_ctrls && r == 0; i++)
                if (!cgroup_add_controller(cg, h->ctrls[i]))
                        r = -ENOMEM;
        if (r == 0)
                r = cg_errno(cgroup_create_cgroup(cg, 1));
        cgroup_free(&cg);
        snprintf(full, sizeof(full), "%s%s", h->mount, h->base);
        if (r == 0 && access(full, W_OK) < 0)
                r = negative_errno();
        if (r < 0)
                return fail(r, err, err_len, "cgroup controller '%s': cannot create or write %s: %s",
                            h->ctrls[0], full, strerror(-r));
        return 0;
}

static int v1_add_hierarchy(struct cgroup_manager *m, enum ctrl c, char *err, size_t err_len)
{
        _cleanup_free_ char *mount = NULL, *own = NULL;
        struct hierarchy *h;
        int r;

        r = cg_errno(cgroup_get_subsys_mount_point(ctrl_names[c], &mount));
        if (r < 0 || !mount)
                return fail(r < 0 ? r : -ENODEV, err, err_len,
                            "cgroup v1 controller '%s' is not mounted (no hierarchy for it under "
                            CGROUP_ROOT ")", ctrl_names[c]);
        h = hierarchy_for_mount(m, mount);
        if (h) { /* co-mounted with one we have, e.g. cpu,cpuacct */
                h->ctrls[h->n_ctrls++] = ctrl_names[c];
                m->of[c] = (size_t)(h - m->h);
                return 0;
        }
        r = cg_errno(cgroup_get_current_controller_path(getpid(), ctrl_names[c], &own));
        if (r < 0 || !own)
                return fail(r < 0 ? r : -ENOENT, err, err_len,
                            "cgroup controller '%s': cannot find our cgroup in /proc/self/cgroup",
                            ctrl_names[c]);
        h = &m->h[m->n_h];
        h->base = path_join(own, STEPD_DIR);
        if (!h->base)
                return fail(-ENOMEM, err, err_len, "out of memory");
        h->mount = TAKE_PTR(mount);
        h->ctrls[h->n_ctrls++] = ctrl_names[c];
        m->of[c] = m->n_h++;
        return make_base(h, err, err_len);
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
        m->has_memsw = file_exists(mem->mount, mem->base, "memory.memsw.limit_in_bytes");
        m->has_usage_user = file_exists(acct->mount, acct->base, "cpuacct.usage_user");
        return 0;
}

static int add_u64(struct cgroup_controller *c, const char *name, uint64_t v)
{
        return cg_errno(cgroup_add_value_uint64(c, name, v));
}

static uint64_t cfs_quota_us(uint32_t cpu_millis)
{
        /* The kernel refuses quotas under 1 ms: 10 millicpus is the floor. */
        return MAX((uint64_t)cpu_millis * CFS_PERIOD_US / 1000, 1000ULL);
}

static int v1_add_values(const struct cgroup_manager *m, size_t hi, struct cgroup *cg,
                         const struct step_limits *l)
{
        const struct hierarchy *h = &m->h[hi];
        int r = 0;

        for (size_t i = 0; i < h->n_ctrls && r == 0; i++) {
                const char *name = h->ctrls[i];
                struct cgroup_controller *c = cgroup_add_controller(cg, name);

                if (!c)
                        return -ENOMEM;
                if (streq(name, "memory") && l->memory_bytes > 0) {
                        /* limit first: the kernel wants memsw >= limit */
                        r = add_u64(c, "memory.limit_in_bytes", l->memory_bytes);
                        if (r == 0 && m->has_memsw)
                                r = add_u64(c, "memory.memsw.limit_in_bytes", l->memory_bytes);
                } else if (streq(name, "pids") && l->pids_max > 0) {
                        r = add_u64(c, "pids.max", l->pids_max);
                } else if (streq(name, "cpu") && l->cpu_millis > 0) {
                        r = add_u64(c, "cpu.cfs_period_us", CFS_PERIOD_US);
                        if (r == 0)
                                r = add_u64(c, "cpu.cfs_quota_us", cfs_quota_us(l->cpu_millis));
                }
        }
        return r;
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

static const struct backend backend_v1 = {
        .setup = v1_setup,
        .add_values = v1_add_values,
        .stats = v1_stats,
        .kill_all = v1_kill_all,
};

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
                return fail(-errno, err, err_len, "cannot create %s: %m", dir);
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
        r = write_string_file(procs, "0");
        if (r < 0)
                return fail(r, err, err_len, "cannot move stepd into %s: %s", dir, strerror(-r));
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
                return fail(r, err, err_len, "cannot read %s: %s", path, strerror(-r));
        for (enum ctrl c = 0; c < CTRL_CPUACCT; c++) {
                const char *p = buf;
                size_t n = strlen(ctrl_names[c]);
                bool found = false;

                while (!found && (p = strstr(p, ctrl_names[c]))) {
                        found = (p == buf || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]);
                        p += n;
                }
                if (!found)
                        return fail(-ENODEV, err, err_len,
                                    "cgroup v2 controller '%s' is not available in %s (the parent "
                                    "must delegate it, e.g. systemd Delegate=yes)",
                                    ctrl_names[c], path);
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
                return fail(-ENOMEM, err, err_len, "out of memory");
        r = v2_own_path(&own);
        if (r < 0)
                return fail(r, err, err_len, "cannot find our cgroup v2 path in /proc/self/cgroup");
        r = v2_check_controllers(mount, own, err, err_len);
        if (r < 0)
                return r;
        r = v2_move_self(mount, own, err, err_len);
        if (r < 0)
                return r;
        h->base = path_join(own, STEPD_DIR);
        if (!h->base)
                return fail(-ENOMEM, err, err_len, "out of memory");
        h->mount = TAKE_PTR(mount);
        for (enum ctrl c = 0; c < CTRL_CPUACCT; c++) {
                h->ctrls[h->n_ctrls++] = ctrl_names[c];
                m->of[c] = 0;
        }
        m->of[CTRL_CPUACCT] = 0;
        m->n_h = 1;
        r = make_base(h, err, err_len); /* enables +memory +pids +cpu in <own> */
        if (r < 0)
                return r;
        m->has_swap_max = file_exists(h->mount, h->base, "memory.swap.max");
        m->has_peak = file_exists(h->mount, h->base, "memory.peak");
        m->has_kill = file_exists(h->mount, h->base, "cgroup.kill");
        return 0;
}

static int v2_add_values(const struct cgroup_manager *m, size_t hi, struct cgroup *cg,
                         const struct step_limits *l)
{
        struct cgroup_controller *mem = cgroup_add_controller(cg, "memory");
        struct cgroup_controller *pids = cgroup_add_controller(cg, "pids");
        struct cgroup_controller *cpu = cgroup_add_controller(cg, "cpu");
        char quota[64];
        int r = 0;

        if (!mem || !pids || !cpu)
                return -ENOMEM;
        if (l->memory_bytes > 0) {
                r = add_u64(mem, "memory.max", l->memory_bytes);
                /* like memsw on v1: swap must not let a step dodge its limit */
                if (r == 0 && m->has_swap_max)
                        r = add_u64(mem, "memory.swap.max", 0);
        }
        if (r == 0 && l->pids_max > 0)
                r = add_u64(pids, "pids.max", l->pids_max);
        if (r == 0 && l->cpu_millis > 0) {
                snprintf(quota, sizeof(quota), "%llu %llu",
                         (unsigned long long)cfs_quota_us(l->cpu_millis), CFS_PERIOD_US);
                r = cg_errno(cgroup_add_value_string(cpu, "cpu.max", quota));
        }
        return r;
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

static const struct backend backend_v2 = {
        .setup = v2_setup,
        .add_values = v2_add_values,
        .stats = v2_stats,
        .kill_all = v2_kill_all,
};

/* ---- manager ------------------------------------------------------------ */

static int detect_layout(enum cgroup_layout *ret, char *err, size_t err_len)
{
        struct statfs fs;

        if (statfs(CGROUP_ROOT, &fs) < 0)
                return fail(-errno, err, err_len, "cannot statfs " CGROUP_ROOT ": %m");
        if (fs.f_type == CGROUP2_SUPER_MAGIC) {
                *ret = CGROUP_LAYOUT_V2;
                return 0;
        }
        if (fs.f_type != TMPFS_MAGIC)
                return fail(-ENODEV, err, err_len,
                            CGROUP_ROOT " is neither cgroup2 nor a tmpfs of v1 hierarchies");
        if (statfs(CGROUP_ROOT "/unified", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
                *ret = CGROUP_LAYOUT_HYBRID;
        else
                *ret = CGROUP_LAYOUT_V1;
        return 0;
}

static void step_free(struct step_cgroup *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < _CTRL_MAX; i++) {
                if (s->cg[i])
                        cgroup_free(&s->cg[i]);
                free(s->path[i]);
                safe_close(s->fd[i]);
        }
        safe_close(s->clone_fd);
        free(s);
}

static struct step_cgroup *step_new(struct cgroup_manager *m)
{
        struct step_cgroup *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->m = m;
        for (size_t i = 0; i < _CTRL_MAX; i++)
                s->fd[i] = -1;
        s->clone_fd = -1;
        return s;
}

/* Mark a step directory alive: a POSIX read lock on it, held by this process
 * only. Unlike flock(), fork() does not pass it on, so a step's own
 * long-lived init cannot keep its step "alive" after we died. */
static int open_marked(const struct hierarchy *h, const char *rel, int *ret)
{
        struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
        char full[PATH_MAX];
        _cleanup_close_ int fd = -1;

        snprintf(full, sizeof(full), "%s%s", h->mount, rel);
        fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fcntl(fd, F_SETLK, &fl) < 0)
                return -errno;
        *ret = TAKE_FD(fd);
        return 0;
}

struct lock_set {
        struct stat *st; /* st_dev, st_ino of each POSIX-locked inode */
        size_t n;
};

/* Raw read of /proc/locks: asking with F_GETLK would mean opening each
 * step directory, and closing that fd would drop this very process's locks
 * on its own live steps. */
static int read_posix_locks(struct lock_set *ret)
{
        _cleanup_free_ char *buf = NULL;
        char *save = NULL;
        int r = read_full_file("/proc/locks", &buf, NULL);

        if (r < 0)
                return r;
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                unsigned maj, min;
                unsigned long ino;
                char kind[16];
                struct stat *st;

                if (sscanf(l, "%*d: %15s %*s %*s %*d %x:%x:%lu", kind, &maj, &min, &ino) != 4 ||
                    !streq(kind, "POSIX"))
                        continue;
                st = reallocarray(ret->st, ret->n + 1, sizeof(*st));
                if (!st)
                        return -ENOMEM;
                ret->st = st;
                ret->st[ret->n++] = (struct stat){ .st_dev = makedev(maj, min), .st_ino = ino };
        }
        return 0;
}

static bool locked(const struct lock_set *set, const struct stat *st)
{
        for (size_t i = 0; i < set->n; i++)
                if (set->st[i].st_dev == st->st_dev && set->st[i].st_ino == st->st_ino)
                        return true;
        return false;
}

/* An unlocked directory may also be a step another manager is creating right
 * now (mkdir done, lock not yet taken). Such a step has no process yet, so
 * an empty directory is only swept once it is older than this. */
#define YOUNG_EMPTY_USEC 2000000ULL

/* The unlocked directories named `name`, as one step; its oldest birth. */
static struct step_cgroup *leftover_new(struct cgroup_manager *m, const int *base_fd,
                                        const struct lock_set *locks, const char *name,
                                        uint64_t *ret_born)
{
        struct step_cgroup *s = step_new(m);
        uint64_t born = UINT64_MAX;
        struct stat st;

        for (size_t hi = 0; s && hi < m->n_h; hi++) {
                const struct hierarchy *h = &m->h[hi];

                if (base_fd[hi] < 0 || fstatat(base_fd[hi], name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode) || locked(locks, &st))
                        continue;
                s->path[hi] = path_join(h->base, name);
                if (s->path[hi])
                        s->cg[hi] = cgroup_new_cgroup(s->path[hi]);
                for (size_t i = 0; s->cg[hi] && i < h->n_ctrls; i++)
                        cgroup_add_controller(s->cg[hi], h->ctrls[i]);
                born = MIN(born, (uint64_t)st.st_ctim.tv_sec * 1000000ULL +
                                         (uint64_t)st.st_ctim.tv_nsec / 1000);
        }
        *ret_born = born;
        return s;
}

/* Add the names of the directories in <base> to *names; keep a fd of <base>.
 * Raw readdir: libcgroup's tree walk opens every step directory (see
 * read_posix_locks for why that hurts). */
static int list_steps(const struct hierarchy *h, int *ret_fd, char ***names)
{
        char full[PATH_MAX];
        struct dirent *de;
        DIR *d;
        int fd;

        snprintf(full, sizeof(full), "%s%s", h->mount, h->base);
        fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        d = fdopendir(fcntl(fd, F_DUPFD_CLOEXEC, 3));
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                bool seen = false;

                if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                for (char **n = *names; n && *n && !seen; n++)
                        seen = streq(*n, de->d_name);
                if (!seen)
                        (void)strv_push(names, de->d_name);
        }
        closedir(d);
        *ret_fd = fd;
        return 0;
}

/* Steps nobody holds a lock on belong to managers that died: kill and remove. */
static void remove_leftovers(struct cgroup_manager *m)
{
        _cleanup_strv_free_ char **names = NULL;
        struct lock_set locks = { 0 };
        int fd[_CTRL_MAX];

        for (size_t hi = 0; hi < _CTRL_MAX; hi++)
                fd[hi] = -1;
        for (size_t hi = 0; hi < m->n_h; hi++)
                (void)list_steps(&m->h[hi], &fd[hi], &names);
        /* names first, locks second: a step made in between is seen locked.
         * Reading /proc/locks write-locks the kernel's file-lock rwsem, which
         * waits for an RCU grace period (~10 ms): only when there is a
         * candidate. */
        if (names && read_posix_locks(&locks) == 0)
                for (char **n = names; n && *n; n++) {
                        struct pid_set set = { 0 };
                        uint64_t born;
                        struct step_cgroup *s = leftover_new(m, fd, &locks, *n, &born);

                        if (s && born != UINT64_MAX && step_pids(s, &set) == 0 &&
                            (set.n > 0 || now_realtime_usec() >= born + YOUNG_EMPTY_USEC))
                                (void)cgroup_step_destroy(s); /* best effort */
                        free(set.p);
                        step_free(s);
                }
        free(locks.st);
        for (size_t hi = 0; hi < _CTRL_MAX; hi++)
                safe_close(fd[hi]);
}

struct cgroup_manager *cgroup_manager_free(struct cgroup_manager *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < _CTRL_MAX; i++) {
                free(m->h[i].mount);
                free(m->h[i].base);
        }
        free(m);
        return NULL;
}

int cgroup_manager_new(struct cgroup_manager **ret, char *err, size_t err_len)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = NULL;
        int r;

        if (!ret)
                return fail(-EINVAL, err, err_len, "no place for the cgroup manager");
        pthread_once(&init_once, cg_init_once);
        if (init_result < 0)
                return fail(init_result, err, err_len, "libcgroup cannot start (cgroup_init): %s",
                            strerror(-init_result));
        m = calloc(1, sizeof(*m));
        if (!m)
                return fail(-ENOMEM, err, err_len, "out of memory");
        r = detect_layout(&m->layout, err, err_len);
        if (r < 0)
                return r;
        m->be = m->layout == CGROUP_LAYOUT_V2 ? &backend_v2 : &backend_v1;
        r = m->be->setup(m, err, err_len);
        if (r < 0)
                return r;
        remove_leftovers(m);
        *ret = TAKE_PTR(m);
        return 0;
}

enum cgroup_layout cgroup_manager_layout(const struct cgroup_manager *m)
{
        return m->layout;
}

/* ---- steps --------------------------------------------------------------- */

static int step_create_one(struct step_cgroup *s, size_t hi, const char *name,
                           const struct step_limits *l, char *err, size_t err_len)
{
        const struct cgroup_manager *m = s->m;
        const struct hierarchy *h = &m->h[hi];
        struct cgroup *cg;
        int r;

        s->path[hi] = path_join(h->base, name);
        if (!s->path[hi])
                return fail(-ENOMEM, err, err_len, "out of memory");
        /* libcgroup's mkdir accepts an existing directory: refuse it here. */
        if (file_exists(h->mount, s->path[hi], ""))
                return fail(-EEXIST, err, err_len, "cgroup %s%s already exists", h->mount,
                            s->path[hi]);
        cg = cgroup_new_cgroup(s->path[hi]);
        if (!cg)
                return fail(-ENOMEM, err, err_len, "out of memory");
        r = m->be->add_values(m, hi, cg, l);
        if (r == 0)
                r = cg_errno(cgroup_create_cgroup(cg, 1));
        if (r < 0) {
                cgroup_free(&cg);
                return fail(r, err, err_len, "cannot create cgroup %s%s with its limits: %s",
                            h->mount, s->path[hi], strerror(-r));
        }
        s->cg[hi] = cg;
        r = open_marked(h, s->path[hi], &s->fd[hi]);
        if (r < 0)
                return fail(r, err, err_len, "cannot open and lock %s%s: %s", h->mount,
                            s->path[hi], strerror(-r));
        return 0;
}

int cgroup_step_create(struct cgroup_manager *m, const char *name, const struct step_limits *l,
                       struct step_cgroup **ret, char *err, size_t err_len)
{
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        int r;

        if (!m || !l || !ret)
                return fail(-EINVAL, err, err_len, "missing manager, limits or result");
        if (!step_id_valid(name))
                return fail(-EINVAL, err, err_len,
                            "invalid step cgroup name '%s' (want 1..%d of [A-Za-z0-9_-])",
                            name ? name : "(null)", STEP_ID_MAX);
        s = step_new(m);
        if (!s)
                return fail(-ENOMEM, err, err_len, "out of memory");
        for (size_t i = 0; i < m->n_h; i++) {
                r = step_create_one(s, i, name, l, err, err_len);
                if (r < 0)
                        return r; /* the guard removes what was made */
        }
        if (m->layout == CGROUP_LAYOUT_V2) {
                /* A separate O_PATH fd: closing a dup of it cannot drop our lock. */
                char full[PATH_MAX];

                snprintf(full, sizeof(full), "%s%s", m->h[0].mount, s->path[0]);
                s->clone_fd = open(full, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (s->clone_fd < 0)
                        return fail(-errno, err, err_len, "cannot open %s: %m", full);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int cgroup_step_clone_fd(const struct step_cgroup *cg)
{
        if (!cg || cg->m->layout != CGROUP_LAYOUT_V2)
                return -1;
        return cg->clone_fd;
}

int cgroup_step_attach(struct step_cgroup *cg, pid_t pid)
{
        if (!cg || pid <= 0)
                return -EINVAL;
        for (size_t i = 0; i < cg->m->n_h; i++) {
                int r;

                if (!cg->cg[i])
                        return -ENOENT;
                r = cg_errno(cgroup_attach_task_pid(cg->cg[i], pid));
                if (r < 0)
                        return r;
        }
        return 0;
}

int cgroup_step_self_attach_fds(struct step_cgroup *cg, int *fds, size_t n_max)
{
        size_t n = 0;

        if (!cg || cg->m->layout == CGROUP_LAYOUT_V2)
                return 0;
        for (size_t i = 0; i < cg->m->n_h; i++) {
                char path[PATH_MAX];

                if (n >= n_max || !cg->cg[i] || !cg->path[i]) {
                        while (n > 0)
                                safe_close(fds[--n]);
                        return -EINVAL;
                }
                /* Raw open: the child writes "0" with a bare write(); libcgroup
                 * cannot act for a process that does not exist yet. The file is
                 * not the locked directory, so closing it keeps the lock. */
                snprintf(path, sizeof(path), "%s%s/tasks", cg->m->h[i].mount, cg->path[i]);
                fds[n] = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fds[n] < 0) {
                        int r = -errno;
                        while (n > 0)
                                safe_close(fds[--n]);
                        return r;
                }
                n++;
        }
        return (int)n;
}

int cgroup_step_stats(struct step_cgroup *cg, struct cgroup_stats *ret)
{
        if (!cg || !ret)
                return -EINVAL;
        return cg->m->be->stats(cg, ret);
}

int cgroup_step_count(struct step_cgroup *cg, unsigned *ret)
{
        struct pid_set set = { 0 };
        int r;

        if (!cg || !ret)
                return -EINVAL;
        r = step_pids(cg, &set);
        free(set.p);
        if (r < 0)
                return r;
        *ret = (unsigned)set.n;
        return 0;
}

int cgroup_step_kill(struct step_cgroup *cg, int sig, unsigned *ret_count)
{
        struct pid_set set = { 0 };
        unsigned n = 0;
        int r;

        if (!cg || sig < 0 || sig >= NSIG)
                return -EINVAL;
        r = step_pids(cg, &set);
        for (size_t i = 0; r == 0 && i < set.n; i++) {
                if (kill(set.p[i], sig) == 0)
                        n++;
                else if (errno != ESRCH) /* gone meanwhile: not counted */
                        r = -errno;
        }
        free(set.p);
        if (r == 0 && sig == SIGKILL)
                r = cg->m->be->kill_all(cg);
        if (r < 0)
                return r;
        if (ret_count)
                *ret_count = n;
        return 0;
}

/* rmdir every hierarchy's directory that is still there, primary last. */
static int remove_dirs(struct step_cgroup *s)
{
        int ret = 0;

        for (size_t k = s->m->n_h; k-- > 0;) {
                int r;

                if (!s->cg[k])
                        continue;
                r = cg_errno(cgroup_delete_cgroup(s->cg[k], 0));
                if (r < 0 && r != -ENOENT) {
                        ret = ret < 0 ? ret : r;
                        continue;
                }
                cgroup_free(&s->cg[k]);
                s->fd[k] = safe_close(s->fd[k]);
        }
        return ret;
}

int cgroup_step_destroy(struct step_cgroup *cg)
{
        uint64_t deadline = now_monotonic_usec() + DESTROY_TIMEOUT_USEC;
        struct timespec nap = { 0, 1000000 }; /* 1 ms */

        if (!cg)
                return 0;
        for (;;) {
                unsigned n = 0;
                int r = cgroup_step_kill(cg, SIGKILL, &n);

                if (r == 0 && n == 0) {
                        r = remove_dirs(cg);
                        if (r != -EBUSY) /* EBUSY: exiting tasks not yet gone */
                                return r;
                }
                if (now_monotonic_usec() >= deadline)
                        return r < 0 ? r : -EBUSY;
                nanosleep(&nap, NULL);
        }
}

struct step_cgroup *cgroup_step_abandon(struct step_cgroup *cg)
{
        if (!cg)
                return NULL;
        (void)cgroup_step_destroy(cg);
        step_free(cg);
        return NULL;
}
