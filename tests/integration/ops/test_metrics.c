/* SPDX-License-Identifier: MIT */
/* supervisor/metrics.c: histogram buckets, the exposition's exact lines,
 * label escaping, the atomic textfile write. `test-ops-metrics --dump`
 * prints a sample exposition for test_metrics_parse.py (real parser). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "policy/policy.h"
#include "supervisor/agents.h"
#include "supervisor/metrics.h"

static const struct metrics_agent sample_agents[] = {
        { .name = "build-1", .address = "10.0.0.5:7443", .known = true, .up = true,
          .running = 2, .capacity = 8 },
        { .name = "we\"ird\\name\nx", .address = "[::1]:7443", .known = false },
};

static struct metrics_histogram sample_hist;

static const struct metrics_spares sample_spares[] = {
        { "cgroup", { .ready = 4, .made = 40, .taken = 33, .missed = 7, .failed = 1 } },
        { "netns", { .ready = 2, .made = 30, .taken = 28, .missed = 12, .failed = 0 } },
};

static struct metrics_view sample_view(void)
{
        struct metrics_view v = {
                .steps_accepted = 12, .steps_started = 10, .clients_accepted = 30,
                .clients_dropped_slow = 1, .output_bytes = 4096, .durations = &sample_hist,
                .running = 3, .queued = 2, .capacity = 4, .queue_limit = 64, .clients = 5,
                .draining = false, .agents = sample_agents, .n_agents = 2,
                .spares = sample_spares, .n_spares = 2,
                .written_usec = 1700000000123000ull,
        };
        memset(&sample_hist, 0, sizeof(sample_hist));
        metrics_histogram_observe(&sample_hist, 50000);       /* 0.05 s */
        metrics_histogram_observe(&sample_hist, 2000000);     /* 2 s */
        metrics_histogram_observe(&sample_hist, 20000000000); /* 20000 s: +Inf */
        v.steps_ended[STEP_REASON_EXITED] = 5;
        v.steps_ended[STEP_REASON_TIMEOUT] = 1;
        v.steps_ended[STEP_REASON_LOST] = 1;
        v.requests_rejected[PROTO_E_QUEUE_FULL] = 7;
        v.requests_rejected[PROTO_E_PERMISSION_DENIED] = 2;
        return v;
}

static char *format(const struct metrics_view *v)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(metrics_format(v, f), 0);
        fclose(f);
        return buf;
}

START_TEST(histogram_bounds)
{
        struct metrics_histogram h = { 0 };

        metrics_histogram_observe(&h, 100000);   /* exactly 0.1 s: first bucket (le) */
        metrics_histogram_observe(&h, 100001);   /* just above: second */
        metrics_histogram_observe(&h, 0);
        metrics_histogram_observe(&h, 10800000000ull);      /* 3 h: last finite */
        metrics_histogram_observe(&h, 10800000001ull);      /* above: +Inf */
        ck_assert_uint_eq(h.bucket[0], 2);
        ck_assert_uint_eq(h.bucket[1], 1);
        ck_assert_uint_eq(h.bucket[METRICS_DURATION_BUCKETS - 1], 1);
        ck_assert_uint_eq(h.bucket[METRICS_DURATION_BUCKETS], 1);
        ck_assert_uint_eq(h.count, 5);
        ck_assert_uint_eq(h.sum_usec, 100000 + 100001 + 10800000000ull + 10800000001ull);
}
END_TEST

