/* SPDX-License-Identifier: MIT */
/*
 * The step's filesystem, built by its init in its own mount namespace
 * (bubblewrap's way, so that any host path, /tmp included, can be a source):
 *
 *   1. make every mount private, so nothing propagates back to the host;
 *   2. mount a staging tmpfs on /tmp and pivot_root into it: the host's tree
 *      is now at /oldroot, and the new root (R) is built at /newroot;
 *   3. into R: the system folders read-only (or the admin's root filesystem),
 *      a fresh /proc, a minimal /dev (null zero full random urandom, shm),
 *      a private /tmp, the working folder read-write, the spec's extra binds,
 *      each bound from /oldroot/<host path>;
 *   4. pivot_root into R, detach the staging root (and /oldroot with it),
 *      make R itself read-only.
 *
 * Missing mount points are created only on our own tmpfs mounts, never
 * inside a bind of a host folder, so nothing is ever created on the host;
 * and no mount goes through a symbolic link.
 * Child side: system calls only.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/internal.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
struct mount_attr {
        __u64 attr_set;
        __u64 attr_clr;
        __u64 propagation;
        __u64 userns_fd;
};
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

#define STAGE "/tmp"
#define ROOT "/newroot"
#define OLD "/oldroot"

struct mount_ctx {
        dev_t own[4];   /* st_dev of our own tmpfs mounts: where we may create mount points */
        size_t n_own;
        dev_t root_dev; /* st_dev of R */
        char *what;
        size_t what_len;
};

static int fail(struct mount_ctx *m, const char *path, int err)
{
        snprintf(m->what, m->what_len, "%s", path);
        return -err;
}

static bool is_own(const struct mount_ctx *m, dev_t dev)
{
        for (size_t i = 0; i < m->n_own; i++)
                if (m->own[i] == dev)
                        return true;
        return false;
}

static void add_own(struct mount_ctx *m, const char *path)
{
        struct stat st;

        if (m->n_own < ARRAY_SIZE(m->own) && stat(path, &st) == 0)
                m->own[m->n_own++] = st.st_dev;
}

/* R + inside path. */
static int root_path(char *buf, size_t len, const char *inside)
{
        int n = snprintf(buf, len, ROOT "%s", inside);

        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Create the mount point at R+inside (a folder, or an empty file when
 * is_file), with missing parents, but only on R's tmpfs. */
static int make_target(struct mount_ctx *m, const char *inside, bool is_file)
{
        char buf[4096];
        struct stat st;
        size_t base = strlen(ROOT);
        dev_t parent_dev = m->root_dev; /* of the last folder walked */

        if (root_path(buf, sizeof(buf), inside) < 0)
                return fail(m, inside, ENAMETOOLONG);
        for (char *p = buf + base + 1;; p++) {
                bool last = (*p == 0), created = false;
                int r;

                if (*p != '/' && !last)
                        continue;
                *p = 0;
                r = lstat(buf, &st);
                if (r < 0 && errno == ENOENT) {
                        /* Never create anything inside a bind of a host
                         * folder. (What we create stays on its parent's
                         * file system: parent_dev holds for the next.) */
                        if (!is_own(m, parent_dev))
                                return fail(m, buf + base, ENOENT);
                        r = last && is_file ? mknod(buf, S_IFREG | 0644, 0) : mkdir(buf, 0755);
                        /* There meanwhile (EEXIST): checked like one found. */
                        if (r < 0 && errno == EEXIST)
                                r = lstat(buf, &st);
                        else if (r == 0)
                                created = true;
                }
                if (r < 0)
                        return fail(m, buf + base, errno);
                if (!created) {
                        /* A link could point anywhere on the host: never mount through one. */
                        if (S_ISLNK(st.st_mode))
                                return fail(m, buf + base, ELOOP);
                        if (!last && !S_ISDIR(st.st_mode))
                                return fail(m, buf + base, ENOTDIR);
                        parent_dev = st.st_dev;
                }
                if (last)
                        return 0;
                *p = '/';
        }
}

static int set_attr(const char *path, uint64_t set, bool recursive)
{
        struct mount_attr attr = { .attr_set = set };

        if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr,
                    sizeof(attr)) < 0)
                return -errno;
        return 0;
}

