/* SPDX-License-Identifier: MIT */
/*
 * Working folders live in a root-owned parent folder; a step may have filled
 * its own folder with anything (links to /etc, deep trees, other mounts'
 * names). Root never follows what a step planted: every operation is
 * relative to a dirfd, with O_NOFOLLOW, and removal never leaves the
 * folder's filesystem.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/sandbox.h"

/* Folders deeper than this are moved up to the top (renameat within the
 * working folder) and removed in a later round: removal needs no more than
 * this many fds at once, however deep a step nests. */
#define REMOVE_MAX_DEPTH 64
#define REMOVE_MAX_ROUNDS 100000

static bool name_ok(const char *name)
{
        return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
               strcmp(name, "..") != 0;
}

int workdir_create(int parent_dirfd, const char *name, uid_t uid, gid_t gid, mode_t mode)
{
        _cleanup_close_ int fd = -1;

        if (!name_ok(name))
                return -EINVAL;
        if (mkdirat(parent_dirfd, name, 0700) < 0)
                return -errno;
        fd = openat(parent_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
                return -errno;
        return 0;
}

struct remove_ctx {
        int top;        /* the working folder */
        dev_t dev;      /* never leave its filesystem */
        unsigned moved; /* subtrees moved up this round */
        unsigned seq;
};

static int remove_contents(struct remove_ctx *c, int dfd, unsigned depth);

static int remove_dir_entry(struct remove_ctx *c, int dfd, const char *name, unsigned depth)
{
        char up[64];
        int sub, r;

        if (depth >= REMOVE_MAX_DEPTH) {
                /* too deep to keep descending: move it to the top for a later round */
                snprintf(up, sizeof(up), ".stepd-deep-%u-%u", c->seq++, (unsigned)getpid());
                if (renameat(dfd, name, c->top, up) < 0)
                        return -errno;
                c->moved++;
                return 0;
        }
        sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
                return -errno;
        /* A step may have left a folder it made unreadable to itself. */
        (void)fchmod(sub, 0700);
        r = remove_contents(c, sub, depth + 1);
        close(sub);
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && r == 0 && errno != ENOENT)
                r = -errno;
        return r;
}

static int remove_contents(struct remove_ctx *c, int dfd, unsigned depth)
{
        struct dirent *de;
        int r = 0, fd;
        DIR *d;

        fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        /* the dup shares the offset with dfd, which an earlier round read to the end */
        rewinddir(d);
        while ((de = readdir(d))) {
                struct stat st;
                int k;

                if (!name_ok(de->d_name))
                        continue;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (!S_ISDIR(st.st_mode))
                        k = unlinkat(dfd, de->d_name, 0) < 0 ? -errno : 0;
                else if (st.st_dev != c->dev)
                        k = -EXDEV; /* a mount point: never descend */
                else
                        k = remove_dir_entry(c, dfd, de->d_name, depth);
                if (k < 0 && k != -ENOENT && r == 0)
                        r = k;
        }
        closedir(d);
        return r;
}

int workdir_remove(int parent_dirfd, const char *name)
{
        _cleanup_close_ int fd = -1;
        struct remove_ctx c = { .top = -1 };
        struct stat st;
        int r;

        if (!name_ok(name))
                return -EINVAL;
        fd = openat(parent_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        (void)fchmod(fd, 0700);
        c.top = fd;
        c.dev = st.st_dev;
        for (unsigned round = 0;; round++) {
                c.moved = 0;
                r = remove_contents(&c, fd, 0);
                if (r < 0 || c.moved == 0)
                        break;
                if (round >= REMOVE_MAX_ROUNDS)
                        return -ELOOP;
        }
        if (unlinkat(parent_dirfd, name, AT_REMOVEDIR) < 0)
                return r < 0 ? r : -errno;
        return r;
}
