/* SPDX-License-Identifier: MIT */
/* One project's policy: parse and validate its JSON object into a struct
 * project_policy. Names (users, groups) are resolved here, at load time, so a
 * typo is an error an admin sees at once rather than a silent denial later. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "policy/internal.h"
#include "policy/jread.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Inside the sandbox these belong to stepd: no extra mount may cover them. */
static const char *const reserved_targets[] = { "/proc", "/dev", "/tmp", "/work", "/cache" };

void project_defaults(struct project_policy *p, const struct policy_config *c)
{
        *p = (struct project_policy){
                .limits = {
                        .memory_bytes = 1ULL << 30,
                        .pids_max = 512,
                        .cpu_millis = 1000,
                        .nofile = 1024,
                        .fsize_bytes = 1ULL << 30,
                        .tmp_bytes = 256ULL << 20,
                },
                .net = NET_NONE,
                .timeout_ms = c->settings.default_timeout_ms,
                .timeout_max_ms = c->settings.default_timeout_ms,
        };
}

void project_policy_done(struct project_policy *p)
{
        free(p->name);
        free(p->file);
        free(p->allow_uids);
        free(p->allow_gids);
        free(p->bridge.bridge);
        free(p->bridge.address);
        free(p->bridge.gateway);
        for (size_t i = 0; i < p->n_mounts; i++) {
                free(p->mounts[i].source);
                free(p->mounts[i].target);
        }
        free(p->mounts);
        free(p->rootfs);
        free(p->hostname);
        strv_free(p->env_allow);
        strv_free(p->env);
        free(p->seccomp_name);
        seccomp_profile_unref(p->seccomp);
        free(p->pool);
        *p = (struct project_policy){ 0 };
}

/* A user as a name, a numeric string or an integer. */
static int read_user(const struct jctx *x, const char *path, json_t *v, uid_t *ret_uid,
                     gid_t *ret_gid, bool *ret_has_gid)
{
        struct passwd *pw;
        uint64_t n;

        if (json_is_integer(v))
                return jread_uint(x, path, v, 0, 4294967294ULL, &n) < 0
                               ? -EINVAL
                               : (*ret_uid = (uid_t)n, *ret_has_gid = false, 0);
        if (!json_is_string(v))
                return jfail(x, path, false, "expected a user name or uid, got %s", jtype(v));
        if (parse_uint64(json_string_value(v), &n) == 0) {
                if (n > 4294967294ULL)
                        return jfail(x, path, false, "uid %s is out of range",
                                     json_string_value(v));
                *ret_uid = (uid_t)n;
                *ret_has_gid = false;
                return 0;
        }
        pw = getpwnam(json_string_value(v));
        if (!pw)
                return jfail(x, path, false, "unknown user \"%s\"", json_string_value(v));
        *ret_uid = pw->pw_uid;
        *ret_gid = pw->pw_gid;
        *ret_has_gid = true;
        return 0;
}

static int read_group(const struct jctx *x, const char *path, json_t *v, gid_t *ret)
{
        struct group *gr;
        uint64_t n;

        if (json_is_integer(v)) {
                if (jread_uint(x, path, v, 0, 4294967294ULL, &n) < 0)
                        return -EINVAL;
                *ret = (gid_t)n;
                return 0;
        }
        if (!json_is_string(v))
                return jfail(x, path, false, "expected a group name or gid, got %s", jtype(v));
        if (parse_uint64(json_string_value(v), &n) == 0) {
                if (n > 4294967294ULL)
                        return jfail(x, path, false, "gid %s is out of range",
                                     json_string_value(v));
                *ret = (gid_t)n;
                return 0;
        }
        gr = getgrnam(json_string_value(v));
        if (!gr)
                return jfail(x, path, false, "unknown group \"%s\"", json_string_value(v));
        *ret = gr->gr_gid;
        return 0;
}

