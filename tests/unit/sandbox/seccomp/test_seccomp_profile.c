/* SPDX-License-Identifier: MIT */
/* policy/seccomp_profile: the OCI/Docker profile reader. Hostile input,
 * Docker's conditional rules, the reference Docker profile, and the check
 * that stepd's default allows nothing Docker's default denies. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "policy/seccomp_profile.h"
#include "sandbox/seccomp.h"

static const struct seccomp_host amd64 = { "amd64", "SCMP_ARCH_X86_64", 6, 1 };

static char *docker_profile_path(void)
{
        const char *root = getenv("STEPD_SOURCE_ROOT");
        char *path;

        if (!root)
                return NULL;
        if (asprintf(&path, "%s/tests/data/docker-default-seccomp.json", root) < 0)
                return NULL;
        /* in the repository: its absence is a failure, never a skip */
        ck_assert_msg(access(path, R_OK) == 0, "%s: %s", path, strerror(errno));
        return path;
}

static int parse(const char *json, const struct seccomp_host *h, struct seccomp_profile **ret,
                 struct policy_error *err)
{
        return seccomp_profile_parse("t.json", json, strlen(json), h, ret, err);
}

/* ---- hostile input: every broken profile gets its own precise message ---- */

struct bad_case {
        const char *json;
        const char *expect; /* fragment of policy_error_format()'s text */
        int line, column;   /* -1: not checked */
};

#define ACT "\"defaultAction\": \"SCMP_ACT_ERRNO\""

