/* SPDX-License-Identifier: MIT */
/* Unit tests of supervisor/pools.c: which member of a pool gets a step.
 * The least loaded healthy member that meets the requirements; never the
 * builtin worker when the pool does not name it; wait vs never. */
#include <check.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/util.h"
#include "supervisor/agents.h"

static struct agent agent(const char *name, bool healthy, unsigned cap, unsigned running,
                          const char *label)
{
        struct agent a = { .name = (char *)name, .healthy = healthy, .seen = healthy,
                           .capacity = cap, .running = running };

        if (label)
                ck_assert_int_eq(strv_push(&a.labels, label), 0);
        a.reported_labels = json_pack("{s:s, s:s}", "os", "linux", "arch", "x86_64");
        return a;
}

static void drop(struct agent *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                strv_free(v[i].labels);
                json_decref(v[i].reported_labels);
        }
}

static struct policy_pool pool(char **members)
{
        return (struct policy_pool){ .name = "p", .members = members };
}

START_TEST(test_least_loaded)
{
        struct agent v[] = { agent("a", true, 4, 3, NULL), agent("b", true, 4, 1, NULL),
                             agent("c", true, 8, 3, NULL) };
        struct agents A = { .v = v, .n = 3 };
        char *members[] = { "a", "b", "c", NULL };
        struct policy_pool p = pool(members);
        struct agent *got = NULL;
        char why[128];

        ck_assert_int_eq(agents_pick(&A, &p, NULL, 0, 0, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_AGENT);
        ck_assert_str_eq(got->name, "b"); /* 1/4 < 3/8 < 3/4 */
        v[1].inflight = 2;                /* our own forwarded steps count too */
        ck_assert_int_eq(agents_pick(&A, &p, NULL, 0, 0, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_AGENT);
        ck_assert_str_eq(got->name, "c");
        v[2].refused_until = 100;         /* said queue-full a moment ago */
        ck_assert_int_eq(agents_pick(&A, &p, NULL, 0, 0, 50, &got, why, sizeof(why)),
                         AGENTS_PICK_AGENT);
        ck_assert_str_eq(got->name, "b");
        ck_assert_int_eq(agents_pick(&A, &p, NULL, 0, 0, 100, &got, why, sizeof(why)),
                         AGENTS_PICK_AGENT);
        ck_assert_str_eq(got->name, "c");
        drop(v, 3);
}
END_TEST

START_TEST(test_builtin_member)
{
        struct agent v[] = { agent("a", true, 4, 2, NULL) };
        struct agents A = { .v = v, .n = 1 };
        char *members[] = { "builtin", "a", NULL };
        struct policy_pool p = pool(members);
        struct agent *got = (void *)1;
        char why[128];

        ck_assert_int_eq(agents_pick(&A, &p, NULL, 1, 4, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_BUILTIN);
        ck_assert_ptr_null(got);
        ck_assert_int_eq(agents_pick(&A, &p, NULL, 3, 4, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_AGENT);
        ck_assert_int_eq(agents_pick(&A, &p, NULL, 4, 4, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_AGENT);
        v[0].running = 4;
        ck_assert_int_eq(agents_pick(&A, &p, NULL, 4, 4, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_WAIT);
        drop(v, 1);
}
END_TEST

/* A pool without builtin never picks builtin, even with every agent down
 * and the local worker idle. */
START_TEST(test_no_builtin_never_local)
{
        struct agent v[] = { agent("a", false, 4, 0, NULL), agent("b", false, 4, 0, NULL) };
        struct agents A = { .v = v, .n = 2 };
        char *members[] = { "a", "b", NULL };
        struct policy_pool p = pool(members);
        struct agent *got = NULL;
        char why[128];

        ck_assert_int_eq(agents_pick(&A, &p, NULL, 0, 64, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_WAIT);
        ck_assert_ptr_nonnull(strstr(why, "busy or down"));
        v[1].healthy = true;
        ck_assert_int_eq(agents_pick(&A, &p, NULL, 0, 64, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_AGENT);
        ck_assert_str_eq(got->name, "b");
        v[1].draining = true;
        ck_assert_int_eq(agents_pick(&A, &p, NULL, 0, 64, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_WAIT);
        drop(v, 2);
}
END_TEST

START_TEST(test_requirements)
{
        struct agent v[] = { agent("mac", true, 4, 3, "xcode=15"), agent("lin", true, 4, 0, NULL) };
        struct agents A = { .v = v, .n = 2 };
        char *members[] = { "builtin", "lin", "mac", NULL };
        struct policy_pool p = pool(members);
        struct agent *got = NULL;
        char why[128];
        struct utsname u;
        json_t *req = json_pack("{s:s}", "xcode", "15");

        ck_assert_int_eq(agents_pick(&A, &p, req, 0, 4, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_AGENT);
        ck_assert_str_eq(got->name, "mac");
        json_decref(req);
        req = json_pack("{s:s}", "xcode", "14");
        ck_assert_int_eq(agents_pick(&A, &p, req, 0, 4, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_NEVER);
        ck_assert_ptr_nonnull(strstr(why, "required labels"));
        /* an agent not heard from yet might have it: wait, not never */
        v[1].seen = v[1].healthy = false;
        ck_assert_int_eq(agents_pick(&A, &p, req, 0, 4, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_WAIT);
        json_decref(req);
        ck_assert_int_eq(uname(&u), 0);
        req = json_pack("{s:s, s:s}", "os", "linux", "arch", u.machine);
        ck_assert_int_eq(agents_pick(&A, &p, req, 0, 4, 0, &got, why, sizeof(why)),
                         AGENTS_PICK_BUILTIN);
        json_decref(req);
        req = json_pack("{s:s}", "os", "darwin");
        ck_assert(!agents_labels_match(v[0].labels, v[0].reported_labels, req));
        json_decref(req);
        req = json_pack("{s:i}", "xcode", 15); /* not a string: no match */
        ck_assert(!agents_labels_match(v[0].labels, v[0].reported_labels, req));
        json_decref(req);
        drop(v, 2);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("pools");
        TCase *tc = tcase_create("pools");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_least_loaded);
        tcase_add_test(tc, test_builtin_member);
        tcase_add_test(tc, test_no_builtin_never_local);
        tcase_add_test(tc, test_requirements);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
