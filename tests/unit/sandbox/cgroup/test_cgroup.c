/* SPDX-License-Identifier: MIT */
/* sandbox/cgroup against the real kernel: every check reads the kernel's own
 * files (limits, tasks, presence of directories) or observes the effect on a
 * child (OOM kill, failed fork, cpu time, death by signal). Must run as root.
 * Expected paths are computed here from /proc/self/cgroup and mountinfo,
 * independently of the module. Step names carry the runner's pid. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/cgroup.h"
#include "kernel.h"


START_TEST(layout_detected)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();

        ck_assert_int_eq(cgroup_manager_layout(m), expected_layout());
        printf("cgroup layout: %s\n", cgroup_layout_to_string(cgroup_manager_layout(m)));
        ck_assert_str_eq(cgroup_layout_to_string(CGROUP_LAYOUT_HYBRID), "hybrid");
        ck_assert_ptr_null(cgroup_layout_to_string(_CGROUP_LAYOUT_MAX));
}
END_TEST

START_TEST(invalid_names_refused)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { 0 };
        static const char *const bad[] = { "", "..", ".", "a/b", "../../etc", "a b", "x\n",
                                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct step_cgroup *s = NULL;
                char err[256] = "";

                ck_assert_int_eq(cgroup_step_create(m, bad[i], &l, &s, err, sizeof(err)), -EINVAL);
                ck_assert_ptr_null(s);
                ck_assert_msg(strstr(err, "invalid step cgroup name"), "err: %s", err);
        }
        {
                struct step_cgroup *s = NULL;
                char err[256] = "";
                ck_assert_int_eq(cgroup_step_create(m, NULL, &l, &s, err, sizeof(err)), -EINVAL);
                ck_assert_int_eq(cgroup_step_create(m, "ok", NULL, &s, err, sizeof(err)), -EINVAL);
        }
}
END_TEST

START_TEST(limits_written_to_kernel)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 64 * MIB, .pids_max = 42, .cpu_millis = 500 };
        struct step_cgroup *s;
        char name[64], dir[1024];

        name_for(name, sizeof(name), "limits");
        s = step(m, name, &l);
        if (is_v2()) {
                step_dir(0, name, dir, sizeof(dir));
                assert_file(dir, "memory.max", "67108864");
                assert_file(dir, "pids.max", "42");
                assert_file(dir, "cpu.max", "50000 100000");
        } else {
                step_dir(0, name, dir, sizeof(dir));
                assert_file(dir, "memory.limit_in_bytes", "67108864");
                if (access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0)
                        assert_file(dir, "memory.memsw.limit_in_bytes", "67108864");
                assert_file(dir, "memory.oom_control", "oom_kill_disable 0");
                step_dir(1, name, dir, sizeof(dir));
                assert_file(dir, "pids.max", "42");
                step_dir(2, name, dir, sizeof(dir));
                assert_file(dir, "cpu.cfs_period_us", "100000");
                assert_file(dir, "cpu.cfs_quota_us", "50000");
                step_dir(3, name, dir, sizeof(dir));
                ck_assert(dir_exists(dir));
        }
        ck_assert_int_eq(cgroup_step_clone_fd(s) >= 0, is_v2());
        ck_assert_int_eq(cgroup_step_destroy(s), 0);
        assert_gone(name);
        ck_assert_ptr_null(cgroup_step_abandon(s));
}
END_TEST

START_TEST(zero_means_unlimited)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { 0 };
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        char name[64], dir[1024];

        name_for(name, sizeof(name), "unlimited");
        s = step(m, name, &l);
        step_dir(is_v2() ? 0 : 1, name, dir, sizeof(dir));
        assert_file(dir, "pids.max", "max");
        if (is_v2()) {
                assert_file(dir, "memory.max", "max");
                assert_file(dir, "cpu.max", "max 100000");
        } else {
                step_dir(2, name, dir, sizeof(dir));
                assert_file(dir, "cpu.cfs_quota_us", "-1");
                step_dir(0, name, dir, sizeof(dir));
                _cleanup_free_ char *lim = read_file(dir, "memory.limit_in_bytes");
                ck_assert_msg(strtoull(lim, NULL, 10) > (1ULL << 60), "limit %s", lim);
        }
}
END_TEST

START_TEST(small_cpu_quota_clamped)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .cpu_millis = 1 };
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        char name[64], dir[1024];

        if (is_v2())
                return;
        name_for(name, sizeof(name), "tinycpu");
        s = step(m, name, &l);
        step_dir(2, name, dir, sizeof(dir));
        assert_file(dir, "cpu.cfs_quota_us", "1000");
}
END_TEST

START_TEST(duplicate_name_refused)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .pids_max = 10 };
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        struct step_cgroup *s2 = NULL;
        char name[64], err[512] = "", dir[1024];

        name_for(name, sizeof(name), "dup");
        s = step(m, name, &l);
        ck_assert_int_eq(cgroup_step_create(m, name, &l, &s2, err, sizeof(err)), -EEXIST);
        ck_assert_ptr_null(s2);
        ck_assert_msg(strstr(err, "already exists"), "err: %s", err);
        /* the failed attempt did not remove the first one's directories */
        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(dir_exists(dir), "%s removed", dir);
        }
}
END_TEST

