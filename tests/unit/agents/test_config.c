/* SPDX-License-Identifier: MIT */
/* Unit tests of supervisor/agent_config.c: stepd.json's agent-link keys are
 * checked strictly, each mistake named by its key. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "supervisor/agent_config.h"

#define PIN "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse(const char *text, struct link_config *c, char *err, size_t len)
{
        json_t *o = json_loads(text, 0, NULL);
        int r;

        ck_assert_ptr_nonnull(o);
        r = link_config_parse(o, c, err, len);
        json_decref(o);
        return r;
}

START_TEST(test_good)
{
        struct link_config c;
        char err[256] = "";

        ck_assert_int_eq(parse("{\"tls\": {\"certificate\": \"/c\", \"key\": \"/k\"},"
                               " \"health_interval\": \"2s\","
                               " \"agent\": {\"listen\": \"*:7443\", \"certificate\": \"/ac\","
                               " \"key\": \"/ak\", \"trusted\": [\"" PIN "\"],"
                               " \"labels\": {\"xcode\": \"15\"}}}", &c, err, sizeof(err)), 0);
        ck_assert_str_eq(c.tls_certificate, "/c");
        ck_assert_str_eq(c.tls_key, "/k");
        ck_assert_uint_eq(c.health_interval_ms, 2000);
        ck_assert_str_eq(c.listen, "*:7443");
        ck_assert_str_eq(c.trusted[0], PIN);
        ck_assert_ptr_null(c.trusted[1]);
        ck_assert_str_eq(c.labels[0], "xcode=15");
        link_config_done(&c);

        ck_assert_int_eq(link_config_parse(NULL, &c, err, sizeof(err)), 0);
        ck_assert_ptr_null(c.listen);
        ck_assert_uint_eq(c.health_interval_ms, 5000);
        link_config_done(&c);
}
END_TEST

static const struct bad {
        const char *json, *want;
} bad[] = {
        { "{\"tls\": []}", "tls: expected" },
        { "{\"tls\": {\"certificate\": \"c\", \"key\": \"/k\"}}", "tls.certificate: expected an absolute" },
        { "{\"tls\": {\"certificate\": \"/c\"}}", "tls.key" },
        { "{\"tls\": {\"certificate\": \"/c\", \"key\": \"/k\", \"x\": 1}}", "tls.x: unknown key" },
        { "{\"health_interval\": \"1ms\"}", "health_interval" },
        { "{\"health_interval\": 5}", "health_interval" },
        { "{\"agent\": {\"listen\": \"host\", \"certificate\": \"/c\", \"key\": \"/k\", \"trusted\": [\"" PIN "\"]}}", "agent.listen" },
        { "{\"agent\": {\"listen\": \"*:0\", \"certificate\": \"/c\", \"key\": \"/k\", \"trusted\": [\"" PIN "\"]}}", "agent.listen" },
        { "{\"agent\": {\"listen\": \"*:1\", \"certificate\": \"/c\", \"key\": \"/k\", \"trusted\": []}}", "agent.trusted" },
        { "{\"agent\": {\"listen\": \"*:1\", \"certificate\": \"/c\", \"key\": \"/k\", \"trusted\": [\"sha256:12\"]}}", "agent.trusted[0]" },
        { "{\"agent\": {\"listen\": \"*:1\", \"certificate\": \"/c\", \"key\": \"/k\"}}", "agent.trusted" },
        { "{\"agent\": {\"listen\": \"*:1\", \"key\": \"/k\", \"trusted\": [\"" PIN "\"]}}", "agent.certificate" },
        { "{\"agent\": {\"listen\": \"*:1\", \"certificate\": \"/c\", \"key\": \"/k\", \"trusted\": [\"" PIN "\"], \"labels\": {\"a\": 1}}}", "agent.labels.a" },
        { "{\"agent\": {\"listen\": \"*:1\", \"certificate\": \"/c\", \"key\": \"/k\", \"trusted\": [\"" PIN "\"], \"extra\": 1}}", "agent.extra: unknown key" },
};

START_TEST(test_bad)
{
        struct link_config c = { 0 };
        char err[256] = "";

        ck_assert_int_eq(parse(bad[_i].json, &c, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strstr(err, bad[_i].want), "%s: got '%s', want '%s'", bad[_i].json, err,
                      bad[_i].want);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("agent-config");
        TCase *tc = tcase_create("agent-config");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_good);
        tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
