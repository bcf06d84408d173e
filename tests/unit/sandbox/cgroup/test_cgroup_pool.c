/* SPDX-License-Identifier: MIT */
/* sandbox/cgroup's pool against the real kernel: spares are real
 * directories with real limits, a take renames one into the step's name,
 * released cgroups lose their processes and their directories. Every check
 * reads the kernel's files or waits for a real child. Must run as root. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "kernel.h"
#include "sandbox/cgroup.h"

/* Spare directories of this process in hierarchy i (v1 order: memory,
 * pids, cpu, cpuacct); with file, only those where it reads value. */
static unsigned count_spares(size_t i, const char *file, const char *value)
{
        char base[1024], prefix[64];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        step_dir(i, "", base, sizeof(base));
        snprintf(prefix, sizeof(prefix), "spare-%d-", (int)getpid());
        d = opendir(base);
        ck_assert_msg(d, "cannot open %s", base);
        while ((de = readdir(d))) {
                char dir[1300];

                if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
                        continue;
                snprintf(dir, sizeof(dir), "%s/%s", base, de->d_name);
                if (!file) {
                        n++;
                } else {
                        /* a spare the worker is removing right now is skipped */
                        _cleanup_free_ char *v = NULL;
                        char path[1400];

                        snprintf(path, sizeof(path), "%s/%s", dir, file);
                        if (read_full_file(path, &v, NULL) == 0) {
                                v[strcspn(v, "\n")] = 0;
                                n += strcmp(v, value) == 0;
                        }
                }
        }
        closedir(d);
        return n;
}

/* Wait (5 s at most) until the pool's stats satisfy ok. */
static void wait_stats(struct cgroup_pool *p, bool (*ok)(const struct cgroup_pool_stats *, unsigned),
                       unsigned want, const char *what)
{
        struct cgroup_pool_stats st = { 0 };

        for (int i = 0; i < 5000; i++) {
                cgroup_pool_stats(p, &st);
                if (ok(&st, want))
                        return;
                usleep(1000);
        }
        ck_abort_msg("pool: %s never reached %u (spares %u, removed %llu)", what, want, st.spares,
                     (unsigned long long)st.removed);
}

static bool spares_are(const struct cgroup_pool_stats *st, unsigned want)
{
        return st->spares == want;
}

static bool removed_at_least(const struct cgroup_pool_stats *st, unsigned want)
{
        return st->removed >= want;
}

static void wait_spares(struct cgroup_pool *p, unsigned want)
{
        wait_stats(p, spares_are, want, "spares");
}

static bool wait_gone(const char *name)
{
        char dir[1024];

        for (int t = 0; t < 5000; t++) {
                bool any = false;
                for (size_t i = 0; i < n_dirs(); i++) {
                        step_dir(i, name, dir, sizeof(dir));
                        any |= dir_exists(dir);
                }
                if (!any)
                        return true;
                usleep(1000);
        }
        return false;
}

static struct cgroup_pool *pool(struct cgroup_manager *m, unsigned spares)
{
        struct cgroup_pool *p = NULL;
        char err[256] = "";

        ck_assert_msg(cgroup_pool_new(m, spares, &p, err, sizeof(err)) == 0, "pool: %s", err);
        return p;
}

START_TEST(spare_becomes_the_step)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        _cleanup_(cgroup_pool_freep) struct cgroup_pool *p = pool(m, 2);
        struct step_limits l = { .memory_bytes = 96 * MIB, .pids_max = 37, .cpu_millis = 250 };
        struct step_cgroup *s = NULL;
        struct cgroup_pool_stats st;
        struct child c;
        char name[64], dir[1024];

        name_for(name, sizeof(name), "pool-take");
        /* nothing made yet: the first take misses and says which limits */
        ck_assert_int_eq(cgroup_pool_take(p, name, &l, &s), -EAGAIN);
        ck_assert_ptr_null(s);
        if (is_v2()) { /* no rename on v2: the pool only removes */
                usleep(100000);
                cgroup_pool_stats(p, &st);
                ck_assert_uint_eq(st.spares, 0);
                ck_assert_int_eq(cgroup_pool_take(p, name, &l, &s), -EAGAIN);
                return;
        }
        wait_spares(p, 2);
        ck_assert_uint_eq(count_spares(0, "memory.limit_in_bytes", "100663296"), 2);
        ck_assert_int_eq(cgroup_pool_take(p, name, &l, &s), 0);
        ck_assert_ptr_nonnull(s);
        /* the step's own name, in every hierarchy, locked, with its limits */
        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(dir_exists(dir), "%s missing", dir);
                ck_assert_msg(lock_held(dir), "%s not locked", dir);
                if (strcmp(v1_ctrls[i], "memory") == 0)
                        assert_file(dir, "memory.limit_in_bytes", "100663296");
                if (strcmp(v1_ctrls[i], "pids") == 0)
                        assert_file(dir, "pids.max", "37");
                if (strcmp(v1_ctrls[i], "cpu") == 0)
                        assert_file(dir, "cpu.cfs_quota_us", "25000");
        }
        /* the new name is the one a process is attached through */
        c = spawn(sleeper, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(pid_listed(dir, "cgroup.procs", c.pid), "%d not in %s", c.pid, dir);
        }
        cgroup_pool_stats(p, &st);
        ck_assert_uint_eq(st.taken, 1);
        ck_assert_uint_eq(st.missed, 1);
        /* released: the worker kills what is left and removes it */
        cgroup_pool_release(p, s);
        ck_assert_int_eq(WTERMSIG(wait_status(c.pid)), SIGKILL);
        ck_assert_msg(wait_gone(name), "%s not removed", name);
        /* and made another spare in its place */
        wait_spares(p, 2);
}
END_TEST