static const struct bad_case bad_cases[] = {
        { "", "t.json", -1, -1 },
        { "not json", "t.json:1:", 1, -1 },
        { "{\"defaultAction\": \"SCMP_ACT_ERRNO\",}", "t.json:1:", 1, -1 },
        { "{" ACT ", \"defaultAction\": \"SCMP_ACT_ALLOW\"}", "duplicate object key", 1, -1 },
        { "[]", "t.json:1:1: a profile is a JSON object, not an array", 1, 1 },
        { "{}", "t.json:1:1: missing required key \"defaultAction\"", 1, 1 },
        { "{\n  \"defaultAction\": 5\n}", "t.json:2:3: defaultAction: expected a string, got an integer", 2, 3 },
        { "{\n  " ACT ",\n  \"bogus\": 1\n}",
          "t.json:3:3: bogus: unknown key \"bogus\" (expected one of: defaultAction,", 3, 3 },
        { "{\"defaultAction\": \"SCMP_ACT_NOPE\"}",
          "t.json:1:2: defaultAction: unknown action \"SCMP_ACT_NOPE\"", 1, 2 },
        { "{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}",
          "defaultAction: SCMP_ACT_NOTIFY (user notification) is not supported yet", 1, 2 },
        { "{" ACT ", \"defaultErrnoRet\": 0}",
          "defaultErrnoRet: 0 is not an errno number (1..4095)", 1, -1 },
        { "{\"defaultAction\": \"SCMP_ACT_KILL\", \"defaultErrnoRet\": 1}",
          "defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE", 1, -1 },
        { "{" ACT ", \"listenerPath\": \"/run/x.sock\"}", "listenerPath: user notification", 1, -1 },
        { "{" ACT ", \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"]}",
          "flags: seccomp filter flags are not supported", 1, -1 },
        { "{" ACT ", \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_Z80\"]}",
          "architectures[1]: \"SCMP_ARCH_Z80\" is not an architecture", 1, 75 },
        { "{" ACT ", \"architectures\": [], \"archMap\": []}",
          "archMap: use either \"architectures\" or \"archMap\"", 1, -1 },
        { "{" ACT ", \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchs\": []}]}",
          "archMap[0].subArchs: unknown key \"subArchs\"", 1, -1 },
        { "{" ACT ", \"syscalls\": {}}", "syscalls: expected an array, got an object", 1, -1 },
        { "{" ACT ", \"syscalls\": [\"read\"]}", "syscalls[0]: expected an object, got a string",
          1, 50 },
        { "{" ACT ",\n\"syscalls\": [\n {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\"},\n"
          " {\"names\": [\"write\"], \"action\": \"SCMP_ACT_ALOW\"}\n]}",
          "t.json:4:23: syscalls[1].action: unknown action \"SCMP_ACT_ALOW\"", 4, 23 },
        { "{" ACT ", \"syscalls\": [{\"action\": \"SCMP_ACT_ALLOW\"}]}",
          "syscalls[0]: a rule needs \"names\" (a non-empty list) or \"name\"", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [], \"action\": \"SCMP_ACT_ALLOW\"}]}",
          "syscalls[0]: a rule needs \"names\"", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"name\": \"read\", \"action\": "
          "\"SCMP_ACT_ALLOW\"}]}",
          "syscalls[0].name: use either \"name\" or \"names\"", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\", \"Write\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
          "syscalls[0].names[1]: \"Write\" is not a syscall name", 1, 69 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\", 7], \"action\": \"SCMP_ACT_ALLOW\"}]}",
          "syscalls[0].names[1]: expected a string, got an integer", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"]}]}",
          "syscalls[0]: missing required key \"action\"", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"errnoRet\": 1}]}",
          "syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not "
          "SCMP_ACT_ALLOW", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
          "\"errnoRet\": 5000}]}",
          "syscalls[0].errnoRet: 5000 is not an errno number (1..4095)", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}",
          "syscalls[0].action: SCMP_ACT_NOTIFY (user notification) is not supported yet", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
          "syscalls[0].args[0].index: 6 is not an argument index (0..5)", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n"
          "  \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQUAL\"}]}]}",
          "t.json:2:37: syscalls[0].args[0].op: unknown operator \"SCMP_CMP_EQUAL\"", 2, 37 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"args\": [{\"index\": 0, \"valu\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
          "syscalls[0].args[0].valu: unknown key \"valu\" (expected one of: index, value, "
          "valueTwo, op)", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"args\": [{\"index\": 0, \"op\": \"SCMP_CMP_EQ\"}]}]}",
          "syscalls[0].args[0]: missing required key \"value\"", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
          "syscalls[0].args[0].value: must not be negative", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"args\": [{\"index\": 0, \"value\": 18446744073709551615, \"op\": \"SCMP_CMP_EQ\"}]}]}",
          "too big integer", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"args\": [{\"index\": 0, \"value\": 1.5, \"op\": \"SCMP_CMP_EQ\"}]}]}",
          "syscalls[0].args[0].value: expected an integer, got a number with a fraction", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"args\": [{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
          "{\"index\":1,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},{\"index\":2,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
          "{\"index\":3,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},{\"index\":4,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},"
          "{\"index\":5,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}",
          "syscalls[0].args: at most 6 argument conditions, got 7", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"includes\": {\"cap\": [\"CAP_SYS_ADMIN\"]}}]}",
          "syscalls[0].includes.cap: unknown key \"cap\" (expected one of: caps, arches, minKernel)",
          1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"includes\": {\"caps\": [\"sys_admin\"]}}]}",
          "syscalls[0].includes.caps[0]: \"sys_admin\" is not a capability name", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"excludes\": {\"arches\": [\"amd65\"]}}]}",
          "syscalls[0].excludes.arches[0]: \"amd65\" is not an architecture", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"includes\": {\"minKernel\": \"4\"}}]}",
          "syscalls[0].includes.minKernel: \"4\" is not a kernel version \"MAJOR.MINOR\"", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"includes\": {\"minKernel\": \"4.8-rc1\"}}]}",
          "is not a kernel version", 1, -1 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
          "\"includes\": [\"CAP_SYS_ADMIN\"]}]}",
          "syscalls[0].includes: expected an object, got an array", 1, -1 },
        /* A rule that would be skipped (needs a capability) is still validated. */
        { "{" ACT ", \"syscalls\": [{\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALOW\", "
          "\"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}}]}",
          "syscalls[0].action: unknown action \"SCMP_ACT_ALOW\"", 1, -1 },
        { "{" ACT ", \"comment\": 5}", "comment: expected a string, got an integer", 1, -1 },
        /* libseccomp would keep one of these silently. */
        { "{" ACT ", \"syscalls\": [{\"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"},\n"
          " {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 5}]}",
          "t.json:2:2: syscalls[1]: \"read\" has a rule without conditions (syscalls[0]) and another "
          "with a different action (syscalls[1])", 2, 2 },
        { "{" ACT ", \"syscalls\": [{\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ERRNO\", "
          "\"args\": [{\"index\": 0, \"value\": 40, \"op\": \"SCMP_CMP_EQ\"}]},"
          " {\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
          "syscalls[1]: \"socket\" has a rule without conditions (syscalls[1]) and another with a "
          "different action (syscalls[0])", 1, -1 },
};