/* A limit the kernel refuses (pids.max above PID_MAX_LIMIT) fails the
 * creation with the file, the value and the kernel's errno, and leaves no
 * directory behind in any hierarchy. */
START_TEST(refused_limit_reported)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 64 * MIB, .pids_max = 1ULL << 40 };
        struct step_cgroup *s = NULL;
        char name[64], err[512] = "";

        name_for(name, sizeof(name), "refused");
        ck_assert_int_eq(cgroup_step_create(m, name, &l, &s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(err, "/pids.max to 1099511627776") && strstr(err, name) &&
                              strstr(err, strerror(EINVAL)),
                      "err: %s", err);
        assert_gone(name);
        printf("refused limit: %s\n", err);
}
END_TEST

START_TEST(attach_in_every_controller)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 256 * MIB, .pids_max = 64, .cpu_millis = 1000 };
        struct step_cgroup *s;
        struct child c;
        char name[64], dir[1024];
        unsigned n = 0;
        int st;

        name_for(name, sizeof(name), "attach");
        s = step(m, name, &l);
        c = spawn(sleeper, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(pid_listed(dir, "cgroup.procs", c.pid), "%d not in %s", c.pid, dir);
                if (!is_v2())
                        ck_assert_msg(pid_listed(dir, "tasks", c.pid), "%d not in %s/tasks", c.pid,
                                      dir);
        }
        ck_assert_int_eq(cgroup_step_count(s, &n), 0);
        ck_assert_uint_eq(n, 1);
        go(&c);
        ck_assert_int_eq(cgroup_step_attach(s, 0), -EINVAL);
        /* destroy kills what is left and removes every directory */
        ck_assert_int_eq(cgroup_step_destroy(s), 0);
        st = wait_status(c.pid);
        ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        assert_gone(name);
        cgroup_step_abandon(s);
}
END_TEST

/* v1: a child moves itself through the fds the parent opened ("0" to each
 * tasks file), the sandbox's way; on v2 there is nothing to open. */
struct self_attach {
        int fds[8];
        int n;
};

static int self_attacher(void *arg)
{
        const struct self_attach *a = arg;

        for (int i = 0; i < a->n; i++)
                if (write(a->fds[i], "0", 1) != 1)
                        return 10 + i;
        pause();
        return 0;
}

