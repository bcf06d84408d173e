/* SPDX-License-Identifier: MIT */
/* Good configurations: what they resolve to, who they admit, which uid a
 * project gets and keeps, and what check-config's explanation says. */
#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "helpers.h"

#define STRICT_PROFILE                                                                             \
        "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\", "          \
        "\"write\"], \"action\": \"SCMP_ACT_ALLOW\"}]}"

static const char *const good_settings =
        "{\n"
        "  \"comment\": \"a test configuration\",\n"
        "  \"socket\": \"/run/stepd-test/stepd.sock\",\n"
        "  \"socket_mode\": \"0600\",\n"
        "  \"uid_range\": {\"min\": 300000, \"max\": 300009},\n"
        "  \"capacity\": 3, \"queue_limit\": 7,\n"
        "  \"default_timeout\": \"20m\", \"retention\": \"2d\", \"kill_grace\": \"5s\",\n"
        "  \"agents\": {\"far\": {\"address\": \"10.0.0.9:7000\",\n"
        "      \"thumbprint\": \"ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789\",\n"
        "      \"labels\": {\"zone\": \"b\", \"arch\": \"amd64\"}}},\n"
        "  \"pools\": {\"default\": {\"members\": [\"builtin\"]}, \"remote\": {\"members\": [\"far\", \"builtin\"]}},\n"
        "  \"projects\": {\"tiny\": {\"seccomp\": \"unconfined\", \"pool\": \"remote\"}}\n"
        "}\n";

static const char *const web_project =
        "{\n"
        "  \"comment\": \"everything set\",\n"
        "  \"allow\": {\"users\": [\"daemon\", 4242], \"groups\": [\"adm\", \"4343\"]},\n"
        "  \"user\": \"bin\", \"group\": 4444,\n"
        "  \"limits\": {\"comment_why\": \"ignored\", \"memory\": \"512M\", \"pids\": 100, \"cpu\": 1.5, \"nofile\": 4096,\n"
        "             \"fsize\": \"unlimited\", \"tmp\": \"64M\"},\n"
        "  \"network\": \"bridge\",\n"
        "  \"bridge\": {\"name\": \"br-ci\", \"address\": \"10.77.0.5/24\", \"gateway\": \"10.77.0.1\"},\n"
        "  \"mounts\": [{\"source\": \"/usr/share\", \"target\": \"/srv/share\"},\n"
        "             {\"source\": \"/var/tmp\", \"target\": \"/scratch\", \"writable\": true}],\n"
        "  \"hostname\": \"web-ci\", \"user_namespace\": true,\n"
        "  \"env_allow\": [\"CI\", \"GIT_*\"],\n"
        "  \"env\": {\"PATH\": \"/usr/bin:/bin\", \"LANG\": \"C.UTF-8\"},\n"
        "  \"seccomp\": \"strict\",\n"
        "  \"timeout\": {\"default\": \"10m\", \"max\": \"2h\"},\n"
        "  \"cache\": true\n"
        "}\n";

static struct policy_config *load_ok(const struct scratch *s)
{
        struct policy_config *c = NULL;
        struct policy_error e = { 0 };
        char buf[1200];
        int r = scratch_load(s, &c, &e);

        if (r < 0) {
                policy_error_format(&e, buf, sizeof(buf));
                ck_abort_msg("load failed: %d %s", r, buf);
        }
        return c;
}

static void write_good(const struct scratch *s)
{
        scratch_write(s, "stepd.json", good_settings);
        scratch_write(s, "projects.d/web.json", web_project);
        scratch_write(s, "seccomp.d/strict.json", STRICT_PROFILE);
}

