/* SPDX-License-Identifier: MIT */
/* Tests for sandbox/netns-pool.c: network namespaces made ahead, in real
 * namespaces. Each test first moves its own (forked: CK_FORK is forced in
 * main) process into a private network namespace, the pool's home. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setns */
#endif
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/net.h"
#include "tests/unit/sandbox/net/links.h"

static ino_t ns_ino_of_fd(int fd)
{
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        return st.st_ino;
}

static ino_t own_ns_ino(void)
{
        struct stat st;

        ck_assert_int_eq(stat("/proc/thread-self/ns/net", &st), 0);
        return st.st_ino;
}

/* Threads of this process (the pool's worker among them) not in ns. */
static int tasks_elsewhere(ino_t ns)
{
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        int n = 0, tasks = 0;

        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d))) {
                char path[64];
                struct stat st;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/self/task/%s/ns/net", e->d_name);
                if (stat(path, &st) < 0)
                        continue;
                tasks++;
                if (st.st_ino != ns)
                        n++;
        }
        closedir(d);
        ck_assert_int_ge(tasks, 2); /* we and the worker */
        return n;
}

/* Network namespace fds this process holds. */
static int count_netns_fds(void)
{
        char path[64], target[64];
        int n = 0;

        for (int fd = 0; fd < 1024; fd++) {
                ssize_t len;

                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                len = readlink(path, target, sizeof(target) - 1);
                if (len < 0)
                        continue;
                target[len] = 0;
                if (strncmp(target, "net:[", 5) == 0)
                        n++;
        }
        return n;
}

static void wait_spares(struct netns_pool *p, unsigned want)
{
        struct sandbox_spares st;
        double end = now_ms() + 10000;

        do {
                netns_pool_stats(p, &st);
                if (st.ready >= want)
                        return;
                usleep(2000);
        } while (now_ms() < end);
        ck_abort_msg("pool has %u spares, wanted %u (made %llu, failed %llu)", st.ready, want,
                     (unsigned long long)st.made, (unsigned long long)st.failed);
}

/* In a child that enters the namespace: exit 0 when only lo exists and is up,
 * and a TCP connection over it works; else the failing check's number. */
static int check_inside(int nsfd)
{
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct sockaddr_in a = { .sin_family = AF_INET,
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t alen = sizeof(a);
                int others = -1, flags, l, c;

                if (setns(nsfd, CLONE_NEWNET) < 0)
                        _exit(1);
                if (count_links(NULL, &others) != 1 || others != 0)
                        _exit(2);
                flags = if_flags("lo");
                if (flags < 0 || !(flags & IFF_UP))
                        _exit(3);
                l = socket(AF_INET, SOCK_STREAM, 0);
                c = socket(AF_INET, SOCK_STREAM, 0);
                if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
                    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &alen) < 0 ||
                    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
                        _exit(4);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

START_TEST(pool_spare_is_fresh_with_lo_up)
{
        struct netns_pool *p = NULL;
        char err[256] = "";
        ino_t home;
        int fd;

        enter_private_netns();
        home = own_ns_ino();
        ck_assert_msg(netns_pool_new(2, &p, err, sizeof(err)) == 0, "%s", err);
        wait_spares(p, 2);
        fd = netns_pool_take(p);
        ck_assert_int_ge(fd, 0);
        ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        /* a namespace of its own, not ours; and the worker, which made
         * it, is back home */
        ck_assert(ns_ino_of_fd(fd) != home);
        ck_assert_int_eq(tasks_elsewhere(home), 0);
        ck_assert_int_eq(check_inside(fd), 0);
        close(fd);
        netns_pool_free(p);
}
END_TEST

START_TEST(pool_never_hands_out_one_twice)
{
        enum { N = 6 };
        struct netns_pool *p = NULL;
        struct sandbox_spares st;
        char err[256] = "";
        ino_t seen[N];
        int fds[N];

        enter_private_netns();
        ck_assert_msg(netns_pool_new(2, &p, err, sizeof(err)) == 0, "%s", err);
        for (int i = 0; i < N; i++) {
                wait_spares(p, 1);
                fds[i] = netns_pool_take(p);
                ck_assert_int_ge(fds[i], 0);
                seen[i] = ns_ino_of_fd(fds[i]);
                for (int j = 0; j < i; j++)
                        ck_assert_msg(seen[j] != seen[i], "takes %d and %d: one namespace", j, i);
        }
        netns_pool_stats(p, &st);
        ck_assert_uint_eq(st.taken, N);
        ck_assert_uint_ge(st.made, N);
        for (int i = 0; i < N; i++)
                close(fds[i]);
        netns_pool_free(p);
}
END_TEST

START_TEST(pool_holds_only_its_spares)
{
        struct netns_pool *p = NULL;
        char err[256] = "";
        int base, fd;

        enter_private_netns();
        base = count_netns_fds();
        ck_assert_msg(netns_pool_new(3, &p, err, sizeof(err)) == 0, "%s", err);
        wait_spares(p, 3);
        /* its own namespace, kept to return to, and the spares */
        ck_assert_int_eq(count_netns_fds(), base + 1 + 3);
        for (int i = 0; i < 5; i++) {
                wait_spares(p, 3);
                fd = netns_pool_take(p);
                ck_assert_int_ge(fd, 0);
                close(fd);
        }
        wait_spares(p, 3);
        ck_assert_int_eq(count_netns_fds(), base + 1 + 3);
        netns_pool_free(p);
        ck_assert_int_eq(count_netns_fds(), base);
}
END_TEST

START_TEST(pool_empty_says_eagain)
{
        struct netns_pool *p = NULL;
        struct sandbox_spares st;
        char err[256] = "";
        int r = 0, fds[64], n = 0;

        ck_assert_int_eq(netns_pool_take(NULL), -EINVAL);
        ck_assert_int_eq(netns_pool_new(0, &p, err, sizeof(err)), -EINVAL);
        enter_private_netns();
        ck_assert_msg(netns_pool_new(1, &p, err, sizeof(err)) == 0, "%s", err);
        wait_spares(p, 1);
        /* faster than the worker makes them (each is ~1 ms of kernel work) */
        while (n < (int)ARRAY_SIZE(fds) && (r = netns_pool_take(p)) >= 0)
                fds[n++] = r;
        ck_assert_int_eq(r, -EAGAIN);
        ck_assert_int_ge(n, 1);
        netns_pool_stats(p, &st);
        ck_assert_uint_ge(st.missed, 1);
        ck_assert_uint_eq(st.taken, (unsigned)n);
        while (n > 0)
                close(fds[--n]);
        netns_pool_free(p);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("sandbox-netns-pool");
        TCase *t = tcase_create("pool");
        SRunner *sr;
        int failed;

        tcase_set_timeout(t, 60);
        tcase_add_test(t, pool_spare_is_fresh_with_lo_up);
        tcase_add_test(t, pool_never_hands_out_one_twice);
        tcase_add_test(t, pool_holds_only_its_spares);
        tcase_add_test(t, pool_empty_says_eagain);
        suite_add_tcase(s, t);
        sr = srunner_create(s);
        /* Tests unshare their own network namespace: each needs its own process. */
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
