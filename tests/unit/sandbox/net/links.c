/* SPDX-License-Identifier: MIT */
/* Helpers shared by the network tests (see links.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare */
#endif
#include "tests/unit/sandbox/net/links.h"

#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int if_flags(const char *ifname)
{
        struct ifreq ifr = { 0 };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

        if (fd < 0)
                return -errno;
        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
        r = ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ? -errno : ifr.ifr_flags;
        close(fd);
        return r;
}

/* Number of interfaces, and whether all are named lo (or `also`). */
int count_links(const char *also, int *ret_others)
{
        struct if_nameindex *ni = if_nameindex();
        int n = 0, others = 0;

        if (!ni)
                return -errno;
        for (struct if_nameindex *p = ni; p->if_index; p++, n++)
                if (strcmp(p->if_name, "lo") != 0 && (!also || strcmp(p->if_name, also) != 0))
                        others++;
        if_freenameindex(ni);
        *ret_others = others;
        return n;
}

void enter_private_netns(void)
{
        ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}
