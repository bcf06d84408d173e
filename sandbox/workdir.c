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
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/sandbox.h"

#define REMOVE_MAX_DEPTH 512

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

static int remove_contents(int dfd, dev_t dev, unsigned depth)
{
        DIR *d;
        struct dirent *de;
        int r = 0, fd;

        if (depth > REMOVE_MAX_DEPTH)
                return -ELOOP;
        fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                struct stat st;

                if (!name_ok(de->d_name))
                        continue;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int sub, k;

                        if (st.st_dev != dev) {
                                r = -EXDEV; /* a mount point: never descend */
                                continue;
                        }
                        sub = openat(dfd, de->d_name,
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                continue;
                        /* A step may have left a folder it made unreadable to itself. */
                        fchmod(sub, 0700);
                        k = remove_contents(sub, dev, depth + 1);
                        close(sub);
                        if (k < 0 && r == 0)
                                r = k;
                        if (unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0 && r == 0)
                                r = -errno;
                } else if (unlinkat(dfd, de->d_name, 0) < 0 && r == 0) {
                        r = -errno;
                }
        }
        closedir(d);
        return r;
}

int workdir_remove(int parent_dirfd, const char *name)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if (!name_ok(name))
                return -EINVAL;
        fd = openat(parent_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        fchmod(fd, 0700);
        r = remove_contents(fd, st.st_dev, 0);
        if (unlinkat(parent_dirfd, name, AT_REMOVEDIR) < 0)
                return r < 0 ? r : -errno;
        return r;
}
