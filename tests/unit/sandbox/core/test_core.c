/* SPDX-License-Identifier: MIT */
/* sandbox/ core: launch spec defaults and validation, working folders, the
 * frozen plan, and how a launched step reports its end. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"
#include "sandbox/worker.h"

static struct launch_spec *valid_spec(void)
{
        struct launch_spec *s = launch_spec_new();

        ck_assert_ptr_nonnull(s);
        s->project = strdup("demo");
        s->step_id = strdup("abc-123");
        s->workdir = strdup("/var/lib/stepd/work/demo/abc-123");
        ck_assert_int_eq(strv_push(&s->argv, "/bin/true"), 0);
        return s;
}

START_TEST(spec_defaults_are_secure)
{
        _cleanup_(launch_spec_freep) struct launch_spec *s = launch_spec_new();

        ck_assert_uint_eq(s->uid, 65534);
        ck_assert_int_eq(s->net, NET_NONE);
        ck_assert(!s->user_namespace);
        ck_assert_ptr_null(s->rootfs);
        ck_assert_uint_eq(s->limits.memory_bytes, 1ULL << 30);
        ck_assert_uint_eq(s->limits.pids_max, 512);
        ck_assert_uint_eq(s->limits.cpu_millis, 1000);
        ck_assert_str_eq(s->workdir_target, "/work");
        ck_assert_str_eq(s->system_binds[0], "/usr");
        ck_assert_ptr_null(s->envp);
}
END_TEST

START_TEST(spec_validation)
{
        static const struct {
                const char *field;
                const char *value;
                const char *error;
        } cases[] = {
                { "project", "../etc", "invalid project name" },
                { "project", "", "invalid project name" },
                { "step", "a/b", "invalid step id" },
                { "workdir", "relative", "working folder must be an absolute path" },
                { "target", "/", "invalid working folder target" },
                { "target", "/a/../b", "invalid working folder target" },
                { "target", "relative", "invalid working folder target" },
                { "bind", "/proc/sys", "would cover /proc or /dev" },
                { "bind", "/dev", "would cover /proc or /dev" },
                { "bind", "/x/./y", "invalid bind target" },
                { "sysdir", "usr", "invalid system folder" },
                { "hostname", "", "invalid hostname" },
        };
        char err[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_(launch_spec_freep) struct launch_spec *s = valid_spec();
                char **f = NULL;

                ck_assert_int_eq(launch_spec_validate(s, err, sizeof(err)), 0);
                if (strcmp(cases[i].field, "project") == 0)
                        f = &s->project;
                else if (strcmp(cases[i].field, "step") == 0)
                        f = &s->step_id;
                else if (strcmp(cases[i].field, "workdir") == 0)
                        f = &s->workdir;
                else if (strcmp(cases[i].field, "target") == 0)
                        f = &s->workdir_target;
                else if (strcmp(cases[i].field, "hostname") == 0)
                        f = &s->hostname;
                else if (strcmp(cases[i].field, "sysdir") == 0)
                        f = &s->system_binds[0];
                if (f) {
                        free(*f);
                        *f = strdup(cases[i].value);
                } else {
                        ck_assert_int_eq(launch_spec_add_bind(s, "/srv", cases[i].value, false), 0);
                }
                ck_assert_int_eq(launch_spec_validate(s, err, sizeof(err)), -EINVAL);
                ck_assert_msg(strstr(err, cases[i].error), "case %zu: '%s' lacks '%s'", i, err,
                              cases[i].error);
        }
}
END_TEST

START_TEST(spec_bridge_needs_address)
{
        _cleanup_(launch_spec_freep) struct launch_spec *s = valid_spec();
        char err[256];

        s->net = NET_BRIDGE;
        ck_assert_int_eq(launch_spec_validate(s, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "bridge"));
        ck_assert_int_eq(net_mode_from_string("wifi"), -EINVAL);
        ck_assert_int_eq(net_mode_from_string("host"), NET_HOST);
}
END_TEST

static int make_parent(char *tmpl)
{
        int fd;

        ck_assert_ptr_nonnull(mkdtemp(tmpl));
        fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        return fd;
}

START_TEST(workdir_owner_and_mode)
{
        char tmpl[] = "/tmp/stepd-wd-XXXXXX", path[128];
        int dfd = make_parent(tmpl);
        struct stat st;

        ck_assert_int_eq(workdir_create(dfd, "step1", 4321, 4322, 0700), 0);
        snprintf(path, sizeof(path), "%s/step1", tmpl);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_uid, 4321);
        ck_assert_uint_eq(st.st_gid, 4322);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        ck_assert_int_eq(workdir_create(dfd, "step1", 4321, 4322, 0700), -EEXIST);
        ck_assert_int_eq(workdir_create(dfd, "../escape", 1, 1, 0700), -EINVAL);
        ck_assert_int_eq(workdir_create(dfd, "..", 1, 1, 0700), -EINVAL);
        ck_assert_int_eq(workdir_remove(dfd, "step1"), 0);
        ck_assert_int_eq(stat(path, &st), -1);
        ck_assert_int_eq(workdir_remove(dfd, "step1"), 0); /* already gone: fine */
        rmdir(tmpl);
        close(dfd);
}
END_TEST