START_TEST(bad_profiles)
{
        const struct bad_case *t = &bad_cases[_i];
        struct seccomp_profile *p = NULL;
        struct policy_error err;
        char text[1024];

        ck_assert_int_eq(parse(t->json, &amd64, &p, &err), -EINVAL);
        ck_assert_ptr_null(p);
        policy_error_format(&err, text, sizeof(text));
        ck_assert_msg(strstr(text, t->expect), "case %d: got \"%s\", want \"%s\"", _i, text,
                      t->expect);
        if (t->line >= 0)
                ck_assert_msg(err.line == t->line, "case %d: line %d, want %d (%s)", _i, err.line,
                              t->line, text);
        if (t->column >= 0)
                ck_assert_msg(err.column == t->column, "case %d: column %d, want %d (%s)", _i,
                              err.column, t->column, text);
}
END_TEST

START_TEST(nul_in_input)
{
        static const char json[] = "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}\0{}";
        struct seccomp_profile *p = NULL;
        struct policy_error err;

        ck_assert_int_eq(seccomp_profile_parse("t.json", json, sizeof(json) - 1, &amd64, &p, &err),
                         -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_int_eq(err.line, 1);
}
END_TEST

START_TEST(too_large)
{
        size_t n = SECCOMP_PROFILE_MAX_BYTES + 10;
        _cleanup_free_ char *big = malloc(n + 1);
        struct seccomp_profile *p = NULL;
        struct policy_error err;

        ck_assert_ptr_nonnull(big);
        memset(big, ' ', n);
        big[n] = 0;
        ck_assert_int_eq(seccomp_profile_parse("big.json", big, n, &amd64, &p, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "larger than"));
}
END_TEST

/* Every prefix and many one-byte mutations of a real profile: each parses or
 * fails with a message, never crashes; what parses also compiles or fails
 * cleanly. */
START_TEST(hostile_mutations)
{
        static const char pool[] = "{}[]\",:0123456789-.eE \\\nazAZ_";
        const char *json = seccomp_default_profile_json();
        size_t len = strlen(json);
        _cleanup_free_ char *buf = malloc(len + 1);
        unsigned seed = 12345, parsed = 0;

        ck_assert_ptr_nonnull(buf);
        /* Every prefix that ends before the closing brace is incomplete. */
        for (size_t n = 0; n <= (size_t)(strrchr(json, '}') - json); n += 13) {
                struct seccomp_profile *p = NULL;
                struct policy_error err = { 0 };
                int r = seccomp_profile_parse("t", json, n, &amd64, &p, &err);
                ck_assert_int_eq(r, -EINVAL);
                ck_assert(err.message[0]);
        }
        for (int k = 0; k < 3000; k++) {
                struct seccomp_profile *p = NULL;
                struct policy_error err = { 0 };
                char note[256];
                int r;

                memcpy(buf, json, len + 1);
                for (int m = 0; m < 1 + k % 3; m++) {
                        seed = seed * 1103515245u + 12345u;
                        buf[(seed >> 8) % len] = pool[(seed >> 4) % (sizeof(pool) - 1)];
                }
                r = seccomp_profile_parse("t", buf, len, &amd64, &p, &err);
                ck_assert_msg(r == 0 || r == -EINVAL, "mutation %d: %d", k, r);
                if (r < 0) {
                        ck_assert(err.message[0]);
                        continue;
                }
                parsed++;
                if (k % 10 == 0)
                        ck_assert_int_ne(seccomp_prepare(p, note, sizeof(note)), -ENOMEM);
                seccomp_profile_unref(p);
        }
        ck_assert_uint_gt(parsed, 0);
}
END_TEST

START_TEST(error_format)
{
        struct policy_error e = { .file = "/etc/stepd/seccomp.d/x.json", .line = 3, .column = 7,
                                  .key = "syscalls[2].op", .message = "bad" };
        char buf[256];

        policy_error_format(&e, buf, sizeof(buf));
        ck_assert_str_eq(buf, "/etc/stepd/seccomp.d/x.json:3:7: syscalls[2].op: bad");
        e.line = 0;
        e.key[0] = 0;
        policy_error_format(&e, buf, sizeof(buf));
        ck_assert_str_eq(buf, "/etc/stepd/seccomp.d/x.json: bad");
        policy_error_format(&e, buf, 5);
        ck_assert_str_eq(buf, "/etc");
}
END_TEST

/* ---- what a good profile becomes ------------------------------------------ */

static const struct seccomp_rule *find_rule(const struct seccomp_profile *p, const char *name,
                                            size_t nth)
{
        for (size_t i = 0; i < p->n_rules; i++)
                if (strcmp(p->rules[i].syscall, name) == 0 && nth-- == 0)
                        return &p->rules[i];
        return NULL;
}

static const char full_profile[] =
        "{\"defaultAction\": \"SCMP_ACT_KILL\",\n"
        " \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\"],\n"
        " \"syscalls\": [\n"
        "  {\"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\", \"comment\": \"io\"},\n"
        "  {\"name\": \"getppid\", \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 42},\n"
        "  {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\"},\n"
        "  {\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ALLOW\",\n"
        "   \"args\": [{\"index\": 0, \"value\": 2114060288, \"valueTwo\": 5, \"op\": \"SCMP_CMP_MASKED_EQ\"}]},\n"
        "  {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
        "  {\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
        "  {\"names\": [\"arch_prctl\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"arches\": [\"amd64\"]}},\n"
        "  {\"names\": [\"set_tls\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"arches\": [\"arm\", \"arm64\"]}},\n"
        "  {\"names\": [\"modify_ldt\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"arches\": [\"amd64\"]}},\n"
        "  {\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"4.8\"}},\n"
        "  {\"names\": [\"kcmp\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"minKernel\": \"4.8\"}},\n"
        "  {\"names\": [\"brk\"], \"action\": \"SCMP_ACT_TRACE\", \"errnoRet\": 7, \"args\": null,\n"
        "   \"includes\": {}, \"excludes\": {\"caps\": null, \"arches\": null, \"minKernel\": null}}\n"
        " ]}\n";

START_TEST(good_profile)
{
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
        struct policy_error err;
        const struct seccomp_rule *r;
        char text[512];
        int ret = parse(full_profile, &amd64, &p, &err);

        policy_error_format(&err, text, sizeof(text));
        ck_assert_msg(ret == 0, "%s", text);
        ck_assert_str_eq(p->name, "t.json");
        ck_assert_int_eq(p->refcount, 1);
        ck_assert_int_eq(p->default_action, SECCOMP_ACT_KILL_THREAD_);
        ck_assert_uint_eq(strv_length(p->architectures), 2);
        ck_assert_str_eq(p->architectures[0], "x86_64");
        ck_assert_str_eq(p->architectures[1], "x86");
        ck_assert_ptr_nonnull(find_rule(p, "read", 0));
        ck_assert_ptr_nonnull(find_rule(p, "write", 0));
        r = find_rule(p, "getppid", 0);
        ck_assert_int_eq(r->action, SECCOMP_ACT_ERRNO_);
        ck_assert_int_eq(r->errno_ret, 42);
        r = find_rule(p, "getpid", 0);
        ck_assert_int_eq(r->errno_ret, 0); /* EPERM */
        r = find_rule(p, "socket", 0);
        ck_assert_uint_eq(r->n_args, 1);
        ck_assert_uint_eq(r->args[0].value, 2114060288);
        ck_assert_uint_eq(r->args[0].value_two, 5);
        ck_assert_int_eq(r->args[0].op, SECCOMP_OP_MASKED_EQ);
        ck_assert_ptr_null(find_rule(p, "mount", 0));      /* includes.caps: skipped */
        ck_assert_ptr_nonnull(find_rule(p, "clone", 0));   /* excludes.caps: applied */
        ck_assert_ptr_nonnull(find_rule(p, "arch_prctl", 0));
        ck_assert_ptr_null(find_rule(p, "set_tls", 0));
        ck_assert_ptr_null(find_rule(p, "modify_ldt", 0));
        ck_assert_ptr_nonnull(find_rule(p, "ptrace", 0));  /* 6.1 >= 4.8 */
        ck_assert_ptr_null(find_rule(p, "kcmp", 0));
        r = find_rule(p, "brk", 0);
        ck_assert_int_eq(r->action, SECCOMP_ACT_TRACE_);
        ck_assert_int_eq(r->errno_ret, 7);
        ck_assert_uint_eq(p->n_rules, 9);
}
END_TEST

START_TEST(same_action_duplicates_are_fine)
{
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
        struct policy_error err;

        ck_assert_int_eq(parse("{" ACT ", \"syscalls\": ["
                               "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\"},"
                               "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1},"
                               "{\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ALLOW\"},"
                               "{\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": "
                               "[{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]},"
                               "{\"names\": [\"clone3\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 38},"
                               "{\"names\": [\"clone3\"], \"action\": \"SCMP_ACT_ALLOW\", "
                               "\"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}}]}",
                               &amd64, &p, &err),
                         0);
        ck_assert_uint_eq(p->n_rules, 5);
}
END_TEST

START_TEST(filters_follow_the_host)
{
        static const struct seccomp_host old_arm = { "arm64", "SCMP_ARCH_AARCH64", 4, 7 };
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
        struct policy_error err;

        ck_assert_int_eq(parse(full_profile, &old_arm, &p, &err), 0);
        ck_assert_ptr_null(find_rule(p, "arch_prctl", 0));
        ck_assert_ptr_nonnull(find_rule(p, "set_tls", 0));
        ck_assert_ptr_nonnull(find_rule(p, "modify_ldt", 0));
        ck_assert_ptr_null(find_rule(p, "ptrace", 0));    /* 4.7 < 4.8 */
        ck_assert_ptr_nonnull(find_rule(p, "kcmp", 0));
}
END_TEST

START_TEST(arch_map_picks_native)
{
        static const char json[] =
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"archMap\": ["
                "{\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]},"
                "{\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]},"
                "{\"architecture\": \"SCMP_ARCH_RISCV64\", \"subArchitectures\": null}]}";
        static const struct seccomp_host riscv = { "riscv64", "SCMP_ARCH_RISCV64", 6, 1 };
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL, *q = NULL;
        struct policy_error err;

        ck_assert_int_eq(parse(json, &amd64, &p, &err), 0);
        ck_assert_uint_eq(strv_length(p->architectures), 3);
        ck_assert_str_eq(p->architectures[0], "x86_64");
        ck_assert_str_eq(p->architectures[1], "x86");
        ck_assert_str_eq(p->architectures[2], "x32");
        ck_assert_uint_eq(p->n_rules, 0);
        ck_assert_int_eq(parse(json, &riscv, &q, &err), 0);
        ck_assert_uint_eq(strv_length(q->architectures), 1);
        ck_assert_str_eq(q->architectures[0], "riscv64");
}
END_TEST

START_TEST(load_file_errors_and_name)
{
        char dir[] = "/tmp/stepd-seccomp-XXXXXX", path[128], text[512];
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
        struct policy_error err;
        FILE *f;

        ck_assert_int_eq(seccomp_profile_load_file("/nonexistent/x.json", &p, &err), -ENOENT);
        policy_error_format(&err, text, sizeof(text));
        ck_assert_str_eq(text, "/nonexistent/x.json: cannot read: No such file or directory");

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/strict.json", dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n"
              "    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"bogus\": true}\n  ]\n}\n",
              f);
        fclose(f);
        ck_assert_int_eq(seccomp_profile_load_file(path, &p, &err), -EINVAL);
        policy_error_format(&err, text, sizeof(text));
        ck_assert_msg(strstr(text, "/strict.json:4:53: syscalls[0].bogus: unknown key \"bogus\""),
                      "%s", text);

        f = fopen(path, "we");
        fputs("{\"defaultAction\": \"SCMP_ACT_ERRNO\"}", f);
        fclose(f);
        ck_assert_int_eq(seccomp_profile_load_file(path, &p, &err), 0);
        ck_assert_str_eq(p->name, "strict");
        unlink(path);
        rmdir(dir);
}
END_TEST

