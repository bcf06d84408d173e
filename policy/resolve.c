/* SPDX-License-Identifier: MIT */
/* A step request plus its project's policy → a complete launch spec. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "policy/internal.h"
#include "policy/jread.h"

int policy_env_set(char ***env, const char *name, size_t name_len, const char *value)
{
        char *kv;
        int r;

        if (asprintf(&kv, "%.*s=%s", (int)name_len, name, value) < 0)
                return -ENOMEM;
        for (char **e = *env; e && *e; e++)
                if (strncmp(*e, name, name_len) == 0 && (*e)[name_len] == '=') {
                        free(*e);
                        *e = kv;
                        return 0;
                }
        r = strv_push(env, kv);
        free(kv);
        return r;
}

static bool env_allowed(char *const *allow, const char *name, size_t n)
{
        for (char *const *a = allow; a && *a; a++) {
                size_t k = strlen(*a);
                if (k > 0 && (*a)[k - 1] == '*') {
                        if (n >= k - 1 && strncmp(name, *a, k - 1) == 0)
                                return true;
                } else if (k == n && strncmp(name, *a, n) == 0) {
                        return true;
                }
        }
        return false;
}

int resolve_env(const struct project_policy *p, char *const *req_env, char ***ret, char *err,
                size_t err_len)
{
        _cleanup_strv_free_ char **env = calloc(1, sizeof(char *));
        int r;

        if (!env)
                return -ENOMEM;
        for (char *const *e = req_env; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                if (!eq || eq == *e) {
                        snprintf(err, err_len,
                                 "malformed environment entry \"%.64s\": expected NAME=value", *e);
                        return -EINVAL;
                }
                if (!env_allowed(p->env_allow, *e, (size_t)(eq - *e)))
                        continue;
                if ((r = policy_env_set(&env, *e, (size_t)(eq - *e), eq + 1)) < 0)
                        return r;
        }
        for (char *const *e = p->env; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                if ((r = policy_env_set(&env, *e, (size_t)(eq - *e), eq + 1)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(env);
        return 0;
}

static int resolve_command(const struct step_request *req, struct launch_spec *s, char *err,
                           size_t err_len)
{
        bool has_argv = req->argv && req->argv[0];

        if (has_argv == !!req->script) {
                snprintf(err, err_len, "a step needs exactly one of argv or script");
                return -EINVAL;
        }
        if (has_argv) {
                if (!req->argv[0][0]) {
                        snprintf(err, err_len, "argv[0] is empty");
                        return -EINVAL;
                }
                s->argv = strv_copy(req->argv);
                return s->argv ? 0 : -ENOMEM;
        }
        if (req->interpreter && !req->interpreter[0]) {
                snprintf(err, err_len, "the interpreter is empty");
                return -EINVAL;
        }
        return strv_push(&s->argv, req->interpreter ? req->interpreter : "/bin/sh");
}

static int resolve_timeout(const struct project_policy *p, const char *project, uint64_t want,
                           uint64_t *ret, char *err, size_t err_len)
{
        char a[32], b[32];

        if (want == 0) {
                *ret = p->timeout_ms;
                return 0;
        }
        if (want > p->timeout_max_ms) {
                format_duration(a, sizeof(a), want);
                format_duration(b, sizeof(b), p->timeout_max_ms);
                snprintf(err, err_len, "timeout %s is above project \"%s\"'s maximum of %s", a,
                         project, b);
                return -EINVAL;
        }
        *ret = want;
        return 0;
}

static int copy_str(char **dst, const char *s)
{
        free(*dst);
        *dst = NULL;
        if (!s)
                return 0;
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

/* Everything the policy alone decides (no request, no state). */
static int apply_policy(const struct policy_config *c, const struct project_policy *p,
                        struct launch_spec *s)
{
        int r;

        s->user_namespace = p->user_namespace;
        s->net = p->net;
        s->limits = p->limits;
        s->kill_grace_ms = c->settings.kill_grace_ms;
        s->reuse_netns = c->settings.reuse_network_namespaces;
        if ((r = copy_str(&s->bridge.bridge, p->bridge.bridge)) < 0 ||
            (r = copy_str(&s->bridge.address, p->bridge.address)) < 0 ||
            (r = copy_str(&s->bridge.gateway, p->bridge.gateway)) < 0 ||
            (r = copy_str(&s->hostname, p->hostname)) < 0 ||
            (r = copy_str(&s->rootfs, p->rootfs)) < 0)
                return r;
        for (size_t i = 0; i < p->n_mounts; i++)
                if ((r = launch_spec_add_bind(s, p->mounts[i].source, p->mounts[i].target,
                                              p->mounts[i].writable)) < 0)
                        return r;
        s->seccomp = seccomp_profile_ref(p->seccomp);
        return 0;
}

int policy_resolve(const struct policy_config *c, const struct step_request *req,
                   struct launch_spec **ret, char *err, size_t err_len)
{
        _cleanup_(launch_spec_freep) struct launch_spec *s = NULL;
        const struct project_policy *p;
        struct project_ids ids;
        int r = 0;

        err[0] = 0;
        p = policy_find_project(c, req->project, &r, err, err_len);
        if (!p)
                return r;
        s = launch_spec_new();
        if (!s || !(s->project = strdup(req->project)))
                return -ENOMEM;
        if ((r = resolve_command(req, s, err, err_len)) < 0 ||
            (r = resolve_env(p, req->env, &s->envp, err, err_len)) < 0 ||
            (r = resolve_timeout(p, req->project, req->timeout_ms, &s->timeout_ms, err, err_len)) <
                    0 ||
            (r = apply_policy(c, p, s)) < 0)
                return r;
        r = ids_resolve(c, p, req->project, true, &ids, err, err_len);
        if (r < 0)
                return r;
        s->uid = ids.uid;
        s->gid = ids.gid;
        /* the configuration in use, wherever it is, holds every project's
         * policy: hidden from steps like the default folders are */
        if (c->config_dir && c->config_dir[0] == '/' && !strv_contains(s->masked, c->config_dir) &&
            strv_push(&s->masked, c->config_dir) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}
