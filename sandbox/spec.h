/* SPDX-License-Identifier: MIT */
#pragma once

/* The launch spec: the seam between policy/ (which decides) and sandbox/
 * (which obeys). A reviewer reading one spec knows exactly what a step can
 * see and do. It is plain data: no fds, no JSON, no project lookups.
 *
 * policy/ builds specs (policy_resolve), `stepd exec` builds one from its
 * command line; both through launch_spec_new() so every field starts at the
 * secure default documented below. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"

enum net_mode {
        NET_NONE,   /* own network namespace, only lo, up (default) */
        NET_HOST,   /* the host's network namespace */
        NET_BRIDGE, /* own namespace + veth pair, host end on a bridge */
        _NET_MODE_MAX,
};
const char *net_mode_to_string(enum net_mode m);
int net_mode_from_string(const char *s); /* -EINVAL on unknown */

struct bind_mount {
        char *source; /* absolute host path */
        char *target; /* absolute path inside the sandbox */
        bool writable;
};

/* seccomp actions, the subset of the OCI runtime spec stepd supports. */
enum seccomp_action {
        SECCOMP_ACT_KILL_PROCESS_, /* SCMP_ACT_KILL_PROCESS */
        SECCOMP_ACT_KILL_THREAD_,  /* SCMP_ACT_KILL / SCMP_ACT_KILL_THREAD */
        SECCOMP_ACT_TRAP_,         /* SCMP_ACT_TRAP */
        SECCOMP_ACT_ERRNO_,        /* SCMP_ACT_ERRNO (errno_ret) */
        SECCOMP_ACT_TRACE_,        /* SCMP_ACT_TRACE (errno_ret as msg) */
        SECCOMP_ACT_ALLOW_,        /* SCMP_ACT_ALLOW */
        SECCOMP_ACT_LOG_,          /* SCMP_ACT_LOG */
        SECCOMP_ACT_NOTIFY_,       /* SCMP_ACT_NOTIFY: reserved for user notification */
        _SECCOMP_ACT_MAX,
};

enum seccomp_op {
        SECCOMP_OP_NE, SECCOMP_OP_LT, SECCOMP_OP_LE, SECCOMP_OP_EQ,
        SECCOMP_OP_GE, SECCOMP_OP_GT, SECCOMP_OP_MASKED_EQ,
        _SECCOMP_OP_MAX,
};

struct seccomp_arg {
        unsigned index; /* 0..5 */
        uint64_t value;     /* for MASKED_EQ: the mask (OCI/libseccomp order) */
        uint64_t value_two; /* for MASKED_EQ: the value the masked argument must equal */
        enum seccomp_op op;
};

struct seccomp_rule {
        char *syscall;               /* name, resolved by libseccomp */
        enum seccomp_action action;
        int errno_ret;               /* for ERRNO; 0 means EPERM */
        struct seccomp_arg *args;    /* all must match (AND) */
        size_t n_args;
};

/* A parsed, validated profile (from the OCI/Docker JSON format). */
struct seccomp_profile {
        char *name;
        enum seccomp_action default_action;
        int default_errno_ret;       /* 0 means EPERM */
        char **architectures;        /* libseccomp names ("x86_64", "x86", "x32"); NULL: native only */
        struct seccomp_rule *rules;
        size_t n_rules;
        unsigned refcount;           /* shared by specs; see seccomp_profile_ref */
        /* Compiled BPF cache, filled by sandbox/ (seccomp_prepare) on first use,
         * with what the compilation skipped (names unknown to libseccomp). */
        void *bpf;
        size_t bpf_len;
        unsigned bpf_skipped;
        char *bpf_note;
};
struct seccomp_profile *seccomp_profile_ref(struct seccomp_profile *p);
struct seccomp_profile *seccomp_profile_unref(struct seccomp_profile *p);

struct step_limits {
        uint64_t memory_bytes;  /* 0: unlimited. Default 1 GiB */
        uint64_t pids_max;      /* 0: unlimited. Default 512 */
        uint32_t cpu_millis;    /* cpu quota in thousandths of a cpu; 0: unlimited. Default 1000 */
        uint64_t nofile;        /* RLIMIT_NOFILE. Default 1024 */
        uint64_t fsize_bytes;   /* RLIMIT_FSIZE; 0: unlimited. Default 1 GiB */
        uint64_t tmp_bytes;     /* size of the private /tmp tmpfs. Default 256 MiB */
};

struct net_bridge {
        char *bridge;        /* host bridge name, must exist */
        char *address;       /* "10.77.0.5/24" for the step's eth0 */
        char *gateway;       /* "10.77.0.1" default route, may be NULL */
};

/* A new pointer field must also be copied in plan.c (copy_spec): the
 * step's init reads the spec from that copy, and has no heap. */
struct launch_spec {
        char *project;         /* validated project name (cgroup, hostname, logs) */
        char *step_id;         /* validated step id (cgroup and veth names) */

        char **argv;           /* argv[0]: absolute, or looked up in PATH of envp inside */
        char **envp;           /* exactly the step's environment */

        uid_t uid;             /* never 0 unless allow_root */
        gid_t gid;
        bool allow_root;       /* admit uid/gid 0 (even without capabilities, uid 0
                                * owns much of /proc and the host's files) */
        bool user_namespace;   /* also unshare a user namespace: inside, the step is uid 0
                                * without capabilities; that is uid/gid above on the host,
                                * the only ids mapped */

        enum net_mode net;
        struct net_bridge bridge;  /* for NET_BRIDGE */
        bool reuse_netns;      /* NET_NONE: hand a spare namespace back when the step has
                                * ended (netns_pool_give: kept for a later step of this
                                * uid, only if unused) */
        char *hostname;        /* default "stepd" */

        char *rootfs;          /* NULL: a fresh root of read-only system binds */
        char **system_binds;   /* host folders bound read-only when rootfs is NULL;
                                * default: /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc
                                * (those that exist; symlinks kept as symlinks) */
        struct bind_mount *binds;  /* extra binds */
        size_t n_binds;
        char **masked;         /* paths inside covered by an empty read-only tmpfs when
                                * they exist (stepd's own configuration, say);
                                * default: /etc/stepd and the built-in configuration
                                * folder (STEPD_SYSCONFDIR) */

        char *workdir;         /* host path of the step's working folder (exists, owned by uid) */
        char *workdir_target;  /* where it appears inside, and the cwd. Default "/work" */

        struct step_limits limits;
        uint64_t timeout_ms;       /* 0: none; enforced by the caller (exec, supervisor) */
        uint64_t kill_grace_ms;    /* SIGTERM → SIGKILL grace at teardown. Default 2000 */

        struct seccomp_profile *seccomp; /* NULL: no filter (only with explicit opt-out) */
};

/* Allocates a spec with every secure default filled in; NULL on ENOMEM. */
struct launch_spec *launch_spec_new(void);
struct launch_spec *launch_spec_free(struct launch_spec *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct launch_spec *, launch_spec_free);
int launch_spec_add_bind(struct launch_spec *s, const char *source, const char *target,
                         bool writable);
/* Checks internal consistency (absolute paths, names, argv present, ...).
 * On failure writes a human-readable reason into err. */
int launch_spec_validate(const struct launch_spec *s, char *err, size_t err_len);