/* ---- the reference Docker profile ----------------------------------------- */

START_TEST(docker_profile_loads_and_compiles)
{
        _cleanup_free_ char *path = docker_profile_path();
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
        struct policy_error err;
        char text[512];
        int r;

        ck_assert_ptr_nonnull(path);
        r = seccomp_profile_load_file(path, &p, &err);
        policy_error_format(&err, text, sizeof(text));
        ck_assert_msg(r == 0, "%s", text);
        ck_assert_uint_gt(p->n_rules, 300);
        ck_assert_ptr_null(find_rule(p, "mount", 0));   /* CAP_SYS_ADMIN only */
        ck_assert_ptr_null(find_rule(p, "bpf", 0));
        ck_assert_ptr_nonnull(find_rule(p, "clone", 0)); /* the no-namespace rule */
        ck_assert_int_eq(find_rule(p, "clone3", 0)->errno_ret, ENOSYS);
        r = seccomp_prepare(p, text, sizeof(text));
        ck_assert_msg(r >= 0, "compile: %s", text);
        if (r > 0)
                fprintf(stderr, "docker profile: %d names %s\n", r, text);
        ck_assert_ptr_nonnull(p->bpf);
        ck_assert_uint_eq(p->bpf_len % 8, 0);
}
END_TEST