static int parse_allow(const struct jctx *x, json_t *v, struct project_policy *p)
{
        static const char *const keys[] = { "users", "groups", NULL };
        char child[512];
        json_t *l, *e;
        size_t i;
        int r;

        if ((r = jwant(x, "allow", v, JSON_OBJECT,
                       "an object {\"users\": [...], \"groups\": [...]}")) < 0 ||
            (r = jcheck_keys(x, "allow", v, keys)) < 0)
                return r;
        if ((l = json_object_get(v, "users"))) {
                if ((r = jwant(x, "allow.users", l, JSON_ARRAY, "an array of user names or uids")) <
                    0)
                        return r;
                p->allow_uids = calloc(json_array_size(l) + 1, sizeof(uid_t));
                if (!p->allow_uids)
                        return -ENOMEM;
                json_array_foreach(l, i, e)
                {
                        gid_t g;
                        bool has_g;
                        jpath_index(child, sizeof(child), "allow.users", i);
                        if ((r = read_user(x, child, e, &p->allow_uids[i], &g, &has_g)) < 0)
                                return r;
                        p->n_allow_uids++;
                }
        }
        if ((l = json_object_get(v, "groups"))) {
                if ((r = jwant(x, "allow.groups", l, JSON_ARRAY,
                               "an array of group names or gids")) < 0)
                        return r;
                p->allow_gids = calloc(json_array_size(l) + 1, sizeof(gid_t));
                if (!p->allow_gids)
                        return -ENOMEM;
                json_array_foreach(l, i, e)
                {
                        jpath_index(child, sizeof(child), "allow.groups", i);
                        if ((r = read_group(x, child, e, &p->allow_gids[i])) < 0)
                                return r;
                        p->n_allow_gids++;
                }
        }
        return 0;
}

static int parse_identity(const struct jctx *x, json_t *obj, const struct policy_config *c,
                          struct project_policy *p)
{
        const struct daemon_settings *s = &c->settings;
        json_t *v;
        gid_t g = 0;
        bool has_g = false;
        int r;

        if ((v = json_object_get(obj, "user"))) {
                if ((r = read_user(x, "user", v, &p->uid, &g, &has_g)) < 0)
                        return r;
                if (p->uid == 0)
                        return jfail(x, "user", false, "a project may not run as root (uid 0)");
                if (p->uid >= s->uid_min && p->uid <= s->uid_max)
                        return jfail(x, "user", false,
                                     "uid %u is inside the allocation range %u..%u (uid_range in "
                                     "stepd.json)",
                                     (unsigned)p->uid, (unsigned)s->uid_min, (unsigned)s->uid_max);
                for (size_t i = 0; i < c->n_projects; i++)
                        if (c->projects[i].explicit_uid && c->projects[i].uid == p->uid)
                                return jfail(x, "user", false,
                                             "uid %u is already the user of project \"%s\" (%s)",
                                             (unsigned)p->uid, c->projects[i].name,
                                             c->projects[i].file);
                p->explicit_uid = true;
                p->gid = has_g ? g : (gid_t)p->uid;
                p->explicit_gid = true;
        }
        if ((v = json_object_get(obj, "group"))) {
                if ((r = read_group(x, "group", v, &p->gid)) < 0)
                        return r;
                if (p->gid == 0)
                        return jfail(x, "group", false,
                                     "a project may not run as group root (gid 0)");
                p->explicit_gid = true;
        } else if (p->explicit_uid && p->gid == 0) {
                return jfail(x, "user", false,
                             "the user's primary group is root (gid 0): name another \"group\"");
        }
        return 0;
}

static int parse_cpu(const struct jctx *x, json_t *v, uint32_t *ret)
{
        double d;

        if (json_is_string(v) && strcmp(json_string_value(v), "unlimited") == 0) {
                *ret = 0;
                return 0;
        }
        if (!json_is_number(v))
                return jfail(x, "limits.cpu", false,
                             "expected a number of cpus such as 1.5 or \"unlimited\", got %s",
                             jtype(v));
        d = json_number_value(v);
        if (!(d >= 0.01 && d <= 1024.0))
                return jfail(x, "limits.cpu", false, "%g is out of range: expected 0.01..1024 cpus",
                             d);
        *ret = (uint32_t)(d * 1000.0 + 0.5);
        return 0;
}

static int parse_pids(const struct jctx *x, json_t *v, uint64_t *ret)
{
        if (json_is_string(v) && strcmp(json_string_value(v), "unlimited") == 0) {
                *ret = 0;
                return 0;
        }
        return jread_uint(x, "limits.pids", v, 1, 4194304, ret);
}

