/* SPDX-License-Identifier: MIT */
/* "May this peer run, attach to or cancel steps of this project?" From the
 * peer's uid, primary gid and supplementary groups, against the project's
 * allow.users and allow.groups. Root is admitted unless stepd.json sets
 * "root_always_allowed": false. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "policy/internal.h"

static const char *const action_verbs[_POLICY_ACTION_MAX] = {
        [POLICY_RUN] = "run steps of",
        [POLICY_ATTACH] = "attach to steps of",
        [POLICY_CANCEL] = "cancel steps of",
};

static bool peer_in_group(const struct peer *pe, gid_t g)
{
        if (pe->gid == g)
                return true;
        for (size_t i = 0; i < pe->n_groups; i++)
                if (pe->groups && pe->groups[i] == g)
                        return true;
        return false;
}

static bool admitted(const struct project_policy *p, const struct peer *pe)
{
        for (size_t i = 0; i < p->n_allow_uids; i++)
                if (p->allow_uids[i] == pe->uid)
                        return true;
        for (size_t i = 0; i < p->n_allow_gids; i++)
                if (peer_in_group(pe, p->allow_gids[i]))
                        return true;
        return false;
}

static void who(char *buf, size_t len, const struct peer *pe)
{
        struct passwd *pw = getpwuid(pe->uid);

        if (pw)
                snprintf(buf, len, "uid %u (%s)", (unsigned)pe->uid, pw->pw_name);
        else
                snprintf(buf, len, "uid %u", (unsigned)pe->uid);
}

int policy_authorize(const struct policy_config *c, const char *project, const struct peer *pe,
                     enum policy_action a, char *why, size_t why_len)
{
        const struct project_policy *p;
        char whom[128];
        int r = 0;

        if (!why || why_len == 0)
                return -EINVAL;
        why[0] = 0;
        if ((unsigned)a >= _POLICY_ACTION_MAX || !pe) {
                snprintf(why, why_len, "invalid authorization request");
                return -EINVAL;
        }
        p = policy_find_project(c, project, &r, why, why_len);
        if (!p)
                return r;
        if (pe->uid == 0 && c->settings.root_always_allowed)
                return 0;
        if (admitted(p, pe))
                return 0;
        who(whom, sizeof(whom), pe);
        if (c->builtin_projects)
                snprintf(why, why_len,
                         "%s may not %s project \"%s\": no project is configured, and the built-in "
                         "default policy admits only root%s",
                         whom, action_verbs[a], project,
                         c->settings.root_always_allowed ? ""
                                                         : " (and root_always_allowed is off)");
        else
                snprintf(why, why_len,
                         "%s may not %s project \"%s\": neither the uid is in allow.users nor any "
                         "of its groups in allow.groups (%s)%s",
                         whom, action_verbs[a], project, p->file,
                         pe->uid == 0 ? "; root_always_allowed is off" : "");
        return -EACCES;
}