/* ---- ours allows nothing Docker's denies ---------------------------------- */

static bool allows(enum seccomp_action a)
{
        /* TRACE without a tracer fails, but a tracer could let it through. */
        return a == SECCOMP_ACT_ALLOW_ || a == SECCOMP_ACT_LOG_ || a == SECCOMP_ACT_TRACE_ ||
               a == SECCOMP_ACT_NOTIFY_;
}

static bool cond_holds(const struct seccomp_arg *c, uint64_t v)
{
        switch (c->op) {
        case SECCOMP_OP_NE: return v != c->value;
        case SECCOMP_OP_LT: return v < c->value;
        case SECCOMP_OP_LE: return v <= c->value;
        case SECCOMP_OP_EQ: return v == c->value;
        case SECCOMP_OP_GE: return v >= c->value;
        case SECCOMP_OP_GT: return v > c->value;
        case SECCOMP_OP_MASKED_EQ: return (v & c->value) == c->value_two;
        default: return false;
        }
}

/* Docker's condition d is implied by our rule: we have the identical
 * condition, or we pin that argument to one value that satisfies d. */
static bool implied(const struct seccomp_arg *d, const struct seccomp_rule *ours)
{
        for (size_t i = 0; i < ours->n_args; i++) {
                const struct seccomp_arg *a = &ours->args[i];
                if (a->index != d->index)
                        continue;
                if (a->op == d->op && a->value == d->value &&
                    (a->op != SECCOMP_OP_MASKED_EQ || a->value_two == d->value_two))
                        return true;
                if (a->op == SECCOMP_OP_EQ && cond_holds(d, a->value))
                        return true;
        }
        return false;
}

