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
 * - A step cgroup is one directory per hierarchy, `<own>/stepd/<step>`,
 *   made, renamed and removed relative to an fd of `<own>/stepd` opened
 *   once (see step_create_one), its limits written through its own fd;
 *   libcgroup's `struct cgroup` for it serves cgroup_step_attach().
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
 * - Removal happens only once a cgroup is empty (rmdir fails with EBUSY
 *   otherwise): survivors are never moved to the parent, out of the step's
 *   limits, as libcgroup's delete would.
 *
 * Caveat: a POSIX lock is dropped when this process closes *any* fd of the
 * locked directory, so nothing else in the daemon may open a step directory
 * (the v2 clone fd is O_PATH, whose close does not drop locks).
 *
 * Cost (dev machine, v1 hybrid, 4 hierarchies): create ~500 us when
 * libcgroup made the directories (uprobes on `stepd exec`, while its init
 * mounts): it re-read /proc/mounts for every hierarchy and mkdir -p'd from
 * "/", and its delete rmdir'd by full path and then reported success even
 * for a directory still there. perf put that at a third of the cgroup
 * worker's time under load; mkdirat/unlinkat on the base fd do only the
 * kernel's part. cgroup_get_cgroup() alone costs ~850 us (it reads every
 * file of the controller), so stats read only the files they need through
 * cgroup_read_value_*() instead. */
#include "sandbox/cgroup-internal.h"

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

const char *const cg_ctrl_names[_CTRL_MAX] = { "memory", "pids", "cpu", "cpuacct" };

/* ---- small helpers ---------------------------------------------------- */

_printf_(4, 5) int cg_fail(int r, char *err, size_t err_len, const char *fmt, ...)
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
int cg_errno(int ecg)
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
char *cg_path_join(const char *a, const char *b)
{
        char *p;
        size_t n = strlen(a);

        while (n > 0 && a[n - 1] == '/')
                n--;
        if (asprintf(&p, "%.*s/%s", (int)n, a, b) < 0)
                return NULL;
        return p;
}