/* A step plants links to a victim folder and to a victim file, and a
 * folder it made unreadable; removal deletes the links, never the targets. */
START_TEST(workdir_remove_never_follows_links)
{
        char tmpl[] = "/tmp/stepd-wd-XXXXXX", victim[] = "/tmp/stepd-victim-XXXXXX";
        char p[256], vf[256];
        int dfd = make_parent(tmpl);
        struct stat st;
        FILE *f;

        ck_assert_ptr_nonnull(mkdtemp(victim));
        snprintf(vf, sizeof(vf), "%s/keep", victim);
        f = fopen(vf, "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
        ck_assert_int_eq(workdir_create(dfd, "s", 0, 0, 0700), 0);
        snprintf(p, sizeof(p), "%s/s/dirlink", tmpl);
        ck_assert_int_eq(symlink(victim, p), 0);
        snprintf(p, sizeof(p), "%s/s/filelink", tmpl);
        ck_assert_int_eq(symlink(vf, p), 0);
        snprintf(p, sizeof(p), "%s/s/a", tmpl);
        ck_assert_int_eq(mkdir(p, 0700), 0);
        snprintf(p, sizeof(p), "%s/s/a/b", tmpl);
        ck_assert_int_eq(mkdir(p, 0700), 0);
        snprintf(p, sizeof(p), "%s/s/a/b/up", tmpl);
        ck_assert_int_eq(symlink("../../../../", p), 0);
        snprintf(p, sizeof(p), "%s/s/a", tmpl);
        ck_assert_int_eq(chmod(p, 0), 0);

        ck_assert_int_eq(workdir_remove(dfd, "s"), 0);
        snprintf(p, sizeof(p), "%s/s", tmpl);
        ck_assert_int_eq(lstat(p, &st), -1);
        ck_assert_int_eq(stat(vf, &st), 0);
        unlink(vf);
        rmdir(victim);
        rmdir(tmpl);
        close(dfd);
}
END_TEST

START_TEST(workdir_remove_refuses_a_link_as_the_folder)
{
        char tmpl[] = "/tmp/stepd-wd-XXXXXX", victim[] = "/tmp/stepd-victim-XXXXXX", p[256];
        int dfd = make_parent(tmpl);
        struct stat st;

        ck_assert_ptr_nonnull(mkdtemp(victim));
        snprintf(p, sizeof(p), "%s/s", tmpl);
        ck_assert_int_eq(symlink(victim, p), 0);
        ck_assert_int_lt(workdir_remove(dfd, "s"), 0);
        ck_assert_int_eq(stat(victim, &st), 0);
        unlink(p);
        rmdir(victim);
        rmdir(tmpl);
        close(dfd);
}
END_TEST

/* A step nests folders far deeper than removal descends: nothing is left. */
START_TEST(workdir_remove_deep_tree)
{
        char tmpl[] = "/tmp/stepd-wd-XXXXXX", p[256];
        int dfd = make_parent(tmpl), cur;
        struct stat st;

        ck_assert_int_eq(workdir_create(dfd, "deep", 0, 0, 0700), 0);
        cur = openat(dfd, "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (int i = 0; i < 700; i++) {
                int next;

                ck_assert_int_eq(mkdirat(cur, "d", 0700), 0);
                next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                ck_assert_int_ge(next, 0);
                close(cur);
                cur = next;
        }
        ck_assert_int_ge(openat(cur, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600), 0);
        close(cur);
        ck_assert_int_eq(workdir_remove(dfd, "deep"), 0);
        snprintf(p, sizeof(p), "%s/deep", tmpl);
        ck_assert_int_eq(lstat(p, &st), -1);
        rmdir(tmpl);
        close(dfd);
}
END_TEST

/* Is [p, p + n) inside the frozen mapping? */
static bool inside(const void *map, size_t size, const void *p, size_t n)
{
        const char *a = p, *m = map;

        return a >= m && a + n <= m + size;
}

static void check_str(const void *map, size_t size, const char *copy, const char *orig)
{
        if (!orig) {
                ck_assert_ptr_null(copy);
                return;
        }
        ck_assert_ptr_nonnull(copy);
        ck_assert_ptr_ne(copy, orig);
        ck_assert_str_eq(copy, orig);
        ck_assert(inside(map, size, copy, strlen(copy) + 1));
}

static void check_strv(const void *map, size_t size, char **copy, char **orig)
{
        size_t n = 0;

        if (!orig) {
                ck_assert_ptr_null(copy);
                return;
        }
        while (orig[n])
                n++;
        ck_assert(inside(map, size, copy, (n + 1) * sizeof(char *)));
        for (size_t i = 0; i < n; i++)
                check_str(map, size, copy[i], orig[i]);
        ck_assert_ptr_null(copy[n]);
}

/* The init reads nothing but the frozen plan (its heap is not copied): every
 * pointer in it must point into the one mapping, to equal contents. */
START_TEST(frozen_plan_is_self_contained)
{
        _cleanup_(launch_spec_freep) struct launch_spec *s = valid_spec();
        static const uint8_t bpf[24] = { 1, 2, 3, 4, 5 };
        struct go_fds go = { .want_cgroup_fds = true };
        int source_fds[3] = { 7, -1, 9 };
        struct sandbox_plan p = { .spec = s, .go = &go, .source_fds = source_fds, .bpf = bpf,
                                  .bpf_len = sizeof(bpf), .sync_fd = 5, .netns_fd = -1 };
        struct sandbox_plan *f;
        size_t size = 0;

        ck_assert_int_eq(strv_push(&s->argv, "--flag"), 0);
        ck_assert_int_eq(strv_push(&s->envp, "HOME=/work"), 0);
        ck_assert_int_eq(strv_push(&s->envp, "PATH=/usr/bin:/bin"), 0);
        ck_assert_int_eq(launch_spec_add_bind(s, "/srv/a", "/a", false), 0);
        ck_assert_int_eq(launch_spec_add_bind(s, "/srv/b", "/b", true), 0);
        s->rootfs = strdup("/srv/root");
        s->bridge.bridge = strdup("br0");
        s->bridge.address = strdup("10.0.0.2/24");
        p.path_env = s->envp[1] + strlen("PATH=");

        f = plan_freeze(&p, &size);
        ck_assert_ptr_nonnull(f);
        ck_assert(size >= sizeof(*f));
        ck_assert(inside(f, size, f->spec, sizeof(*f->spec)));
        ck_assert_int_eq(f->sync_fd, 5);
        ck_assert_int_eq(f->netns_fd, -1);
        /* the tables the init fills, and the BPF program */
        ck_assert(inside(f, size, f->go, sizeof(*f->go)));
        ck_assert(f->go->want_cgroup_fds);
        ck_assert(inside(f, size, f->source_fds, sizeof(source_fds)));
        ck_assert_mem_eq(f->source_fds, source_fds, sizeof(source_fds));
        ck_assert(inside(f, size, f->bpf, sizeof(bpf)));
        ck_assert_mem_eq(f->bpf, bpf, sizeof(bpf));
        ck_assert(f->path_env == f->spec->envp[1] + strlen("PATH="));
        /* every string of the spec */
        check_str(f, size, f->spec->project, s->project);
        check_str(f, size, f->spec->step_id, s->step_id);
        check_strv(f, size, f->spec->argv, s->argv);
        check_strv(f, size, f->spec->envp, s->envp);
        check_str(f, size, f->spec->bridge.bridge, s->bridge.bridge);
        check_str(f, size, f->spec->bridge.address, s->bridge.address);
        check_str(f, size, f->spec->bridge.gateway, s->bridge.gateway);
        check_str(f, size, f->spec->hostname, s->hostname);
        check_str(f, size, f->spec->rootfs, s->rootfs);
        check_strv(f, size, f->spec->system_binds, s->system_binds);
        check_strv(f, size, f->spec->masked, s->masked);
        check_str(f, size, f->spec->workdir, s->workdir);
        check_str(f, size, f->spec->workdir_target, s->workdir_target);
        ck_assert_uint_eq(f->spec->n_binds, 2);
        ck_assert(inside(f, size, f->spec->binds, 2 * sizeof(*f->spec->binds)));
        for (size_t i = 0; i < 2; i++) {
                check_str(f, size, f->spec->binds[i].source, s->binds[i].source);
                check_str(f, size, f->spec->binds[i].target, s->binds[i].target);
                ck_assert(f->spec->binds[i].writable == s->binds[i].writable);
        }
        ck_assert_ptr_null(f->spec->seccomp); /* the init loads f->bpf */
        ck_assert_uint_eq(f->spec->limits.memory_bytes, s->limits.memory_bytes);
        plan_thaw(f, size);
}
END_TEST

/* The VmFlags of the mapping holding addr (1: MADV_DONTFORK, "dc"; 0: not;
 * -1: not mapped). */
static int dontfork_at(uintptr_t addr)
{
        FILE *f = fopen("/proc/self/smaps", "re");
        char line[512];
        bool in = false;
        int r = -1;

        ck_assert_ptr_nonnull(f);
        while (r < 0 && fgets(line, sizeof(line), f)) {
                unsigned long a, b;
                char c;

                /* a mapping's first line: "start-end perms ..." */
                if (sscanf(line, "%lx-%lx %c", &a, &b, &c) == 3) {
                        in = a <= addr && addr < b;
                        continue;
                }
                if (in && strncmp(line, "VmFlags:", 8) == 0)
                        r = strstr(line, " dc") ? 1 : 0;
        }
        fclose(f);
        return r;
}

struct stack_probe {
        struct worker w;
        uintptr_t addr;  /* an address on the worker's stack */
        bool exit_early; /* end by pthread_exit() */
};

static void *probe_run(void *arg)
{
        struct stack_probe *p = arg;
        volatile char here = 0;

        pthread_mutex_lock(&p->w.lock);
        p->addr = (uintptr_t)&here;
        pthread_cond_broadcast(&p->w.wake);
        if (p->exit_early) {
                pthread_mutex_unlock(&p->w.lock);
                pthread_exit(NULL);
        }
        while (!p->w.stop)
                pthread_cond_wait(&p->w.wake, &p->w.lock);
        pthread_mutex_unlock(&p->w.lock);
        return NULL;
}

static void probe_start(struct stack_probe *p)
{
        ck_assert_int_eq(worker_start(&p->w, probe_run, p, "test-probe"), 0);
        pthread_mutex_lock(&p->w.lock);
        while (!p->addr)
                pthread_cond_wait(&p->w.wake, &p->w.lock);
        pthread_mutex_unlock(&p->w.lock);
}

/* A pool worker's stack is left out of a step's init for the clone only:
 * a plain fork() at any other time must still copy it (glibc's fork child
 * writes to every thread's descriptor, which lives there). */
START_TEST(worker_stack_left_out_only_around_the_clone)
{
        struct stack_probe p = { 0 };

        probe_start(&p);
        ck_assert_int_eq(dontfork_at(p.addr), 0);
        ck_assert_int_eq(plan_heap_exclude(true), 0);
        ck_assert_int_eq(dontfork_at(p.addr), 1);
        ck_assert_int_eq(plan_heap_exclude(false), 0);
        ck_assert_int_eq(dontfork_at(p.addr), 0);
        worker_stop(&p.w);
}
END_TEST

/* A worker that ends by pthread_exit() takes its stack off the list too:
 * glibc keeps the stack for a later thread (or unmaps it, and the address
 * comes back for something else), which must not be left out of an init. */
START_TEST(worker_ended_by_pthread_exit_leaves_no_stale_stack)
{
        struct stack_probe p = { .exit_early = true };

        probe_start(&p);
        worker_stop(&p.w); /* joins */
        /* glibc's cache of thread stacks keeps it mapped: else this would
         * prove nothing */
        ck_assert_int_eq(dontfork_at(p.addr), 0);
        ck_assert_int_eq(plan_heap_exclude(true), 0);
        ck_assert_int_eq(dontfork_at(p.addr), 0);
        ck_assert_int_eq(plan_heap_exclude(false), 0);
}
END_TEST

/* Wait up to 10 s for what the step's sync fd says next. */
static int next_sync(struct sandbox_step *step)
{
        struct pollfd p = { .fd = sandbox_step_sync_fd(step), .events = POLLIN };

        ck_assert_int_ge(p.fd, 0);
        ck_assert_int_eq(poll(&p, 1, 10000), 1);
        return sandbox_step_on_sync(step);
}

/* A spec that runs `sh -c script` in a fresh working folder "w" under a
 * new folder in /tmp (parent, which the caller removes with it). */
static struct launch_spec *script_spec(const char *script, const char *id, char *parent,
                                       int *ret_dfd)
{
        struct launch_spec *spec = valid_spec();

        ck_assert_ptr_nonnull(mkdtemp(parent));
        *ret_dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(*ret_dfd, 0);
        ck_assert_int_eq(workdir_create(*ret_dfd, "w", spec->uid, spec->gid, 0700), 0);
        free(spec->workdir);
        ck_assert_int_ge(asprintf(&spec->workdir, "%s/w", parent), 0);
        free(spec->step_id);
        ck_assert_int_ge(asprintf(&spec->step_id, "%s-%d", id, (int)getpid()), 0);
        strv_free(spec->argv);
        spec->argv = NULL;
        ck_assert_int_eq(strv_push(&spec->argv, "/bin/sh"), 0);
        ck_assert_int_eq(strv_push(&spec->argv, "-c"), 0);
        ck_assert_int_eq(strv_push(&spec->argv, script), 0);
        return spec;
}

/* The init reports the end once every process of the step is gone: the
 * result is there then, before the init's own exit is waited for, and it is
 * what reaping the init gives afterwards. */
START_TEST(step_end_reported_before_the_init_is_reaped)
{
        _cleanup_(sandbox_context_freep) struct sandbox_context *ctx = NULL;
        _cleanup_(sandbox_step_freep) struct sandbox_step *step = NULL;
        char parent[] = "/tmp/stepd-core-XXXXXX", err[512];
        int dfd, r;
        /* a child left behind, for the init to end: the end comes after it */
        _cleanup_(launch_spec_freep) struct launch_spec *spec =
                script_spec("sleep 30 & exit 7", "core-end", parent, &dfd);
        struct sandbox_io io = { .stdin_fd = -1 };
        struct step_result early, reaped;
        struct pollfd pp;

        spec->kill_grace_ms = 100;
        ck_assert_msg(sandbox_context_new(&ctx, err, sizeof(err)) == 0, "%s", err);
        r = sandbox_spawn(ctx, spec, &io, &step, err, sizeof(err));
        ck_assert_msg(r == 0, "spawn: %s", err);
        ck_assert_int_eq(sandbox_step_result(step, &early), -EAGAIN);
        ck_assert_int_eq(next_sync(step), SANDBOX_SYNC_STARTED);
        ck_assert_int_eq(sandbox_step_result(step, &early), -EAGAIN);
        ck_assert_int_eq(next_sync(step), SANDBOX_SYNC_ENDED);
        ck_assert(!sandbox_step_reaped(step));
        ck_assert_int_eq(sandbox_step_result(step, &early), 0);
        ck_assert_int_eq(early.reason, STEP_REASON_EXITED);
        ck_assert_int_eq(early.exit_code, 7);
        ck_assert_uint_eq(early.processes_killed, 1);
        ck_assert_uint_gt(early.memory_peak_bytes, 0);
        ck_assert_uint_gt(early.wall_usec, 0);

        pp = (struct pollfd){ .fd = sandbox_step_pidfd(step), .events = POLLIN };
        ck_assert_int_eq(poll(&pp, 1, 10000), 1);
        ck_assert_int_eq(sandbox_step_reap(step, &reaped), 0);
        ck_assert(sandbox_step_reaped(step));
        ck_assert_int_eq(reaped.reason, early.reason);
        ck_assert_int_eq(reaped.exit_code, early.exit_code);
        ck_assert_uint_eq(reaped.processes_killed, early.processes_killed);
        ck_assert_uint_eq(reaped.wall_usec, early.wall_usec);
        ck_assert_uint_eq(reaped.memory_peak_bytes, early.memory_peak_bytes);
        ck_assert_uint_eq(reaped.cpu_user_usec, early.cpu_user_usec);

        step = sandbox_step_free(step);
        ck_assert_int_eq(workdir_remove(dfd, "w"), 0);
        close(dfd);
        ck_assert_int_eq(rmdir(parent), 0);
}
END_TEST

/* Where the memory controller's hierarchy (v1) or the unified one (v2) is
 * mounted, from mountinfo: "... MOUNTPOINT ... - FSTYPE SOURCE OPTIONS". */
static void memory_hierarchy(bool v2, char *buf, size_t len)
{
        char line[1024];
        FILE *f = fopen("/proc/self/mountinfo", "re");

        ck_assert_ptr_nonnull(f);
        buf[0] = 0;
        while (!buf[0] && fgets(line, sizeof(line), f)) {
                char mnt[512], type[64], opts[512];
                const char *sep = strstr(line, " - ");

                if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
                    sscanf(sep, " - %63s %*s %511s", type, opts) != 2)
                        continue;
                if (v2 ? strcmp(type, "cgroup2") == 0
                       : strcmp(type, "cgroup") == 0 && strstr(opts, "memory"))
                        snprintf(buf, len, "%s", mnt);
        }
        fclose(f);
        ck_assert_msg(buf[0], "no %s hierarchy mounted", v2 ? "unified" : "memory");
}