START_TEST(child_moves_itself)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 256 * MIB, .pids_max = 64, .cpu_millis = 1000 };
        struct self_attach a = { 0 };
        struct step_cgroup *s;
        struct child c;
        char name[64], dir[1024];
        int st;

        name_for(name, sizeof(name), "self");
        s = step(m, name, &l);
        a.n = cgroup_step_self_attach_fds(s, a.fds, ARRAY_SIZE(a.fds));
        if (is_v2()) {
                ck_assert_int_eq(a.n, 0);
                cgroup_step_abandon(s);
                return;
        }
        ck_assert_int_eq(a.n, (int)n_dirs());
        if (n_dirs() > 1) { /* too small an array: an error, nothing left open */
                int few[1] = { -1 };
                ck_assert_int_eq(cgroup_step_self_attach_fds(s, few, 1), -EINVAL);
        }
        c = spawn(self_attacher, &a);
        for (int i = 0; i < a.n; i++)
                close(a.fds[i]);
        go(&c);
        for (int i = 0; i < 2000; i++) {
                step_dir(n_dirs() - 1, name, dir, sizeof(dir));
                if (pid_listed(dir, "tasks", c.pid))
                        break;
                ck_assert_int_eq(waitpid(c.pid, &st, WNOHANG), 0); /* not died */
                usleep(1000);
        }
        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(pid_listed(dir, "tasks", c.pid), "%d not in %s/tasks", c.pid, dir);
        }
        /* closing the tasks fds did not drop the "alive" lock on the folder */
        step_dir(0, name, dir, sizeof(dir));
        ck_assert(lock_held(dir));
        ck_assert_int_eq(cgroup_step_destroy(s), 0);
        ck_assert(WIFSIGNALED(wait_status(c.pid)));
        assert_gone(name);
        cgroup_step_abandon(s);
}
END_TEST

/* v1: after the step's tasks files, the launcher's own (leave fds), for a
 * step's init to get out again once its command runs: a fresh dup on every
 * call, and writing "0" to them puts the writer back into the launcher's
 * cgroup in every hierarchy, out of the step's. The child reports after
 * joining and after leaving, so each state is checked while it holds. */
struct join_leave {
        int join[4], leave[4];
        int n;
        int report; /* child -> parent: 'j' joined, 'l' left */
        int resume; /* parent -> child: leave now */
};

static int join_then_leave(void *arg)
{
        const struct join_leave *a = arg;
        char b;

        for (int i = 0; i < a->n; i++)
                if (write(a->join[i], "0", 1) != 1)
                        return 10 + i;
        if (write(a->report, "j", 1) != 1 || read(a->resume, &b, 1) != 1)
                return 20;
        for (int i = 0; i < a->n; i++)
                if (write(a->leave[i], "0", 1) != 1)
                        return 30 + i;
        if (write(a->report, "l", 1) != 1)
                return 40;
        pause();
        return 0;
}

/* Is pid in <step dir>/tasks (in_step) or in the launcher's own, for each
 * hierarchy? The own dir is the step dir without "/stepd/<name>". */
static void assert_where(const char *name, pid_t pid, bool in_step)
{
        for (size_t i = 0; i < n_dirs(); i++) {
                char dir[1024], own[1024], *cut;

                step_dir(i, name, dir, sizeof(dir));
                snprintf(own, sizeof(own), "%s", dir);
                cut = strstr(own, "/stepd/");
                ck_assert_ptr_nonnull(cut);
                *cut = 0;
                ck_assert_msg(pid_listed(dir, "tasks", pid) == in_step, "%d %s %s/tasks", pid,
                              in_step ? "not in" : "still in", dir);
                ck_assert_msg(pid_listed(own, "tasks", pid) == !in_step, "%d %s %s/tasks", pid,
                              in_step ? "still in" : "not back in", own);
        }
}