START_TEST(exposition_lines)
{
        struct metrics_view v = sample_view();
        _cleanup_free_ char *s = format(&v);
        static const char *const want[] = {
                "# TYPE stepd_steps_started_total counter\nstepd_steps_started_total 10\n",
                "stepd_steps_ended_total{reason=\"exited\"} 5\n",
                "stepd_steps_ended_total{reason=\"timeout\"} 1\n",
                "stepd_steps_ended_total{reason=\"setup-failed\"} 0\n",
                "stepd_steps_running 3\n",
                "stepd_steps_queued 2\n",
                "stepd_capacity 4\n",
                "stepd_step_duration_seconds_bucket{le=\"0.1\"} 1\n",
                "stepd_step_duration_seconds_bucket{le=\"1\"} 1\n",
                "stepd_step_duration_seconds_bucket{le=\"5\"} 2\n",
                "stepd_step_duration_seconds_bucket{le=\"10800\"} 2\n",
                "stepd_step_duration_seconds_bucket{le=\"+Inf\"} 3\n",
                "stepd_step_duration_seconds_count 3\n",
                "stepd_step_duration_seconds_sum 20002.050000\n",
                "stepd_requests_rejected_total{cause=\"queue-full\"} 7\n",
                "stepd_requests_rejected_total{cause=\"permission-denied\"} 2\n",
                "stepd_agent_up{agent=\"build-1\"} 1\n",
                "stepd_agent_capacity{agent=\"build-1\"} 8\n",
                "stepd_metrics_timestamp_seconds 1700000000.123\n",
                "# TYPE stepd_spares_ready gauge\nstepd_spares_ready{kind=\"cgroup\"} 4\n"
                "stepd_spares_ready{kind=\"netns\"} 2\n",
                "# TYPE stepd_spares_taken_total counter\n"
                "stepd_spares_taken_total{kind=\"cgroup\"} 33\n"
                "stepd_spares_taken_total{kind=\"netns\"} 28\n",
                "stepd_spares_missed_total{kind=\"cgroup\"} 7\n",
                "stepd_spares_missed_total{kind=\"netns\"} 12\n",
                "stepd_spares_made_total{kind=\"cgroup\"} 40\n",
                "stepd_spares_made_total{kind=\"netns\"} 30\n",
                "stepd_spares_failed_total{kind=\"cgroup\"} 1\n",
                "stepd_spares_failed_total{kind=\"netns\"} 0\n",
        };
        for (size_t i = 0; i < ARRAY_SIZE(want); i++)
                ck_assert_msg(strstr(s, want[i]), "missing: %s", want[i]);
        ck_assert_ptr_null(strstr(s, "reason=\"none\""));
}
END_TEST

START_TEST(label_escaping)
{
        struct metrics_view v = sample_view();
        _cleanup_free_ char *s = format(&v);

        ck_assert_ptr_nonnull(strstr(s, "stepd_agent_info{agent=\"we\\\"ird\\\\name\\nx\","
                                        "address=\"[::1]:7443\"} 1\n"));
        /* An agent whose health is unknown has no stepd_agent_up sample. */
        ck_assert_ptr_null(strstr(s, "stepd_agent_up{agent=\"we"));
}
END_TEST

