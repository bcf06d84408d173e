/* SPDX-License-Identifier: MIT */
/* Tests for sandbox/net.
 *
 * Every test that touches links first moves its own (forked, CK_FORK is
 * forced in main) process into a fresh network namespace, and "step"
 * children unshare another one; the host's real network is never touched and
 * every address used lives only inside those namespaces.
 *
 * Bridge tests: the test process makes br-test (10.77.0.1/24, up) with libnl
 * in its private namespace, forks a step child that unshares CLONE_NEWNET,
 * says "ready" over a pipe and waits for a command byte; the test calls
 * net_veth_setup(spec, child) and then sends the command. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare, pipe2, accept4 */
#endif
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/net.h"
#include "tests/unit/sandbox/net/links.h"

#define BR "br-test"
#define BR_ADDR "10.77.0.1"
#define STEP_ADDR "10.77.0.5/24"

/* ---- helpers ----------------------------------------------------------- */

static struct launch_spec bridge_spec(const char *step_id, const char *bridge, const char *address,
                                      const char *gateway)
{
        return (struct launch_spec){
                .step_id = (char *)step_id,
                .net = NET_BRIDGE,
                .bridge = { .bridge = (char *)bridge, .address = (char *)address,
                            .gateway = (char *)gateway },
        };
}

/* Name of the one interface called sd + 10 hex digits, or "" (-1: several). */
static int find_host_end(char ret[IFNAMSIZ])
{
        struct if_nameindex *ni = if_nameindex();
        int found = 0;

        ck_assert_ptr_nonnull(ni);
        ret[0] = 0;
        for (struct if_nameindex *p = ni; p->if_index; p++) {
                if (strncmp(p->if_name, "sd", 2) != 0 || strlen(p->if_name) != 12 ||
                    strspn(p->if_name + 2, "0123456789abcdef") != 10)
                        continue;
                snprintf(ret, IFNAMSIZ, "%s", p->if_name);
                found++;
        }
        if_freenameindex(ni);
        return found > 1 ? -1 : found;
}

static struct nl_sock *nl_open(void)
{
        struct nl_sock *sk = nl_socket_alloc();

        ck_assert_ptr_nonnull(sk);
        ck_assert_int_eq(nl_connect(sk, NETLINK_ROUTE), 0);
        return sk;
}

/* br-test with 10.77.0.1/24, up, in the (private) current namespace. */
static void make_bridge(void)
{
        struct nl_sock *sk = nl_open();
        struct rtnl_link *br = rtnl_link_bridge_alloc();
        struct rtnl_addr *a = rtnl_addr_alloc();
        struct nl_addr *local = NULL;
        int r;

        ck_assert_ptr_nonnull(br);
        rtnl_link_set_name(br, BR);
        rtnl_link_set_flags(br, IFF_UP);
        r = rtnl_link_add(sk, br, NLM_F_CREATE | NLM_F_EXCL);
        ck_assert_msg(r == 0, "creating bridge: %s", nl_geterror(r));
        ck_assert_int_eq(nl_addr_parse(BR_ADDR "/24", AF_INET, &local), 0);
        rtnl_addr_set_ifindex(a, (int)if_nametoindex(BR));
        ck_assert_int_eq(rtnl_addr_set_local(a, local), 0);
        rtnl_addr_set_prefixlen(a, 24);
        r = rtnl_addr_add(sk, a, 0);
        ck_assert_msg(r == 0, "adding bridge address: %s", nl_geterror(r));
        nl_addr_put(local);
        rtnl_addr_put(a);
        rtnl_link_put(br);
        nl_socket_free(sk);
}

/* Master ifindex of a link seen through netlink (0: none). */
static int link_master(const char *name)
{
        struct nl_sock *sk = nl_open();
        struct rtnl_link *l = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &l);

        ck_assert_msg(r == 0, "link %s: %s", name, nl_geterror(r));
        r = rtnl_link_get_master(l);
        rtnl_link_put(l);
        nl_socket_free(sk);
        return r;
}

