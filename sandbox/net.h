/* SPDX-License-Identifier: MIT */
#pragma once

/* Networking of a step. `none`: own namespace, lo up. `host`: nothing to do.
 * `bridge`: the parent creates a veth pair with libnl, the peer end born in
 * the child's network namespace (by pid) as "eth0", the host end attached to
 * the bridge and up; the child configures eth0 (address, up, default route)
 * and lo with plain ioctls (no allocation after clone). */

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/macro.h"
#include "sandbox/spec.h"

/* Parsed in the parent, used by the child. */
struct net_child_config {
        enum net_mode mode;
        struct in_addr address;  /* bridge only */
        unsigned prefix_len;
        struct in_addr gateway;  /* 0.0.0.0: no default route */
};

/* Parent: parse spec->bridge into cfg (validates address/prefix/gateway). */
int net_prepare(const struct launch_spec *spec, struct net_child_config *ret, char *err,
                size_t err_len);

struct net_veth;
/* Parent, after clone, before "go": create the veth pair, peer into pid's
 * netns as eth0, host end on the bridge, up. Name derived from step_id. */
int net_veth_setup(const struct launch_spec *spec, pid_t pid, struct net_veth **ret, char *err,
                   size_t err_len);
/* Remove the host end (the kernel removes the pair with the namespace too). */
struct net_veth *net_veth_free(struct net_veth *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct net_veth *, net_veth_free);

/* Child, in its own network namespace: lo up; for bridge also eth0.
 * what: the interface it failed on. */
int net_apply(const struct net_child_config *cfg, char *what, size_t what_len);