static bool docker_covers(const struct seccomp_profile *docker, const struct seccomp_rule *ours)
{
        for (size_t i = 0; i < docker->n_rules; i++) {
                const struct seccomp_rule *d = &docker->rules[i];
                bool all = true;

                if (strcmp(d->syscall, ours->syscall) != 0 || !allows(d->action))
                        continue;
                for (size_t j = 0; j < d->n_args && all; j++)
                        all = implied(&d->args[j], ours);
                if (all)
                        return true;
        }
        return false;
}

static bool strv_has(char **v, const char *s)
{
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}

/* Returns how many of our allowing rules Docker's profile does not cover. */
static int compare_with_docker(const struct seccomp_profile *ours,
                               const struct seccomp_profile *docker)
{
        int bad = 0;

        ck_assert(!allows(docker->default_action));
        if (allows(ours->default_action)) {
                fprintf(stderr, "ours: default action allows\n");
                bad++;
        }
        for (char **a = ours->architectures; a && *a; a++)
                if (!docker->architectures || !strv_has(docker->architectures, *a)) {
                        fprintf(stderr, "ours: architecture %s that Docker's does not allow\n", *a);
                        bad++;
                }
        for (size_t i = 0; i < ours->n_rules; i++)
                if (allows(ours->rules[i].action) && !docker_covers(docker, &ours->rules[i])) {
                        fprintf(stderr, "ours allows %s (rule with %zu conditions); Docker's "
                                        "default does not\n",
                                ours->rules[i].syscall, ours->rules[i].n_args);
                        bad++;
                }
        return bad;
}