static int parse_limits(const struct jctx *x, json_t *v, struct step_limits *l)
{
        static const char *const keys[] = {
                "memory", "pids", "cpu", "nofile", "fsize", "tmp", NULL
        };
        json_t *e;
        int r;

        if ((r = jwant(x, "limits", v, JSON_OBJECT, "an object")) < 0 ||
            (r = jcheck_keys(x, "limits", v, keys)) < 0)
                return r;
        if ((e = json_object_get(v, "memory")) &&
            (r = jread_size(x, "limits.memory", e, 4ULL << 20, 16ULL << 40, true,
                            &l->memory_bytes)) < 0)
                return r;
        if ((e = json_object_get(v, "pids")) && (r = parse_pids(x, e, &l->pids_max)) < 0)
                return r;
        if ((e = json_object_get(v, "cpu")) && (r = parse_cpu(x, e, &l->cpu_millis)) < 0)
                return r;
        if ((e = json_object_get(v, "nofile")) &&
            (r = jread_uint(x, "limits.nofile", e, 16, 1048576, &l->nofile)) < 0)
                return r;
        if ((e = json_object_get(v, "fsize")) &&
            (r = jread_size(x, "limits.fsize", e, 1024, 16ULL << 40, true, &l->fsize_bytes)) < 0)
                return r;
        if ((e = json_object_get(v, "tmp")) &&
            (r = jread_size(x, "limits.tmp", e, 1ULL << 20, 1ULL << 40, false, &l->tmp_bytes)) < 0)
                return r;
        return 0;
}

static bool ifname_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 15)
                return false;
        for (const char *c = s; *c; c++)
                if (*c == '/' || *c == ':' || isspace((unsigned char)*c) ||
                    !isprint((unsigned char)*c))
                        return false;
        return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static bool cidr4_valid(const char *s)
{
        char buf[32];
        const char *slash = strchr(s, '/');
        struct in_addr a;
        uint64_t prefix;

        if (!slash || (size_t)(slash - s) >= sizeof(buf))
                return false;
        memcpy(buf, s, (size_t)(slash - s));
        buf[slash - s] = 0;
        return inet_pton(AF_INET, buf, &a) == 1 && parse_uint64(slash + 1, &prefix) == 0 &&
               prefix >= 1 && prefix <= 32;
}

static int bridge_str(const struct jctx *x, json_t *b, const char *key, bool required,
                      bool (*valid)(const char *), const char *what, char **ret)
{
        char path[64];
        const char *s;
        json_t *v = json_object_get(b, key);
        int r;

        snprintf(path, sizeof(path), "bridge.%s", key);
        if (!v)
                return required ? jfail(x, "bridge", false, "missing key \"%s\" (%s)", key, what)
                                : 0;
        if ((r = jread_string(x, path, v, &s)) < 0)
                return r;
        if (!valid(s))
                return jfail(x, path, false, "expected %s, got \"%s\"", what, s);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static bool ipv4_valid(const char *s)
{
        struct in_addr a;

        return inet_pton(AF_INET, s, &a) == 1;
}

static int parse_network(const struct jctx *x, json_t *obj, struct project_policy *p)
{
        static const char *const keys[] = { "name", "address", "gateway", NULL };
        json_t *v = json_object_get(obj, "network"), *b = json_object_get(obj, "bridge");
        const char *s;
        int r, m;

        if (v) {
                if ((r = jread_string(x, "network", v, &s)) < 0)
                        return r;
                if ((m = net_mode_from_string(s)) < 0)
                        return jfail(x, "network", false,
                                     "expected \"none\", \"host\" or \"bridge\", got \"%s\"", s);
                p->net = (enum net_mode)m;
        }
        if (p->net != NET_BRIDGE) {
                if (b)
                        return jfail(x, "bridge", true,
                                     "\"bridge\" applies only with \"network\": \"bridge\"");
                return 0;
        }
        if (!b)
                return jfail(x, "network", false,
                             "network \"bridge\" needs a \"bridge\" object {\"name\", \"address\", "
                             "\"gateway\"}");
        if ((r = jwant(x, "bridge", b, JSON_OBJECT, "an object")) < 0 ||
            (r = jcheck_keys(x, "bridge", b, keys)) < 0 ||
            (r = bridge_str(x, b, "name", true, ifname_valid,
                            "a host bridge name (1..15 characters)", &p->bridge.bridge)) < 0 ||
            (r = bridge_str(x, b, "address", true, cidr4_valid,
                            "an IPv4 address with prefix such as \"10.77.0.5/24\"",
                            &p->bridge.address)) < 0 ||
            (r = bridge_str(x, b, "gateway", false, ipv4_valid, "an IPv4 address",
                            &p->bridge.gateway)) < 0)
                return r;
        return 0;
}

/* a inside b, or a equal to b (both clean absolute paths). */
static bool path_within(const char *a, const char *b)
{
        size_t n = strlen(b);

        if (strcmp(b, "/") == 0)
                return true;
        return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '/');
}

