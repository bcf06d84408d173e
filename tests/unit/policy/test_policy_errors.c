/* SPDX-License-Identifier: MIT */
/* A table of broken configuration folders, each with the exact error an admin
 * must see: file, line, column, key path and message. Positions are 1-based,
 * columns count characters (as jansson does). %D is the configuration folder,
 * %S the state folder. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "helpers.h"
#include "policy/jpos.h"

struct file {
        const char *path;
        const char *text;
};

struct row {
        const char *what;
        struct file files[3];
        const char *file;
        int line, col;
        const char *key;
        const char *msg;
};

#define SETTINGS_KEYS                                                                              \
        "socket, socket_mode, socket_group, state_dir, uid_range, capacity, queue_limit, "        \
        "default_timeout, retention, kill_grace, root_always_allowed, reuse_network_namespaces, " \
        "pools, agents, projects, "                                                               \
        "tls, agent, health_interval"

static const struct row rows[] = {
        { "syntax error (trailing comma)",
          { { "stepd.json", "{\n  \"capacity\": 4,\n}\n" } },
          "%D/stepd.json", 3, 1, "", "string or '}' expected near '}'" },
        { "duplicate key",
          { { "projects.d/web.json", "{\n  \"cache\": true,\n  \"cache\": false\n}\n" } },
          "%D/projects.d/web.json", 3, 9, "", "duplicate object key near '\"cache\"'" },
        { "unknown key in stepd.json",
          { { "stepd.json", "{\n  \"capcity\": 4\n}\n" } },
          "%D/stepd.json", 2, 3, "capcity", "unknown key; expected one of: " SETTINGS_KEYS },
        { "unknown key nested in a project",
          { { "projects.d/web.json", "{\n  \"limits\": {\"memory\": \"1G\", \"swap\": \"1G\"}\n}\n" } },
          "%D/projects.d/web.json", 2, 30, "limits.swap",
          "unknown key; expected one of: memory, pids, cpu, nofile, fsize, tmp" },
        { "wrong type",
          { { "projects.d/web.json", "{\n  \"cache\": \"yes\"\n}\n" } },
          "%D/projects.d/web.json", 2, 12, "cache", "expected true or false, got a string" },
        { "wrong type in stepd.json",
          { { "stepd.json", "{\n  \"reuse_network_namespaces\": 0\n}\n" } },
          "%D/stepd.json", 2, 31, "reuse_network_namespaces", "expected true or false, got an integer" },
        { "wrong top-level type",
          { { "projects.d/web.json", "[]\n" } },
          "%D/projects.d/web.json", 1, 1, "", "expected an object, got an array" },
        { "out of range integer",
          { { "projects.d/web.json", "{\n  \"limits\": {\n    \"pids\": 0\n  }\n}\n" } },
          "%D/projects.d/web.json", 3, 13, "limits.pids", "0 is out of range: expected 1..4194304" },
        { "out of range size",
          { { "projects.d/web.json", "{\"limits\": {\"memory\": \"1M\"}}" } },
          "%D/projects.d/web.json", 1, 23, "limits.memory", "1M is out of range: expected 4M..16T" },
        { "malformed size",
          { { "projects.d/web.json", "{\"limits\": {\"tmp\": \"lots\"}}" } },
          "%D/projects.d/web.json", 1, 20, "limits.tmp",
          "expected a size such as \"512M\", \"2G\" or bytes, got \"lots\"" },
        { "cpu out of range",
          { { "stepd.json", "{\"projects\": {\"api\": {\"limits\": {\"cpu\": 0}}}}" } },
          "%D/stepd.json", 1, 41, "projects.api.limits.cpu",
          "0 is out of range: expected 0.01..1024 cpus" },
        { "unknown seccomp profile",
          { { "projects.d/web.json", "{\n\t\"seccomp\": \"strict\"\n}\n" } },
          "%D/projects.d/web.json", 2, 13, "seccomp",
          "unknown seccomp profile \"strict\": expected \"default\", \"unconfined\" or a profile in seccomp.d/" },
        { "reserved profile name",
          { { "seccomp.d/unconfined.json", "{}" } },
          "%D/seccomp.d/unconfined.json", 0, 0, "", "\"unconfined\" is reserved: it means no seccomp filter" },
        { "duplicate project (projects.d and stepd.json)",
          { { "projects.d/web.json", "{}" },
            { "stepd.json", "{\n  \"projects\": {\n    \"web\": {}\n  }\n}\n" } },
          "%D/stepd.json", 3, 5, "projects.web",
          "duplicate project \"web\": already defined in %D/projects.d/web.json" },
        { "explicit uid inside the allocation range",
          { { "stepd.json", "{\"uid_range\": {\"min\": 5000, \"max\": 5999}}" },
            { "projects.d/web.json", "{\n  \"user\": 5500\n}\n" } },
          "%D/projects.d/web.json", 2, 11, "user",
          "uid 5500 is inside the allocation range 5000..5999 (uid_range in stepd.json)" },
        { "two projects with the same explicit uid",
          { { "projects.d/a.json", "{\"user\": \"7001\"}" }, { "projects.d/b.json", "{\"user\": 7001}" } },
          "%D/projects.d/b.json", 1, 10, "user",
          "uid 7001 is already the user of project \"a\" (%D/projects.d/a.json)" },
        { "a project may not run as root",
          { { "projects.d/web.json", "{\"user\": \"root\"}" } },
          "%D/projects.d/web.json", 1, 10, "user", "a project may not run as root (uid 0)" },
        { "invalid project file name",
          { { "projects.d/Web.json", "{}" } },
          "%D/projects.d/Web.json", 0, 0, "",
          "invalid project name: a file name must be NAME.json with NAME of [a-z0-9_.-], not starting with '.', at most 64 bytes" },
        { "invalid inline project name",
          { { "stepd.json", "{\"projects\": {\"My Project\": {}}}" } },
          "%D/stepd.json", 1, 15, "projects.My Project",
          "invalid project name: expected [a-z0-9_.-], not starting with '.', at most 64 bytes" },
        { "unknown user",
          { { "projects.d/web.json", "{\"allow\": {\"users\": [\"root\", \"no-such-user-xyz\"]}}" } },
          "%D/projects.d/web.json", 1, 30, "allow.users[1]", "unknown user \"no-such-user-xyz\"" },
        { "unknown group",
          { { "projects.d/web.json", "{\"allow\": {\"groups\": [\"no-such-group-xyz\"]}}" } },
          "%D/projects.d/web.json", 1, 23, "allow.groups[0]", "unknown group \"no-such-group-xyz\"" },
        { "relative mount source",
          { { "projects.d/web.json", "{\"mounts\": [{\"source\": \"srv/data\", \"target\": \"/data\"}]}" } },
          "%D/projects.d/web.json", 1, 24, "mounts[0].source",
          "expected an absolute path without \".\", \"..\", \"//\" or a trailing \"/\", got \"srv/data\"" },
        { "missing mount source",
          { { "projects.d/web.json", "{\"mounts\": [{\"source\": \"/nonexistent/x\"}]}" } },
          "%D/projects.d/web.json", 1, 24, "mounts[0].source",
          "\"/nonexistent/x\" does not exist or cannot be reached: No such file or directory" },
        { "mount without a source",
          { { "projects.d/web.json", "{\"mounts\": [{}, {\"source\": \"%S/work\"}]}" } },
          "%D/projects.d/web.json", 1, 13, "mounts[0]", "missing key \"source\" (an absolute host path)" },
        { "mount target on a reserved path",
          { { "projects.d/web.json",
              "{\"mounts\": [{\"source\": \"/usr/share\", \"target\": \"/proc/sys\"}]}" } },
          "%D/projects.d/web.json", 1, 48, "mounts[0].target",
          "\"/proc/sys\" is reserved inside the sandbox (/proc belongs to stepd)" },
        { "bridge network without bridge settings",
          { { "projects.d/web.json", "{\"network\": \"bridge\"}" } },
          "%D/projects.d/web.json", 1, 13, "network",
          "network \"bridge\" needs a \"bridge\" object {\"name\", \"address\", \"gateway\"}" },
        { "bridge address without prefix",
          { { "projects.d/web.json",
              "{\"network\": \"bridge\", \"bridge\": {\"name\": \"br0\", \"address\": \"10.0.0.5\"}}" } },
          "%D/projects.d/web.json", 1, 60, "bridge.address",
          "expected an IPv4 address with prefix such as \"10.77.0.5/24\", got \"10.0.0.5\"" },
        { "unknown network mode",
          { { "projects.d/web.json", "{\"network\": \"nat\"}" } },
          "%D/projects.d/web.json", 1, 13, "network", "expected \"none\", \"host\" or \"bridge\", got \"nat\"" },
        { "timeout max below the default",
          { { "projects.d/web.json", "{\"timeout\": {\"default\": \"2h\", \"max\": \"1h\"}}" } },
          "%D/projects.d/web.json", 1, 38, "timeout.max", "max 1h is below the default 2h" },
        { "bad environment pattern",
          { { "projects.d/web.json", "{\"env_allow\": [\"CI\", \"GIT-*\"]}" } },
          "%D/projects.d/web.json", 1, 22, "env_allow[1]",
          "expected a variable name or a prefix ending in '*' such as \"GIT_*\", got \"GIT-*\"" },
        { "unknown pool",
          { { "projects.d/web.json", "{\"pool\": \"gpu\"}" } },
          "%D/projects.d/web.json", 1, 10, "pool",
          "unknown pool \"gpu\": define it under \"pools\" in stepd.json" },
        { "pool member that is no agent",
          { { "stepd.json", "{\"pools\": {\"default\": {\"members\": [\"builtin\", \"far\"]}}}" } },
          "%D/stepd.json", 1, 47, "pools.default.members[1]",
          "unknown member \"far\": expected \"builtin\" or an agent defined in \"agents\"" },
        { "bad agent thumbprint",
          { { "stepd.json",
              "{\"agents\": {\"far\": {\"address\": \"10.0.0.9:7000\", \"thumbprint\": \"abc\"}}}" } },
          "%D/stepd.json", 1, 63, "agents.far.thumbprint", "expected a SHA-256 thumbprint: 64 hex digits" },
        { "empty uid range",
          { { "stepd.json", "{\"uid_range\": {\"min\": 9000, \"max\": 100}}" } },
          "%D/stepd.json", 1, 15, "uid_range", "the range is empty: max 100 is below min 9000" },
        { "root filesystem that is not a folder",
          { { "projects.d/web.json", "{\"rootfs\": \"/etc/passwd\"}" } },
          "%D/projects.d/web.json", 1, 12, "rootfs", "\"/etc/passwd\" is not a folder" },
        { "broken seccomp profile",
          { { "seccomp.d/strict.json", "{\n  \"defaultAction\": \"SCMP_ACT_NOPE\"\n}\n" } },
          "%D/seccomp.d/strict.json", 2, 3, "defaultAction",
          "unknown action \"SCMP_ACT_NOPE\" (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, "
          "SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL, SCMP_ACT_TRAP, "
          "SCMP_ACT_TRACE or SCMP_ACT_LOG)" },
        { "columns count characters, not bytes",
          { { "projects.d/web.json", "{\"comment\": \"h\xc3\xa9llo w\xc3\xb6rld\", \"cache\": 1}" } },
          "%D/projects.d/web.json", 1, 37, "cache", "expected true or false, got an integer" },
};

START_TEST(broken_file)
{
        const struct row *row = &rows[_i];
        struct policy_config *c = NULL;
        struct policy_error e = { 0 };
        struct scratch s;
        char want_file[512], want_msg[1024], text[2048];
        int r;

        scratch_make(&s);
        ck_assert_int_eq(mkdir_p(s.state, 0755), 0);
        {
                char work[300];
                snprintf(work, sizeof(work), "%s/work", s.state);
                ck_assert_int_eq(mkdir_p(work, 0755), 0);
        }
        for (size_t i = 0; i < ARRAY_SIZE(row->files) && row->files[i].path; i++) {
                scratch_expand(&s, row->files[i].text, text, sizeof(text));
                scratch_write(&s, row->files[i].path, text);
        }
        r = scratch_load(&s, &c, &e);
        scratch_expand(&s, row->file, want_file, sizeof(want_file));
        scratch_expand(&s, row->msg, want_msg, sizeof(want_msg));
        if (r != -EINVAL || strcmp(e.file, want_file) || e.line != row->line ||
            e.column != row->col || strcmp(e.key, row->key) || strcmp(e.message, want_msg))
                fprintf(stderr, "row \"%s\": r=%d got %s:%d:%d: [%s] [%s]\n", row->what, r, e.file,
                        e.line, e.column, e.key, e.message);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_null(c);
        ck_assert_str_eq(e.file, want_file);
        ck_assert_int_eq(e.line, row->line);
        ck_assert_int_eq(e.column, row->col);
        ck_assert_str_eq(e.key, row->key);
        ck_assert_str_eq(e.message, want_msg);
        scratch_remove(&s);
}
END_TEST

/* The mount-source-inside-state row above checks the missing key; these check
 * the state folder rule both ways round. */
