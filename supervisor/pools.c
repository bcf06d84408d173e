/* SPDX-License-Identifier: MIT */
/* Which member of a pool runs a step; the `agents` listing. See agents.h.
 * Pure functions over the state agents.c keeps: no I/O, so the rules are
 * unit-tested directly (tests/unit/agents/test_pools.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/util.h"
#include "supervisor/agents.h"

json_t *agents_host_labels(char *const *extra)
{
        struct utsname u;
        json_t *o = json_object();

        if (!o)
                return NULL;
        if (uname(&u) == 0)
                json_object_set_new(o, "arch", json_string(u.machine));
        json_object_set_new(o, "os", json_string("linux"));
        for (char *const *l = extra; l && *l; l++) {
                const char *eq = strchr(*l, '=');
                if (!eq)
                        continue;
                json_object_setn_new(o, *l, (size_t)(eq - *l), json_string(eq + 1));
        }
        return o;
}

/* The value of label key: configured ("k=v") first, then reported. */
static const char *label_value(char *const *configured, const json_t *reported, const char *key)
{
        size_t kl = strlen(key);

        for (char *const *l = configured; l && *l; l++)
                if (strncmp(*l, key, kl) == 0 && (*l)[kl] == '=')
                        return *l + kl + 1;
        return json_string_value(json_object_get(reported, key));
}

bool agents_labels_match(char *const *configured, const json_t *reported, const json_t *requires)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)requires, key, v) {
                const char *have = label_value(configured, reported, key);
                if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
                        return false;
        }
        return true;
}

struct candidate {
        struct agent *agent;   /* NULL: builtin */
        unsigned busy, capacity, queued;
};

/* Less loaded: lower busy/capacity (cross-multiplied), then fewer queued. */
static bool less_loaded(const struct candidate *a, const struct candidate *b)
{
        uint64_t la = (uint64_t)a->busy * b->capacity, lb = (uint64_t)b->busy * a->capacity;

        if (la != lb)
                return la < lb;
        return a->queued < b->queued;
}

/* One member: 1 and *ret when it can take the step now, 0 when it might
 * later, -ENOENT when it never can (its labels do not match). */
static int consider(struct agents *A, const char *member, const json_t *requires,
                    unsigned local_running, unsigned local_capacity, uint64_t now,
                    struct candidate *ret)
{
        if (strcmp(member, AGENTS_BUILTIN) == 0) {
                json_t *host = agents_host_labels(NULL);
                bool ok = agents_labels_match(NULL, host, requires);
                json_decref(host);
                if (!ok)
                        return -ENOENT;
                *ret = (struct candidate){ NULL, local_running, local_capacity, 0 };
                return local_running < local_capacity ? 1 : 0;
        }
        struct agent *a = agents_find(A, member);
        if (!a)
                return -ENOENT;
        if (!agents_labels_match(a->labels, a->reported_labels, requires))
                /* before its first answer its os/arch are unknown: maybe later */
                return a->seen ? -ENOENT : 0;
        if (!a->healthy || a->draining || now < a->refused_until || a->capacity == 0)
                return 0;
        *ret = (struct candidate){ a, MAX(a->running, a->inflight), a->capacity, a->queued };
        return ret->busy < ret->capacity ? 1 : 0;
}

enum agents_pick agents_pick(struct agents *A, const struct policy_pool *pool,
                             const json_t *requires, unsigned local_running,
                             unsigned local_capacity, uint64_t now, struct agent **ret_agent,
                             char *why, size_t why_len)
{
        struct candidate best = { 0 }, c;
        bool have = false, maybe = false;

        for (char **m = pool ? pool->members : NULL; m && *m; m++) {
                int r = consider(A, *m, requires, local_running, local_capacity, now, &c);
                if (r == 0)
                        maybe = true;
                if (r <= 0)
                        continue;
                if (!have || less_loaded(&c, &best))
                        best = c;
                have = true;
        }
        if (have) {
                *ret_agent = best.agent;
                return best.agent ? AGENTS_PICK_AGENT : AGENTS_PICK_BUILTIN;
        }
        if (maybe) {
                snprintf(why, why_len, "every member of pool %s that can run it is busy or down",
                         pool->name);
                return AGENTS_PICK_WAIT;
        }
        snprintf(why, why_len, "no member of pool %s has the required labels",
                 pool ? pool->name : "(none)");
        return AGENTS_PICK_NEVER;
}

static json_t *configured_labels(char *const *labels, const json_t *reported)
{
        json_t *o = reported ? json_deep_copy(reported) : json_object();

        for (char *const *l = labels; o && l && *l; l++) {
                const char *eq = strchr(*l, '=');
                if (eq)
                        json_object_setn_new(o, *l, (size_t)(eq - *l), json_string(eq + 1));
        }
        return o;
}

static json_t *pools_of(const struct policy_config *c, const char *member)
{
        const struct policy_pool *p;
        size_t n = policy_pools(c, &p);
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                for (char **m = p[i].members; m && *m; m++)
                        if (strcmp(*m, member) == 0)
                                json_array_append_new(a, json_string(p[i].name));
        return a;
}

json_t *agents_to_json(struct agents *A, const struct policy_config *c, unsigned local_running,
                       unsigned local_capacity, unsigned local_queued)
{
        json_t *list = json_array();

        if (!list)
                return NULL;
        json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:b, s:i, s:i, s:i, s:s, s:o}",
                                              "name", AGENTS_BUILTIN, "address", "local",
                                              "pools", pools_of(c, AGENTS_BUILTIN),
                                              "healthy", 1, "capacity", (int)local_capacity,
                                              "running", (int)local_running,
                                              "queued", (int)local_queued,
                                              "version", STEPD_VERSION,
                                              "labels", agents_host_labels(NULL)));
        for (size_t i = 0; A && i < A->n; i++) {
                struct agent *a = &A->v[i];
                json_t *o = json_pack(
                        "{s:s, s:s, s:s, s:o, s:b, s:b, s:i, s:i, s:i, s:i, s:s, s:o, s:s}",
                        "name", a->name, "address", a->address, "thumbprint", a->pin,
                        "pools", pools_of(c, a->name), "healthy", a->healthy, "draining",
                        a->draining, "capacity", (int)a->capacity, "running", (int)a->running,
                        "queued", (int)a->queued, "forwarded", (int)a->inflight, "version",
                        a->version, "labels", configured_labels(a->labels, a->reported_labels),
                        "error", a->error);
                if (o && a->last_seen_usec)
                        json_object_set_new(o, "last_seen_usec",
                                            json_integer((json_int_t)a->last_seen_usec));
                else if (o)
                        json_object_set_new(o, "last_seen_usec", json_null());
                json_array_append_new(list, o);
        }
        return list;
}
