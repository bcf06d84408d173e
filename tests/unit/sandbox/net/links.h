/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers of the network tests, for the namespace the caller is in. */

double now_ms(void);                            /* CLOCK_MONOTONIC */
int if_flags(const char *ifname);               /* IFF_* of ifname, or -errno */
/* Number of interfaces; *ret_others: those not named lo (or `also`). */
int count_links(const char *also, int *ret_others);
void enter_private_netns(void);                 /* unshare(CLONE_NEWNET), or fail the test */