START_TEST(child_leaves_again)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .pids_max = 64 };
        struct join_leave a = { 0 };
        struct step_cgroup *s;
        struct child c;
        char name[64], b;
        int nl, again[4], report[2], resume[2];

        name_for(name, sizeof(name), "leave");
        s = step(m, name, &l);
        if (is_v2()) {
                ck_assert_int_eq(cgroup_step_self_leave_fds(s, again, ARRAY_SIZE(again)), 0);
                cgroup_step_abandon(s);
                return;
        }
        a.n = cgroup_step_self_attach_fds(s, a.join, ARRAY_SIZE(a.join));
        nl = cgroup_step_self_leave_fds(s, a.leave, ARRAY_SIZE(a.leave));
        ck_assert_int_eq(a.n, (int)n_dirs());
        ck_assert_int_eq(nl, a.n);
        ck_assert_int_eq(cgroup_step_self_leave_fds(s, again, ARRAY_SIZE(again)), nl);
        for (int i = 0; i < nl; i++) {
                struct stat x, y;

                ck_assert_int_ne(again[i], a.leave[i]);
                ck_assert_int_eq(fstat(again[i], &x), 0);
                ck_assert_int_eq(fstat(a.leave[i], &y), 0);
                ck_assert(x.st_ino == y.st_ino && x.st_dev == y.st_dev);
                close(again[i]);
        }
        ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(resume, O_CLOEXEC), 0);
        a.report = report[1];
        a.resume = resume[0];
        c = spawn(join_then_leave, &a);
        for (int i = 0; i < a.n; i++) {
                close(a.join[i]);
                close(a.leave[i]);
        }
        close(report[1]);
        close(resume[0]);
        go(&c);
        ck_assert_int_eq(read(report[0], &b, 1), 1);
        ck_assert_int_eq(b, 'j');
        assert_where(name, c.pid, true);
        ck_assert_int_eq(write(resume[1], "x", 1), 1);
        ck_assert_int_eq(read(report[0], &b, 1), 1);
        ck_assert_int_eq(b, 'l');
        assert_where(name, c.pid, false);
        close(report[0]);
        close(resume[1]);
        kill(c.pid, SIGKILL);
        ck_assert(WIFSIGNALED(wait_status(c.pid)));
        ck_assert_int_eq(cgroup_step_destroy(s), 0);
        assert_gone(name);
        cgroup_step_abandon(s);
}
END_TEST

static int hog(void *arg)
{
        size_t total = 256 * MIB;
        char *p = malloc(total);

        if (!p)
                return 3;
        for (size_t i = 0; i < total; i += 4096)
                ((volatile char *)p)[i] = 1;
        return 0; /* should not get here: the 32 MiB limit kills us */
}

START_TEST(memory_limit_oom_kills)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 32 * MIB, .pids_max = 16 };
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        struct cgroup_stats st = { 0 };
        struct child c;
        char name[64];
        int ws;

        name_for(name, sizeof(name), "oom");
        s = step(m, name, &l);
        c = spawn(hog, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        go(&c);
        ws = wait_status(c.pid);
        ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "hog status %#x", ws);
        ck_assert_int_eq(cgroup_step_stats(s, &st), 0);
        ck_assert_uint_ge(st.oom_kills, 1);
        ck_assert_uint_gt(st.memory_peak_bytes, 0);
        ck_assert_uint_le(st.memory_peak_bytes, 33 * MIB);
}
END_TEST

/* Fork until it fails; exit code: forks that worked, 100 + errno if < 0. */
static int forker(void *arg)
{
        int ok = 0;

        for (int i = 0; i < 10; i++) {
                pid_t p = fork();
                if (p == 0) {
                        pause();
                        _exit(0);
                }
                if (p < 0)
                        return errno == EAGAIN ? 50 + ok : 90;
                ok++;
        }
        return ok;
}

START_TEST(pids_limit_blocks_fork)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 256 * MIB, .pids_max = 3 };
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        struct child c;
        char name[64];
        int ws;

        name_for(name, sizeof(name), "pids");
        s = step(m, name, &l);
        c = spawn(forker, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        go(&c);
        ws = wait_status(c.pid);
        /* the forker plus 2 children fill pids.max=3: the third fork gets EAGAIN */
        ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 52, "forker status %#x", ws);
        wait_count(s, 2); /* its two orphans, still inside */
        ck_assert_int_eq(cgroup_step_destroy(s), 0);
        assert_gone(name);
}
END_TEST

/* Burn 300 ms of cpu time of our own, however loaded the machine is. */
static int busy(void *arg)
{
        volatile uint64_t x = 0;
        struct timespec ts;

        do {
                for (int i = 0; i < 1000000; i++)
                        x++;
                clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        } while (ts.tv_sec * 1000000000LL + ts.tv_nsec < 300000000LL);
        return 0;
}