bool cg_file_exists(const char *mount, const char *rel, const char *file)
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
int cg_read_u64(const char *ctrl, const char *rel, const char *file, const char *key,
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

/* ---- manager ------------------------------------------------------------ */

int cgroup_detect_layout(enum cgroup_layout *ret, char *err, size_t err_len)
{
        struct statfs fs;

        if (statfs(CGROUP_ROOT, &fs) < 0)
                return cg_fail(-errno, err, err_len, "cannot statfs " CGROUP_ROOT ": %m");
        if (fs.f_type == CGROUP2_SUPER_MAGIC) {
                *ret = CGROUP_LAYOUT_V2;
                return 0;
        }
        if (fs.f_type != TMPFS_MAGIC)
                return cg_fail(-ENODEV, err, err_len,
                            CGROUP_ROOT " is neither cgroup2 nor a tmpfs of v1 hierarchies");
        if (statfs(CGROUP_ROOT "/unified", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
                *ret = CGROUP_LAYOUT_HYBRID;
        else
                *ret = CGROUP_LAYOUT_V1;
        return 0;
}

void cg_step_free(struct step_cgroup *s)
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
static int open_marked(const struct hierarchy *h, const char *name, int *ret)
{
        struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
        _cleanup_close_ int fd = -1;

        fd = openat(h->base_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
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
static struct step_cgroup *leftover_new(struct cgroup_manager *m, const struct lock_set *locks,
                                        const char *name, uint64_t *ret_born)
{
        struct step_cgroup *s = step_new(m);
        uint64_t born = UINT64_MAX;
        struct stat st;

        for (size_t hi = 0; s && hi < m->n_h; hi++) {
                const struct hierarchy *h = &m->h[hi];

                if (fstatat(h->base_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode) || locked(locks, &st))
                        continue;
                s->path[hi] = cg_path_join(h->base, name);
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

/* Add the names of the directories in <base> to *names.
 * Raw readdir: libcgroup's tree walk opens every step directory (see
 * read_posix_locks for why that hurts). */
static int list_steps(const struct hierarchy *h, char ***names)
{
        struct dirent *de;
        int fd = fcntl(h->base_fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);

        if (!d) {
                safe_close(fd);
                return -errno;
        }
        rewinddir(d); /* the dup shares its offset with base_fd */
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
        return 0;
}

/* Steps nobody holds a lock on belong to managers that died: kill and remove. */
static void remove_leftovers(struct cgroup_manager *m)
{
        _cleanup_strv_free_ char **names = NULL;
        struct lock_set locks = { 0 };

        for (size_t hi = 0; hi < m->n_h; hi++)
                (void)list_steps(&m->h[hi], &names);
        /* names first, locks second: a step made in between is seen locked.
         * Reading /proc/locks write-locks the kernel's file-lock rwsem, which
         * waits for an RCU grace period (~10 ms): only when there is a
         * candidate. */
        if (names && read_posix_locks(&locks) == 0)
                for (char **n = names; n && *n; n++) {
                        struct pid_set set = { 0 };
                        uint64_t born;
                        struct step_cgroup *s = leftover_new(m, &locks, *n, &born);

                        if (s && born != UINT64_MAX && step_pids(s, &set) == 0 &&
                            (set.n > 0 || now_realtime_usec() >= born + YOUNG_EMPTY_USEC))
                                (void)cgroup_step_destroy(s); /* best effort */
                        free(set.p);
                        cg_step_free(s);
                }
        free(locks.st);
}

struct cgroup_manager *cgroup_manager_free(struct cgroup_manager *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < _CTRL_MAX; i++) {
                free(m->h[i].mount);
                free(m->h[i].base);
                free(m->h[i].own);
                safe_close(m->h[i].own_tasks_fd);
                safe_close(m->h[i].base_fd);
        }
        free(m);
        return NULL;
}

int cgroup_manager_new(struct cgroup_manager **ret, char *err, size_t err_len)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = NULL;
        int r;

        if (!ret)
                return cg_fail(-EINVAL, err, err_len, "no place for the cgroup manager");
        pthread_once(&init_once, cg_init_once);
        if (init_result < 0)
                return cg_fail(init_result, err, err_len, "libcgroup cannot start (cgroup_init): %s",
                            strerror(-init_result));
        m = calloc(1, sizeof(*m));
        if (!m)
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
        for (size_t i = 0; i < _CTRL_MAX; i++)
                m->h[i].own_tasks_fd = m->h[i].base_fd = -1;
        r = cgroup_detect_layout(&m->layout, err, err_len);
        if (r < 0)
                return r;
        m->be = m->layout == CGROUP_LAYOUT_V2 ? &cg_backend_v2 : &cg_backend_v1;
        r = m->be->setup(m, err, err_len);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_h; i++) {
                const struct hierarchy *h = &m->h[i];
                char full[PATH_MAX];

                snprintf(full, sizeof(full), "%s%s", h->mount, h->base);
                m->h[i].base_fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (m->h[i].base_fd < 0)
                        return cg_fail(-errno, err, err_len, "cannot open %s: %m", full);
        }
        remove_leftovers(m);
        *ret = TAKE_PTR(m);
        return 0;
}

enum cgroup_layout cgroup_manager_layout(const struct cgroup_manager *m)
{
        return m->layout;
}

/* ---- steps --------------------------------------------------------------- */

/* The directory is made relative to the base fd: mkdirat refuses one that
 * exists and makes no missing parent, with no path walk and no re-read of
 * /proc/mounts (libcgroup's create does both, for every hierarchy). The
 * limits are written through the locked directory fd: a relative write
 * cannot land anywhere but in this directory. */
static int step_create_one(struct step_cgroup *s, size_t hi, const char *name,
                           const struct step_limits *l, char *err, size_t err_len)
{
        const struct cgroup_manager *m = s->m;
        const struct hierarchy *h = &m->h[hi];
        struct cg_setting set[CG_SETTINGS_MAX];
        struct cgroup *cg;
        size_t n;
        int r;

        s->path[hi] = cg_path_join(h->base, name);
        if (!s->path[hi])
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
        cg = cgroup_new_cgroup(s->path[hi]);
        for (size_t i = 0; cg && i < h->n_ctrls; i++)
                if (!cgroup_add_controller(cg, h->ctrls[i]))
                        cgroup_free(&cg);
        if (!cg)
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
        if (mkdirat(h->base_fd, name, 0755) < 0) {
                r = -errno;
                cgroup_free(&cg);
                if (r == -EEXIST)
                        return cg_fail(r, err, err_len, "cgroup %s%s already exists", h->mount,
                                    s->path[hi]);
                return cg_fail(r, err, err_len, "cannot create cgroup %s%s: %s", h->mount,
                            s->path[hi], strerror(-r));
        }
        s->cg[hi] = cg;
        r = open_marked(h, name, &s->fd[hi]);
        if (r < 0)
                return cg_fail(r, err, err_len, "cannot open and lock %s%s: %s", h->mount,
                            s->path[hi], strerror(-r));
        n = m->be->settings(m, hi, l, set);
        for (size_t i = 0; i < n; i++) {
                r = write_string_file_at(s->fd[hi], set[i].file, set[i].value);
                if (r < 0)
                        return cg_fail(r, err, err_len, "cannot set %s%s/%s to %s: %s", h->mount,
                                    s->path[hi], set[i].file, set[i].value, strerror(-r));
        }
        return 0;
}

int cgroup_step_create(struct cgroup_manager *m, const char *name, const struct step_limits *l,
                       struct step_cgroup **ret, char *err, size_t err_len)
{
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        int r;

        if (!m || !l || !ret)
                return cg_fail(-EINVAL, err, err_len, "missing manager, limits or result");
        if (!step_id_valid(name))
                return cg_fail(-EINVAL, err, err_len,
                            "invalid step cgroup name '%s' (want 1..%d of [A-Za-z0-9_-])",
                            name ? name : "(null)", STEP_ID_MAX);
        s = step_new(m);
        if (!s)
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
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
                        return cg_fail(-errno, err, err_len, "cannot open %s: %m", full);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

bool cg_can_rename(const struct cgroup_manager *m)
{
        return m->layout != CGROUP_LAYOUT_V2;
}

/* The last part of a step's path: its name in <base>. */
static const char *leaf(const char *path)
{
        return strrchr(path, '/') + 1;
}

static int rename_one(const struct hierarchy *h, const char *from, const char *to)
{
        return renameat(h->base_fd, leaf(from), h->base_fd, leaf(to)) < 0 ? -errno : 0;
}

/* The kernel renames a v1 cgroup within its parent (and refuses a name that
 * exists); the directory keeps its inode, so its lock and limits stay.
 * Only the directories and paths change here: libcgroup's objects for the
 * new names are made when first needed (cg_object: only an attach needs
 * them), not on the launcher's thread in the middle of a launch (each is a
 * few KiB of calloc). */
int cg_step_rename(struct step_cgroup *s, const char *name)
{
        const struct cgroup_manager *m = s->m;
        char *to[_CTRL_MAX] = { 0 };
        size_t done = 0;
        int r = 0;

        if (!cg_can_rename(m))
                return -EOPNOTSUPP;
        if (!step_id_valid(name))
                return -EINVAL;
        for (size_t i = 0; i < m->n_h && r == 0; i++) {
                to[i] = cg_path_join(m->h[i].base, name);
                if (!to[i])
                        r = -ENOMEM;
        }
        for (; r == 0 && done < m->n_h; done++) {
                r = rename_one(&m->h[done], s->path[done], to[done]);
                if (r < 0)
                        break; /* this one kept its old name */
        }
        if (r < 0) {
                /* Back to the old names; one that cannot go back is known
                 * by its new name, so that removal finds every directory. */
                while (done-- > 0)
                        if (rename_one(&m->h[done], to[done], s->path[done]) < 0) {
                                free(s->path[done]);
                                s->path[done] = TAKE_PTR(to[done]);
                                s->renamed[done] = true;
                        }
                for (size_t i = 0; i < m->n_h; i++)
                        free(to[i]);
                return r;
        }
        for (size_t i = 0; i < m->n_h; i++) {
                free(s->path[i]);
                s->path[i] = to[i];
                s->renamed[i] = true;
        }
        return 0;
}

/* libcgroup's object for hierarchy i, under the current name; NULL when
 * the directory is gone (or never made), or when out of memory (then the
 * old object stays, and a later call tries again). */
static struct cgroup *cg_object(struct step_cgroup *s, size_t i)
{
        const struct hierarchy *h = &s->m->h[i];
        struct cgroup *cg;

        if (!s->cg[i] || !s->renamed[i])
                return s->cg[i];
        cg = cgroup_new_cgroup(s->path[i]);
        for (size_t c = 0; cg && c < h->n_ctrls; c++)
                if (!cgroup_add_controller(cg, h->ctrls[c]))
                        cgroup_free(&cg);
        if (!cg)
                return NULL;
        cgroup_free(&s->cg[i]);
        s->cg[i] = cg;
        s->renamed[i] = false;
        return cg;
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
                if (!cg_object(cg, i))
                        return -ENOMEM;
                r = cg_errno(cgroup_attach_task_pid(cg->cg[i], pid));
                if (r < 0)
                        return r;
        }
        return 0;
}

int cg_open_own_tasks(const struct hierarchy *h)
{
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s%s/tasks", h->mount, h->own);
        return open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* The `tasks` file of the step's cgroup (home: of the launcher's own) in
 * every hierarchy. Raw opens: the child writes "0" with a bare write();
 * libcgroup cannot act for a process that does not exist yet. The step's
 * are opened below its locked directory fd (no path walk, which would
 * wait on the kernel's cgroup locks while other steps' cgroups come and
 * go), the launcher's are dups of the ones the manager opened once. The
 * file is not the locked directory, so closing it keeps the lock. */
static int tasks_fds(struct step_cgroup *cg, bool home, int *fds, size_t n_max)
{
        size_t n = 0;

        if (!cg || cg->m->layout == CGROUP_LAYOUT_V2)
                return 0;
        for (size_t i = 0; i < cg->m->n_h; i++) {
                const struct hierarchy *h = &cg->m->h[i];

                if (n >= n_max || !cg->cg[i] || (!home && cg->fd[i] < 0) || (home && !h->own)) {
                        while (n > 0)
                                safe_close(fds[--n]);
                        return -EINVAL;
                }
                if (!home)
                        fds[n] = openat(cg->fd[i], "tasks", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                else if (h->own_tasks_fd >= 0)
                        fds[n] = fcntl(h->own_tasks_fd, F_DUPFD_CLOEXEC, 3);
                else /* not opened at setup: try again, and say why not */
                        fds[n] = cg_open_own_tasks(h);
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

int cgroup_step_self_attach_fds(struct step_cgroup *cg, int *fds, size_t n_max)
{
        return tasks_fds(cg, false, fds, n_max);
}

int cgroup_step_self_leave_fds(struct step_cgroup *cg, int *fds, size_t n_max)
{
        return tasks_fds(cg, true, fds, n_max);
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
                /* a survivor makes it EBUSY (the caller kills again) */
                r = unlinkat(s->m->h[k].base_fd, leaf(s->path[k]), AT_REMOVEDIR) < 0 ? -errno : 0;
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
        /* Usually empty by now (the step has ended): then the removal alone
         * does it, without listing every hierarchy's processes first. A
         * survivor fails it (not always as EBUSY), and the loop kills. */
        if (remove_dirs(cg) == 0)
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
        cg_step_free(cg);
        return NULL;
}
