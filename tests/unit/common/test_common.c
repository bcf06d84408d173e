/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/result.h"
#include "common/util.h"

START_TEST(project_names)
{
        ck_assert(project_name_valid("web-app_2.x"));
        ck_assert(project_name_valid("a"));
        ck_assert(!project_name_valid(""));
        ck_assert(!project_name_valid(NULL));
        ck_assert(!project_name_valid(".hidden"));
        ck_assert(!project_name_valid("Upper"));
        ck_assert(!project_name_valid("a/b"));
        ck_assert(!project_name_valid("../etc"));
        ck_assert(!project_name_valid("a b"));
        char long_name[70];
        memset(long_name, 'a', 65);
        long_name[65] = 0;
        ck_assert(!project_name_valid(long_name));
        long_name[64] = 0;
        ck_assert(project_name_valid(long_name));
}
END_TEST

START_TEST(step_ids)
{
        char id[64];

        make_step_id(id, sizeof(id));
        ck_assert(step_id_valid(id));
        ck_assert(!step_id_valid("a/b"));
        ck_assert(!step_id_valid(".."));
        ck_assert(!step_id_valid(""));
}
END_TEST

START_TEST(sizes)
{
        uint64_t v;

        ck_assert_int_eq(parse_size("512M", &v), 0);
        ck_assert_uint_eq(v, 512ULL << 20);
        ck_assert_int_eq(parse_size("2G", &v), 0);
        ck_assert_uint_eq(v, 2ULL << 30);
        ck_assert_int_eq(parse_size("100", &v), 0);
        ck_assert_uint_eq(v, 100);
        ck_assert_int_eq(parse_size("12X", &v), -EINVAL);
        ck_assert_int_eq(parse_size("-1", &v), -EINVAL);
        ck_assert_int_eq(parse_size("", &v), -EINVAL);
        ck_assert_int_eq(parse_size("99999999999999999999T", &v), -ERANGE);
        ck_assert_int_eq(parse_size("20000000T", &v), -ERANGE);
}
END_TEST

START_TEST(durations)
{
        uint64_t v;

        ck_assert_int_eq(parse_duration_ms("30s", &v), 0);
        ck_assert_uint_eq(v, 30000);
        ck_assert_int_eq(parse_duration_ms("250ms", &v), 0);
        ck_assert_uint_eq(v, 250);
        ck_assert_int_eq(parse_duration_ms("5m", &v), 0);
        ck_assert_uint_eq(v, 300000);
        ck_assert_int_eq(parse_duration_ms("7", &v), 0);
        ck_assert_uint_eq(v, 7000);
        ck_assert_int_eq(parse_duration_ms("1d", &v), -EINVAL);
}
END_TEST

START_TEST(strv)
{
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_strv_free_ char **c = NULL;

        ck_assert_int_eq(strv_push(&v, "a"), 0);
        ck_assert_int_eq(strv_push(&v, "b"), 0);
        ck_assert_uint_eq(strv_length(v), 2);
        c = strv_copy(v);
        ck_assert_str_eq(c[1], "b");
        ck_assert_ptr_null(c[2]);
}
END_TEST

START_TEST(reasons)
{
        for (int i = 0; i < _STEP_REASON_MAX; i++)
                ck_assert_int_eq(step_reason_from_string(step_reason_to_string(i)), i);
        ck_assert_int_eq(step_reason_from_string("setup-failed"), STEP_REASON_SETUP_FAILED);
        ck_assert_int_eq(step_reason_from_string("bogus"), -EINVAL);

        struct step_result r = { .reason = STEP_REASON_EXITED, .exit_code = 3 };
        ck_assert_int_eq(step_result_exit_status(&r), 3);
        r = (struct step_result){ .reason = STEP_REASON_SIGNALED, .exit_code = -1, .signal = 9 };
        ck_assert_int_eq(step_result_exit_status(&r), 137);
        r = (struct step_result){ .reason = STEP_REASON_SETUP_FAILED, .exit_code = -1 };
        ck_assert_int_eq(step_result_exit_status(&r), 125);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("common");
        TCase *tc = tcase_create("util");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, project_names);
        tcase_add_test(tc, step_ids);
        tcase_add_test(tc, sizes);
        tcase_add_test(tc, durations);
        tcase_add_test(tc, strv);
        tcase_add_test(tc, reasons);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