START_TEST(cpu_usage_grows)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 256 * MIB, .pids_max = 16, .cpu_millis = 2000 };
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        struct cgroup_stats before = { 0 }, after = { 0 };
        struct child c;
        char name[64];

        name_for(name, sizeof(name), "cpu");
        s = step(m, name, &l);
        c = spawn(busy, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        ck_assert_int_eq(cgroup_step_stats(s, &before), 0);
        go(&c);
        ck_assert_int_eq(wait_status(c.pid), 0);
        ck_assert_int_eq(cgroup_step_stats(s, &after), 0);
        ck_assert_msg(after.cpu_user_usec + after.cpu_system_usec >=
                              before.cpu_user_usec + before.cpu_system_usec + 250000,
                      "cpu before %llu+%llu after %llu+%llu",
                      (unsigned long long)before.cpu_user_usec,
                      (unsigned long long)before.cpu_system_usec,
                      (unsigned long long)after.cpu_user_usec,
                      (unsigned long long)after.cpu_system_usec);
        ck_assert_uint_gt(after.cpu_user_usec, 100000);
        ck_assert_uint_eq(after.oom_kills, 0);
}
END_TEST

/* Spin for 600 ms of wall time. */
static int spin(void *arg)
{
        uint64_t end = now_monotonic_usec() + 600000;
        volatile uint64_t x = 0;

        while (now_monotonic_usec() < end)
                x++;
        return 0;
}

START_TEST(cpu_quota_throttles)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 256 * MIB, .pids_max = 16, .cpu_millis = 100 };
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        struct cgroup_stats st = { 0 };
        _cleanup_free_ char *stat = NULL;
        struct child c;
        char name[64], dir[1024];
        const char *t;

        name_for(name, sizeof(name), "quota");
        s = step(m, name, &l);
        c = spawn(spin, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        go(&c);
        ck_assert_int_eq(wait_status(c.pid), 0);
        ck_assert_int_eq(cgroup_step_stats(s, &st), 0);
        /* 10% of a cpu for 600 ms is 60 ms; one period of slack */
        ck_assert_msg(st.cpu_user_usec + st.cpu_system_usec < 200000, "used %llu us",
                      (unsigned long long)(st.cpu_user_usec + st.cpu_system_usec));
        step_dir(is_v2() ? 0 : 2, name, dir, sizeof(dir));
        strncat(dir, "/cpu.stat", sizeof(dir) - strlen(dir) - 1);
        ck_assert_int_eq(read_full_file(dir, &stat, NULL), 0);
        t = strstr(stat, "nr_throttled ");
        ck_assert_ptr_nonnull(t);
        ck_assert_msg(atoi(t + 13) > 0, "not throttled: %s", stat);
}
END_TEST

/* Two more sleepers, then sleep: three processes in the step. */
static int three_sleepers(void *arg)
{
        for (int i = 0; i < 2; i++)
                if (fork() == 0) {
                        pause();
                        _exit(0);
                }
        pause();
        return 0;
}

START_TEST(kill_counts_processes)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 256 * MIB, .pids_max = 16 };
        struct step_cgroup *s;
        struct child c;
        char name[64];
        unsigned n = 0;
        int ws;

        name_for(name, sizeof(name), "kill");
        s = step(m, name, &l);
        c = spawn(three_sleepers, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        go(&c);
        wait_count(s, 3);
        ck_assert_int_eq(cgroup_step_kill(s, SIGTERM, &n), 0);
        ck_assert_uint_eq(n, 3);
        ws = wait_status(c.pid);
        ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM);
        wait_count(s, 0);
        ck_assert_int_eq(cgroup_step_kill(s, SIGTERM, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(cgroup_step_kill(s, -1, &n), -EINVAL);
        ck_assert_int_eq(cgroup_step_destroy(s), 0);
        assert_gone(name);
        ck_assert_int_eq(cgroup_step_destroy(s), 0); /* twice is fine */
        cgroup_step_abandon(s);
}
END_TEST

/* Keeps forking: every process forks and then exits or keeps looping, so the
 * set of pids changes all the time (pids.max bounds how many at once). */
static int fork_storm(void *arg)
{
        for (;;) {
                pid_t p = fork();
                if (p > 0 && (getpid() & 1))
                        _exit(0);
                if (p < 0)
                        usleep(100);
        }
}

START_TEST(destroy_beats_forking_step)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .memory_bytes = 256 * MIB, .pids_max = 32 };
        struct step_cgroup *s;
        struct child c;
        char name[64];
        unsigned n = 0;

        name_for(name, sizeof(name), "storm");
        s = step(m, name, &l);
        c = spawn(fork_storm, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        go(&c);
        usleep(200000);
        ck_assert_int_eq(cgroup_step_count(s, &n), 0);
        ck_assert_uint_gt(n, 1);
        ck_assert_int_eq(cgroup_step_destroy(s), 0);
        assert_gone(name);
        (void)wait_status(c.pid);
        cgroup_step_abandon(s);
}
END_TEST

