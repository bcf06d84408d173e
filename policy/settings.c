/* SPDX-License-Identifier: MIT */
/* stepd.json: the daemon's own settings, plus pools and agents (kept as data
 * for the remote executor). Projects defined inline under "projects" are
 * handed to project.c by config.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "policy/internal.h"
#include "policy/jread.h"

#define UID_RANGE_MIN_DEFAULT 200000
#define UID_RANGE_MAX_DEFAULT 299999

static char *strdup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

int settings_defaults(struct daemon_settings *s)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        *s = (struct daemon_settings){
                .socket_path = strdup(STEPD_SOCKET),
                .socket_mode = 0660,
                .socket_group = strdup_or_null(getgrnam("stepd") ? "stepd" : NULL),
                .state_dir = strdup(STEPD_STATEDIR),
                .uid_min = UID_RANGE_MIN_DEFAULT,
                .uid_max = UID_RANGE_MAX_DEFAULT,
                .capacity = cpus > 0 ? (unsigned)cpus * 2 : 2,
                .queue_limit = 64,
                .default_timeout_ms = 3600ULL * 1000,
                .retention_sec = 7ULL * 86400,
                .kill_grace_ms = 2000,
                .root_always_allowed = true,
                .reuse_network_namespaces = true,
        };
        if (!s->socket_path || !s->state_dir)
                return -ENOMEM;
        return 0;
}

void settings_done(struct daemon_settings *s)
{
        free(s->socket_path);
        free(s->socket_group);
        free(s->state_dir);
        *s = (struct daemon_settings){ 0 };
}

static int replace_str(char **dst, const char *s)
{
        char *n = strdup(s);

        if (!n)
                return -ENOMEM;
        free(*dst);
        *dst = n;
        return 0;
}

static int parse_socket(const struct jctx *x, json_t *root, struct daemon_settings *s)
{
        const char *str;
        json_t *v;
        int r;

        if ((v = json_object_get(root, "socket"))) {
                r = jread_abspath(x, "socket", v, &str);
                if (r < 0 || (r = replace_str(&s->socket_path, str)) < 0)
                        return r;
        }
        if ((v = json_object_get(root, "socket_mode"))) {
                char *end;
                r = jread_string(x, "socket_mode", v, &str);
                if (r < 0)
                        return r;
                unsigned long m = strtoul(str, &end, 8);
                if (!*str || *end || m > 0777 || !isdigit((unsigned char)*str))
                        return jfail(x, "socket_mode", false,
                                     "expected an octal mode such as \"0660\", got \"%s\"", str);
                s->socket_mode = (mode_t)m;
        }
        if ((v = json_object_get(root, "socket_group"))) {
                r = jread_string(x, "socket_group", v, &str);
                if (r < 0)
                        return r;
                if (!getgrnam(str))
                        return jfail(x, "socket_group", false, "unknown group \"%s\"", str);
                if ((r = replace_str(&s->socket_group, str)) < 0)
                        return r;
        }
        return 0;
}

static int parse_uid_range(const struct jctx *x, json_t *root, struct daemon_settings *s)
{
        static const char *const keys[] = { "min", "max", NULL };
        uint64_t lo = s->uid_min, hi = s->uid_max;
        json_t *v = json_object_get(root, "uid_range"), *e;
        int r;

        if (!v)
                return 0;
        r = jwant(x, "uid_range", v, JSON_OBJECT, "an object {\"min\": N, \"max\": N}");
        if (r < 0 || (r = jcheck_keys(x, "uid_range", v, keys)) < 0)
                return r;
        if ((e = json_object_get(v, "min")) &&
            (r = jread_uint(x, "uid_range.min", e, 1, 4294967294ULL, &lo)) < 0)
                return r;
        if ((e = json_object_get(v, "max")) &&
            (r = jread_uint(x, "uid_range.max", e, 1, 4294967294ULL, &hi)) < 0)
                return r;
        if (hi < lo)
                return jfail(x, "uid_range", false,
                             "the range is empty: max %llu is below min %llu",
                             (unsigned long long)hi, (unsigned long long)lo);
        s->uid_min = (uid_t)lo;
        s->uid_max = (uid_t)hi;
        return 0;
}

static int parse_numbers(const struct jctx *x, json_t *root, struct daemon_settings *s)
{
        uint64_t n;
        json_t *v;
        int r;

        if ((v = json_object_get(root, "capacity"))) {
                if ((r = jread_uint(x, "capacity", v, 1, 4096, &n)) < 0)
                        return r;
                s->capacity = (unsigned)n;
        }
        if ((v = json_object_get(root, "queue_limit"))) {
                if ((r = jread_uint(x, "queue_limit", v, 0, 100000, &n)) < 0)
                        return r;
                s->queue_limit = (unsigned)n;
        }
        if ((v = json_object_get(root, "default_timeout")) &&
            (r = jread_duration(x, "default_timeout", v, 1000, 30ULL * 86400000,
                                &s->default_timeout_ms)) < 0)
                return r;
        if ((v = json_object_get(root, "retention"))) {
                if ((r = jread_duration(x, "retention", v, 0, 3650ULL * 86400000, &n)) < 0)
                        return r;
                s->retention_sec = n / 1000;
        }
        if ((v = json_object_get(root, "kill_grace")) &&
            (r = jread_duration(x, "kill_grace", v, 0, 600000, &s->kill_grace_ms)) < 0)
                return r;
        if ((v = json_object_get(root, "root_always_allowed")) &&
            (r = jread_bool(x, "root_always_allowed", v, &s->root_always_allowed)) < 0)
                return r;
        if ((v = json_object_get(root, "reuse_network_namespaces")) &&
            (r = jread_bool(x, "reuse_network_namespaces", v, &s->reuse_network_namespaces)) < 0)
                return r;
        return 0;
}

/* Pools and agents. */

