/* SPDX-License-Identifier: MIT */
/* Tests for sandbox/netns-pool.c: network namespaces made ahead, in real
 * namespaces. Each test first moves its own (forked: CK_FORK is forced in
 * main) process into a private network namespace, the pool's home. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setns */
#endif
#include <arpa/inet.h>
#include <check.h>
#include <linux/in6.h>
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

#define OWNER 200001 /* the uid of the steps that take and give back */

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

/* A take that a busy lock does not fail (the worker holds it for a moment
 * after each spare it adds): -EAGAIN only when none is ready. */
static int take(struct netns_pool *p, uid_t owner)
{
        double end = now_ms() + 2000;
        int fd;

        while ((fd = netns_pool_take(p, owner)) == -EAGAIN && now_ms() < end)
                usleep(500);
        return fd;
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

/* fn(arg) in a child that entered the namespace nsfd: its exit status
 * (100: could not enter). */
static int in_child(int nsfd, int (*fn)(int), int arg)
{
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(setns(nsfd, CLONE_NEWNET) < 0 ? 100 : fn(arg));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* 0 when only lo exists and is up, and a TCP connection over it works;
 * else the failing check's number. */
static int fresh_checks(int unused)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t alen = sizeof(a);
        int others = -1, flags, l, c;

        if (count_links(NULL, &others) != 1 || others != 0)
                return 2;
        flags = if_flags("lo");
        if (flags < 0 || !(flags & IFF_UP))
                return 3;
        l = socket(AF_INET, SOCK_STREAM, 0);
        c = socket(AF_INET, SOCK_STREAM, 0);
        if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *)&a, &alen) < 0 ||
            connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
                return 4;
        return 0;
}

static int check_inside(int nsfd)
{
        return in_child(nsfd, fresh_checks, 0);
}

/* Wait until the worker has dealt with `n` namespaces handed back. */
static void wait_handled(struct netns_pool *p, uint64_t n, struct sandbox_spares *ret)
{
        double end = now_ms() + 10000;

        do {
                netns_pool_stats(p, ret);
                if (ret->recycled + ret->discarded >= n)
                        return;
                usleep(1000);
        } while (now_ms() < end);
        ck_abort_msg("the worker dealt with %llu of %llu namespaces handed back",
                     (unsigned long long)(ret->recycled + ret->discarded), (unsigned long long)n);
}

/* Ways a step can use its network namespace. Each runs in a child that
 * entered it, and leaves something the next step could see or trip over;
 * 0 when it did what it meant to. */
enum use { USE_TCP, USE_UDP, USE_NO_ROUTE, USE_FLOWLABEL, _USE_MAX };
static const char *const use_names[_USE_MAX] = { "tcp over lo (TIME_WAIT left)",
                                                  "one udp datagram to 127.0.0.1",
                                                  "a send with no route",
                                                  "an IPv6 flow label" };

/* In the namespace: use it the way `how` says; 0 when that worked. */
static int use(int how)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_in far = { .sin_family = AF_INET, .sin_port = htons(9) };
        struct in6_flowlabel_req fl = { .flr_label = htonl(0x12345),
                                        .flr_action = IPV6_FL_A_GET,
                                        .flr_share = IPV6_FL_S_ANY,
                                        .flr_flags = IPV6_FL_F_CREATE,
                                        .flr_linger = 60,
                                        .flr_dst = IN6ADDR_LOOPBACK_INIT };
        socklen_t alen = sizeof(a);
        int l, c;

        switch ((enum use)how) {
        case USE_TCP:
                l = socket(AF_INET, SOCK_STREAM, 0);
                c = socket(AF_INET, SOCK_STREAM, 0);
                if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
                    getsockname(l, (struct sockaddr *)&a, &alen) < 0 ||
                    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
                        return 11;
                close(c); /* the active closer keeps TIME_WAIT */
                return 0;
        case USE_UDP:
                a.sin_port = htons(9);
                c = socket(AF_INET, SOCK_DGRAM, 0);
                return sendto(c, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) == 1 ? 0 : 12;
        case USE_NO_ROUTE:
                inet_pton(AF_INET, "192.0.2.1", &far.sin_addr);
                c = socket(AF_INET, SOCK_DGRAM, 0);
                return sendto(c, "x", 1, 0, (struct sockaddr *)&far, sizeof(far)) < 0 &&
                                       errno == ENETUNREACH ?
                               0 :
                               13;
        case USE_FLOWLABEL:
                c = socket(AF_INET6, SOCK_DGRAM, 0);
                return setsockopt(c, IPPROTO_IPV6, IPV6_FLOWLABEL_MGR, &fl, sizeof(fl)) == 0 ? 0 : 14;
        default:
                return 15;
        }
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
        fd = take(p, OWNER);
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
                fds[i] = take(p, OWNER);
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