static int listen_on(const char *addr, in_port_t *ret_port)
{
        struct sockaddr_in sin = { .sin_family = AF_INET };
        socklen_t len = sizeof(sin);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
        ck_assert_msg(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "bind %s: %s", addr,
                      strerror(errno));
        ck_assert_int_eq(listen(fd, 4), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
        *ret_port = ntohs(sin.sin_port);
        return fd;
}

/* Connect (5 s bound) and send one byte; 0 or -errno. */
static int connect_send(const char *addr, in_port_t port, char byte)
{
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
        struct timeval tv = { .tv_sec = 5 };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;

        if (fd < 0)
                return -errno;
        inet_pton(AF_INET, addr, &sin.sin_addr);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || write(fd, &byte, 1) != 1)
                r = -errno;
        close(fd);
        return r;
}

/* Accept one connection within 10 s and read its byte; -1 on timeout. */
static int accept_byte(int lfd)
{
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        char c = 0;
        int fd;

        if (poll(&p, 1, 10000) != 1)
                return -1;
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return -1;
        p = (struct pollfd){ .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 10000) != 1 || read(fd, &c, 1) != 1)
                c = -1;
        close(fd);
        return c;
}

/* ---- step child -------------------------------------------------------- */

struct step_child {
        pid_t pid;
        int ready_r, go_w;
};

enum { CMD_APPLY_CONNECT = 'a', CMD_EXPECT_NO_ETH0 = 'n', CMD_EXPECT_ETH0 = 'e', CMD_QUIT = 'q' };

/* Checks in the child that net_apply really configured eth0 and the route. */
static int child_verify_eth0(const struct net_child_config *cfg)
{
        struct ifreq ifr = { 0 };
        char line[256], gw[16];
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), found = 0;
        FILE *f;

        strcpy(ifr.ifr_name, "eth0");
        if (ioctl(fd, SIOCGIFADDR, &ifr) < 0 ||
            ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr != cfg->address.s_addr)
                return 31;
        if (ioctl(fd, SIOCGIFNETMASK, &ifr) < 0 ||
            ((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr.s_addr != htonl(0xffffff00))
                return 32;
        close(fd);
        if ((if_flags("eth0") & IFF_UP) == 0 || (if_flags("lo") & IFF_UP) == 0)
                return 33;
        snprintf(gw, sizeof(gw), "%08X", cfg->gateway.s_addr);
        f = fopen("/proc/net/route", "re");
        if (!f)
                return 34;
        while (fgets(line, sizeof(line), f)) {
                char ifn[32], dst[16], g[16];
                if (sscanf(line, "%31s %15s %15s", ifn, dst, g) == 3 && !strcmp(ifn, "eth0") &&
                    !strcmp(dst, "00000000") && !strcmp(g, gw))
                        found = 1;
        }
        fclose(f);
        return found ? 0 : 35;
}

static _noreturn_ void step_child_main(int ready_w, int go_r, const struct net_child_config *cfg,
                                       in_port_t port)
{
        char cmd, what[96] = "";
        int r;

        if (unshare(CLONE_NEWNET) < 0)
                _exit(10);
        if (write(ready_w, "r", 1) != 1)
                _exit(11);
        if (read(go_r, &cmd, 1) != 1)
                _exit(12);
        switch (cmd) {
        case CMD_APPLY_CONNECT:
                r = net_apply(cfg, what, sizeof(what));
                if (r < 0) {
                        fprintf(stderr, "child: net_apply: %s: %s\n", what, strerror(-r));
                        _exit(20);
                }
                r = child_verify_eth0(cfg);
                if (r)
                        _exit(r);
                r = connect_send(BR_ADDR, port, 'x');
                if (r < 0)
                        fprintf(stderr, "child: connect: %s\n", strerror(-r));
                _exit(r < 0 ? 21 : 0);
        case CMD_EXPECT_NO_ETH0:
                _exit(if_nametoindex("eth0") == 0 ? 0 : 22);
        case CMD_EXPECT_ETH0:
                _exit(if_nametoindex("eth0") > 0 ? 0 : 23);
        default:
                _exit(0);
        }
}

static struct step_child step_child_start(const struct net_child_config *cfg, in_port_t port)
{
        int ready[2], go[2];
        struct step_child c;
        char b;

        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        c.pid = fork();
        ck_assert_int_ge(c.pid, 0);
        if (c.pid == 0) {
                close(ready[0]);
                close(go[1]);
                step_child_main(ready[1], go[0], cfg, port);
        }
        close(ready[1]);
        close(go[0]);
        c.ready_r = ready[0];
        c.go_w = go[1];
        ck_assert_int_eq(read(c.ready_r, &b, 1), 1); /* child is in its own netns */
        return c;
}

/* Send cmd, return the child's exit status (or 100 + signal). */
static int step_child_finish(struct step_child *c, char cmd)
{
        int status;

        ck_assert_int_eq(write(c->go_w, &cmd, 1), 1);
        ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
        close(c->ready_r);
        close(c->go_w);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* ---- net_prepare ------------------------------------------------------- */

START_TEST(prepare_good)
{
        struct launch_spec s = bridge_spec("s1", BR, STEP_ADDR, BR_ADDR);
        struct net_child_config c;
        char err[256] = "";

        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        ck_assert_int_eq(c.mode, NET_BRIDGE);
        ck_assert_uint_eq(c.address.s_addr, inet_addr("10.77.0.5"));
        ck_assert_uint_eq(c.prefix_len, 24);
        ck_assert_uint_eq(c.gateway.s_addr, inet_addr(BR_ADDR));

        s.bridge.gateway = NULL;
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        ck_assert_uint_eq(c.gateway.s_addr, 0);

        s.bridge.address = "192.168.200.7/32";
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        ck_assert_uint_eq(c.prefix_len, 32);
        s.bridge.address = "10.0.0.1/31";
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        s.bridge.address = "10.0.0.0/31"; /* /31: no network/broadcast address */
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        s.bridge.address = "172.16.5.4/1";
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        ck_assert_uint_eq(c.prefix_len, 1);
        s.bridge.address = "10.1.2.3/8";
        s.bridge.gateway = "10.200.0.1";
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        ck_assert_uint_eq(c.gateway.s_addr, inet_addr("10.200.0.1"));
}
END_TEST

START_TEST(prepare_none_host)
{
        struct launch_spec s = { .net = NET_NONE };
        struct net_child_config c;
        char err[128];

        memset(&c, 0x5a, sizeof(c));
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        ck_assert_int_eq(c.mode, NET_NONE);
        ck_assert_uint_eq(c.address.s_addr, 0);
        /* bridge fields are ignored outside bridge mode */
        s = bridge_spec("s1", NULL, "garbage", NULL);
        s.net = NET_HOST;
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), 0);
        ck_assert_int_eq(c.mode, NET_HOST);

        s.net = (enum net_mode)_NET_MODE_MAX;
        c.mode = NET_HOST;
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "unknown network mode"));
        ck_assert_int_eq(c.mode, NET_HOST); /* ret untouched on failure */
}
END_TEST