START_TEST(abandon_guard_removes)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = manager();
        struct step_limits l = { .pids_max = 8 };
        struct child c;
        char name[64];
        int ws;

        name_for(name, sizeof(name), "guard");
        {
                _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = step(m, name, &l);
                c = spawn(sleeper, NULL);
                ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
                go(&c);
        }
        ws = wait_status(c.pid);
        ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
        assert_gone(name);
}
END_TEST

/* A manager process that dies with a step full of processes. */
static pid_t crashed_manager(const char *name, int ready_fd)
{
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct cgroup_manager *m = NULL;
                struct step_cgroup *s = NULL;
                struct step_limits l = { .pids_max = 8 };
                char err[256];
                pid_t kid;

                if (cgroup_manager_new(&m, err, sizeof(err)) < 0 ||
                    cgroup_step_create(m, name, &l, &s, err, sizeof(err)) < 0)
                        _exit(1);
                kid = fork();
                if (kid == 0) {
                        pause();
                        _exit(0);
                }
                if (kid < 0 || cgroup_step_attach(s, kid) < 0)
                        _exit(2);
                if (write(ready_fd, &kid, sizeof(kid)) != sizeof(kid))
                        _exit(3);
                _exit(0); /* "crash": no destroy */
        }
        return pid;
}

START_TEST(leftovers_of_crash_removed)
{
        struct cgroup_manager *m;
        char name[64], dir[1024];
        int p[2], ws;
        pid_t mgr, kid = 0;

        /* the orphaned step process comes to us, so we can see how it died */
        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        name_for(name, sizeof(name), "crash");
        mgr = crashed_manager(name, p[1]);
        ck_assert_int_eq(read(p[0], &kid, sizeof(kid)), sizeof(kid));
        ck_assert_int_eq(wait_status(mgr), 0);
        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(pid_listed(dir, "cgroup.procs", kid), "%d not in %s", kid, dir);
        }
        m = manager();
        assert_gone(name);
        ws = wait_status(kid);
        ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
        cgroup_manager_free(m);
}
END_TEST

/* A directory made by hand in one hierarchy only, with a process in it. */
START_TEST(partial_leftover_removed)
{
        struct cgroup_manager *m = manager();
        char name[64], dir[1024], procs[1100], pidbuf[32];
        struct child c;
        int ws;

        name_for(name, sizeof(name), "partial");
        step_dir(is_v2() ? 0 : 1, name, dir, sizeof(dir));
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        c = spawn(sleeper, NULL);
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)c.pid);
        ck_assert_int_eq(write_string_file(procs, pidbuf), 0);
        cgroup_manager_free(m);
        m = manager();
        ck_assert_msg(!dir_exists(dir), "%s still there", dir);
        ws = wait_status(c.pid);
        ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
        cgroup_manager_free(m);
}
END_TEST

/* An empty unlocked directory may be a step another manager is creating:
 * spared while young, swept once 2 s old. */