START_TEST(mount_overlapping_state)
{
        struct policy_config *c = NULL;
        struct policy_error e = { 0 };
        struct scratch s;
        char text[1024], msg[1024], work[300];

        scratch_make(&s);
        snprintf(work, sizeof(work), "%s/work", s.state);
        ck_assert_int_eq(mkdir_p(work, 0755), 0);
        scratch_expand(&s, "{\"mounts\": [{\"source\": \"%S/work\", \"target\": \"/data\"}]}", text,
                       sizeof(text));
        scratch_write(&s, "projects.d/web.json", text);
        ck_assert_int_eq(scratch_load(&s, &c, &e), -EINVAL);
        scratch_expand(&s, "\"%S/work\" overlaps the state folder %S: steps may not see it", msg,
                       sizeof(msg));
        ck_assert_str_eq(e.message, msg);
        ck_assert_str_eq(e.key, "mounts[0].source");
        ck_assert_int_eq(e.line, 1);
        ck_assert_int_eq(e.column, 24);

        /* a source that contains the state folder shows it too */
        scratch_expand(&s, "{\"mounts\": [{\"source\": \"/tmp\", \"target\": \"/data\"}]}", text,
                       sizeof(text));
        scratch_write(&s, "projects.d/web.json", text);
        ck_assert_int_eq(scratch_load(&s, &c, &e), -EINVAL);
        scratch_expand(&s, "\"/tmp\" overlaps the state folder %S: steps may not see it", msg,
                       sizeof(msg));
        ck_assert_str_eq(e.message, msg);
        scratch_remove(&s);
}
END_TEST

