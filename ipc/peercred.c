/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/util.h"
#include "ipc/peercred.h"

int peercred_parse_groups(const char *status, gid_t *groups, size_t max)
{
        const char *p;
        size_t n = 0;

        if (strncmp(status, "Groups:", 7) == 0)
                p = status + 7;
        else if ((p = strstr(status, "\nGroups:")))
                p += 8;
        else
                return -EINVAL;
        for (;;) {
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p == '\n' || *p == '\0')
                        break;
                char *end;
                errno = 0;
                unsigned long v = strtoul(p, &end, 10);
                if (errno || end == p || v > (gid_t)-2)
                        return -EINVAL;
                if (n < max)
                        groups[n++] = (gid_t)v;
                p = end;
        }
        return (int)n;
}

int peercred_get(int fd, struct peer_cred *ret)
{
        struct ucred uc;
        socklen_t len = sizeof(uc);
        char path[64];
        _cleanup_free_ char *status = NULL;
        size_t slen;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        *ret = (struct peer_cred){ .uid = uc.uid, .gid = uc.gid, .pid = uc.pid };
        if (uc.pid <= 0)
                return 0;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)uc.pid);
        if (read_full_file(path, &status, &slen) < 0)
                return 0;
        int n = peercred_parse_groups(status, ret->groups, PEERCRED_GROUPS_MAX);
        ret->n_groups = n > 0 ? (size_t)n : 0;
        return 0;
}