/* Wait until the kernel has freed the sockets the worker used to bring lo
 * up in the namespace of fd (RCU frees them a little later): until then
 * sockstat counts them, and a give would rightly discard the namespace. */
static void settle(int nsfd)
{
        int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        double end = now_ms() + 5000;
        bool quiet = false;

        ck_assert_int_ge(home, 0);
        ck_assert_int_eq(setns(nsfd, CLONE_NEWNET), 0);
        while (!quiet && now_ms() < end) {
                char buf[64] = "";
                FILE *f = fopen("/proc/thread-self/net/sockstat", "re");

                quiet = f && fgets(buf, sizeof(buf), f) && strcmp(buf, "sockets: used 0\n") == 0;
                if (f)
                        fclose(f);
                if (!quiet)
                        usleep(1000);
        }
        ck_assert_int_eq(setns(home, CLONE_NEWNET), 0);
        close(home);
        ck_assert_msg(quiet, "sockets of the worker still counted after 5 s");
}

/* In a private namespace: a pool of one spare, and that spare taken
 * (settled: see settle). */
static int pool_and_take(struct netns_pool **p, ino_t *ret_ino)
{
        char err[256] = "";
        int fd;

        enter_private_netns();
        ck_assert_msg(netns_pool_new(1, p, err, sizeof(err)) == 0, "%s", err);
        wait_spares(*p, 1);
        fd = take(*p, OWNER);
        ck_assert_int_ge(fd, 0);
        *ret_ino = ns_ino_of_fd(fd);
        settle(fd);
        return fd;
}

/* A namespace handed back unused is a spare again, and still as new. */
START_TEST(pool_takes_back_an_unused_namespace)
{
        struct netns_pool *p = NULL;
        struct sandbox_spares st;
        ino_t ino;
        int fd = pool_and_take(&p, &ino);

        wait_spares(p, 1); /* the worker made a new one meanwhile */
        netns_pool_give(p, fd, OWNER);
        wait_handled(p, 1, &st);
        ck_assert_uint_eq(st.recycled, 1);
        ck_assert_uint_eq(st.discarded, 0);
        ck_assert_uint_eq(st.ready, 2);
        /* the last one in is the next one out */
        fd = take(p, OWNER);
        ck_assert_int_ge(fd, 0);
        ck_assert(ns_ino_of_fd(fd) == ino);
        ck_assert_int_eq(check_inside(fd), 0);
        close(fd);
        /* no pool, or no fd: only closed */
        netns_pool_give(NULL, open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), OWNER);
        netns_pool_give(p, -1, OWNER);
        netns_pool_free(p);
}
END_TEST

/* A namespace a step used is never handed out again, whatever it left. */
START_TEST(pool_discards_a_used_namespace)
{
        struct netns_pool *p = NULL;
        struct sandbox_spares st;
        enum use how = (enum use)_i;
        ino_t ino;
        int fd = pool_and_take(&p, &ino), r;

        r = in_child(fd, use, how);
        ck_assert_msg(r == 0, "%s: failed with %d", use_names[how], r);
        netns_pool_give(p, fd, OWNER);
        wait_handled(p, 1, &st);
        ck_assert_msg(st.discarded == 1 && st.recycled == 0, "%s: recycled", use_names[how]);
        wait_spares(p, 1);
        fd = take(p, OWNER);
        ck_assert_int_ge(fd, 0);
        ck_assert(ns_ino_of_fd(fd) != ino);
        close(fd);
        netns_pool_free(p);
}
END_TEST

/* A socket still open in it (a process that outlived its step would hold
 * one) keeps a namespace from being reused. */