START_TEST(error_format)
{
        struct policy_error e = { .line = 3, .column = 7 };
        char buf[256];

        snprintf(e.file, sizeof(e.file), "/etc/stepd/projects.d/web.json");
        snprintf(e.key, sizeof(e.key), "limits.memory");
        snprintf(e.message, sizeof(e.message), "expected a size");
        policy_error_format(&e, buf, sizeof(buf));
        ck_assert_str_eq(buf, "/etc/stepd/projects.d/web.json:3:7: limits.memory: expected a size");
}
END_TEST

START_TEST(jpos_positions)
{
        static const char text[] = "{\n  \"a\\u00e9\\\"\": {\"b\": [1, {\"c\": true}]},\n\t\"d\": \"x\"\n}";
        struct jpos p;
        int l = 0, c = 0;

        ck_assert_int_eq(jpos_build(text, strlen(text), &p), 0);
        ck_assert(jpos_find(&p, "a\xc3\xa9\"", true, &l, &c));
        ck_assert_int_eq(l, 2);
        ck_assert_int_eq(c, 3);
        ck_assert(jpos_find(&p, "a\xc3\xa9\".b[1].c", false, &l, &c));
        ck_assert_int_eq(l, 2);
        ck_assert_int_eq(c, 32);
        ck_assert(jpos_find(&p, "d", false, &l, &c));
        ck_assert_int_eq(l, 3);
        ck_assert_int_eq(c, 7);
        ck_assert(!jpos_find(&p, "e", false, &l, &c));
        jpos_done(&p);
}
END_TEST