START_TEST(other_limits_never_get_a_spare)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        _cleanup_(cgroup_pool_freep) struct cgroup_pool *p = pool(m, 2);
        struct step_limits a = { .memory_bytes = 64 * MIB, .pids_max = 20, .cpu_millis = 500 };
        struct step_limits b = a;
        struct step_cgroup *s = NULL;
        char name[64], dir[1024];
        int t;

        if (is_v2())
                return; /* no spares on v2 (see spare_becomes_the_step) */
        name_for(name, sizeof(name), "pool-other");
        ck_assert_int_eq(cgroup_pool_take(p, name, &a, &s), -EAGAIN);
        wait_spares(p, 2);
        ck_assert_uint_eq(count_spares(1, "pids.max", "20"), 2);
        /* one limit differs: not served from a spare of a's */
        b.pids_max = 21;
        ck_assert_int_eq(cgroup_pool_take(p, name, &b, &s), -EAGAIN);
        ck_assert_ptr_null(s);
        /* the pool turns to b: a's spares go, b's come */
        for (t = 0; t < 5000; t++) {
                if (count_spares(1, "pids.max", "20") == 0 &&
                    count_spares(1, "pids.max", "21") == 2)
                        break;
                usleep(1000);
        }
        ck_assert_msg(t < 5000, "spares: %u of a, %u of b", count_spares(1, "pids.max", "20"),
                      count_spares(1, "pids.max", "21"));
        ck_assert_int_eq(cgroup_pool_take(p, name, &b, &s), 0);
        step_dir(1, name, dir, sizeof(dir));
        assert_file(dir, "pids.max", "21");
        cgroup_step_abandon(s);
}
END_TEST

START_TEST(release_of_a_made_step_removes_it)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        _cleanup_(cgroup_pool_freep) struct cgroup_pool *p = pool(m, 0);
        struct step_limits l = { .pids_max = 10 };
        struct step_cgroup *s;
        struct child c[2];
        char name[64];

        name_for(name, sizeof(name), "pool-release");
        s = step(m, name, &l);
        for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
                c[i] = spawn(sleeper, NULL);
                ck_assert_int_eq(cgroup_step_attach(s, c[i].pid), 0);
        }
        cgroup_pool_release(p, s);
        for (size_t i = 0; i < ARRAY_SIZE(c); i++)
                ck_assert_int_eq(WTERMSIG(wait_status(c[i].pid)), SIGKILL);
        ck_assert_msg(wait_gone(name), "%s not removed", name);
}
END_TEST

START_TEST(free_removes_spares_and_pending)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct cgroup_pool *p = pool(m, 3);
        struct step_limits l = { .memory_bytes = 80 * MIB };
        struct step_cgroup *s = NULL;
        char name[64];

        name_for(name, sizeof(name), "pool-free");
        ck_assert_int_eq(cgroup_pool_take(p, name, &l, &s), -EAGAIN);
        if (!is_v2()) {
                wait_spares(p, 3);
                for (size_t i = 0; i < n_dirs(); i++)
                        ck_assert_uint_eq(count_spares(i, NULL, NULL), 3);
        }
        s = step(m, name, &l);
        cgroup_pool_release(p, s);
        cgroup_pool_free(p);
        /* nothing of the pool is left, whatever the worker had got to */
        for (size_t i = 0; i < n_dirs(); i++)
                ck_assert_uint_eq(count_spares(i, NULL, NULL), 0);
        assert_gone(name);
}
END_TEST

START_TEST(without_a_pool_release_removes_now)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { 0 };
        char name[64];

        name_for(name, sizeof(name), "pool-none");
        cgroup_pool_release(NULL, step(m, name, &l));
        assert_gone(name);
        cgroup_pool_release(NULL, NULL);
}
END_TEST

START_TEST(take_onto_a_taken_name_leaves_it_alone)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        _cleanup_(cgroup_pool_freep) struct cgroup_pool *p = pool(m, 1);
        struct step_limits l = { .pids_max = 11 };
        struct step_cgroup *s = NULL;
        char name[64], foreign[1024], dir[1024];

        if (is_v2())
                return; /* no spares on v2 (see spare_becomes_the_step) */
        name_for(name, sizeof(name), "pool-taken");
        ck_assert_int_eq(cgroup_pool_take(p, name, &l, &s), -EAGAIN);
        wait_spares(p, 1);
        /* someone else's cgroup has the name in the pids hierarchy only */
        step_dir(1, name, foreign, sizeof(foreign));
        ck_assert_int_eq(mkdir(foreign, 0755), 0);
        ck_assert_int_eq(cgroup_pool_take(p, name, &l, &s), -EEXIST);
        ck_assert_ptr_null(s);
        /* once the spare is removed, the foreign cgroup is still there, and
         * the memory hierarchy's rename was undone */
        wait_stats(p, removed_at_least, 1, "removed");
        ck_assert_msg(dir_exists(foreign), "%s was moved or removed", foreign);
        step_dir(0, name, dir, sizeof(dir));
        ck_assert_msg(!dir_exists(dir), "%s left behind", dir);
        ck_assert_int_eq(rmdir(foreign), 0);
}
END_TEST

int main(void)
{
        const TTest *const tests[] = {
                spare_becomes_the_step, other_limits_never_get_a_spare,
                release_of_a_made_step_removes_it, free_removes_spares_and_pending,
                without_a_pool_release_removes_now, take_onto_a_taken_name_leaves_it_alone,
        };
        Suite *s = suite_create("sandbox-cgroup-pool");
        TCase *tc = tcase_create("kernel");
        SRunner *sr;
        int failed;

        if (geteuid() != 0) {
                fprintf(stderr, "test-sandbox-cgroup-pool needs root\n");
                return 77;
        }
        tcase_set_timeout(tc, 60);
        for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
                tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