START_TEST(pool_discards_a_namespace_with_a_socket)
{
        struct netns_pool *p = NULL;
        struct sandbox_spares st;
        ino_t ino;
        int fd = pool_and_take(&p, &ino), home, s;

        home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(home, 0);
        ck_assert_int_eq(setns(fd, CLONE_NEWNET), 0);
        s = socket(AF_UNIX, SOCK_DGRAM, 0); /* no packet, no counter: only sockstat */
        ck_assert_int_eq(setns(home, CLONE_NEWNET), 0);
        ck_assert_int_ge(s, 0);
        netns_pool_give(p, fd, OWNER);
        wait_handled(p, 1, &st);
        ck_assert_uint_eq(st.discarded, 1);
        ck_assert_uint_eq(st.recycled, 0);
        close(s);
        close(home);
        netns_pool_free(p);
}
END_TEST

/* One owner's namespace never goes to another, however unused: not
 * everything a step can leave in it shows (see netns-pool.c). */
START_TEST(pool_keeps_a_namespace_for_its_owner_only)
{
        struct netns_pool *p = NULL;
        struct sandbox_spares st;
        ino_t ino;
        int fd = pool_and_take(&p, &ino), other;

        netns_pool_give(p, fd, OWNER);
        wait_handled(p, 1, &st);
        ck_assert_uint_eq(st.recycled, 1);
        /* the kept one lives on in the pool: its inode is its own */
        wait_spares(p, 2);
        other = take(p, OWNER + 1);
        ck_assert_int_ge(other, 0);
        ck_assert(ns_ino_of_fd(other) != ino);
        fd = take(p, OWNER);
        ck_assert_int_ge(fd, 0);
        ck_assert(ns_ino_of_fd(fd) == ino);
        close(other);
        close(fd);
        netns_pool_free(p);
}
END_TEST

/* At most 16 kept: the oldest goes first; and freeing the pool closes
 * those kept and those still waiting to be looked at. */
START_TEST(pool_keeps_at_most_16_and_frees_them)
{
        enum { N = 17 };
        struct netns_pool *p = NULL;
        struct sandbox_spares st;
        char err[256] = "";
        ino_t first = 0;
        int base, fd;

        enter_private_netns();
        base = count_netns_fds();
        ck_assert_msg(netns_pool_new(1, &p, err, sizeof(err)) == 0, "%s", err);
        for (int i = 0; i < N; i++) {
                wait_spares(p, 1 + (unsigned)MIN(i, 16));
                fd = take(p, OWNER + 1 + (uid_t)i); /* new ones only */
                ck_assert_int_ge(fd, 0);
                if (i == 0)
                        first = ns_ino_of_fd(fd);
                settle(fd);
                netns_pool_give(p, fd, OWNER);
                wait_handled(p, (uint64_t)i + 1, &st);
        }
        ck_assert_uint_eq(st.recycled, N);
        ck_assert_uint_eq(st.discarded, 1);
        wait_spares(p, 17); /* 16 kept and a new one */
        netns_pool_stats(p, &st);
        ck_assert_uint_eq(st.ready, 17);
        /* the newest first, and the first one handed back is gone */
        for (int i = 0; i < 16; i++) {
                fd = take(p, OWNER);
                ck_assert_int_ge(fd, 0);
                ck_assert(ns_ino_of_fd(fd) != first);
                if (i < 15)
                        close(fd);
        }
        /* one handed back and freed at once: nothing is left open */
        netns_pool_give(p, fd, OWNER);
        netns_pool_free(p);
        ck_assert_int_eq(count_netns_fds(), base);
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
                fd = take(p, OWNER);
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

        ck_assert_int_eq(netns_pool_take(NULL, OWNER), -EINVAL);
        ck_assert_int_eq(netns_pool_new(0, &p, err, sizeof(err)), -EINVAL);
        enter_private_netns();
        ck_assert_msg(netns_pool_new(1, &p, err, sizeof(err)) == 0, "%s", err);
        wait_spares(p, 1);
        /* faster than the worker makes them (each is ~1 ms of kernel work) */
        while (n < (int)ARRAY_SIZE(fds) && (r = netns_pool_take(p, OWNER)) >= 0)
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
        tcase_add_test(t, pool_takes_back_an_unused_namespace);
        tcase_add_loop_test(t, pool_discards_a_used_namespace, 0, _USE_MAX);
        tcase_add_test(t, pool_discards_a_namespace_with_a_socket);
        tcase_add_test(t, pool_keeps_a_namespace_for_its_owner_only);
        tcase_add_test(t, pool_keeps_at_most_16_and_frees_them);
        suite_add_tcase(s, t);
        sr = srunner_create(s);
        /* Tests unshare their own network namespace: each needs its own process. */
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