/* A host path a step may be given: it exists, and neither lies inside the
 * state folder nor contains it (that would show other projects' folders). */
static int check_host_path(const struct jctx *x, const char *path, const char *src,
                           const struct policy_config *c, bool want_dir)
{
        char real[PATH_MAX], state[PATH_MAX];
        const char *st = c->settings.state_dir;
        struct stat sb;

        if (stat(src, &sb) < 0)
                return jfail(x, path, false, "\"%s\" does not exist or cannot be reached: %s", src,
                             strerror(errno));
        if (want_dir && !S_ISDIR(sb.st_mode))
                return jfail(x, path, false, "\"%s\" is not a folder", src);
        if (!realpath(src, real))
                return jfail(x, path, false, "cannot resolve \"%s\": %s", src, strerror(errno));
        if (realpath(st, state))
                st = state;
        if (path_within(real, st) || path_within(st, real))
                return jfail(x, path, false,
                             "\"%s\" overlaps the state folder %s: steps may not see it", src,
                             c->settings.state_dir);
        return 0;
}

static int check_target(const struct jctx *x, const char *path, const char *t,
                        const struct project_policy *p)
{
        if (strcmp(t, "/") == 0)
                return jfail(x, path, false, "a mount may not cover \"/\" (use \"rootfs\")");
        for (size_t i = 0; i < ARRAY_SIZE(reserved_targets); i++)
                if (path_within(t, reserved_targets[i]))
                        return jfail(x, path, false,
                                     "\"%s\" is reserved inside the sandbox (%s belongs to stepd)",
                                     t, reserved_targets[i]);
        for (size_t i = 0; i < p->n_mounts; i++)
                if (strcmp(p->mounts[i].target, t) == 0)
                        return jfail(x, path, false, "\"%s\" is already the target of mounts[%zu]",
                                     t, i);
        return 0;
}

static int parse_mount(const struct jctx *x, const char *path, json_t *v,
                       const struct policy_config *c, struct project_policy *p)
{
        static const char *const keys[] = { "source", "target", "writable", NULL };
        char sp[512], tp[512], wp[512];
        const char *src, *tgt;
        bool w = false;
        json_t *e;
        int r;

        jpath_key(sp, sizeof(sp), path, "source");
        jpath_key(tp, sizeof(tp), path, "target");
        jpath_key(wp, sizeof(wp), path, "writable");
        if ((r = jwant(x, path, v, JSON_OBJECT,
                       "an object {\"source\", \"target\", \"writable\"}")) < 0 ||
            (r = jcheck_keys(x, path, v, keys)) < 0)
                return r;
        if (!(e = json_object_get(v, "source")))
                return jfail(x, path, false, "missing key \"source\" (an absolute host path)");
        if ((r = jread_abspath(x, sp, e, &src)) < 0 ||
            (r = check_host_path(x, sp, src, c, false)) < 0)
                return r;
        tgt = src;
        if ((e = json_object_get(v, "target")) && (r = jread_abspath(x, tp, e, &tgt)) < 0)
                return r;
        if ((r = check_target(x, e ? tp : sp, tgt, p)) < 0)
                return r;
        if ((e = json_object_get(v, "writable")) && (r = jread_bool(x, wp, e, &w)) < 0)
                return r;
        p->mounts[p->n_mounts] =
                (struct bind_mount){ .source = strdup(src), .target = strdup(tgt), .writable = w };
        p->n_mounts++;
        if (!p->mounts[p->n_mounts - 1].source || !p->mounts[p->n_mounts - 1].target)
                return -ENOMEM;
        return 0;
}

