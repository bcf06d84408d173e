/* SPDX-License-Identifier: MIT */
/* supervisor/audit.c: the per-step audit line. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/audit.h"

START_TEST(full_line)
{
        struct step_result r = { .reason = STEP_REASON_EXITED, .exit_code = 3,
                                 .wall_usec = 1234567 };
        struct audit_step a = { .step = "0067409a3f-1c2d3e4f", .project = "web",
                                .peer_uid = 1000, .peer_pid = 4242, .run_uid = 200001,
                                .run_gid = 200001, .policy_hash = "9f3a1c", .result = &r };
        char buf[1024];

        audit_step_format(&a, buf, sizeof(buf));
        ck_assert_str_eq(buf, "event=audit step=0067409a3f-1c2d3e4f project=web peer_uid=1000 "
                              "peer_pid=4242 run_uid=200001 run_gid=200001 policy=9f3a1c "
                              "executor=builtin reason=exited exit_code=3 signal=0 wall_ms=1234");
}
END_TEST

START_TEST(rejected_before_resolve)
{
        struct step_result r = { .reason = STEP_REASON_REJECTED, .exit_code = -1 };
        struct audit_step a = { .step = "s1", .project = "web", .peer_uid = 0,
                                .run_uid = (uid_t)-1, .result = &r };
        char buf[1024];

        strcpy(r.message, "the supervisor is stopping");
        audit_step_format(&a, buf, sizeof(buf));
        ck_assert_str_eq(buf, "event=audit step=s1 project=web peer_uid=0 peer_pid=- run_uid=- "
                              "run_gid=- policy=- executor=builtin reason=rejected exit_code=-1 "
                              "signal=0 wall_ms=0 message=\"the supervisor is stopping\"");
}
END_TEST

START_TEST(hostile_values_stay_on_one_line)
{
        struct step_result r = { .reason = STEP_REASON_SETUP_FAILED, .exit_code = -1,
                                 .setup_errno = 2 };
        struct audit_step a = { .step = "s2", .project = "web", .run_uid = 5, .run_gid = 5,
                                .policy_hash = "abc", .executor = "agent \"x\"", .result = &r };
        char buf[1024];

        strcpy(r.setup_step, "mounts");
        strcpy(r.message, "bad\" reason=exited\nevent=audit x\\");
        audit_step_format(&a, buf, sizeof(buf));
        ck_assert_ptr_null(strchr(buf, '\n'));
        ck_assert_ptr_nonnull(strstr(buf, " executor=\"agent \\\"x\\\"\" "));
        ck_assert_ptr_nonnull(strstr(buf, " setup_step=mounts setup_errno=2 "));
        ck_assert_ptr_nonnull(strstr(buf, "message=\"bad\\\" reason=exited\\x0aevent=audit x\\\\\""));
}
END_TEST

START_TEST(truncation_is_safe)
{
        struct step_result r = { .reason = STEP_REASON_OOM, .exit_code = -1, .signal = 9 };
        struct audit_step a = { .step = "s3", .project = "p", .result = &r };
        char buf[24];

        memset(r.message, 'x', sizeof(r.message) - 1);
        audit_step_format(&a, buf, sizeof(buf));
        ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
        ck_assert_str_eq(buf, "event=audit step=s3 pro");
        audit_step_format(&a, buf, 1);
        ck_assert_str_eq(buf, "");
}
END_TEST

int main(void)
{
        Suite *s = suite_create("audit");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, full_line);
        tcase_add_test(tc, rejected_before_resolve);
        tcase_add_test(tc, hostile_values_stay_on_one_line);
        tcase_add_test(tc, truncation_is_safe);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