START_TEST(no_durations_no_timestamp)
{
        struct metrics_view v = { .capacity = 1 };
        _cleanup_free_ char *s = format(&v);

        ck_assert_ptr_nonnull(strstr(s, "stepd_step_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
        ck_assert_ptr_null(strstr(s, "stepd_metrics_timestamp_seconds "));
        /* no pool runs (stepd exec, or one failed to start): no spares family */
        ck_assert_ptr_null(strstr(s, "stepd_spares"));
}
END_TEST

static unsigned count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        unsigned n = 0;

        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

START_TEST(write_file_atomic)
{
        char dir[] = "/tmp/stepd-metrics-XXXXXX", path[128];
        struct stat a, b;
        _cleanup_free_ char *got = NULL;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/stepd.prom", dir);
        ck_assert_int_eq(metrics_write_file(path, "a 1\n", 4), 0);
        ck_assert_int_eq(stat(path, &a), 0);
        ck_assert_uint_eq(a.st_mode & 07777, 0644);
        ck_assert_int_eq(metrics_write_file(path, "a 2\n", 4), 0);
        ck_assert_int_eq(stat(path, &b), 0);
        /* A new file renamed over the old one, never the old one rewritten. */
        ck_assert_uint_ne(a.st_ino, b.st_ino);
        ck_assert_int_eq(read_full_file(path, &got, NULL), 0);
        ck_assert_str_eq(got, "a 2\n");
        ck_assert_uint_eq(count_entries(dir), 1); /* no temporary file left */
        unlink(path);
        rmdir(dir);
}
END_TEST

START_TEST(write_file_errors)
{
        char dir[] = "/tmp/stepd-metrics-XXXXXX", path[160];

        ck_assert_int_eq(metrics_write_file("/nonexistent-stepd/dir/stepd.prom", "x", 1), -ENOENT);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        /* The target is a folder: rename fails, the temporary file goes. */
        snprintf(path, sizeof(path), "%s/sub", dir);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "/x");
        ck_assert_int_eq(mkdir(path, 0755), 0);
        path[strlen(path) - 2] = 0;
        ck_assert_int_lt(metrics_write_file(path, "x", 1), 0);
        ck_assert_uint_eq(count_entries(dir), 1);
        snprintf(path, sizeof(path), "%s/sub/x", dir);
        rmdir(path);
        path[strlen(path) - 2] = 0;
        rmdir(path);
        rmdir(dir);
}
END_TEST

#define THUMB "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

START_TEST(agents_view_health)
{
        char dir[] = "/tmp/stepd-metrics-conf-XXXXXX", path[128];
        struct policy_config *c = NULL;
        struct policy_error perr = { 0 };
        struct metrics_agent *a = NULL;
        FILE *f;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/stepd.json", dir);
        f = fopen(path, "w");
        fprintf(f, "{\"agents\": {\"a1\": {\"address\": \"10.0.0.1:7443\", \"thumbprint\": \"%s\"},"
                   " \"a2\": {\"address\": \"10.0.0.2:7443\", \"thumbprint\": \"%s\"},"
                   " \"a3\": {\"address\": \"10.0.0.3:7443\", \"thumbprint\": \"%s\"}}}\n",
                THUMB, THUMB, THUMB);
        fclose(f);
        struct policy_load_options o = { .state_dir = "/tmp/stepd-metrics-state-unused" };
        ck_assert_msg(policy_load_with(dir, &o, &c, &perr) == 0, "%s", perr.message);

        struct agent v[2] = {
                { .name = (char *)"a1", .healthy = true, .seen = true, .running = 3,
                  .capacity = 8, .inflight = 2 },
                { .name = (char *)"a2" },
        };
        snprintf(v[1].error, sizeof(v[1].error), "connection refused");
        struct agents A = { .v = v, .n = 2 };

        size_t n = metrics_agents_view(c, &A, &a);
        ck_assert_uint_eq(n, 3);
        for (size_t i = 0; i < n; i++) {
                if (strcmp(a[i].name, "a1") == 0) {
                        ck_assert(a[i].known && a[i].up);
                        ck_assert_uint_eq(a[i].running, 3);
                        ck_assert_uint_eq(a[i].capacity, 8);
                        ck_assert_uint_eq(a[i].forwarded, 2);
                        ck_assert_str_eq(a[i].address, "10.0.0.1:7443");
                } else if (strcmp(a[i].name, "a2") == 0) {
                        ck_assert(a[i].known && !a[i].up); /* probed, failed */
                } else {
                        ck_assert_str_eq(a[i].name, "a3");
                        ck_assert(!a[i].known);            /* not probed yet */
                }
        }
        struct metrics_view mv = { .agents = a, .n_agents = n };
        _cleanup_free_ char *s = format(&mv);
        ck_assert_ptr_nonnull(strstr(s, "stepd_agent_up{agent=\"a1\"} 1\n"));
        ck_assert_ptr_nonnull(strstr(s, "stepd_agent_up{agent=\"a2\"} 0\n"));
        ck_assert_ptr_nonnull(strstr(s, "stepd_agent_steps_forwarded{agent=\"a1\"} 2\n"));
        ck_assert_ptr_null(strstr(s, "stepd_agent_up{agent=\"a3\"}"));
        ck_assert_ptr_nonnull(strstr(s, "stepd_agent_info{agent=\"a3\",address=\"10.0.0.3:7443\"} 1\n"));
        /* without the executor's view every agent is unknown */
        free(a);
        a = NULL;
        ck_assert_uint_eq(metrics_agents_view(c, NULL, &a), 3);
        ck_assert(!a[0].known && !a[1].known && !a[2].known);
        free(a);
        policy_config_unref(c);
        unlink(path);
        rmdir(dir);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, histogram_bounds);
        tcase_add_test(tc, exposition_lines);
        tcase_add_test(tc, label_escaping);
        tcase_add_test(tc, no_durations_no_timestamp);
        tcase_add_test(tc, write_file_atomic);
        tcase_add_test(tc, write_file_errors);
        tcase_add_test(tc, agents_view_health);
        suite_add_tcase(s, tc);
        return s;
}

int main(int argc, char **argv)
{
        if (argc == 2 && strcmp(argv[1], "--dump") == 0) {
                struct metrics_view v = sample_view();
                return metrics_format(&v, stdout) < 0 ? 1 : 0;
        }
        SRunner *sr = srunner_create(suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