START_TEST(default_within_docker)
{
        /* amd64 without capabilities; kernel 0.0 makes every minKernel rule
         * false, so only what Docker allows unconditionally counts (its
         * ptrace rule needs 4.8). */
        static const struct seccomp_host host = { "amd64", "SCMP_ARCH_X86_64", 0, 0 };
        static const char *const never[] = {
                "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
                "pivot_root", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
                "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load",
                "init_module", "finit_module", "delete_module", "open_by_handle_at", "chroot",
                "io_uring_setup", "clone3", "fsopen", "move_mount", "open_tree", "swapon",
        };
        _cleanup_free_ char *path = docker_profile_path();
        _cleanup_free_ char *text = NULL;
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *ours = NULL, *docker = NULL;
        struct policy_error err;
        const char *json = seccomp_default_profile_json();
        size_t n_clone = 0;

        ck_assert_int_eq(seccomp_profile_parse("default", json, strlen(json), &host, &ours, &err),
                         0);
        ck_assert_ptr_nonnull(path);
        ck_assert_int_eq(read_full_file(path, &text, NULL), 0);
        ck_assert_int_eq(seccomp_profile_parse(path, text, strlen(text), &host, &docker, &err),
                         0);
        ck_assert_uint_gt(ours->n_rules, 200);
        ck_assert_int_eq(compare_with_docker(ours, docker), 0);

        /* Named here too, so the property holds even if Docker's changed. */
        for (size_t i = 0; i < ours->n_rules; i++) {
                const struct seccomp_rule *r = &ours->rules[i];
                if (!allows(r->action))
                        continue;
                for (size_t j = 0; j < ARRAY_SIZE(never); j++)
                        ck_assert_msg(strcmp(r->syscall, never[j]) != 0, "default allows %s",
                                      never[j]);
                if (strcmp(r->syscall, "clone") == 0) {
                        n_clone++;
                        ck_assert_uint_eq(r->n_args, 1);
                        ck_assert_uint_eq(r->args[0].index, 0);
                        ck_assert_int_eq(r->args[0].op, SECCOMP_OP_MASKED_EQ);
                        ck_assert_uint_eq(r->args[0].value & 0x7E020000, 0x7E020000);
                        ck_assert_uint_eq(r->args[0].value_two, 0);
                }
                if (strcmp(r->syscall, "socket") == 0 || strcmp(r->syscall, "personality") == 0)
                        ck_assert_uint_ge(r->n_args, 1);
        }
        ck_assert_uint_eq(n_clone, 1);
        ck_assert_int_eq(ours->default_action, SECCOMP_ACT_ERRNO_);
        ck_assert_int_le(ours->default_errno_ret, 1); /* EPERM */
        ck_assert_ptr_null(ours->architectures);     /* native only */
}
END_TEST

