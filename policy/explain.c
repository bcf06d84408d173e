/* SPDX-License-Identifier: MIT */
/* `stepd check-config PROJECT`: what a step of this project can see and do,
 * in words, from the same resolved data policy_resolve() puts into a spec.
 * Read-only: a project without a uid yet shows the one it would get. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "policy/internal.h"
#include "policy/jread.h"
#include "policy/seccomp_profile.h"

static void user_name(char *buf, size_t len, uid_t u)
{
        struct passwd *pw = getpwuid(u);

        snprintf(buf, len, "%u%s%s%s", (unsigned)u, pw ? " (" : "", pw ? pw->pw_name : "",
                 pw ? ")" : "");
}

static void group_name(char *buf, size_t len, gid_t g)
{
        struct group *gr = getgrgid(g);

        snprintf(buf, len, "%u%s%s%s", (unsigned)g, gr ? " (" : "", gr ? gr->gr_name : "",
                 gr ? ")" : "");
}

static void explain_identity(const struct policy_config *c, const struct project_policy *p,
                             const char *name, const struct project_ids *ids, FILE *f)
{
        char u[128], g[128];

        user_name(u, sizeof(u), ids->uid);
        group_name(g, sizeof(g), ids->gid);
        fprintf(f, "identity:    uid %s, gid %s", u, g);
        if (!ids->allocated)
                fprintf(f, ", named by the policy\n");
        else if (ids->pending)
                fprintf(f,
                        ", not allocated yet: the next free uid of %u..%u, remembered in %s/ids/%s "
                        "on first use\n",
                        (unsigned)c->settings.uid_min, (unsigned)c->settings.uid_max,
                        c->settings.state_dir, name);
        else
                fprintf(f, ", allocated, remembered in %s/ids/%s\n", c->settings.state_dir, name);
        fprintf(f, "             no capabilities, no_new_privs, supplementary groups dropped\n");
}

static void explain_submit(const struct policy_config *c, const struct project_policy *p, FILE *f)
{
        char buf[128];
        bool any = false;

        fprintf(f, "submit:      ");
        if (c->settings.root_always_allowed) {
                fprintf(f, "root (root_always_allowed)");
                any = true;
        }
        for (size_t i = 0; i < p->n_allow_uids; i++) {
                user_name(buf, sizeof(buf), p->allow_uids[i]);
                fprintf(f, "%s%s%s", any ? ", " : "", i == 0 ? "users " : "", buf);
                any = true;
        }
        for (size_t i = 0; i < p->n_allow_gids; i++) {
                group_name(buf, sizeof(buf), p->allow_gids[i]);
                fprintf(f, "%s%s%s", any ? ", " : "", i == 0 ? "members of groups " : "", buf);
                any = true;
        }
        fprintf(f, "%s\n", any ? " (run, attach, cancel)" : "nobody");
}

static void explain_network(const struct project_policy *p, FILE *f)
{
        fprintf(f, "namespaces:  mount, pid, ipc, uts (hostname \"%s\"), cgroup%s%s\n", p->hostname,
                p->net == NET_HOST ? "" : ", network",
                p->user_namespace ? ", user (ids mapped 1:1)" : "");
        switch (p->net) {
        case NET_HOST:
                fprintf(f, "network:     host: the host's own network namespace, no network "
                           "isolation\n");
                break;
        case NET_BRIDGE:
                fprintf(f,
                        "network:     bridge: own namespace, eth0 %s on host bridge %s, default "
                        "route %s\n",
                        p->bridge.address, p->bridge.bridge,
                        p->bridge.gateway ? p->bridge.gateway : "none");
                break;
        default: fprintf(f, "network:     none: own namespace with only loopback\n"); break;
        }
}

static void explain_files(const struct project_policy *p, FILE *f)
{
        char tmp[32];

        if (p->rootfs)
                fprintf(f, "filesystem:  root %s (read-only)\n", p->rootfs);
        else
                fprintf(f, "filesystem:  root: a fresh tmpfs (read-only) with the host's /usr /bin "
                           "/sbin /lib /lib32 /lib64 /libx32 /etc bound read-only (those that "
                           "exist)\n");
        format_size(tmp, sizeof(tmp), p->limits.tmp_bytes);
        fprintf(f, "mounts:      /work  rw  the step's own working folder (fresh per step, owned "
                   "by the uid)\n");
        fprintf(f, "             /tmp   rw  private tmpfs of %s\n", tmp);
        fprintf(f, "             /proc  rw  the step's own pid namespace only\n");
        fprintf(f, "             /dev   ro  minimal: null zero full random urandom, shm\n");
        if (p->cache)
                fprintf(f, "             /cache rw  the project's persistent cache folder\n");
        for (size_t i = 0; i < p->n_mounts; i++)
                fprintf(f, "             %s  %s  from host %s\n", p->mounts[i].target,
                        p->mounts[i].writable ? "rw" : "ro", p->mounts[i].source);
        fprintf(f, "             nothing of other projects, of the state folder or of the "
                   "supervisor\n");
}

static void limit(char *buf, size_t len, uint64_t v, bool size)
{
        if (v == 0)
                snprintf(buf, len, "unlimited");
        else if (size)
                format_size(buf, len, v);
        else
                snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void explain_limits(const struct project_policy *p, FILE *f)
{
        char mem[32], pids[32], cpu[32], fsize[32];
        const struct step_limits *l = &p->limits;

        limit(mem, sizeof(mem), l->memory_bytes, true);
        limit(pids, sizeof(pids), l->pids_max, false);
        limit(fsize, sizeof(fsize), l->fsize_bytes, true);
        if (l->cpu_millis == 0)
                snprintf(cpu, sizeof(cpu), "unlimited");
        else
                snprintf(cpu, sizeof(cpu), "%u.%03u cpus", l->cpu_millis / 1000,
                         l->cpu_millis % 1000);
        fprintf(f, "limits:      memory %s, pids %s, cpu %s, nofile %llu, fsize %s\n", mem, pids,
                cpu, (unsigned long long)l->nofile, fsize);
}

static void explain_seccomp(const struct policy_config *c, const struct project_policy *p, FILE *f)
{
        const struct profile_entry *pe = policy_find_profile(c, p->seccomp_name);
        const struct seccomp_profile *sp = p->seccomp;

        if (!pe) {
                fprintf(f, "seccomp:     unconfined: NO seccomp filter (chosen explicitly)\n");
                return;
        }
        fprintf(f, "seccomp:     profile \"%s\" (%s)", pe->name, pe->file ? pe->file : "built in");
        if (!sp) {
                fprintf(f, ": not available in this build, no filter applies\n");
                return;
        }
        fprintf(f, ", default action %s",
                seccomp_action_to_string(sp->default_action) ?: "?");
        if (sp->default_action == SECCOMP_ACT_ERRNO_)
                fprintf(f, "(%s)",
                        strerrorname_np(sp->default_errno_ret ? sp->default_errno_ret : EPERM));
        fprintf(f, ", %zu rules\n", sp->n_rules);
}

static void explain_env(const struct project_policy *p, FILE *f)
{
        fprintf(f, "environment: fixed:");
        for (char **e = p->env; e && *e; e++)
                fprintf(f, " %s", *e);
        fprintf(f, "\n             from the request:");
        if (!p->env_allow || !p->env_allow[0])
                fprintf(f, " nothing");
        for (char **e = p->env_allow; e && *e; e++)
                fprintf(f, " %s", *e);
        fprintf(f, " (other variables are dropped; fixed ones win)\n");
}

static void explain_rest(const struct policy_config *c, const struct project_policy *p, FILE *f)
{
        char d[32], m[32], g[32];
        const struct policy_pool *pool = policy_pool_find(c, p->pool);

        format_duration(d, sizeof(d), p->timeout_ms);
        format_duration(m, sizeof(m), p->timeout_max_ms);
        format_duration(g, sizeof(g), c->settings.kill_grace_ms);
        fprintf(f, "timeout:     default %s, at most %s; then SIGTERM, SIGKILL after %s\n", d, m,
                g);
        fprintf(f, "pool:        %s (", p->pool);
        for (char **e = pool ? pool->members : NULL; e && *e; e++)
                fprintf(f, "%s%s", e == pool->members ? "" : ", ", *e);
        fprintf(f, ")\ncache:       %s\n",
                p->cache ? "yes, persistent across steps at /cache" : "no");
}

int policy_explain(const struct policy_config *c, const char *project, FILE *f, char *err,
                   size_t err_len)
{
        const struct project_policy *p;
        struct project_ids ids;
        int r = 0;

        p = policy_find_project(c, project, &r, err, err_len);
        if (!p)
                return r;
        r = ids_resolve(c, p, project, false, &ids, err, err_len);
        if (r < 0)
                return r;
        fprintf(f, "project:     %s (%s), policy %s\n", project,
                c->builtin_projects ? "built-in default: no project is configured" : p->file,
                p->hash);
        explain_identity(c, p, project, &ids, f);
        explain_submit(c, p, f);
        explain_network(p, f);
        explain_files(p, f);
        explain_limits(p, f);
        explain_seccomp(c, p, f);
        explain_env(p, f);
        explain_rest(c, p, f);
        return 0;
}