/* Nesting far deeper than the index goes: no stack exhaustion, and the
 * shallow keys after it are still found. */
START_TEST(jpos_deep)
{
        size_t depth = 100000, n = 0;
        char *text = malloc(depth * 2 + 64);
        struct jpos p;
        int l, c;

        n += (size_t)sprintf(text, "{\"deep\": ");
        for (size_t i = 0; i < depth; i++)
                text[n++] = '[';
        for (size_t i = 0; i < depth; i++)
                text[n++] = ']';
        n += (size_t)sprintf(text + n, ", \"after\": 1}");
        ck_assert_int_eq(jpos_build(text, n, &p), 0);
        ck_assert(jpos_find(&p, "after", true, &l, &c));
        ck_assert_int_eq(c, (int)(depth * 2 + 12));
        jpos_done(&p);
        free(text);
}
END_TEST

/* Hostile input: every truncation and many byte flips of a valid project
 * either load or fail with a located, non-empty message; never crash. */
START_TEST(mutations_never_crash)
{
        static const char good[] =
                "{\"allow\": {\"users\": [\"daemon\", 4242], \"groups\": [\"adm\"]},\n"
                " \"limits\": {\"memory\": \"512M\", \"cpu\": 1.5, \"pids\": 10},\n"
                " \"mounts\": [{\"source\": \"/usr/share\", \"target\": \"/srv\"}],\n"
                " \"env_allow\": [\"CI\"], \"env\": {\"A\": \"b\"}, \"timeout\": \"5m\",\n"
                " \"network\": \"none\", \"seccomp\": \"default\", \"cache\": true}\n";
        static const char flips[] = "{}[]\":,0-9aZ\\\x01\xff \n.";
        struct scratch s;
        char text[sizeof(good)];
        unsigned seed = 12345;
        size_t len = strlen(good);

        scratch_make(&s);
        for (size_t i = 0; i < len + 1500; i++) {
                struct policy_config *c = NULL;
                struct policy_error e = { 0 };
                size_t n = len;
                memcpy(text, good, sizeof(good));
                if (i < len) {
                        text[i] = 0; /* truncation */
                        n = i;
                } else {
                        for (int k = 0; k < 3; k++) {
                                seed = seed * 1103515245u + 12345u;
                                text[(seed >> 8) % len] = flips[(seed >> 20) % (sizeof(flips) - 1)];
                        }
                        text[len] = 0;
                        n = strlen(text);
                }
                (void)n;
                scratch_write(&s, "projects.d/web.json", text);
                int r = scratch_load(&s, &c, &e);
                if (r == 0) {
                        policy_config_unref(c);
                        continue;
                }
                ck_assert_int_eq(r, -EINVAL);
                ck_assert_msg(e.message[0], "no message for mutation %zu", i);
                ck_assert_msg(strstr(e.file, "projects.d/web.json"), "%s", e.file);
        }
        scratch_remove(&s);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("policy-errors");
        TCase *tc = tcase_create("errors");
        SRunner *sr;
        int failed;

        tcase_add_loop_test(tc, broken_file, 0, ARRAY_SIZE(rows));
        tcase_add_test(tc, mount_overlapping_state);
        tcase_add_test(tc, error_format);
        tcase_add_test(tc, jpos_positions);
        tcase_add_test(tc, jpos_deep);
        tcase_add_test(tc, mutations_never_crash);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
