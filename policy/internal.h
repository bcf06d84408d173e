/* SPDX-License-Identifier: MIT */
#pragma once

/* Private to policy/: the loaded configuration's shape, shared by the loader
 * (config.c, settings.c, project.c), authorization, resolution, uid
 * allocation and the explainer. Everything here is immutable once
 * policy_load() returns it. */

#include "policy/policy.h"

#define POLICY_DEFAULT_PROFILE "default"
#define POLICY_UNCONFINED "unconfined"
#define POLICY_DEFAULT_POOL "default"
#define POLICY_BUILTIN_MEMBER "builtin"
#define POLICY_FILE_MAX (1024 * 1024)

struct project_policy {
        char *name;
        char *file;    /* where it is defined */
        char hash[17]; /* of its canonical JSON */

        bool explicit_uid, explicit_gid;
        uid_t uid; /* when explicit_uid */
        gid_t gid; /* when explicit_gid (or the user's primary group) */

        uid_t *allow_uids;
        size_t n_allow_uids;
        gid_t *allow_gids;
        size_t n_allow_gids;

        struct step_limits limits;
        enum net_mode net;
        struct net_bridge bridge;
        struct bind_mount *mounts;
        size_t n_mounts;
        char *rootfs;
        char *hostname;
        bool user_namespace;

        char **env_allow; /* "NAME" or "PREFIX*" */
        char **env;       /* "NAME=value", fixed */

        char *seccomp_name;              /* "default", a seccomp.d name, or "unconfined" */
        struct seccomp_profile *seccomp; /* a reference; NULL only for "unconfined" */

        uint64_t timeout_ms;
        uint64_t timeout_max_ms;
        char *pool;
        bool cache;
};

struct profile_entry {
        char *name;
        char *file; /* NULL: built in */
        struct seccomp_profile *profile;
};

struct policy_config {
        unsigned refcount;
        char *config_dir;
        struct daemon_settings settings;

        bool builtin_projects; /* no project configured: any valid name, template below */
        struct project_policy template_project;
        struct project_policy *projects; /* sorted by name */
        size_t n_projects;

        struct profile_entry *profiles;
        size_t n_profiles;
        struct policy_pool *pools;
        size_t n_pools;
        struct policy_agent *agents;
        size_t n_agents;
        struct json_t *link_settings; /* "tls", "agent", "health_interval": checked by supervisor/ */

        /* Allocated uids already read (or written) and checked under this
         * configuration: a step need not touch the state folder or the user
         * database again. A reload starts afresh. Not part of what the
         * configuration says, so mutable behind the const API. */
        struct id_cache_entry {
                char *project;
                uid_t uid;
        } *id_cache;
        size_t n_id_cache;
};

/* config.c */
const struct project_policy *policy_find_project(const struct policy_config *c, const char *project,
                                                 int *reterr, char *why, size_t why_len);
const struct profile_entry *policy_find_profile(const struct policy_config *c, const char *name);
void project_policy_done(struct project_policy *p);

/* settings.c: stepd.json (daemon settings, pools, agents). */
struct jctx;
struct json_t;
int settings_defaults(struct daemon_settings *s);
void settings_done(struct daemon_settings *s);
int settings_parse(const struct jctx *x, struct json_t *root, struct policy_config *c,
                   const char *state_override);
void pools_agents_done(struct policy_config *c);
int pools_default(struct policy_config *c);

/* project.c: one project object (from projects.d/NAME.json or stepd.json "projects"). */
void project_defaults(struct project_policy *p, const struct policy_config *c);
int project_parse(const struct jctx *x, const char *path, struct json_t *obj,
                  const struct policy_config *c, struct project_policy *p);

/* profiles.c: seccomp.d and the built-in default. */
int policy_scan_json_dir(const char *dir, char ***ret);
int profiles_load(struct policy_config *c, struct policy_error *err);
void profiles_done(struct policy_config *c);

/* ids.c: per-project identity. */
struct project_ids {
        uid_t uid;
        gid_t gid;
        bool allocated; /* from the range (and remembered) */
        bool pending;   /* explain only: not yet allocated, this is the next free one */
};
/* allocate=false: never writes; reports the uid it would take. */
int ids_resolve(const struct policy_config *c, const struct project_policy *p, const char *name,
                bool allocate, struct project_ids *ret, char *err, size_t err_len);

/* resolve.c */
int policy_env_set(char ***env, const char *name, size_t name_len, const char *value);
int resolve_env(const struct project_policy *p, char *const *req_env, char ***ret, char *err,
                size_t err_len);