/* Bind host src at R+inside; read-only (recursively) unless writable. */
static int bind_host(struct mount_ctx *m, const char *host, int fd, const char *inside,
                     bool writable)
{
        char dst[4096], src[4096];
        struct stat st;
        int r;

        /* Through the fd the init opened as the host's root, when there is one:
         * the host's proc is at /oldroot/proc, and "self" is us there. */
        if (fd >= 0)
                snprintf(src, sizeof(src), OLD "/proc/self/fd/%d", fd);
        else if (snprintf(src, sizeof(src), OLD "%s", host) >= (int)sizeof(src))
                return fail(m, host, ENAMETOOLONG);
        if (stat(src, &st) < 0)
                return fail(m, host, errno);
        r = make_target(m, inside, !S_ISDIR(st.st_mode));
        if (r < 0)
                return r;
        if (root_path(dst, sizeof(dst), inside) < 0)
                return fail(m, inside, ENAMETOOLONG);
        if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
                return fail(m, host, errno);
        r = set_attr(dst, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (writable ? 0 : MOUNT_ATTR_RDONLY),
                     true);
        return r < 0 ? fail(m, inside, -r) : 0;
}

static int mount_fs(struct mount_ctx *m, const char *type, const char *inside,
                    unsigned long flags, const char *data)
{
        char dst[4096];
        int r = make_target(m, inside, false);

        if (r < 0)
                return r;
        if (root_path(dst, sizeof(dst), inside) < 0)
                return fail(m, inside, ENAMETOOLONG);
        if (mount(type, dst, type, flags, data) < 0)
                return fail(m, inside, errno);
        if (strcmp(type, "tmpfs") == 0)
                add_own(m, dst);
        return 0;
}

/* Keep a host symlink such as /bin -> usr/bin as a symlink. */
static int system_folder(struct mount_ctx *m, const char *path)
{
        char target[4096], dst[4096], host[4096];
        struct stat st;
        ssize_t n;

        snprintf(host, sizeof(host), OLD "%s", path);
        if (lstat(host, &st) < 0)
                return errno == ENOENT ? 0 : fail(m, path, errno);
        if (!S_ISLNK(st.st_mode))
                return bind_host(m, path, -1, path, false);
        n = readlink(host, target, sizeof(target) - 1);
        if (n < 0)
                return fail(m, path, errno);
        target[n] = 0;
        if (root_path(dst, sizeof(dst), path) < 0)
                return fail(m, path, ENAMETOOLONG);
        if (symlink(target, dst) < 0 && errno != EEXIST)
                return fail(m, path, errno);
        return 0;
}

static int dev_apply(struct mount_ctx *m)
{
        static const char *const nodes[] = { "null", "zero", "full", "random", "urandom" };
        static const char *const links[][2] = {
                { "/proc/self/fd", "/dev/fd" },     { "/proc/self/fd/0", "/dev/stdin" },
                { "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
        };
        char src[64], inside[64], dst[128];
        int r;

        r = mount_fs(m, "tmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
        if (r < 0)
                return r;
        /* The nodes' mount points go straight into the tmpfs just made. */
        for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
                snprintf(src, sizeof(src), OLD "/dev/%s", nodes[i]);
                snprintf(inside, sizeof(inside), "/dev/%s", nodes[i]);
                root_path(dst, sizeof(dst), inside);
                if (mknod(dst, S_IFREG | 0644, 0) < 0)
                        return fail(m, inside, errno);
                if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
                        return fail(m, src, errno);
        }
        for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
                root_path(dst, sizeof(dst), links[i][1]);
                if (symlink(links[i][0], dst) < 0)
                        return fail(m, links[i][1], errno);
        }
        return mount_fs(m, "tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        "mode=1777,size=64m");
}

/* Cover an existing path inside with an empty read-only tmpfs (a folder)
 * or /dev/null (a file). Missing paths are fine: nothing to hide. */
static int mask(struct mount_ctx *m, const char *inside)
{
        char dst[4096];
        struct stat st;

        if (root_path(dst, sizeof(dst), inside) < 0)
                return fail(m, inside, ENAMETOOLONG);
        if (lstat(dst, &st) < 0)
                return errno == ENOENT ? 0 : fail(m, inside, errno);
        if (S_ISDIR(st.st_mode)) {
                if (mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "mode=0755,size=4k") < 0)
                        return fail(m, inside, errno);
        } else if (mount(ROOT "/dev/null", dst, NULL, MS_BIND, NULL) < 0) {
                return fail(m, inside, errno);
        }
        return 0;
}

/* Docker's /proc: kernel knobs read-only, a few informative leaks masked.
 * A step has no capabilities and no uid 0, so this is depth, not the wall. */
