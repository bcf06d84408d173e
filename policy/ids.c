/* SPDX-License-Identifier: MIT */
/* Per-project identity. A project either names its user, or gets a uid from
 * the configured range once, remembered in <state>/ids/<project> (the number
 * and a newline, written to a temporary file and renamed into place), so its
 * working folders keep their owner across restarts and reloads. Allocation
 * takes the lowest uid in range that no remembered project holds, no
 * configured project names, and no passwd user or group (NSS) uses; the gid
 * is the same number unless the policy names a group. An exclusive flock on
 * the ids folder serializes allocators (two daemons sharing a state folder). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "policy/internal.h"

struct uid_set {
        uid_t *v;
        size_t n;
};

static int uid_set_add(struct uid_set *s, uid_t u)
{
        uid_t *n = realloc(s->v, (s->n + 1) * sizeof(*n));

        if (!n)
                return -ENOMEM;
        s->v = n;
        s->v[s->n++] = u;
        return 0;
}

static bool uid_set_has(const struct uid_set *s, uid_t u)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i] == u)
                        return true;
        return false;
}

/* Read the remembered uid of one entry of the ids folder. */
static int read_id(int dirfd, const char *name, uid_t *ret)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *text = NULL;
        uint64_t v;
        size_t len;
        int r;

        if (fd < 0)
                return -errno;
        r = read_full_fd(fd, &text, &len);
        if (r < 0)
                return r;
        if (len > 0 && text[len - 1] == '\n')
                text[len - 1] = 0;
        if (parse_uint64(text, &v) < 0 || v == 0 || v > 4294967294ULL)
                return -EBADMSG;
        *ret = (uid_t)v;
        return 0;
}

static int collect_used(const struct policy_config *c, int dirfd, struct uid_set *used)
{
        _cleanup_close_ int fd =
                dirfd >= 0 ? openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        struct dirent *de;
        DIR *d;
        int r;

        for (size_t i = 0; i < c->n_projects; i++)
                if (c->projects[i].explicit_uid && (r = uid_set_add(used, c->projects[i].uid)) < 0)
                        return r;
        if (fd < 0)
                return 0;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        while ((de = readdir(d))) {
                uid_t u;
                if (de->d_name[0] == '.' || read_id(dirfd, de->d_name, &u) < 0)
                        continue;
                if ((r = uid_set_add(used, u)) < 0) {
                        closedir(d);
                        return r;
                }
        }
        closedir(d);
        return 0;
}

static int next_free(const struct policy_config *c, int dirfd, uid_t *ret)
{
        struct uid_set used = { 0 };
        int r = collect_used(c, dirfd, &used);

        if (r < 0) {
                free(used.v);
                return r;
        }
        r = -ENOSPC;
        for (uint64_t u = c->settings.uid_min; u <= c->settings.uid_max; u++) {
                if (uid_set_has(&used, (uid_t)u) || getpwuid((uid_t)u) || getgrgid((gid_t)u))
                        continue;
                *ret = (uid_t)u;
                r = 0;
                break;
        }
        free(used.v);
        return r;
}

static int write_id(int dirfd, const char *name, uid_t u)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        char buf[32];
        int r, n = snprintf(buf, sizeof(buf), "%u\n", (unsigned)u);

        if (asprintf(&tmp, ".%s.tmp", name) < 0)
                return -ENOMEM;
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, buf, (size_t)n);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                return r;
        }
        (void)fsync(dirfd);
        return 0;
}

static int open_ids_dir(const char *state, bool create, int *ret)
{
        _cleanup_free_ char *path = NULL;
        int fd, r;

        if (asprintf(&path, "%s/ids", state) < 0)
                return -ENOMEM;
        if (create && (r = mkdir_p(path, 0700)) < 0)
                return r;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret = fd;
        return 0;
}

/* The remembered uid may not have become a passwd user since. */
static int check_remembered(const char *state, const char *name, uid_t u, char *err, size_t len)
{
        struct passwd *pw = getpwuid(u);

        if (!pw)
                return 0;
        snprintf(err, len,
                 "uid %u remembered for project \"%s\" in %s/ids/%s now belongs to user \"%s\"; "
                 "remove that file to allocate another",
                 (unsigned)u, name, state, name, pw->pw_name);
        return -EEXIST;
}

static int allocated_ids(const struct policy_config *c, const char *name, bool allocate,
                         struct project_ids *ids, char *err, size_t len)
{
        const char *state = c->settings.state_dir;
        _cleanup_close_ int dirfd = -1;
        int r = open_ids_dir(state, allocate, &dirfd);

        if (r < 0 && (allocate || r != -ENOENT)) {
                snprintf(err, len, "cannot open %s/ids: %s", state, strerror(-r));
                return r;
        }
        if (allocate && flock(dirfd, LOCK_EX) < 0)
                return -errno;
        r = dirfd >= 0 ? read_id(dirfd, name, &ids->uid) : -ENOENT;
        if (r >= 0)
                return check_remembered(state, name, ids->uid, err, len);
        if (r != -ENOENT) {
                snprintf(err, len, "%s/ids/%s is unreadable or not a uid: %s", state, name,
                         strerror(-r));
                return r;
        }
        r = next_free(c, dirfd, &ids->uid);
        if (r == -ENOSPC)
                snprintf(err, len, "no free uid left in the range %u..%u",
                         (unsigned)c->settings.uid_min, (unsigned)c->settings.uid_max);
        if (r < 0)
                return r;
        if (!allocate) {
                ids->pending = true;
                return 0;
        }
        r = write_id(dirfd, name, ids->uid);
        if (r < 0)
                snprintf(err, len, "cannot remember uid in %s/ids/%s: %s", state, name,
                         strerror(-r));
        return r;
}

static bool id_cache_find(const struct policy_config *c, const char *name, uid_t *ret)
{
        for (size_t i = 0; i < c->n_id_cache; i++)
                if (strcmp(c->id_cache[i].project, name) == 0) {
                        *ret = c->id_cache[i].uid;
                        return true;
                }
        return false;
}

/* Best effort: without the entry the next step reads the file again. */
static void id_cache_add(const struct policy_config *cc, const char *name, uid_t uid)
{
        struct policy_config *c = (struct policy_config *)cc; /* the cache only */
        struct id_cache_entry *n = realloc(c->id_cache, (c->n_id_cache + 1) * sizeof(*n));
        char *dup = strdup(name);

        if (n)
                c->id_cache = n;
        if (!n || !dup) {
                free(dup);
                return;
        }
        n[c->n_id_cache++] = (struct id_cache_entry){ .project = dup, .uid = uid };
}

int ids_resolve(const struct policy_config *c, const struct project_policy *p, const char *name,
                bool allocate, struct project_ids *ret, char *err, size_t err_len)
{
        struct project_ids ids = { 0 };
        int r;

        if (p->explicit_uid) {
                *ret = (struct project_ids){ .uid = p->uid, .gid = p->gid };
                return 0;
        }
        if (allocate && id_cache_find(c, name, &ids.uid)) {
                r = 0;
        } else {
                r = allocated_ids(c, name, allocate, &ids, err, err_len);
                if (r < 0)
                        return r;
                if (allocate)
                        id_cache_add(c, name, ids.uid);
        }
        ids.allocated = true;
        ids.gid = p->explicit_gid ? p->gid : (gid_t)ids.uid;
        *ret = ids;
        return 0;
}
