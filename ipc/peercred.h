/* SPDX-License-Identifier: MIT */
#pragma once

/* Who is on the other end of a Unix socket: SO_PEERCRED (uid, gid, pid as
 * of connect()) plus the supplementary groups of that pid, read from
 * /proc/<pid>/status ("Groups:"). */

#include <stddef.h>
#include <sys/types.h>

#define PEERCRED_GROUPS_MAX 256

struct peer_cred {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t groups[PEERCRED_GROUPS_MAX];
        size_t n_groups;
};

/* 0 or -errno. The groups are best effort: a peer that already exited has
 * none (n_groups 0), which only ever narrows what it may do. */
int peercred_get(int fd, struct peer_cred *ret);

/* Parse the "Groups:" line of a /proc/<pid>/status text. Returns the count
 * (at most max) or -EINVAL. Exposed for tests. */
int peercred_parse_groups(const char *status, gid_t *groups, size_t max);