static int proc_harden(struct mount_ctx *m)
{
        static const char *const read_only[] = { "/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
                                                 "/proc/bus", "/proc/fs" };
        static const char *const masked[] = { "/proc/kcore", "/proc/keys", "/proc/timer_list",
                                              "/proc/latency_stats", "/proc/sched_debug",
                                              "/proc/acpi", "/proc/asound", "/proc/scsi" };
        char dst[4096];
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(read_only); i++) {
                root_path(dst, sizeof(dst), read_only[i]);
                if (access(dst, F_OK) < 0)
                        continue;
                if (mount(dst, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
                        return fail(m, read_only[i], errno);
                r = set_attr(dst, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                          MOUNT_ATTR_NOEXEC, true);
                if (r < 0)
                        return fail(m, read_only[i], -r);
        }
        for (size_t i = 0; i < ARRAY_SIZE(masked); i++) {
                r = mask(m, masked[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int tmp_apply(struct mount_ctx *m, const struct launch_spec *s)
{
        char opts[64];

        snprintf(opts, sizeof(opts), "mode=1777,size=%llu", (unsigned long long)s->limits.tmp_bytes);
        return mount_fs(m, "tmpfs", "/tmp", MS_NOSUID | MS_NODEV, opts);
}

/* Pivot into a staging tmpfs; the host's tree stays reachable at /oldroot. */
static int stage(struct mount_ctx *m)
{
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return fail(m, "/", errno);
        if (mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") < 0)
                return fail(m, "staging tmpfs", errno);
        if (mkdir(STAGE OLD, 0755) < 0 || mkdir(STAGE ROOT, 0755) < 0)
                return fail(m, "staging tmpfs", errno);
        if (syscall(SYS_pivot_root, STAGE, STAGE OLD) < 0)
                return fail(m, "pivot_root (staging)", errno);
        if (chdir("/") < 0)
                return fail(m, "/", errno);
        return 0;
}

static int root_apply(struct mount_ctx *m, const struct launch_spec *s)
{
        char src[4096];
        struct stat st;
        int r;

        r = stage(m);
        if (r < 0)
                return r;
        if (s->rootfs) {
                snprintf(src, sizeof(src), OLD "%s", s->rootfs);
                if (mount(src, ROOT, NULL, MS_BIND | MS_REC, NULL) < 0)
                        return fail(m, s->rootfs, errno);
                /* every mount below the admin's root too, before ours go on top */
                r = set_attr(ROOT, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                             true);
                if (r < 0)
                        return fail(m, s->rootfs, -r);
        } else if (mount("tmpfs", ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
                return fail(m, "root tmpfs", errno);
        if (stat(ROOT, &st) < 0)
                return fail(m, ROOT, errno);
        m->root_dev = st.st_dev;
        /* With an admin's root filesystem nothing may be created in it. */
        if (!s->rootfs && m->n_own < ARRAY_SIZE(m->own))
                m->own[m->n_own++] = st.st_dev;
        for (char **b = s->rootfs ? NULL : s->system_binds; b && *b; b++) {
                r = system_folder(m, *b);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int pivot(struct mount_ctx *m, const struct launch_spec *s)
{
        if (chdir(ROOT) < 0)
                return fail(m, ROOT, errno);
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return fail(m, "pivot_root", errno);
        /* The old root is stacked under the new one: detach it. */
        if (umount2(".", MNT_DETACH) < 0)
                return fail(m, "old root", errno);
        if (chdir("/") < 0)
                return fail(m, "/", errno);
        if (s->rootfs)
                return set_attr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                                false) < 0 ? fail(m, "/", errno) : 0;
        if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                return fail(m, "/", errno);
        return 0;
}

int mount_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        const struct launch_spec *s = p->spec;
        struct mount_ctx m = { .what = what, .what_len = what_len };
        int r;

        r = root_apply(&m, s);
        if (r >= 0)
                r = mount_fs(&m, "proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (r >= 0)
                r = dev_apply(&m);
        if (r >= 0)
                r = proc_harden(&m);
        for (char **path = s->masked; r >= 0 && path && *path; path++)
                r = mask(&m, *path);
        if (r >= 0)
                r = tmp_apply(&m, s);
        if (r >= 0)
                r = bind_host(&m, s->workdir, p->source_fds[0], s->workdir_target, true);
        for (size_t i = 0; r >= 0 && i < s->n_binds; i++)
                r = bind_host(&m, s->binds[i].source, p->source_fds[1 + i], s->binds[i].target,
                              s->binds[i].writable);
        for (size_t i = 0; i <= s->n_binds; i++)
                if (p->source_fds[i] >= 0)
                        close(p->source_fds[i]);
        if (r >= 0)
                r = pivot(&m, s);
        return r;
}
