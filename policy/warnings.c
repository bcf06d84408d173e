/* SPDX-License-Identifier: MIT */
/* Soft checks: the configuration is valid, but a step would fail or the
 * admin probably meant something else. Looked at the host as it is now. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "policy/internal.h"

static int warn(char ***l, const char *fmt, ...) _printf_(2, 3);
static int warn(char ***l, const char *fmt, ...)
{
        char *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = strv_push(l, s);
        free(s);
        return r;
}

static bool is_bridge(const char *name)
{
        char path[128];
        struct stat st;

        snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", name);
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int project_warnings(const struct policy_config *c, const struct project_policy *p,
                            char ***l)
{
        _cleanup_free_ char *who = NULL;
        int r = 0;

        if (asprintf(&who, "%s: project \"%s\"", p->file, p->name) < 0)
                return -ENOMEM;
        if (p->net == NET_BRIDGE && !is_bridge(p->bridge.bridge))
                r = warn(l, "%s: bridge \"%s\" does not exist (yet): steps will fail to start",
                         who, p->bridge.bridge);
        if (r >= 0 && p->n_allow_uids == 0 && p->n_allow_gids == 0)
                r = warn(l, "%s: \"allow\" admits nobody%s", who,
                         c->settings.root_always_allowed
                                 ? " but root"
                                 : ", and root_always_allowed is off: no client may use it");
        if (r >= 0 && !p->seccomp && strcmp(p->seccomp_name, POLICY_UNCONFINED) == 0)
                r = warn(l, "%s: seccomp \"unconfined\": steps run without a system call filter",
                         who);
        if (r >= 0 && p->net == NET_HOST)
                r = warn(l, "%s: network \"host\": steps share the host's network namespace",
                         who);
        for (size_t i = 0; r >= 0 && i < p->n_mounts; i++)
                if (p->mounts[i].writable)
                        r = warn(l, "%s: mounts[%zu]: steps may write to host folder %s", who, i,
                                 p->mounts[i].source);
        return r;
}

char **policy_warnings(const struct policy_config *c)
{
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        int r = 0;

        if (!l)
                return NULL;
        if (c->builtin_projects && !c->settings.root_always_allowed)
                r = warn(&l, "no project is configured and root_always_allowed is off: no client "
                             "may run anything");
        for (size_t i = 0; r >= 0 && i < c->n_projects; i++)
                r = project_warnings(c, &c->projects[i], &l);
        return r < 0 ? NULL : TAKE_PTR(l);
}