static bool name_valid(const char *s)
{
        /* the same token rule as project names */
        return project_name_valid(s);
}

static bool hex64_valid(const char *s)
{
        if (strlen(s) != 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!isxdigit((unsigned char)*c))
                        return false;
        return true;
}

static bool address_valid(const char *s)
{
        const char *colon = strrchr(s, ':');
        char *end;
        unsigned long port;

        if (!colon || colon == s || !colon[1])
                return false;
        if (s[0] == '[' && colon[-1] != ']')
                return false;
        for (const char *c = s; c < colon; c++)
                if (isspace((unsigned char)*c) || *c == '/')
                        return false;
        port = strtoul(colon + 1, &end, 10);
        return !*end && isdigit((unsigned char)colon[1]) && port >= 1 && port <= 65535;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_labels(const struct jctx *x, const char *path, json_t *v, char ***ret)
{
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        char child[512], *kv;
        const char *k, *val;
        json_t *e;
        int r;

        if (!l)
                return -ENOMEM;
        if ((r = jwant(x, path, v, JSON_OBJECT, "an object of strings")) < 0)
                return r;
        json_object_foreach(v, k, e)
        {
                jpath_key(child, sizeof(child), path, k);
                if ((r = jread_string(x, child, e, &val)) < 0)
                        return r;
                if (!*k || strchr(k, '='))
                        return jfail(x, child, true, "a label name must be non-empty, without '='");
                if (asprintf(&kv, "%s=%s", k, val) < 0)
                        return -ENOMEM;
                r = strv_push(&l, kv);
                free(kv);
                if (r < 0)
                        return r;
        }
        qsort(l, strv_length(l), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}

static int parse_agent(const struct jctx *x, const char *path, const char *name, json_t *v,
                       struct policy_agent *a)
{
        static const char *const keys[] = { "address", "thumbprint", "labels", NULL };
        char child[512];
        const char *s;
        json_t *e;
        int r;

        if (!name_valid(name) || strcmp(name, POLICY_BUILTIN_MEMBER) == 0)
                return jfail(x, path, true,
                             "invalid agent name: expected [a-z0-9_.-], at most 64 bytes, not "
                             "\"builtin\"");
        if ((r = jwant(x, path, v, JSON_OBJECT, "an object")) < 0 ||
            (r = jcheck_keys(x, path, v, keys)) < 0)
                return r;
        if (!(a->name = strdup(name)))
                return -ENOMEM;
        jpath_key(child, sizeof(child), path, "address");
        if (!(e = json_object_get(v, "address")))
                return jfail(x, path, false, "missing key \"address\" (\"host:port\")");
        if ((r = jread_string(x, child, e, &s)) < 0)
                return r;
        if (!address_valid(s))
                return jfail(x, child, false,
                             "expected \"host:port\" with a port 1..65535, got \"%s\"", s);
        if (!(a->address = strdup(s)))
                return -ENOMEM;
        jpath_key(child, sizeof(child), path, "thumbprint");
        if (!(e = json_object_get(v, "thumbprint")))
                return jfail(x, path, false, "missing key \"thumbprint\" (SHA-256, 64 hex digits)");
        if ((r = jread_string(x, child, e, &s)) < 0)
                return r;
        if (!hex64_valid(s))
                return jfail(x, child, false, "expected a SHA-256 thumbprint: 64 hex digits");
        if (!(a->thumbprint = strdup(s)))
                return -ENOMEM;
        for (char *c = a->thumbprint; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        jpath_key(child, sizeof(child), path, "labels");
        if ((e = json_object_get(v, "labels")))
                return parse_labels(x, child, e, &a->labels);
        a->labels = calloc(1, sizeof(char *));
        return a->labels ? 0 : -ENOMEM;
}

static int parse_agents(const struct jctx *x, json_t *root, struct policy_config *c)
{
        json_t *v = json_object_get(root, "agents"), *e;
        char child[512];
        const char *name;
        int r;

        if (!v)
                return 0;
        if ((r = jwant(x, "agents", v, JSON_OBJECT,
                       "an object {name: {address, thumbprint, labels}}")) < 0)
                return r;
        c->agents = calloc(json_object_size(v) + 1, sizeof(*c->agents));
        if (!c->agents)
                return -ENOMEM;
        json_object_foreach(v, name, e)
        {
                jpath_key(child, sizeof(child), "agents", name);
                r = parse_agent(x, child, name, e, &c->agents[c->n_agents++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_pool(const struct jctx *x, const char *path, const char *name, json_t *v,
                      struct policy_config *c, struct policy_pool *p)
{
        static const char *const keys[] = { "members", NULL };
        char child[512], elem[600];
        json_t *e;
        int r;

        if (!name_valid(name))
                return jfail(x, path, true,
                             "invalid pool name: expected [a-z0-9_.-], at most 64 bytes");
        if ((r = jwant(x, path, v, JSON_OBJECT, "an object {\"members\": [...]}")) < 0 ||
            (r = jcheck_keys(x, path, v, keys)) < 0)
                return r;
        if (!(p->name = strdup(name)))
                return -ENOMEM;
        jpath_key(child, sizeof(child), path, "members");
        if (!(e = json_object_get(v, "members")))
                return jfail(x, path, false, "missing key \"members\"");
        if ((r = jread_strv(x, child, e, &p->members)) < 0)
                return r;
        if (!p->members[0])
                return jfail(x, child, false, "a pool needs at least one member");
        for (size_t i = 0; p->members[i]; i++) {
                const char *m = p->members[i];
                jpath_index(elem, sizeof(elem), child, i);
                if (strcmp(m, POLICY_BUILTIN_MEMBER) != 0 && !policy_agent_find(c, m))
                        return jfail(x, elem, false,
                                     "unknown member \"%s\": expected \"builtin\" or an agent "
                                     "defined in \"agents\"",
                                     m);
                for (size_t k = 0; k < i; k++)
                        if (strcmp(p->members[k], m) == 0)
                                return jfail(x, elem, false, "\"%s\" is listed twice", m);
        }
        return 0;
}

int pools_default(struct policy_config *c)
{
        c->pools = calloc(2, sizeof(*c->pools));
        if (!c->pools)
                return -ENOMEM;
        c->n_pools = 1;
        c->pools[0].name = strdup(POLICY_DEFAULT_POOL);
        if (!c->pools[0].name || strv_push(&c->pools[0].members, POLICY_BUILTIN_MEMBER) < 0)
                return -ENOMEM;
        return 0;
}

static int parse_pools(const struct jctx *x, json_t *root, struct policy_config *c)
{
        json_t *v = json_object_get(root, "pools"), *e;
        char child[512];
        const char *name;
        int r;

        if (!v)
                return pools_default(c);
        if ((r = jwant(x, "pools", v, JSON_OBJECT, "an object {name: {\"members\": [...]}}")) < 0)
                return r;
        c->pools = calloc(json_object_size(v) + 1, sizeof(*c->pools));
        if (!c->pools)
                return -ENOMEM;
        json_object_foreach(v, name, e)
        {
                jpath_key(child, sizeof(child), "pools", name);
                r = parse_pool(x, child, name, e, c, &c->pools[c->n_pools++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The agent link's keys are kept as given; supervisor/agent_config.c
 * checks them (docs/agents.md). */
static int keep_link_settings(json_t *root, struct policy_config *c)
{
        static const char *const keys[] = { "tls", "agent", "health_interval" };

        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                json_t *v = json_object_get(root, keys[i]);
                if (!v)
                        continue;
                if (!c->link_settings && !(c->link_settings = json_object()))
                        return -ENOMEM;
                if (json_object_set(c->link_settings, keys[i], v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

const struct json_t *policy_link_settings(const struct policy_config *c)
{
        return c->link_settings;
}

void pools_agents_done(struct policy_config *c)
{
        json_decref(c->link_settings);
        c->link_settings = NULL;
        for (size_t i = 0; i < c->n_pools; i++) {
                free(c->pools[i].name);
                strv_free(c->pools[i].members);
        }
        free(c->pools);
        for (size_t i = 0; i < c->n_agents; i++) {
                free(c->agents[i].name);
                free(c->agents[i].address);
                free(c->agents[i].thumbprint);
                strv_free(c->agents[i].labels);
        }
        free(c->agents);
        c->pools = NULL;
        c->agents = NULL;
        c->n_pools = c->n_agents = 0;
}

int settings_parse(const struct jctx *x, json_t *root, struct policy_config *c,
                   const char *state_override)
{
        static const char *const keys[] = {
                "socket",
                "socket_mode",
                "socket_group",
                "state_dir",
                "uid_range",
                "capacity",
                "queue_limit",
                "default_timeout",
                "retention",
                "kill_grace",
                "root_always_allowed",
                "reuse_network_namespaces",
                "pools",
                "agents",
                "projects",
                "tls",
                "agent",
                "health_interval",
                NULL,
        };
        struct daemon_settings *s = &c->settings;
        const char *str;
        json_t *v;
        int r;

        if (root) {
                if ((r = jwant(x, "", root, JSON_OBJECT, "an object")) < 0 ||
                    (r = jcheck_keys(x, "", root, keys)) < 0 ||
                    (r = parse_socket(x, root, s)) < 0 || (r = parse_uid_range(x, root, s)) < 0 ||
                    (r = parse_numbers(x, root, s)) < 0)
                        return r;
                if ((v = json_object_get(root, "state_dir"))) {
                        r = jread_abspath(x, "state_dir", v, &str);
                        if (r < 0 || (r = replace_str(&s->state_dir, str)) < 0)
                                return r;
                }
                if ((r = parse_agents(x, root, c)) < 0 || (r = parse_pools(x, root, c)) < 0 ||
                    (r = keep_link_settings(root, c)) < 0)
                        return r;
        } else if ((r = pools_default(c)) < 0) {
                return r;
        }
        if (state_override && (r = replace_str(&s->state_dir, state_override)) < 0)
                return r;
        return 0;
}
