/* SPDX-License-Identifier: MIT */
#pragma once

/* Networking of a step. `none`: own namespace, lo up. `host`: nothing to do.
 * `bridge`: the parent creates a veth pair with libnl, the peer end born in
 * the child's network namespace (by pid) as "eth0", the host end attached to
 * the bridge and up; the child configures eth0 (address, up, default route)
 * and lo with plain ioctls (no allocation after clone). */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"
#include "sandbox/sandbox.h"
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

/* Network namespaces made ahead (netns-pool.c), for a long-lived launcher.
 * Making a step's namespace is ~1 ms of kernel work (sysctl tables, lo)
 * that would otherwise sit in every launch of a "none" step, in its init.
 * A worker thread keeps `spares` fresh namespaces with lo up, made when a
 * CPU is idle; a step's init enters one with setns() instead of making its
 * own. A step that has ended may hand its namespace back: it serves a
 * later step of the same uid (project) only if nothing in it shows it was
 * used (no socket left, every counter as in a new one); a used one is
 * closed (at most 16 kept, besides `spares` new ones). What differs
 * from the init's own unshare is who pays: a spare's kernel memory is
 * charged to the launcher's cgroup (on v2, an init's own would be charged
 * to the step's). Not for steps in a user namespace (their init may enter
 * only a namespace owned by their own user namespace). */
struct netns_pool;
int netns_pool_new(unsigned spares, struct netns_pool **ret, char *err, size_t err_len);
/* Closes the spares (their namespaces go) and stops the worker. */
struct netns_pool *netns_pool_free(struct netns_pool *p);
/* An O_CLOEXEC fd of a namespace for a step of `owner`, now the caller's:
 * the last one owner's steps handed back unused, else a new one; -EAGAIN:
 * none ready, or the worker holds the lock (never waits for it; the worker
 * makes more), -EINVAL: no pool. */
int netns_pool_take(struct netns_pool *p, uid_t owner);
/* Hand back the namespace fd a step of `owner` (its uid) took, once the
 * step has ended and every process of it is gone (its init reaped): the
 * worker keeps it for owner's next take if it is as one just made (see
 * netns-pool.c), else closes it. Takes fd in every case; never waits for
 * the pool's lock (with it busy, a small mailbox takes the fd; only with
 * that full too, and with no pool, is the fd just closed). */
void netns_pool_give(struct netns_pool *p, int fd, uid_t owner);
void netns_pool_stats(struct netns_pool *p, struct sandbox_spares *ret);