static const struct bad_case {
        const char *bridge, *address, *gateway, *expect;
} bad_cases[] = {
        { BR, NULL, NULL, "needs an address" },
        { BR, "", NULL, "needs an address" },
        { BR, "10.77.0.5", NULL, "'10.77.0.5' is not an IPv4 address with prefix" },
        { BR, "10.77.0.5/", NULL, "'10.77.0.5/'" },
        { BR, "10.77.0.5/0", NULL, "'10.77.0.5/0': prefix length must be 1..32" },
        { BR, "10.77.0.5/33", NULL, "'10.77.0.5/33': prefix length must be 1..32" },
        { BR, "10.77.0.5/99", NULL, "'10.77.0.5/99': prefix length must be 1..32" },
        { BR, "10.77.0.5/-1", NULL, "'10.77.0.5/-1'" },
        { BR, "10.77.0.5/+8", NULL, "'10.77.0.5/+8'" },
        { BR, "10.77.0.5/024", NULL, "'10.77.0.5/024'" },
        { BR, "10.77.0.5/24x", NULL, "'10.77.0.5/24x'" },
        { BR, "10.77.0.5/ 24", NULL, "'10.77.0.5/ 24'" },
        { BR, " 10.77.0.5/24", NULL, "' 10.77.0.5/24'" },
        { BR, "10.77.0.5/24/24", NULL, "'10.77.0.5/24/24'" },
        { BR, "10.77.0/24", NULL, "'10.77.0/24'" },
        { BR, "10.77.0.256/24", NULL, "'10.77.0.256/24'" },
        { BR, "010.77.0.5/24", NULL, "'010.77.0.5/24'" },
        { BR, "banana/24", NULL, "'banana/24'" },
        { BR, "::1/64", NULL, "'::1/64'" },
        { BR, "/24", NULL, "'/24'" },
        { BR, "10.77.0.0/24", NULL, "network address" },
        { BR, "10.77.0.255/24", NULL, "broadcast address" },
        { BR, "127.0.0.5/8", NULL, "loopback" },
        { BR, "0.0.0.1/8", NULL, "0.0.0.0/8" },
        { BR, "224.0.0.5/4", NULL, "multicast" },
        { BR, "255.255.255.254/24", NULL, "multicast or reserved" },
        { BR, STEP_ADDR, "", "gateway '' is not an IPv4 address" },
        { BR, STEP_ADDR, "banana", "gateway 'banana' is not an IPv4 address" },
        { BR, STEP_ADDR, "10.77.0.1/24", "gateway '10.77.0.1/24' is not an IPv4" },
        { BR, STEP_ADDR, "10.78.0.1",
          "gateway '10.78.0.1' is not a host inside the subnet of 10.77.0.5/24" },
        { BR, STEP_ADDR, "10.77.0.255", "gateway '10.77.0.255' is not a host inside" },
        { BR, STEP_ADDR, "10.77.0.5", "gateway '10.77.0.5' is the step's own address" },
        { BR, "10.0.0.5/32", "10.0.0.6", "gateway '10.0.0.6' is not a host inside" },
        { NULL, STEP_ADDR, NULL, "needs a bridge name" },
        { "", STEP_ADDR, NULL, "needs a bridge name" },
        { "br-with-a-long-name", STEP_ADDR, NULL,
          "'br-with-a-long-name' is not a valid interface name" },
        { "br/0", STEP_ADDR, NULL, "'br/0' is not a valid" },
        { "br 0", STEP_ADDR, NULL, "'br 0' is not a valid" },
        { "..", STEP_ADDR, NULL, "'..' is not a valid" },
};