/* Where the step's cgroup of the memory controller is (v1) or its
 * unified one (v2), below this process's own. */
static void memory_cgroup_dir(const char *step_id, bool v2, char *buf, size_t len)
{
        char line[512], own[400] = "", mount[512];
        FILE *f = fopen("/proc/self/cgroup", "re");

        memory_hierarchy(v2, mount, sizeof(mount));
        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f)) {
                char *ctrls = strchr(line, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;

                if (!path)
                        continue;
                *path++ = 0;
                path[strcspn(path, "\n")] = 0;
                if (v2 ? strcmp(ctrls + 1, "") == 0 : strstr(ctrls + 1, "memory") != NULL)
                        snprintf(own, sizeof(own), "%s", strcmp(path, "/") == 0 ? "" : path);
        }
        fclose(f);
        snprintf(buf, len, "%s%s/stepd/%s", mount, own, step_id);
}

/* v1: the init leaves the step's cgroup once its payload runs, so at the
 * end the cgroup can go at once, and the init's own exit is not waited for
 * (its launcher is about to exit: stepd exec). v2: the init stays in, and
 * this is refused. */
START_TEST(release_at_the_end_removes_the_cgroup_before_the_init_exits)
{
        _cleanup_(sandbox_context_freep) struct sandbox_context *ctx = NULL;
        _cleanup_(sandbox_step_freep) struct sandbox_step *step = NULL;
        char parent[] = "/tmp/stepd-core-XXXXXX", err[512], cg[PATH_MAX];
        int dfd, r, status;
        _cleanup_(launch_spec_freep) struct launch_spec *spec =
                script_spec("exit 3", "core-release", parent, &dfd);
        struct sandbox_io io = { .stdin_fd = -1 };
        struct step_result res;
        struct stat st;
        pid_t init;
        bool v2;

        ck_assert_msg(sandbox_context_new(&ctx, err, sizeof(err)) == 0, "%s", err);
        v2 = sandbox_context_layout(ctx) == CGROUP_LAYOUT_V2;
        r = sandbox_spawn(ctx, spec, &io, &step, err, sizeof(err));
        ck_assert_msg(r == 0, "spawn: %s", err);
        init = sandbox_step_pid(step);
        memory_cgroup_dir(spec->step_id, v2, cg, sizeof(cg));
        ck_assert_int_eq(next_sync(step), SANDBOX_SYNC_STARTED);
        ck_assert_msg(stat(cg, &st) == 0, "%s: %m", cg);
        ck_assert_int_eq(sandbox_step_release_ended(step), -EBUSY); /* not ended yet */
        ck_assert_int_eq(next_sync(step), SANDBOX_SYNC_ENDED);
        if (v2) {
                ck_assert_int_eq(sandbox_step_release_ended(step), -EBUSY);
        } else {
                ck_assert_int_eq(sandbox_step_release_ended(step), 0);
                ck_assert_msg(stat(cg, &st) < 0 && errno == ENOENT, "%s still there", cg);
                ck_assert_int_eq(sandbox_step_result(step, &res), 0);
                ck_assert_int_eq(res.reason, STEP_REASON_EXITED);
                ck_assert_int_eq(res.exit_code, 3);
                ck_assert_uint_gt(res.memory_peak_bytes, 0);
                /* freed without waiting: the init is still ours to reap */
                step = sandbox_step_free(step);
                ck_assert_int_eq(waitpid(init, &status, 0), init);
        }
        step = sandbox_step_free(step);
        ck_assert_int_eq(workdir_remove(dfd, "w"), 0);
        close(dfd);
        ck_assert_int_eq(rmdir(parent), 0);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("sandbox-core");
        TCase *tc = tcase_create("core");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, spec_defaults_are_secure);
        tcase_add_test(tc, spec_validation);
        tcase_add_test(tc, spec_bridge_needs_address);
        tcase_add_test(tc, workdir_owner_and_mode);
        tcase_add_test(tc, workdir_remove_never_follows_links);
        tcase_add_test(tc, workdir_remove_refuses_a_link_as_the_folder);
        tcase_add_test(tc, workdir_remove_deep_tree);
        tcase_add_test(tc, frozen_plan_is_self_contained);
        tcase_add_test(tc, worker_stack_left_out_only_around_the_clone);
        tcase_add_test(tc, worker_ended_by_pthread_exit_leaves_no_stale_stack);
        tcase_add_test(tc, step_end_reported_before_the_init_is_reaped);
        tcase_add_test(tc, release_at_the_end_removes_the_cgroup_before_the_init_exits);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
