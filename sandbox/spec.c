/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "sandbox/spec.h"

static const char *const net_mode_names[_NET_MODE_MAX] = {
        [NET_NONE] = "none",
        [NET_HOST] = "host",
        [NET_BRIDGE] = "bridge",
};

const char *net_mode_to_string(enum net_mode m)
{
        return (unsigned)m < _NET_MODE_MAX ? net_mode_names[m] : "unknown";
}

int net_mode_from_string(const char *s)
{
        for (int i = 0; i < _NET_MODE_MAX; i++)
                if (s && strcmp(s, net_mode_names[i]) == 0)
                        return i;
        return -EINVAL;
}

struct seccomp_profile *seccomp_profile_ref(struct seccomp_profile *p)
{
        if (p)
                p->refcount++;
        return p;
}

struct seccomp_profile *seccomp_profile_unref(struct seccomp_profile *p)
{
        if (!p || --p->refcount > 0)
                return NULL;
        for (size_t i = 0; i < p->n_rules; i++) {
                free(p->rules[i].syscall);
                free(p->rules[i].args);
        }
        free(p->rules);
        strv_free(p->architectures);
        free(p->name);
        free(p->bpf);
        free(p->bpf_note);
        free(p);
        return NULL;
}

static const char *const default_system_binds[] = {
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
};

struct launch_spec *launch_spec_new(void)
{
        _cleanup_(launch_spec_freep) struct launch_spec *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->uid = 65534;
        s->gid = 65534;
        s->net = NET_NONE;
        s->hostname = strdup("stepd");
        s->workdir_target = strdup("/work");
        s->limits = (struct step_limits){
                .memory_bytes = 1ULL << 30,
                .pids_max = 512,
                .cpu_millis = 1000,
                .nofile = 1024,
                .fsize_bytes = 1ULL << 30,
                .tmp_bytes = 256ULL << 20,
        };
        s->kill_grace_ms = 2000;
        if (!s->hostname || !s->workdir_target)
                return NULL;
        for (size_t i = 0; i < ARRAY_SIZE(default_system_binds); i++)
                if (strv_push(&s->system_binds, default_system_binds[i]) < 0)
                        return NULL;
        /* other projects' policies live there; a step has no business reading
         * them (the built-in folder is under /usr with the default prefix) */
        if (strv_push(&s->masked, "/etc/stepd") < 0)
                return NULL;
        if (strcmp(STEPD_SYSCONFDIR, "/etc/stepd") != 0 &&
            strv_push(&s->masked, STEPD_SYSCONFDIR) < 0)
                return NULL;
        return TAKE_PTR(s);
}

struct launch_spec *launch_spec_free(struct launch_spec *s)
{
        if (!s)
                return NULL;
        free(s->project);
        free(s->step_id);
        strv_free(s->argv);
        strv_free(s->envp);
        free(s->bridge.bridge);
        free(s->bridge.address);
        free(s->bridge.gateway);
        free(s->hostname);
        free(s->rootfs);
        strv_free(s->system_binds);
        strv_free(s->masked);
        for (size_t i = 0; i < s->n_binds; i++) {
                free(s->binds[i].source);
                free(s->binds[i].target);
        }
        free(s->binds);
        free(s->workdir);
        free(s->workdir_target);
        seccomp_profile_unref(s->seccomp);
        free(s);
        return NULL;
}

int launch_spec_add_bind(struct launch_spec *s, const char *source, const char *target,
                         bool writable)
{
        struct bind_mount *n = realloc(s->binds, (s->n_binds + 1) * sizeof(*n));

        if (!n)
                return -ENOMEM;
        s->binds = n;
        n[s->n_binds] = (struct bind_mount){ .source = strdup(source),
                                             .target = strdup(target),
                                             .writable = writable };
        if (!n[s->n_binds].source || !n[s->n_binds].target) {
                free(n[s->n_binds].source);
                free(n[s->n_binds].target);
                return -ENOMEM;
        }
        s->n_binds++;
        return 0;
}

/* A path inside the sandbox: absolute, no "..", no "//" tricks, not "/". */
static bool sandbox_path_valid(const char *p)
{
        if (!p || p[0] != '/' || strlen(p) >= 4096 || strcmp(p, "/") == 0)
                return false;
        for (const char *c = p; *c; c++) {
                if (c[0] == '/' && c[1] == '/')
                        return false;
                if (c[0] == '/' && c[1] == '.' && (c[2] == '/' || c[2] == 0))
                        return false;
                if (c[0] == '/' && c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == 0))
                        return false;
        }
        return true;
}

#define FAIL(...)                                                                                  \
        do {                                                                                       \
                snprintf(err, err_len, __VA_ARGS__);                                               \
                return -EINVAL;                                                                    \
        } while (0)

int launch_spec_validate(const struct launch_spec *s, char *err, size_t err_len)
{
        if (!project_name_valid(s->project))
                FAIL("invalid project name '%s'", s->project ? s->project : "");
        if (!step_id_valid(s->step_id))
                FAIL("invalid step id '%s'", s->step_id ? s->step_id : "");
        if (!s->argv || !s->argv[0] || !s->argv[0][0])
                FAIL("no command given");
        if ((s->uid == 0 || s->gid == 0) && !s->allow_root)
                FAIL("refusing to run a step as uid or gid 0: without capabilities it still "
                     "owns much of /proc and of the host's files");
        if (!s->workdir || s->workdir[0] != '/')
                FAIL("working folder must be an absolute path");
        if (!sandbox_path_valid(s->workdir_target))
                FAIL("invalid working folder target '%s'", s->workdir_target);
        if (s->rootfs && s->rootfs[0] != '/')
                FAIL("root filesystem must be an absolute path");
        for (char **b = s->system_binds; b && *b; b++)
                if (!sandbox_path_valid(*b))
                        FAIL("invalid system folder '%s'", *b);
        for (char **b = s->masked; b && *b; b++)
                if (!sandbox_path_valid(*b))
                        FAIL("invalid masked path '%s'", *b);
        for (size_t i = 0; i < s->n_binds; i++) {
                if (!s->binds[i].source || s->binds[i].source[0] != '/')
                        FAIL("bind source '%s' must be an absolute path", s->binds[i].source);
                if (!sandbox_path_valid(s->binds[i].target))
                        FAIL("invalid bind target '%s'", s->binds[i].target);
                if (strcmp(s->binds[i].target, "/proc") == 0 ||
                    strncmp(s->binds[i].target, "/proc/", 6) == 0 ||
                    strcmp(s->binds[i].target, "/dev") == 0 ||
                    strncmp(s->binds[i].target, "/dev/", 5) == 0)
                        FAIL("bind target '%s' would cover /proc or /dev", s->binds[i].target);
        }
        if (s->net == NET_BRIDGE && (!s->bridge.bridge || !s->bridge.address))
                FAIL("network 'bridge' needs a bridge name and an address");
        if (!s->hostname || !s->hostname[0] || strlen(s->hostname) > 64)
                FAIL("invalid hostname");
        if (s->limits.tmp_bytes == 0)
                FAIL("/tmp size must be above zero");
        return 0;
}
