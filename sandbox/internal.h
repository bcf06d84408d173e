/* SPDX-License-Identifier: MIT */
#pragma once

/* Private to sandbox/: the plan the parent prepares for the child, the
 * messages on the sync socket, and the child-side entry points. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/capability.h>

#include "sandbox/cgroup.h"
#include "sandbox/net.h"
#include "sandbox/sandbox.h"

/* Setup steps. The names appear in setup-failed results and are what
 * STEPD_TEST_FAIL_STEP takes. The init's order depends on the user
 * namespace (see child.c: init_steps_*); the payload's is this one. */
enum setup_step {
        /* in the step's init (pid 1 of the new pid namespace), as root;
         * STEP_OOM_SCORE..STEP_NNP too, where it becomes the step before
         * the payload starts (child.c: init_drop_steps) */
        STEP_CGROUP,
        STEP_WAIT_GO,
        STEP_SOURCES,
        STEP_USERNS,
        STEP_CGROUP_NS,
        STEP_NETNS,
        STEP_HOSTNAME,
        STEP_MOUNTS,
        STEP_NET,
        STEP_FORK,
        /* in the payload process, before exec (STEP_FORK: starting it) */
        STEP_STDIO,
        STEP_SESSION,
        STEP_OOM_SCORE,
        STEP_RLIMITS,
        STEP_CWD,
        STEP_CAPS,
        STEP_IDS,
        STEP_NNP,
        STEP_FDS,
        STEP_SECCOMP,
        STEP_EXEC,
        _STEP_MAX,
};
const char *setup_step_to_string(enum setup_step s);
int setup_step_from_string(const char *s);

struct setup_report {
        uint32_t step;   /* enum setup_step */
        int32_t err;     /* positive errno */
        char what[96];   /* the object it failed on */
};

enum sync_msg_type {
        SYNC_MSG_STARTED = 1,      /* the payload has exec'd */
        SYNC_MSG_SETUP_FAILED = 2, /* report holds the failure */
        SYNC_MSG_ENDED = 3,        /* the payload ended; status/killed hold how */
};

/* One SOCK_SEQPACKET message from the init to the parent (< PIPE_BUF). */
struct sync_msg {
        uint32_t type;
        int32_t wait_status;       /* ENDED: the payload's wait status */
        uint32_t killed;           /* ENDED: processes left after it ended */
        uint32_t terminated;       /* ENDED: teardown began by request (SIGTERM from outside) */
        uint32_t outside;          /* ENDED: the init is out of the step's cgroup (v1), so the
                                    * cgroup is empty now, before the init's own exit */
        struct setup_report report;
};

#define EXIT_SETUP 126

/* The "go" message (parent → init): 'G' and how many of its fds are for
 * joining. v1: the step's `tasks` file in each hierarchy, for the init to
 * move itself in; then, optionally, the launcher's own in the same order,
 * for it to move out again once the payload runs. */
#define GO_FDS_MAX 8

/* What came with "go", filled in by the init (in its own copy of memory). */
struct go_fds {
        bool want_cgroup_fds;        /* v1: "go" without them is refused */
        size_t n;
        size_t n_join;               /* fd[0, n_join): join; fd[n_join, n): leave */
        int fd[GO_FDS_MAX];
};

/* Everything the child needs, resolved in the parent: the child only makes
 * system calls (no allocation, no stdio, no libraries that allocate). */
struct sandbox_plan {
        const struct launch_spec *spec;
        int sync_fd;                 /* child's end of the sync socketpair */
        int stdin_fd, stdout_fd, stderr_fd;
        struct go_fds *go;           /* filled by the child */
        int *source_fds;             /* filled by the child: [0] the working folder,
                                      * [1 + i] spec->binds[i]; -1 until opened */
        struct net_child_config net;
        int netns_fd;                /* a spare network namespace to enter, or -1: make one */
        const void *bpf;
        size_t bpf_len;
        int cap_last;                /* highest capability number of this kernel */
        int fail_step;               /* test hook: -1 or the step to fail */
        const char *path_env;        /* PATH from the spec's environment */
        uid_t run_uid;               /* ids to switch to, as seen inside: the spec's, */
        gid_t run_gid;               /* or 0 in a user namespace (mapped to the spec's) */
};

/* plan.c: the init's memory. plan_freeze() copies the plan and everything
 * it points to into one private mapping (NULL, errno: cannot map), which
 * the init is cloned with and the launcher unmaps after the clone;
 * plan_heap_exclude(true) before the clone leaves the malloc heap out of
 * the init's copy of the process, (false) after it puts it back.
 * plan_heap_init() finds the heap, once per process. Calls come in pairs,
 * true then false, by one thread (a lock is held in between).
 * plan_thread_stack(true) adds the calling thread's stack to what is left
 * out (worker.c, as a pool's worker starts), (false) takes it off again. */
struct sandbox_plan *plan_freeze(const struct sandbox_plan *p, size_t *ret_size);
void plan_thaw(struct sandbox_plan *frozen, size_t size);
void plan_heap_init(void);
int plan_heap_exclude(bool exclude);
void plan_thread_stack(bool add);

/* child.c */
_noreturn_ void sandbox_child(const struct sandbox_plan *p);

/* mount.c (child side) */
int mount_apply(const struct sandbox_plan *p, char *what, size_t what_len);

/* identity.c (child side) */
int caps_apply(const struct sandbox_plan *p, char *what, size_t what_len);
int ids_apply(const struct sandbox_plan *p, char *what, size_t what_len);
/* [setgroups(none)], setresgid, setresuid, by bare syscalls (no glibc setxid) */
int sys_set_ids(uid_t uid, gid_t gid, bool clear_groups);
int nnp_apply(const struct sandbox_plan *p, char *what, size_t what_len);
int rlimits_apply(const struct sandbox_plan *p, char *what, size_t what_len);

/* context.c */
struct cgroup_manager *sandbox_context_cgroups(struct sandbox_context *c); /* NULL before prepare */
struct cgroup_pool *sandbox_context_pool(struct sandbox_context *c);       /* NULL: none */
struct netns_pool *sandbox_context_netns_pool(struct sandbox_context *c);  /* NULL: none */
enum cgroup_layout sandbox_context_layout(const struct sandbox_context *c);
int sandbox_context_cap_last(const struct sandbox_context *c);