static int parse_mounts(const struct jctx *x, json_t *obj, const struct policy_config *c,
                        struct project_policy *p)
{
        json_t *v = json_object_get(obj, "mounts"), *e;
        char child[512];
        const char *s;
        size_t i;
        int r;

        if (v) {
                if ((r = jwant(x, "mounts", v, JSON_ARRAY,
                               "an array of {\"source\", \"target\", \"writable\"}")) < 0)
                        return r;
                p->mounts = calloc(json_array_size(v) + 1, sizeof(*p->mounts));
                if (!p->mounts)
                        return -ENOMEM;
                json_array_foreach(v, i, e)
                {
                        jpath_index(child, sizeof(child), "mounts", i);
                        if ((r = parse_mount(x, child, e, c, p)) < 0)
                                return r;
                }
        }
        if ((v = json_object_get(obj, "rootfs"))) {
                if ((r = jread_abspath(x, "rootfs", v, &s)) < 0 ||
                    (r = check_host_path(x, "rootfs", s, c, true)) < 0)
                        return r;
                if (strcmp(s, "/") == 0)
                        return jfail(x, "rootfs", false,
                                     "\"/\" would give the step the whole host");
                if (!(p->rootfs = strdup(s)))
                        return -ENOMEM;
        }
        return 0;
}

static bool env_name_valid(const char *s, bool pattern)
{
        size_t n = strlen(s);

        if (pattern && n > 0 && s[n - 1] == '*')
                n--;
        if (n == 0)
                return pattern && s[0] == '*';
        if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
                        return false;
        return true;
}

static int parse_env(const struct jctx *x, json_t *obj, struct project_policy *p)
{
        json_t *v, *e;
        char child[512];
        const char *k, *s;
        int r;

        if ((v = json_object_get(obj, "env_allow"))) {
                strv_free(p->env_allow);
                p->env_allow = NULL;
                if ((r = jread_strv(x, "env_allow", v, &p->env_allow)) < 0)
                        return r;
                for (size_t i = 0; p->env_allow[i]; i++)
                        if (!env_name_valid(p->env_allow[i], true)) {
                                jpath_index(child, sizeof(child), "env_allow", i);
                                return jfail(x, child, false,
                                             "expected a variable name or a prefix ending in '*' "
                                             "such as \"GIT_*\", got \"%s\"",
                                             p->env_allow[i]);
                        }
        }
        if (!(v = json_object_get(obj, "env")))
                return 0;
        if ((r = jwant(x, "env", v, JSON_OBJECT, "an object of strings {\"NAME\": \"value\"}")) < 0)
                return r;
        json_object_foreach(v, k, e)
        {
                jpath_key(child, sizeof(child), "env", k);
                if (!env_name_valid(k, false))
                        return jfail(x, child, true, "\"%s\" is not a valid variable name", k);
                if ((r = jread_string(x, child, e, &s)) < 0)
                        return r;
                if ((r = policy_env_set(&p->env, k, strlen(k), s)) < 0)
                        return r;
        }
        return 0;
}

static int parse_timeout(const struct jctx *x, json_t *v, struct project_policy *p)
{
        static const char *const keys[] = { "default", "max", NULL };
        const uint64_t lo = 1000, hi = 30ULL * 86400000;
        json_t *d, *m;
        int r;

        if (!json_is_object(v)) {
                if ((r = jread_duration(x, "timeout", v, lo, hi, &p->timeout_ms)) < 0)
                        return r;
                p->timeout_max_ms = p->timeout_ms;
                return 0;
        }
        if ((r = jcheck_keys(x, "timeout", v, keys)) < 0)
                return r;
        d = json_object_get(v, "default");
        m = json_object_get(v, "max");
        if (d && (r = jread_duration(x, "timeout.default", d, lo, hi, &p->timeout_ms)) < 0)
                return r;
        if (m && (r = jread_duration(x, "timeout.max", m, lo, hi, &p->timeout_max_ms)) < 0)
                return r;
        if (!m)
                p->timeout_max_ms = p->timeout_ms;
        else if (!d)
                p->timeout_ms = MIN(p->timeout_ms, p->timeout_max_ms);
        if (p->timeout_max_ms < p->timeout_ms) {
                char a[32], b[32];
                format_duration(a, sizeof(a), p->timeout_max_ms);
                format_duration(b, sizeof(b), p->timeout_ms);
                return jfail(x, "timeout.max", false, "max %s is below the default %s", a, b);
        }
        return 0;
}