START_TEST(prepare_bad)
{
        const struct bad_case *b = &bad_cases[_i];
        struct launch_spec s = bridge_spec("s1", b->bridge, b->address, b->gateway);
        struct net_child_config c = { .mode = NET_HOST };
        char err[256] = "";

        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strstr(err, b->expect), "case %d: error '%s' lacks '%s'", _i, err, b->expect);
        ck_assert_int_eq(c.mode, NET_HOST);
}
END_TEST

START_TEST(prepare_hostile)
{
        char big[4096], err[256];
        struct net_child_config c;
        struct launch_spec s;

        memset(big, '1', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        s = bridge_spec("s1", BR, big, NULL);
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "is not an IPv4 address"));
        big[20] = '/';
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), -EINVAL);
        s = bridge_spec("s1", BR, STEP_ADDR, big);
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), -EINVAL);
        s = bridge_spec("s1", big, STEP_ADDR, NULL);
        ck_assert_int_eq(net_prepare(&s, &c, err, sizeof(err)), -EINVAL);
        /* tiny or absent error buffers are fine */
        ck_assert_int_eq(net_prepare(&s, &c, err, 1), -EINVAL);
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(net_prepare(&s, &c, NULL, 0), -EINVAL);
}
END_TEST

/* ---- net_apply: none / host --------------------------------------------- */

/* In a fresh netns: lo down before, up after, loopback TCP works, lo alone. */
static int none_child(void)
{
        struct net_child_config cfg = { .mode = NET_NONE };
        char what[96] = "";
        in_port_t port;
        int lfd, others;

        if (unshare(CLONE_NEWNET) < 0)
                return 10;
        if (if_flags("lo") & IFF_UP)
                return 11; /* a fresh namespace starts with lo down */
        if (net_apply(&cfg, what, sizeof(what)) < 0)
                return 12;
        if ((if_flags("lo") & (IFF_UP | IFF_LOOPBACK)) != (IFF_UP | IFF_LOOPBACK))
                return 13;
        if (count_links(NULL, &others) != 1 || others != 0)
                return 14;
        lfd = listen_on("127.0.0.1", &port);
        if (connect_send("127.0.0.1", port, 'L') < 0)
                return 15;
        if (accept_byte(lfd) != 'L')
                return 16;
        /* twice is harmless (lo already up) */
        return net_apply(&cfg, what, sizeof(what)) == 0 ? 0 : 17;
}