START_TEST(settings_resolved)
{
        struct scratch s;
        struct policy_config *c;
        const struct daemon_settings *d;

        scratch_make(&s);
        write_good(&s);
        c = load_ok(&s);
        d = policy_settings(c);
        ck_assert_str_eq(d->socket_path, "/run/stepd-test/stepd.sock");
        ck_assert_uint_eq(d->socket_mode, 0600);
        ck_assert_str_eq(d->state_dir, s.state); /* the override wins */
        ck_assert_uint_eq(d->uid_min, 300000);
        ck_assert_uint_eq(d->uid_max, 300009);
        ck_assert_uint_eq(d->capacity, 3);
        ck_assert_uint_eq(d->queue_limit, 7);
        ck_assert_uint_eq(d->default_timeout_ms, 20 * 60 * 1000);
        ck_assert_uint_eq(d->retention_sec, 2 * 86400);
        ck_assert_uint_eq(d->kill_grace_ms, 5000);
        ck_assert(d->root_always_allowed);
        ck_assert(d->reuse_network_namespaces); /* the default */
        ck_assert(!policy_builtin_projects(c));
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(pools_and_agents)
{
        struct scratch s;
        struct policy_config *c;
        const struct policy_pool *pools;
        const struct policy_agent *agents;

        scratch_make(&s);
        write_good(&s);
        c = load_ok(&s);
        ck_assert_uint_eq(policy_agents(c, &agents), 1);
        ck_assert_str_eq(agents[0].name, "far");
        ck_assert_str_eq(agents[0].address, "10.0.0.9:7000");
        ck_assert_str_eq(agents[0].thumbprint,
                         "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
        ck_assert_str_eq(agents[0].labels[0], "arch=amd64");
        ck_assert_str_eq(agents[0].labels[1], "zone=b");
        ck_assert_ptr_null(agents[0].labels[2]);
        ck_assert_uint_eq(policy_pools(c, &pools), 2);
        ck_assert_str_eq(policy_pool_find(c, "remote")->members[0], "far");
        ck_assert_str_eq(policy_pool_find(c, "remote")->members[1], "builtin");
        ck_assert_ptr_null(policy_pool_find(c, "gpu"));
        ck_assert_str_eq(policy_project_pool(c, "tiny"), "remote");
        ck_assert_str_eq(policy_project_pool(c, "web"), "default");
        ck_assert_ptr_null(policy_project_pool(c, "nope"));
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(project_resolves_to_spec)
{
        struct scratch s;
        struct policy_config *c;
        struct launch_spec *spec = NULL;
        char *argv[] = { "/bin/echo", "hi", NULL };
        char *env[] = { "CI=true", "GIT_SHA=abc", "SECRET=x", "PATH=/evil", NULL };
        struct step_request req = { .project = "web", .argv = argv, .env = env };
        char err[512];

        scratch_make(&s);
        write_good(&s);
        c = load_ok(&s);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), 0);
        ck_assert_str_eq(spec->project, "web");
        /* steps never see the configuration in use, nor the default one */
        ck_assert(strv_contains(spec->masked, s.cfg));
        ck_assert(strv_contains(spec->masked, "/etc/stepd"));
        ck_assert_str_eq(spec->argv[0], "/bin/echo");
        ck_assert_str_eq(spec->argv[1], "hi");
        ck_assert_uint_eq(spec->uid, getpwnam("bin")->pw_uid);
        ck_assert_uint_eq(spec->gid, 4444);
        ck_assert(spec->user_namespace);
        ck_assert_int_eq(spec->net, NET_BRIDGE);
        ck_assert_str_eq(spec->bridge.bridge, "br-ci");
        ck_assert_str_eq(spec->bridge.address, "10.77.0.5/24");
        ck_assert_str_eq(spec->bridge.gateway, "10.77.0.1");
        ck_assert_str_eq(spec->hostname, "web-ci");
        ck_assert_ptr_null(spec->rootfs);
        ck_assert_uint_eq(spec->n_binds, 2);
        ck_assert_str_eq(spec->binds[0].source, "/usr/share");
        ck_assert_str_eq(spec->binds[0].target, "/srv/share");
        ck_assert(!spec->binds[0].writable);
        ck_assert_str_eq(spec->binds[1].target, "/scratch");
        ck_assert(spec->binds[1].writable);
        ck_assert_uint_eq(spec->limits.memory_bytes, 512ULL << 20);
        ck_assert_uint_eq(spec->limits.pids_max, 100);
        ck_assert_uint_eq(spec->limits.cpu_millis, 1500);
        ck_assert_uint_eq(spec->limits.nofile, 4096);
        ck_assert_uint_eq(spec->limits.fsize_bytes, 0);
        ck_assert_uint_eq(spec->limits.tmp_bytes, 64ULL << 20);
        ck_assert_uint_eq(spec->timeout_ms, 10 * 60 * 1000);
        ck_assert_uint_eq(spec->kill_grace_ms, 5000);
        /* the allowlist admits CI and GIT_*, the fixed PATH wins over the request */
        ck_assert_str_eq(spec->envp[0], "CI=true");
        ck_assert_str_eq(spec->envp[1], "GIT_SHA=abc");
        ck_assert_str_eq(spec->envp[2], "PATH=/usr/bin:/bin");
        ck_assert_str_eq(spec->envp[3], "HOME=/work");
        ck_assert_str_eq(spec->envp[4], "LANG=C.UTF-8");
        ck_assert_ptr_null(spec->envp[5]);
        ck_assert_ptr_nonnull(spec->seccomp);
        ck_assert_int_eq(spec->seccomp->default_action, SECCOMP_ACT_ERRNO_);
        ck_assert_uint_eq(spec->seccomp->n_rules, 2);
        ck_assert(policy_project_cache(c, "web"));
        ck_assert(!policy_project_cache(c, "tiny"));
        launch_spec_free(spec);
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(defaults_and_unconfined)
{
        struct scratch s;
        struct policy_config *c;
        struct launch_spec *spec = NULL;
        struct step_request req = { .project = "tiny", .script = "echo hi" };
        char err[512];

        scratch_make(&s);
        write_good(&s);
        c = load_ok(&s);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), 0);
        ck_assert_str_eq(spec->argv[0], "/bin/sh"); /* the caller appends the script's path */
        ck_assert_ptr_null(spec->argv[1]);
        ck_assert_ptr_null(spec->seccomp);          /* "unconfined", explicitly */
        ck_assert_int_eq(spec->net, NET_NONE);
        ck_assert_uint_eq(spec->n_binds, 0);
        ck_assert_uint_eq(spec->limits.memory_bytes, 1ULL << 30);
        ck_assert_uint_eq(spec->limits.pids_max, 512);
        ck_assert_uint_eq(spec->limits.cpu_millis, 1000);
        ck_assert_uint_eq(spec->timeout_ms, 20 * 60 * 1000); /* stepd.json default_timeout */
        ck_assert_uint_ge(spec->uid, 300000);
        ck_assert_uint_le(spec->uid, 300009);
        ck_assert_uint_eq(spec->gid, spec->uid);
        ck_assert(spec->reuse_netns); /* stepd.json's default */
        launch_spec_free(spec);

        /* a timeout above the cap is refused with the reason */
        req.timeout_ms = 21 * 60 * 1000;
        spec = NULL;
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(spec);
        ck_assert_str_eq(err, "timeout 21m is above project \"tiny\"'s maximum of 20m");
        /* a shorter one is taken */
        req.timeout_ms = 1500;
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), 0);
        ck_assert_uint_eq(spec->timeout_ms, 1500);
        launch_spec_free(spec);
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(builtin_default)
{
        struct scratch s;
        struct policy_config *c;
        struct launch_spec *spec = NULL;
        char *argv[] = { "/bin/true", NULL };
        char *env[] = { "CI=1", NULL };
        struct step_request req = { .project = "anything-1.x", .argv = argv, .env = env };
        struct peer root = { .uid = 0 }, user = { .uid = 4242, .gid = 4242 };
        char err[512];

        scratch_make(&s);
        c = load_ok(&s); /* an empty folder */
        ck_assert(policy_builtin_projects(c));
        ck_assert_int_eq(policy_authorize(c, "anything-1.x", &root, POLICY_RUN, err, sizeof(err)), 0);
        ck_assert_int_eq(policy_authorize(c, "anything-1.x", &user, POLICY_RUN, err, sizeof(err)),
                         -EACCES);
        ck_assert_int_eq(policy_authorize(c, "Bad/Name", &root, POLICY_RUN, err, sizeof(err)), -EINVAL);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), 0);
        ck_assert_uint_ge(spec->uid, policy_settings(c)->uid_min);
        ck_assert_uint_le(spec->uid, policy_settings(c)->uid_max);
        ck_assert_int_eq(spec->net, NET_NONE);
        ck_assert_str_eq(spec->envp[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        ck_assert_str_eq(spec->envp[1], "HOME=/work");
        ck_assert_ptr_null(spec->envp[2]); /* CI is not on the default allowlist */
        ck_assert_ptr_nonnull(spec->seccomp); /* the built-in default profile */
        ck_assert_str_eq(spec->seccomp->name, "default");
        launch_spec_free(spec);
        policy_config_unref(c);

        /* a folder that does not exist at all is the built-in default too */
        snprintf(s.cfg, sizeof(s.cfg), "%s/no-such-folder", s.root);
        c = load_ok(&s);
        ck_assert(policy_builtin_projects(c));
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

struct authz_case {
        const char *project;
        uid_t uid;
        gid_t gid;
        gid_t groups[2];
        size_t n_groups;
        bool root_on;
        int want;
};

/* web admits users daemon and 4242, groups adm and 4343; root_always_allowed
 * is as the case says. */
static const struct authz_case authz[] = {
        { "web", 0, 0, { 0 }, 0, true, 0 },
        { "web", 0, 0, { 0 }, 0, false, -EACCES },
        { "web", 4242, 100, { 0 }, 0, false, 0 },          /* by uid */
        { "web", 1, 1, { 0 }, 0, true, 0 },                /* daemon, by name */
        { "web", 5555, 4343, { 0 }, 0, true, 0 },          /* primary group */
        { "web", 5555, 100, { 7, 4343 }, 2, true, 0 },     /* supplementary group */
        { "web", 5555, 100, { 7, 8 }, 2, true, -EACCES },  /* none matches */
        { "web", 4243, 4242, { 0 }, 0, true, -EACCES },    /* gid 4242 is not a listed group */
        { "nope", 0, 0, { 0 }, 0, true, -ENOENT },         /* unknown project, even for root */
        { "nope", 4242, 0, { 0 }, 0, true, -ENOENT },
        { "..", 0, 0, { 0 }, 0, true, -EINVAL },
        { "tiny", 4242, 4242, { 0 }, 0, true, -EACCES },  /* tiny admits nobody but root */
        { "tiny", 0, 0, { 0 }, 0, true, 0 },
};

START_TEST(authorization_matrix)
{
        const struct authz_case *k = &authz[_i];
        struct scratch s;
        struct policy_config *c;
        struct peer p = { .uid = k->uid, .gid = k->gid, .groups = k->groups, .n_groups = k->n_groups };
        char settings[2048], why[512];
        int adm = getgrnam("adm") ? (int)getgrnam("adm")->gr_gid : -1;

        ck_assert_int_ne(adm, -1);
        scratch_make(&s);
        write_good(&s);
        if (!k->root_on) {
                snprintf(settings, sizeof(settings),
                         "%.*s,\n  \"root_always_allowed\": false,\n"
                         "  \"reuse_network_namespaces\": false\n}\n",
                         (int)(strrchr(good_settings, '}') - good_settings - 1), good_settings);
                scratch_write(&s, "stepd.json", settings);
        }
        c = load_ok(&s);
        ck_assert(policy_settings(c)->root_always_allowed == k->root_on);
        /* the other switch rides along */
        ck_assert(policy_settings(c)->reuse_network_namespaces == k->root_on);
        for (int a = 0; a < _POLICY_ACTION_MAX; a++) {
                int r = policy_authorize(c, k->project, &p, (enum policy_action)a, why, sizeof(why));
                ck_assert_msg(r == k->want, "case %d action %d: %d (%s)", _i, a, r, why);
                if (r < 0)
                        ck_assert_msg(strlen(why) > 20, "no reason given: \"%s\"", why);
        }
        /* a member of adm (by supplementary group) gets in */
        if (k->want == -EACCES && strcmp(k->project, "web") == 0) {
                gid_t g[1] = { (gid_t)adm };
                struct peer q = { .uid = k->uid, .gid = 100, .groups = g, .n_groups = 1 };
                ck_assert_int_eq(policy_authorize(c, "web", &q, POLICY_RUN, why, sizeof(why)), 0);
        }
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(denial_reason)
{
        struct scratch s;
        struct policy_config *c;
        struct peer p = { .uid = 5555, .gid = 100 };
        char why[512], want[512];

        scratch_make(&s);
        write_good(&s);
        c = load_ok(&s);
        ck_assert_int_eq(policy_authorize(c, "web", &p, POLICY_CANCEL, why, sizeof(why)), -EACCES);
        scratch_expand(&s,
                       "uid 5555 may not cancel steps of project \"web\": neither the uid is in allow.users nor any of its groups in allow.groups (%D/projects.d/web.json)",
                       want, sizeof(want));
        ck_assert_str_eq(why, want);
        ck_assert_int_eq(policy_authorize(c, "nope", &p, POLICY_RUN, why, sizeof(why)), -ENOENT);
        scratch_expand(&s, "no such project \"nope\" (not configured in %D/projects.d)", want, sizeof(want));
        ck_assert_str_eq(why, want);
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

static uid_t resolve_uid(const struct policy_config *c, const char *project)
{
        struct launch_spec *spec = NULL;
        char *argv[] = { "/bin/true", NULL };
        struct step_request req = { .project = project, .argv = argv };
        char err[512];
        uid_t u;

        ck_assert_msg(policy_resolve(c, &req, &spec, err, sizeof(err)) == 0, "%s", err);
        u = spec->uid;
        ck_assert_uint_eq(spec->gid, u);
        launch_spec_free(spec);
        return u;
}

static uid_t lowest_free_from(uid_t from, uid_t not1, uid_t not2)
{
        for (uid_t u = from;; u++)
                if (!getpwuid(u) && !getgrgid(u) && u != not1 && u != not2)
                        return u;
}

/* The range 1..40 is full of system users and groups on any Debian host:
 * allocation must step around every one of them. */
START_TEST(uid_allocation)
{
        struct scratch s;
        struct policy_config *c;
        char path[512], text[64];
        uid_t a, b, a2, b2, d;
        FILE *f;

        scratch_make(&s);
        scratch_write(&s, "stepd.json",
                      "{\"uid_range\": {\"min\": 1, \"max\": 40}, \"projects\": {\"a\": {}, \"b\": {}, \"c\": {}, \"d\": {}}}");
        /* c already holds the lowest free uid from an earlier run */
        snprintf(path, sizeof(path), "%s/ids", s.state);
        ck_assert_int_eq(mkdir_p(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/ids/c", s.state);
        f = fopen(path, "we");
        fprintf(f, "%u\n", (unsigned)lowest_free_from(1, 0, 0));
        fclose(f);

        c = load_ok(&s);
        a = resolve_uid(c, "a");
        b = resolve_uid(c, "b");
        ck_assert_uint_eq(a, lowest_free_from(1, lowest_free_from(1, 0, 0), 0));
        ck_assert_uint_eq(b, lowest_free_from(a + 1, 0, 0));
        ck_assert_ptr_null(getpwuid(a));
        ck_assert_ptr_null(getpwuid(b));
        ck_assert_uint_eq(resolve_uid(c, "a"), a); /* same config, again */
        policy_config_unref(c);

        /* a second load (a restart) keeps them, in any order of first use */
        c = load_ok(&s);
        b2 = resolve_uid(c, "b");
        a2 = resolve_uid(c, "a");
        ck_assert_uint_eq(a2, a);
        ck_assert_uint_eq(b2, b);
        d = resolve_uid(c, "d");
        ck_assert_uint_ne(d, a);
        ck_assert_uint_ne(d, b);
        ck_assert_uint_ne(d, lowest_free_from(1, 0, 0));
        policy_config_unref(c);

        snprintf(path, sizeof(path), "%s/ids/a", s.state);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(fgets(text, sizeof(text), f));
        fclose(f);
        snprintf(path, sizeof(path), "%u\n", (unsigned)a);
        ck_assert_str_eq(text, path);
        scratch_remove(&s);
}
END_TEST

START_TEST(uid_range_exhausted)
{
        struct scratch s;
        struct policy_config *c;
        struct launch_spec *spec = NULL;
        char *argv[] = { "/bin/true", NULL };
        struct step_request req = { .project = "b", .argv = argv };
        uid_t u = lowest_free_from(1000, 0, 0);
        char cfg[256], err[512];

        scratch_make(&s);
        snprintf(cfg, sizeof(cfg), "{\"uid_range\": {\"min\": %u, \"max\": %u}, \"projects\": {\"a\": {}, \"b\": {}}}",
                 (unsigned)u, (unsigned)u);
        scratch_write(&s, "stepd.json", cfg);
        c = load_ok(&s);
        ck_assert_uint_eq(resolve_uid(c, "a"), u);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), -ENOSPC);
        snprintf(cfg, sizeof(cfg), "no free uid left in the range %u..%u", (unsigned)u, (unsigned)u);
        ck_assert_str_eq(err, cfg);
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(remembered_uid_now_a_user)
{
        struct scratch s;
        struct policy_config *c;
        struct launch_spec *spec = NULL;
        char *argv[] = { "/bin/true", NULL };
        struct step_request req = { .project = "a", .argv = argv };
        char path[512], err[512];
        FILE *f;

        scratch_make(&s);
        scratch_write(&s, "projects.d/a.json", "{}");
        snprintf(path, sizeof(path), "%s/ids", s.state);
        ck_assert_int_eq(mkdir_p(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/ids/a", s.state);
        f = fopen(path, "we");
        fprintf(f, "2\n"); /* bin */
        fclose(f);
        c = load_ok(&s);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err, "now belongs to user \"bin\""));
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

/* A configuration remembers the uids it resolved: later steps touch neither
 * the state folder nor the user database; a reload reads them again. */
START_TEST(resolved_uids_are_cached_per_configuration)
{
        struct scratch s;
        struct policy_config *c, *c2;
        struct launch_spec *spec = NULL;
        char *argv[] = { "/bin/true", NULL };
        struct step_request req = { .project = "a", .argv = argv };
        char path[512], err[512];
        uid_t first;
        FILE *f;

        scratch_make(&s);
        scratch_write(&s, "projects.d/a.json", "{}");
        c = load_ok(&s);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), 0);
        first = spec->uid;
        spec = launch_spec_free(spec);
        /* the file says otherwise now: this configuration keeps what it checked */
        snprintf(path, sizeof(path), "%s/ids/a", s.state);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "2\n"); /* bin */
        fclose(f);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), 0);
        ck_assert_uint_eq(spec->uid, first);
        spec = launch_spec_free(spec);
        /* a new configuration reads the file again, and checks it */
        c2 = load_ok(&s);
        ck_assert_int_eq(policy_resolve(c2, &req, &spec, err, sizeof(err)), -EEXIST);
        policy_config_unref(c2);
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(explain_names_everything)
{
        struct scratch s;
        struct policy_config *c;
        char *out = NULL, err[256];
        size_t len = 0;
        FILE *f;

        scratch_make(&s);
        write_good(&s);
        c = load_ok(&s);
        f = open_memstream(&out, &len);
        ck_assert_int_eq(policy_explain(c, "web", f, err, sizeof(err)), 0);
        fclose(f);
        ck_assert_msg(strstr(out, "uid 2 (bin), gid 4444"), "%s", out);
        ck_assert_msg(strstr(out, "users 1 (daemon), 4242"), "%s", out);
        ck_assert_msg(strstr(out, "/srv/share  ro  from host /usr/share"), "%s", out);
        ck_assert_msg(strstr(out, "/scratch  rw  from host /var/tmp"), "%s", out);
        ck_assert_msg(strstr(out, "/cache rw"), "%s", out);
        ck_assert_msg(strstr(out, "memory 512M, pids 100, cpu 1.500 cpus, nofile 4096, fsize unlimited"), "%s", out);
        ck_assert_msg(strstr(out, "profile \"strict\""), "%s", out);
        ck_assert_msg(strstr(out, "default action SCMP_ACT_ERRNO(EPERM), 2 rules"), "%s", out);
        ck_assert_msg(strstr(out, "bridge: own namespace, eth0 10.77.0.5/24 on host bridge br-ci"), "%s", out);
        ck_assert_msg(strstr(out, "user (ids mapped 1:1)"), "%s", out);
        ck_assert_msg(strstr(out, "from the request: CI GIT_*"), "%s", out);
        ck_assert_msg(strstr(out, "default 10m, at most 2h"), "%s", out);
        free(out);

        /* an allocated project shows the uid it would get, and writes nothing */
        f = open_memstream(&out, &len);
        ck_assert_int_eq(policy_explain(c, "tiny", f, err, sizeof(err)), 0);
        fclose(f);
        ck_assert_msg(strstr(out, "uid 300000, gid 300000, not allocated yet"), "%s", out);
        ck_assert_msg(strstr(out, "unconfined: NO seccomp filter"), "%s", out);
        free(out);
        {
                char p[512];
                struct stat st;
                snprintf(p, sizeof(p), "%s/ids/tiny", s.state);
                ck_assert_int_eq(stat(p, &st), -1);
        }
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(reload_is_independent)
{
        struct scratch s;
        struct policy_config *c1, *c2 = NULL;
        struct policy_error e;
        const char *hash1;
        char hash_copy[32];

        scratch_make(&s);
        write_good(&s);
        c1 = load_ok(&s);
        hash1 = policy_project_hash(c1, "web");
        ck_assert_uint_eq(strlen(hash1), 16);
        snprintf(hash_copy, sizeof(hash_copy), "%s", hash1);
        /* a broken edit fails the reload and leaves c1 as it was */
        scratch_write(&s, "projects.d/web.json", "{\"limits\": {\"memory\": -1}}");
        ck_assert_int_eq(scratch_load(&s, &c2, &e), -EINVAL);
        ck_assert_ptr_null(c2);
        ck_assert_str_eq(policy_project_hash(c1, "web"), hash_copy);
        /* a good edit gives a new config with a new hash; c1 still answers */
        scratch_write(&s, "projects.d/web.json", "{\"cache\": false}");
        c2 = load_ok(&s);
        ck_assert_str_ne(policy_project_hash(c2, "web"), hash_copy);
        ck_assert(policy_project_cache(c1, "web"));
        ck_assert(!policy_project_cache(c2, "web"));
        /* references keep it alive */
        ck_assert_ptr_eq(policy_config_ref(c1), c1);
        policy_config_unref(c1);
        ck_assert(policy_project_cache(c1, "web"));
        policy_config_unref(c1);
        policy_config_unref(c2);
        scratch_remove(&s);
}
END_TEST

START_TEST(bad_requests)
{
        struct scratch s;
        struct policy_config *c;
        struct launch_spec *spec = NULL;
        char *argv[] = { "/bin/true", NULL };
        char *env[] = { "NOEQUALS", NULL };
        struct step_request req = { .project = "web", .argv = argv, .env = env };
        char err[512];

        scratch_make(&s);
        write_good(&s);
        c = load_ok(&s);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), -EINVAL);
        ck_assert_str_eq(err, "malformed environment entry \"NOEQUALS\": expected NAME=value");
        req.env = NULL;
        req.script = "echo";
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), -EINVAL);
        ck_assert_str_eq(err, "a step needs exactly one of argv or script");
        req.script = NULL;
        req.project = "nope";
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), -ENOENT);
        ck_assert_ptr_null(spec);
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(default_profile_override_rootfs_and_group)
{
        struct scratch s;
        struct policy_config *c;
        struct launch_spec *spec = NULL;
        char *argv[] = { "/bin/true", NULL };
        struct step_request req = { .project = "img", .argv = argv };
        char err[512];

        scratch_make(&s);
        /* seccomp.d/default.json replaces the built-in default */
        scratch_write(&s, "seccomp.d/default.json", STRICT_PROFILE);
        scratch_write(&s, "projects.d/img.json", "{\"rootfs\": \"/usr\", \"group\": \"adm\"}");
        c = load_ok(&s);
        ck_assert_int_eq(policy_resolve(c, &req, &spec, err, sizeof(err)), 0);
        ck_assert_ptr_nonnull(spec->seccomp);
        ck_assert_uint_eq(spec->seccomp->n_rules, 2);
        ck_assert_str_eq(spec->rootfs, "/usr");
        /* an allocated uid with a named group */
        ck_assert_uint_ge(spec->uid, policy_settings(c)->uid_min);
        ck_assert_uint_eq(spec->gid, getgrnam("adm")->gr_gid);
        launch_spec_free(spec);
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

START_TEST(load_options)
{
        struct policy_config *c = NULL;
        struct policy_error e;
        struct policy_load_options o = { .state_dir = "relative/state" };

        ck_assert_int_eq(policy_load_with("/nonexistent", &o, &c, &e), -EINVAL);
        ck_assert_ptr_null(c);
        ck_assert_str_eq(e.message, "the state folder must be an absolute path");
        /* without options: the state folder of stepd.json, or the built-in one */
        ck_assert_int_eq(policy_load("/nonexistent", &c, &e), 0);
        ck_assert_str_eq(policy_settings(c)->state_dir, STEPD_STATEDIR);
        ck_assert_str_eq(policy_config_dir(c), "/nonexistent");
        policy_config_unref(c);
}
END_TEST

START_TEST(warnings)
{
        struct scratch s;
        struct policy_config *c;
        char **w, want[512];

        scratch_make(&s);
        write_good(&s);
        c = load_ok(&s);
        w = policy_warnings(c);
        ck_assert_ptr_nonnull(w);
        scratch_expand(&s, "%D/stepd.json: project \"tiny\": \"allow\" admits nobody but root",
                       want, sizeof(want));
        ck_assert_str_eq(w[0], want);
        scratch_expand(&s,
                       "%D/stepd.json: project \"tiny\": seccomp \"unconfined\": steps run without a system call filter",
                       want, sizeof(want));
        ck_assert_str_eq(w[1], want);
        scratch_expand(&s,
                       "%D/projects.d/web.json: project \"web\": bridge \"br-ci\" does not exist (yet): steps will fail to start",
                       want, sizeof(want));
        ck_assert_str_eq(w[2], want);
        scratch_expand(&s,
                       "%D/projects.d/web.json: project \"web\": mounts[1]: steps may write to host folder /var/tmp",
                       want, sizeof(want));
        ck_assert_str_eq(w[3], want);
        ck_assert_ptr_null(w[4]);
        strv_free(w);
        policy_config_unref(c);

        /* nothing to say about the built-in default */
        scratch_remove(&s);
        scratch_make(&s);
        c = load_ok(&s);
        w = policy_warnings(c);
        ck_assert_ptr_null(w[0]);
        strv_free(w);
        policy_config_unref(c);
        scratch_remove(&s);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("policy");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, settings_resolved);
        tcase_add_test(tc, pools_and_agents);
        tcase_add_test(tc, project_resolves_to_spec);
        tcase_add_test(tc, defaults_and_unconfined);
        tcase_add_test(tc, builtin_default);
        tcase_add_loop_test(tc, authorization_matrix, 0, ARRAY_SIZE(authz));
        tcase_add_test(tc, denial_reason);
        tcase_add_test(tc, uid_allocation);
        tcase_add_test(tc, uid_range_exhausted);
        tcase_add_test(tc, remembered_uid_now_a_user);
        tcase_add_test(tc, resolved_uids_are_cached_per_configuration);
        tcase_add_test(tc, explain_names_everything);
        tcase_add_test(tc, reload_is_independent);
        tcase_add_test(tc, bad_requests);
        tcase_add_test(tc, default_profile_override_rootfs_and_group);
        tcase_add_test(tc, load_options);
        tcase_add_test(tc, warnings);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