static int parse_choices(const struct jctx *x, json_t *obj, const struct policy_config *c,
                         struct project_policy *p)
{
        const struct profile_entry *pe;
        const char *s;
        json_t *v;
        int r;

        if ((v = json_object_get(obj, "seccomp"))) {
                if ((r = jread_string(x, "seccomp", v, &s)) < 0)
                        return r;
                pe = policy_find_profile(c, s);
                if (!pe && strcmp(s, POLICY_UNCONFINED) != 0)
                        return jfail(x, "seccomp", false,
                                     "unknown seccomp profile \"%s\": expected \"default\", "
                                     "\"unconfined\" or a profile in seccomp.d/",
                                     s);
                free(p->seccomp_name);
                if (!(p->seccomp_name = strdup(s)))
                        return -ENOMEM;
        }
        if ((v = json_object_get(obj, "pool"))) {
                if ((r = jread_string(x, "pool", v, &s)) < 0)
                        return r;
                if (!policy_pool_find(c, s))
                        return jfail(x, "pool", false,
                                     "unknown pool \"%s\": define it under \"pools\" in stepd.json",
                                     s);
                free(p->pool);
                if (!(p->pool = strdup(s)))
                        return -ENOMEM;
        } else if (!policy_pool_find(c, p->pool)) {
                return jfail(x, "", false,
                             "no \"pool\" given and stepd.json defines no pool \"%s\"", p->pool);
        }
        if ((v = json_object_get(obj, "cache")) && (r = jread_bool(x, "cache", v, &p->cache)) < 0)
                return r;
        if ((v = json_object_get(obj, "user_namespace")) &&
            (r = jread_bool(x, "user_namespace", v, &p->user_namespace)) < 0)
                return r;
        if ((v = json_object_get(obj, "timeout")) && (r = parse_timeout(x, v, p)) < 0)
                return r;
        return 0;
}

static bool hostname_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 64 || s[0] == '-' || s[0] == '.')
                return false;
        for (const char *c = s; *c; c++)
                if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '.'))
                        return false;
        return true;
}

static int parse_hostname(const struct jctx *x, json_t *obj, struct project_policy *p)
{
        json_t *v = json_object_get(obj, "hostname");
        const char *s;
        int r;

        if (!v)
                return 0;
        if ((r = jread_string(x, "hostname", v, &s)) < 0)
                return r;
        if (!hostname_valid(s))
                return jfail(x, "hostname", false,
                             "expected a host name of letters, digits, '-' and '.' (at most 64), "
                             "got \"%s\"",
                             s);
        free(p->hostname);
        p->hostname = strdup(s);
        return p->hostname ? 0 : -ENOMEM;
}

/* Fill in what every project has before its file speaks. */
static int project_base(const struct policy_config *c, const char *name, const char *file,
                        struct project_policy *p)
{
        project_defaults(p, c);
        p->name = strdup(name);
        p->file = strdup(file);
        p->hostname = strdup("stepd");
        p->seccomp_name = strdup(POLICY_DEFAULT_PROFILE);
        p->pool = strdup(POLICY_DEFAULT_POOL);
        p->env_allow = calloc(1, sizeof(char *));
        if (!p->name || !p->file || !p->hostname || !p->seccomp_name || !p->pool || !p->env_allow)
                return -ENOMEM;
        if (policy_env_set(&p->env, "PATH", 4, DEFAULT_PATH) < 0 ||
            policy_env_set(&p->env, "HOME", 4, "/work") < 0)
                return -ENOMEM;
        return 0;
}

/* FNV-1a over the effective policy (after defaults and stepd.json), so the
 * hash changes exactly when what a step gets changes. */
struct fnv {
        uint64_t h;
};

static void fnv_add(struct fnv *f, const void *data, size_t len)
{
        const unsigned char *b = data;

        for (size_t i = 0; i < len; i++)
                f->h = (f->h ^ b[i]) * 0x100000001b3ULL;
        f->h = (f->h ^ 0xff) * 0x100000001b3ULL; /* field separator */
}