START_TEST(young_empty_dir_spared)
{
        char name[64], dir[1024];

        name_for(name, sizeof(name), "young");
        step_dir(is_v2() ? 0 : 1, name, dir, sizeof(dir));
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        cgroup_manager_free(manager());
        ck_assert_msg(dir_exists(dir), "%s swept while young", dir);
        usleep(2100000);
        cgroup_manager_free(manager());
        ck_assert_msg(!dir_exists(dir), "%s still there", dir);
}
END_TEST

START_TEST(live_steps_of_others_untouched)
{
        _cleanup_(cgroup_manager_freep) struct cgroup_manager *a = manager();
        _cleanup_(cgroup_step_abandonp) struct step_cgroup *s = NULL;
        struct step_limits l = { .pids_max = 8 };
        struct cgroup_manager *b;
        struct child c;
        char name[64], dir[1024];
        unsigned n = 0;

        name_for(name, sizeof(name), "live");
        s = step(a, name, &l);
        c = spawn(sleeper, NULL);
        ck_assert_int_eq(cgroup_step_attach(s, c.pid), 0);
        go(&c);
        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(lock_held(dir), "no lock on %s", dir);
        }
        b = manager(); /* its leftover sweep must skip our locked step */
        cgroup_manager_free(b);
        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(lock_held(dir), "lock on %s lost by the sweep", dir);
        }
        ck_assert_int_eq(cgroup_step_count(s, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(kill(c.pid, 0), 0);
        ck_assert_int_eq(cgroup_step_destroy(s), 0);
        (void)wait_status(c.pid);
}
END_TEST

/* In a mount namespace of our own (this test process only): what the
 * manager says when a hierarchy is missing or read-only. */
static void private_mounts(void)
{
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
}

START_TEST(missing_controller_reported)
{
        struct cgroup_manager *m = NULL;
        char err[512] = "";

        if (is_v2())
                return; /* one hierarchy: nothing to take away but everything */
        private_mounts();
        ck_assert_int_eq(umount2("/sys/fs/cgroup/pids", MNT_DETACH), 0);
        ck_assert_int_lt(cgroup_manager_new(&m, err, sizeof(err)), 0);
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(err, "'pids'") && strstr(err, "not mounted"), "err: %s", err);
        printf("missing controller: %s\n", err);
}
END_TEST

START_TEST(readonly_hierarchy_reported)
{
        const char *ro = is_v2() ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu";
        struct cgroup_manager *m = NULL;
        char err[512] = "";

        private_mounts();
        ck_assert_int_eq(mount(NULL, ro, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);
        ck_assert_int_eq(cgroup_manager_new(&m, err, sizeof(err)), -EROFS);
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(err, ro) && strstr(err, "Read-only"), "err: %s", err);
        printf("read-only hierarchy: %s\n", err);
}
END_TEST


static Suite *cgroup_suite(const char *only)
{
        const TTest *const tests[] = {
                layout_detected, invalid_names_refused, limits_written_to_kernel,
                zero_means_unlimited, small_cpu_quota_clamped, duplicate_name_refused,
                refused_limit_reported,
                attach_in_every_controller, child_moves_itself, child_leaves_again, memory_limit_oom_kills, pids_limit_blocks_fork,
                cpu_usage_grows, cpu_quota_throttles, kill_counts_processes, destroy_beats_forking_step,
                abandon_guard_removes,
                leftovers_of_crash_removed, partial_leftover_removed, young_empty_dir_spared,
                live_steps_of_others_untouched, missing_controller_reported,
                readonly_hierarchy_reported,
        };
        Suite *s = suite_create("sandbox-cgroup");
        TCase *tc = tcase_create("kernel");

        tcase_set_timeout(tc, 60);
        for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
                if (!only || strcmp(only, tests[i]->name) == 0)
                        tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
        return s;
}

/* Optional argument: the name of one test to run. */
int main(int argc, char **argv)
{
        SRunner *sr;
        int failed;

        if (geteuid() != 0) {
                fprintf(stderr, "test-sandbox-cgroup needs root\n");
                return 77;
        }
        sr = srunner_create(cgroup_suite(argc > 1 ? argv[1] : NULL));
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