/* The comparison itself must be able to fail. */
START_TEST(comparison_catches_extra_allows)
{
        static const struct seccomp_host host = { "amd64", "SCMP_ARCH_X86_64", 0, 0 };
        static const char *const extra[] = {
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\", "
                "\"ptrace\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"clone\"], "
                "\"action\": \"SCMP_ACT_ALLOW\"}]}",
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"socket\"], "
                "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 40, \"op\": "
                "\"SCMP_CMP_EQ\"}]}]}",
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}",
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_AARCH64\"]}",
        };
        static const char ok[] =
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"socket\"], "
                "\"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 2, \"op\": "
                "\"SCMP_CMP_EQ\"}]}, {\"names\": [\"arch_prctl\"], \"action\": \"SCMP_ACT_ALLOW\"}]}";
        _cleanup_free_ char *path = docker_profile_path();
        _cleanup_free_ char *text = NULL;
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *docker = NULL;
        struct policy_error err;

        ck_assert_ptr_nonnull(path);
        ck_assert_int_eq(read_full_file(path, &text, NULL), 0);
        ck_assert_int_eq(seccomp_profile_parse(path, text, strlen(text), &host, &docker, &err),
                         0);
        for (size_t i = 0; i < ARRAY_SIZE(extra); i++) {
                _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
                ck_assert_int_eq(parse(extra[i], &host, &p, &err), 0);
                ck_assert_msg(compare_with_docker(p, docker) > 0, "case %zu passed", i);
        }
        {
                _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
                ck_assert_int_eq(parse(ok, &host, &p, &err), 0);
                ck_assert_int_eq(compare_with_docker(p, docker), 0);
        }
}
END_TEST

START_TEST(host_detect)
{
        struct seccomp_host h;

        ck_assert_int_eq(seccomp_host_detect(&h), 0);
#if defined(__x86_64__) && !defined(__ILP32__)
        ck_assert_str_eq(h.docker_arch, "amd64");
        ck_assert_str_eq(h.oci_arch, "SCMP_ARCH_X86_64");
#endif
        ck_assert_uint_ge(h.kernel_major, 3);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("seccomp-profile");
        TCase *tc = tcase_create("parse");

        tcase_add_loop_test(tc, bad_profiles, 0, ARRAY_SIZE(bad_cases));
        tcase_add_test(tc, nul_in_input);
        tcase_add_test(tc, too_large);
        tcase_add_test(tc, hostile_mutations);
        tcase_add_test(tc, error_format);
        tcase_add_test(tc, good_profile);
        tcase_add_test(tc, same_action_duplicates_are_fine);
        tcase_add_test(tc, filters_follow_the_host);
        tcase_add_test(tc, arch_map_picks_native);
        tcase_add_test(tc, load_file_errors_and_name);
        tcase_add_test(tc, docker_profile_loads_and_compiles);
        tcase_add_test(tc, default_within_docker);
        tcase_add_test(tc, comparison_catches_extra_allows);
        tcase_add_test(tc, host_detect);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