static void fnv_str(struct fnv *f, const char *s)
{
        fnv_add(f, s ? s : "\x01", s ? strlen(s) : 1);
}

static void fnv_strv(struct fnv *f, char *const *v)
{
        for (char *const *e = v; e && *e; e++)
                fnv_str(f, *e);
        fnv_str(f, NULL);
}

static void project_fill_hash(struct project_policy *p)
{
        struct fnv f = { 0xcbf29ce484222325ULL };
        const struct seccomp_profile *sp = p->seccomp;

        fnv_str(&f, p->name);
        fnv_add(&f,
                &(uint64_t[]){ p->explicit_uid, p->explicit_gid, p->uid, p->gid, p->net,
                               p->user_namespace, p->timeout_ms, p->timeout_max_ms, p->cache,
                               p->limits.memory_bytes, p->limits.pids_max, p->limits.cpu_millis,
                               p->limits.nofile, p->limits.fsize_bytes, p->limits.tmp_bytes },
                sizeof(uint64_t) * 15);
        fnv_add(&f, p->allow_uids, p->n_allow_uids * sizeof(uid_t));
        fnv_add(&f, p->allow_gids, p->n_allow_gids * sizeof(gid_t));
        fnv_str(&f, p->bridge.bridge);
        fnv_str(&f, p->bridge.address);
        fnv_str(&f, p->bridge.gateway);
        for (size_t i = 0; i < p->n_mounts; i++) {
                fnv_str(&f, p->mounts[i].source);
                fnv_str(&f, p->mounts[i].target);
                fnv_add(&f, &p->mounts[i].writable, sizeof(bool));
        }
        fnv_str(&f, p->rootfs);
        fnv_str(&f, p->hostname);
        fnv_strv(&f, p->env_allow);
        fnv_strv(&f, p->env);
        fnv_str(&f, p->seccomp_name);
        if (sp)
                fnv_add(&f,
                        &(uint64_t[]){ sp->default_action, (uint64_t)sp->default_errno_ret,
                                       sp->n_rules },
                        sizeof(uint64_t) * 3);
        fnv_str(&f, p->pool);
        snprintf(p->hash, sizeof(p->hash), "%016llx", (unsigned long long)f.h);
}

static int attach_profile(const struct policy_config *c, struct project_policy *p)
{
        const struct profile_entry *pe;

        if (strcmp(p->seccomp_name, POLICY_UNCONFINED) == 0)
                return 0;
        pe = policy_find_profile(c, p->seccomp_name);
        if (!pe)
                return -ENOENT;
        p->seccomp = seccomp_profile_ref(pe->profile);
        return 0;
}

int project_parse(const struct jctx *x, const char *name, json_t *obj,
                  const struct policy_config *c, struct project_policy *p)
{
        static const char *const keys[] = {
                "allow",   "user",    "group",    "limits",         "network",   "bridge",
                "mounts",  "rootfs",  "hostname", "user_namespace", "env_allow", "env",
                "seccomp", "timeout", "pool",     "cache",          NULL,
        };
        json_t *v;
        int r;

        if ((r = project_base(c, name, x->file, p)) < 0)
                return r;
        if (!obj)
                goto done;
        if ((r = jwant(x, "", obj, JSON_OBJECT, "an object")) < 0 ||
            (r = jcheck_keys(x, "", obj, keys)) < 0)
                return r;
        if ((v = json_object_get(obj, "allow")) && (r = parse_allow(x, v, p)) < 0)
                return r;
        if ((r = parse_identity(x, obj, c, p)) < 0)
                return r;
        if ((v = json_object_get(obj, "limits")) && (r = parse_limits(x, v, &p->limits)) < 0)
                return r;
        if ((r = parse_network(x, obj, p)) < 0 || (r = parse_mounts(x, obj, c, p)) < 0 ||
            (r = parse_hostname(x, obj, p)) < 0 || (r = parse_env(x, obj, p)) < 0 ||
            (r = parse_choices(x, obj, c, p)) < 0)
                return r;
done:
        if ((r = attach_profile(c, p)) < 0)
                return r;
        project_fill_hash(p);
        return 0;
}
