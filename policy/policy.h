/* SPDX-License-Identifier: MIT */
#pragma once

/* policy/: read and validate configuration, answer "may this peer do this
 * with this project?", and resolve a step request into the launch spec that
 * sandbox/ obeys. A loaded configuration is immutable and reference counted:
 * a reload builds a new one; steps keep the one they were resolved under.
 *
 * Files (paths relative to the configuration folder, default /etc/stepd):
 *   stepd.json           daemon settings (socket, state, uid range, capacity...)
 *   projects.d/NAME.json one project each
 *   seccomp.d/NAME.json  seccomp profiles in the OCI/Docker format
 * With none of them, a built-in default applies (see docs/policy.md). */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/macro.h"
#include "sandbox/spec.h"

/* Where and why a configuration file is wrong: file, line, column, the key's
 * path ("limits.memory") and what was expected. */
struct policy_error {
        char file[256];
        int line;   /* 0: not known (whole file) */
        int column;
        char key[128];
        char message[512];
};
/* "FILE:LINE:COL: KEY: MESSAGE" */
void policy_error_format(const struct policy_error *e, char *buf, size_t len);

struct daemon_settings {
        char *socket_path;       /* default STEPD_SOCKET */
        mode_t socket_mode;      /* default 0660 */
        char *socket_group;      /* default "stepd" if that group exists, else none */
        char *state_dir;         /* default STEPD_STATEDIR */
        uid_t uid_min, uid_max;  /* allocation range for projects without an explicit user */
        unsigned capacity;       /* max running steps; default: number of CPUs * 2 */
        unsigned queue_limit;    /* max queued steps; default 64 */
        uint64_t default_timeout_ms; /* default 1 h */
        uint64_t retention_sec;  /* keep ended steps' records; default 7 days */
        uint64_t kill_grace_ms;  /* default 2000 */
        bool root_always_allowed; /* default true */
        bool reuse_network_namespaces; /* default true: see netns_pool_give() */
};

struct policy_config;

/* Load and validate a configuration folder (NULL: STEPD_SYSCONFDIR). A
 * missing folder or missing files mean the built-in defaults. On error
 * returns -EINVAL (or -errno) with *err filled; nothing is half-loaded. */
int policy_load(const char *config_dir, struct policy_config **ret, struct policy_error *err);

/* Options for policy_load_with(). */
struct policy_load_options {
        const char *state_dir; /* NULL: from stepd.json (or STEPD_STATEDIR). The daemon's
                                * --state goes here: it is in force for validation
                                * (mount sources may not reach into it), for
                                * policy_settings()->state_dir and for uid allocation. */
};
int policy_load_with(const char *config_dir, const struct policy_load_options *o,
                     struct policy_config **ret, struct policy_error *err);
struct policy_config *policy_config_ref(struct policy_config *c);
struct policy_config *policy_config_unref(struct policy_config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct policy_config *, policy_config_unref);

const struct daemon_settings *policy_settings(const struct policy_config *c);

/* The client, from SO_PEERCRED plus its supplementary groups (read by the
 * caller from /proc/<pid>/status or getgrouplist). */
struct peer {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        const gid_t *groups;
        size_t n_groups;
};

enum policy_action {
        POLICY_RUN,
        POLICY_ATTACH, /* attach, logs, result */
        POLICY_CANCEL,
        _POLICY_ACTION_MAX,
};

/* 0: allowed. -ENOENT: no such project (why says so). -EINVAL: not a valid
 * project name. -EACCES: denied, why says which rule. */
int policy_authorize(const struct policy_config *c, const char *project, const struct peer *p,
                     enum policy_action a, char *why, size_t why_len);

/* What a client asked for, already decoded by ipc/. */
struct step_request {
        const char *project;
        char *const *argv;      /* NULL-terminated; argv or script */
        const char *script;
        const char *interpreter; /* NULL: /bin/sh */
        char *const *env;       /* "KEY=VALUE", filtered by the project's allowlist */
        uint64_t timeout_ms;    /* 0: policy default */
};

/* Resolve a request for a project into a full spec: identity (explicit, or
 * allocated once from the uid range and remembered under state_dir), limits,
 * network, mounts, root filesystem, environment (allowlist + fixed
 * variables), seccomp profile, timeout (capped by the policy). The caller
 * fills in spec->step_id and spec->workdir (it creates the folder), and for
 * scripts, where the script file is: for a script, spec->argv is
 * { interpreter } and the caller appends the script's path as the step sees
 * it (strv_push(&spec->argv, "/work/.stepd-script")). Request variables the
 * allowlist does not admit are dropped; the policy's fixed variables win.
 * -EINVAL with err on a request the policy refuses (e.g. timeout above the
 * cap, malformed env entry); -ENOENT for an unknown project; other -errno
 * when the uid cannot be allocated (err says why). */
int policy_resolve(const struct policy_config *c, const struct step_request *req,
                   struct launch_spec **ret, char *err, size_t err_len);

/* Whether the project keeps a persistent cache folder (mounted at /cache). */
bool policy_project_cache(const struct policy_config *c, const char *project);
/* Short hex hash of the project's effective policy, for audit lines. */
const char *policy_project_hash(const struct policy_config *c, const char *project);

/* The pool a project's steps go to (default "default"); NULL: no such project. */
const char *policy_project_pool(const struct policy_config *c, const char *project);

/* Pools and agents from stepd.json, for the (later) remote executor. Without
 * "pools" there is one pool, "default", whose only member is "builtin" (this
 * host). Members are "builtin" or names of agents. */
struct policy_pool {
        char *name;
        char **members;
};
struct policy_agent {
        char *name;
        char *address;        /* "host:port" ("[v6]:port") */
        char *thumbprint;     /* 64 lowercase hex digits: SHA-256 of the agent's certificate */
        char **labels;        /* "key=value", sorted */
};
size_t policy_pools(const struct policy_config *c, const struct policy_pool **ret);
size_t policy_agents(const struct policy_config *c, const struct policy_agent **ret);
const struct policy_pool *policy_pool_find(const struct policy_config *c, const char *name);
const struct policy_agent *policy_agent_find(const struct policy_config *c, const char *name);
/* stepd.json's "tls", "agent" and "health_interval" as given (an object
 * holding those present, or NULL); supervisor/ checks them (docs/agents.md). */
struct json_t;
const struct json_t *policy_link_settings(const struct policy_config *c);

/* The configuration folder it was loaded from. */
const char *policy_config_dir(const struct policy_config *c);
/* Names of the configured projects (sorted; a copy, free with strv_free).
 * Empty when the built-in default admits every valid name. NULL on ENOMEM. */
char **policy_project_names(const struct policy_config *c);
/* True when no project is configured and any valid project name runs under
 * the built-in default policy. */
bool policy_builtin_projects(const struct policy_config *c);

/* Write to f, for people, exactly what a step of this project can see and do
 * (stepd check-config PROJECT). Does not allocate a uid: an unallocated
 * project shows the uid it would get. -ENOENT/-EINVAL as policy_authorize. */
int policy_explain(const struct policy_config *c, const char *project, FILE *f, char *err,
                   size_t err_len);

/* Things that load fine but will probably not work or not do what the admin
 * means (a bridge that does not exist, nobody admitted to a project, ...):
 * one sentence each, for `stepd check-config` and the daemon's log. Returns
 * a vector (free with strv_free), empty when all is well; NULL on ENOMEM. */
char **policy_warnings(const struct policy_config *c);