static int run_forked(int (*fn)(void))
{
        int status;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(fn());
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

START_TEST(apply_none)
{
        ck_assert_int_eq(run_forked(none_child), 0);
}
END_TEST

/* NET_HOST touches nothing: in a fresh netns lo stays down. */
static int host_child(void)
{
        struct net_child_config cfg = { .mode = NET_HOST };
        char what[96] = "untouched";

        if (unshare(CLONE_NEWNET) < 0)
                return 10;
        if (net_apply(&cfg, what, sizeof(what)) != 0)
                return 11;
        if (if_flags("lo") & IFF_UP)
                return 12;
        return strcmp(what, "untouched") == 0 ? 0 : 13;
}

START_TEST(apply_host)
{
        ck_assert_int_eq(run_forked(host_child), 0);
}
END_TEST

/* Bridge config without an eth0: fails on eth0's address, and says so. */
static int no_eth0_child(void)
{
        struct net_child_config cfg = { .mode = NET_BRIDGE, .prefix_len = 24 };
        char what[96] = "";
        int r;

        if (unshare(CLONE_NEWNET) < 0)
                return 10;
        cfg.address.s_addr = inet_addr("10.77.0.5");
        r = net_apply(&cfg, what, sizeof(what));
        if (r != -ENODEV)
                return 11;
        if (strcmp(what, "eth0: SIOCSIFADDR") != 0)
                return 12;
        /* lo came up before the failure */
        if ((if_flags("lo") & IFF_UP) == 0)
                return 13;
        /* a tiny what buffer is truncated, not overrun */
        r = net_apply(&cfg, what, 5);
        return r == -ENODEV && strcmp(what, "eth0") == 0 ? 0 : 14;
}

START_TEST(apply_bridge_without_eth0)
{
        ck_assert_int_eq(run_forked(no_eth0_child), 0);
}
END_TEST

/* ---- bridge mode -------------------------------------------------------- */

START_TEST(bridge_end_to_end)
{
        struct launch_spec s = bridge_spec("step-e2e", BR, STEP_ADDR, BR_ADDR);
        _cleanup_(net_veth_freep) struct net_veth *v = NULL;
        struct net_child_config cfg;
        struct step_child child;
        char err[256] = "", host[IFNAMSIZ];
        in_port_t port;
        double t0, t1;
        int lfd, r, others;

        enter_private_netns();
        make_bridge();
        ck_assert_int_eq(net_prepare(&s, &cfg, err, sizeof(err)), 0);
        lfd = listen_on(BR_ADDR, &port);
        child = step_child_start(&cfg, port);

        t0 = now_ms();
        r = net_veth_setup(&s, child.pid, &v, err, sizeof(err));
        t1 = now_ms();
        ck_assert_msg(r == 0, "net_veth_setup: %s (%s)", err, strerror(-r));
        ck_assert_ptr_nonnull(v);
        fprintf(stderr, "net_veth_setup took %.2f ms\n", t1 - t0);

        /* host end: one sdXXXXXXXXXX, on the bridge, up; no eth0 here */
        ck_assert_int_eq(find_host_end(host), 1);
        ck_assert_int_eq(link_master(host), (int)if_nametoindex(BR));
        ck_assert_int_ne(if_flags(host) & IFF_UP, 0);
        ck_assert_uint_eq(if_nametoindex("eth0"), 0);
        ck_assert_int_eq(count_links(BR, &others), 3); /* lo, br-test, host end */

        ck_assert_int_eq(step_child_finish(&child, CMD_APPLY_CONNECT), 0);
        ck_assert_int_eq(accept_byte(lfd), 'x');
        close(lfd);
}
END_TEST

START_TEST(bridge_missing)
{
        struct launch_spec s = bridge_spec("step-missing", "br-missing", STEP_ADDR, NULL);
        struct net_veth *v = NULL;
        struct net_child_config cfg;
        struct step_child child;
        char err[256] = "", host[IFNAMSIZ];
        int r;

        enter_private_netns();
        ck_assert_int_eq(net_prepare(&s, &cfg, err, sizeof(err)), 0);
        child = step_child_start(&cfg, 0);
        r = net_veth_setup(&s, child.pid, &v, err, sizeof(err));
        ck_assert_int_eq(r, -ENODEV);
        ck_assert_ptr_null(v);
        ck_assert_str_eq(err, "bridge 'br-missing' does not exist");
        ck_assert_int_eq(find_host_end(host), 0); /* no veth left here */
        ck_assert_int_eq(step_child_finish(&child, CMD_EXPECT_NO_ETH0), 0); /* nor there */
}
END_TEST

START_TEST(bridge_not_a_bridge)
{
        struct launch_spec s = bridge_spec("step-lo", "lo", STEP_ADDR, NULL);
        struct net_veth *v = NULL;
        struct net_child_config cfg;
        struct step_child child;
        char err[256] = "", host[IFNAMSIZ];

        enter_private_netns();
        ck_assert_int_eq(net_prepare(&s, &cfg, err, sizeof(err)), 0);
        child = step_child_start(&cfg, 0);
        ck_assert_int_eq(net_veth_setup(&s, child.pid, &v, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "'lo' is not a bridge"));
        ck_assert_int_eq(find_host_end(host), 0);
        ck_assert_int_eq(step_child_finish(&child, CMD_EXPECT_NO_ETH0), 0);
}
END_TEST

/* A second step with the same id (same host name) fails with EEXIST and
 * leaves the first step's veth alone. */
START_TEST(bridge_duplicate_name)
{
        struct launch_spec s = bridge_spec("step-dup", BR, STEP_ADDR, NULL);
        _cleanup_(net_veth_freep) struct net_veth *v = NULL;
        struct net_veth *v2 = NULL;
        struct net_child_config cfg;
        struct step_child a, b;
        char err[256] = "", host[IFNAMSIZ];
        unsigned idx;

        enter_private_netns();
        make_bridge();
        ck_assert_int_eq(net_prepare(&s, &cfg, err, sizeof(err)), 0);
        a = step_child_start(&cfg, 0);
        b = step_child_start(&cfg, 0);
        ck_assert_int_eq(net_veth_setup(&s, a.pid, &v, err, sizeof(err)), 0);
        ck_assert_int_eq(find_host_end(host), 1);
        idx = if_nametoindex(host);
        ck_assert_int_eq(net_veth_setup(&s, b.pid, &v2, err, sizeof(err)), -EEXIST);
        ck_assert_ptr_null(v2);
        ck_assert_msg(strstr(err, host) && strstr(err, "already exists"), "err: %s", err);
        ck_assert_uint_eq(if_nametoindex(host), idx);
        ck_assert_int_eq(step_child_finish(&b, CMD_EXPECT_NO_ETH0), 0);
        ck_assert_int_eq(step_child_finish(&a, CMD_EXPECT_ETH0), 0);
}
END_TEST

/* Different ids give different host names; invalid inputs are refused. */
START_TEST(bridge_bad_args)
{
        struct launch_spec s = bridge_spec("step-args", BR, STEP_ADDR, NULL);
        struct net_veth *v = NULL;
        struct net_child_config cfg;
        char err[256] = "", host[IFNAMSIZ];
        pid_t dead;
        int status;

        enter_private_netns();
        make_bridge();
        ck_assert_int_eq(net_prepare(&s, &cfg, err, sizeof(err)), 0);

        /* a pid in our own namespace would put eth0 on this side: refused */
        ck_assert_int_eq(net_veth_setup(&s, getpid(), &v, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "shares our network namespace"));
        /* a pid that does not exist */
        dead = fork();
        if (dead == 0)
                _exit(0);
        ck_assert_int_eq(waitpid(dead, &status, 0), dead);
        ck_assert_int_eq(net_veth_setup(&s, dead, &v, err, sizeof(err)), -ENOENT);
        ck_assert_int_eq(net_veth_setup(&s, 0, &v, err, sizeof(err)), -EINVAL);
        s.step_id = "bad/id";
        ck_assert_int_eq(net_veth_setup(&s, getpid(), &v, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "step id"));
        s.step_id = "step-args";
        s.net = NET_NONE;
        ck_assert_int_eq(net_veth_setup(&s, getpid(), &v, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "not bridge"));
        s.net = NET_BRIDGE;
        s.bridge.bridge = "bad/name";
        ck_assert_int_eq(net_veth_setup(&s, getpid(), &v, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_null(v);
        ck_assert_int_eq(find_host_end(host), 0);
}
END_TEST

START_TEST(veth_free_removes_host_end)
{
        struct launch_spec s = bridge_spec("step-free", BR, STEP_ADDR, NULL);
        struct net_veth *v = NULL;
        struct net_child_config cfg;
        struct step_child child;
        char err[256] = "", host[IFNAMSIZ];

        ck_assert_ptr_null(net_veth_free(NULL));
        enter_private_netns();
        make_bridge();
        ck_assert_int_eq(net_prepare(&s, &cfg, err, sizeof(err)), 0);
        child = step_child_start(&cfg, 0);
        ck_assert_int_eq(net_veth_setup(&s, child.pid, &v, err, sizeof(err)), 0);
        ck_assert_int_eq(find_host_end(host), 1);
        ck_assert_ptr_null(net_veth_free(v));
        /* gone while the step's namespace still lives: free deleted it */
        ck_assert_uint_eq(if_nametoindex(host), 0);
        ck_assert_int_eq(step_child_finish(&child, CMD_EXPECT_NO_ETH0), 0);

        /* free after the namespace (and with it the pair) is gone: harmless */
        child = step_child_start(&cfg, 0);
        ck_assert_int_eq(net_veth_setup(&s, child.pid, &v, err, sizeof(err)), 0);
        ck_assert_int_eq(step_child_finish(&child, CMD_QUIT), 0);
        ck_assert_ptr_null(net_veth_free(v));
        ck_assert_int_eq(find_host_end(host), 0);
}
END_TEST

/* Cost of net_veth_setup (printed), over a few steps. */
START_TEST(veth_setup_cost)
{
        enum { N = 20 };
        double total = 0, max = 0, min = 1e9;
        struct net_child_config cfg;
        char err[256] = "", id[32];

        enter_private_netns();
        make_bridge();
        for (int i = 0; i < N; i++) {
                struct launch_spec s;
                struct net_veth *v = NULL;
                struct step_child child;
                double t0, dt;

                snprintf(id, sizeof(id), "step-cost-%d", i);
                s = bridge_spec(id, BR, STEP_ADDR, BR_ADDR);
                ck_assert_int_eq(net_prepare(&s, &cfg, err, sizeof(err)), 0);
                child = step_child_start(&cfg, 0);
                t0 = now_ms();
                ck_assert_msg(net_veth_setup(&s, child.pid, &v, err, sizeof(err)) == 0, "%s", err);
                dt = now_ms() - t0;
                total += dt;
                max = MAX(max, dt);
                min = MIN(min, dt);
                net_veth_free(v);
                ck_assert_int_eq(step_child_finish(&child, CMD_QUIT), 0);
        }
        fprintf(stderr, "net_veth_setup over %d steps: mean %.2f ms, min %.2f ms, max %.2f ms\n",
                N, total / N, min, max);
        ck_assert(max < 2000); /* sanity: a hang would show here */
}
END_TEST

static Suite *net_suite(void)
{
        Suite *s = suite_create("sandbox-net");
        TCase *t = tcase_create("prepare");

        tcase_add_test(t, prepare_good);
        tcase_add_test(t, prepare_none_host);
        tcase_add_loop_test(t, prepare_bad, 0, (int)ARRAY_SIZE(bad_cases));
        tcase_add_test(t, prepare_hostile);
        suite_add_tcase(s, t);

        t = tcase_create("apply");
        tcase_add_test(t, apply_none);
        tcase_add_test(t, apply_host);
        tcase_add_test(t, apply_bridge_without_eth0);
        suite_add_tcase(s, t);

        t = tcase_create("bridge");
        tcase_set_timeout(t, 60);
        tcase_add_test(t, bridge_end_to_end);
        tcase_add_test(t, bridge_missing);
        tcase_add_test(t, bridge_not_a_bridge);
        tcase_add_test(t, bridge_duplicate_name);
        tcase_add_test(t, bridge_bad_args);
        tcase_add_test(t, veth_free_removes_host_end);
        tcase_add_test(t, veth_setup_cost);
        suite_add_tcase(s, t);
        return s;
}

int main(void)
{
        SRunner *sr = srunner_create(net_suite());
        int failed;

        /* Tests unshare their own network namespace: each needs its own process. */
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
