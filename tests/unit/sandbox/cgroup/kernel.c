/* SPDX-License-Identifier: MIT */
/* What the cgroup tests read from the kernel, independently of the module:
 * expected paths from /proc/self/cgroup and mountinfo, files, locks; and
 * a child the parent attaches before it runs. */
#include "kernel.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

const char *const v1_ctrls[4] = { "memory", "pids", "cpu", "cpuacct" };

/* What the kernel's mount table says, without the module's statfs logic. */
enum cgroup_layout expected_layout(void)
{
        _cleanup_free_ char *mi = NULL;
        char *save = NULL;
        bool unified = false, root_v2 = false;

        ck_assert_int_eq(read_full_file("/proc/self/mountinfo", &mi, NULL), 0);
        for (char *l = strtok_r(mi, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char mnt[256] = "", fstype[64] = "";
                const char *sep = strstr(l, " - ");
                if (!sep || sscanf(l, "%*s %*s %*s %*s %255s", mnt) != 1 ||
                    sscanf(sep + 3, "%63s", fstype) != 1)
                        continue;
                if (strcmp(fstype, "cgroup2") != 0)
                        continue;
                root_v2 |= strcmp(mnt, "/sys/fs/cgroup") == 0;
                unified |= strcmp(mnt, "/sys/fs/cgroup/unified") == 0;
        }
        return root_v2 ? CGROUP_LAYOUT_V2 : unified ? CGROUP_LAYOUT_HYBRID : CGROUP_LAYOUT_V1;
}

bool is_v2(void)
{
        return expected_layout() == CGROUP_LAYOUT_V2;
}

bool has_ctrl(const char *list, const char *ctrl)
{
        size_t n = strlen(ctrl);

        for (const char *t = list; t; t = strchr(t, ',') ? strchr(t, ',') + 1 : NULL)
                if (strncmp(t, ctrl, n) == 0 && (t[n] == ',' || t[n] == 0))
                        return true;
        return false;
}

/* Our own cgroup for a v1 controller, or the v2 one when ctrl is NULL;
 * "" for the root. */
void own_path(const char *ctrl, char *buf, size_t len)
{
        _cleanup_free_ char *pc = NULL;
        char *save = NULL;

        ck_assert_int_eq(read_full_file("/proc/self/cgroup", &pc, NULL), 0);
        for (char *l = strtok_r(pc, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *c = strchr(l, ':'), *p;
                size_t n;

                if (!c || !(p = strchr(c + 1, ':')))
                        continue;
                *p++ = 0;
                c++;
                if (ctrl ? !has_ctrl(c, ctrl) : *c != 0)
                        continue;
                n = strlen(p);
                /* v2: an earlier manager of this process moved us there */
                if (!ctrl && n >= 11 && strcmp(p + n - 11, "/supervisor") == 0)
                        p[n - 11] = 0;
                snprintf(buf, len, "%s", strcmp(p, "/") == 0 ? "" : p);
                return;
        }
        ck_abort_msg("no /proc/self/cgroup line for %s", ctrl ? ctrl : "v2");
}

/* Kernel directory of step `name` for controller i (v1) or the v2 one. */
void step_dir(size_t i, const char *name, char *buf, size_t len)
{
        char own[512];

        if (is_v2()) {
                own_path(NULL, own, sizeof(own));
                snprintf(buf, len, "/sys/fs/cgroup%s/stepd/%s", own, name);
        } else {
                own_path(v1_ctrls[i], own, sizeof(own));
                snprintf(buf, len, "/sys/fs/cgroup/%s%s/stepd/%s", v1_ctrls[i], own, name);
        }
}

size_t n_dirs(void)
{
        return is_v2() ? 1 : ARRAY_SIZE(v1_ctrls);
}

char *read_file(const char *dir, const char *file)
{
        char path[1024];
        char *buf = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, file);
        ck_assert_msg(read_full_file(path, &buf, NULL) == 0, "cannot read %s", path);
        buf[strcspn(buf, "\n")] = 0;
        return buf;
}

void assert_file(const char *dir, const char *file, const char *want)
{
        _cleanup_free_ char *got = read_file(dir, file);

        ck_assert_msg(strcmp(got, want) == 0, "%s/%s: got '%s', want '%s'", dir, file, got, want);
}

bool dir_exists(const char *p)
{
        struct stat st;

        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

void assert_gone(const char *name)
{
        char dir[1024];

        for (size_t i = 0; i < n_dirs(); i++) {
                step_dir(i, name, dir, sizeof(dir));
                ck_assert_msg(!dir_exists(dir), "%s still exists", dir);
        }
}

bool pid_listed(const char *dir, const char *file, pid_t pid)
{
        _cleanup_free_ char *buf = NULL;
        char path[1024];
        char *save = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, file);
        ck_assert_int_eq(read_full_file(path, &buf, NULL), 0);
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (atoi(l) == pid)
                        return true;
        return false;
}

/* Does /proc/locks list a POSIX lock of ours on this directory? */
bool lock_held(const char *dir)
{
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        char want[128], *save = NULL;

        ck_assert_int_eq(stat(dir, &st), 0);
        snprintf(want, sizeof(want), " %d %02x:%02x:%lu ", (int)getpid(), major(st.st_dev),
                 minor(st.st_dev), (unsigned long)st.st_ino);
        ck_assert_int_eq(read_full_file("/proc/locks", &buf, NULL), 0);
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (strstr(l, "POSIX") && strstr(l, want))
                        return true;
        return false;
}

void name_for(char *buf, size_t len, const char *what)
{
        snprintf(buf, len, "t%d-%s", (int)getpid(), what);
}

struct cgroup_manager *manager(void)
{
        struct cgroup_manager *m = NULL;
        char err[512] = "";

        ck_assert_msg(cgroup_manager_new(&m, err, sizeof(err)) == 0, "manager: %s", err);
        return m;
}

struct step_cgroup *step(struct cgroup_manager *m, const char *name, const struct step_limits *l)
{
        struct step_cgroup *s = NULL;
        char err[512] = "";

        ck_assert_msg(cgroup_step_create(m, name, l, &s, err, sizeof(err)) == 0, "create: %s", err);
        return s;
}

/* A child that waits for one byte on a pipe, then runs fn and exits with
 * its result. Parent attaches it in between, like the sandbox does. */
struct child spawn(int (*fn)(void *), void *arg)
{
        int p[2];
        struct child c;
        char b;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        c.pid = fork();
        ck_assert_int_ge(c.pid, 0);
        if (c.pid == 0) {
                /* Check's SIGTERM handler kills the test's process group */
                signal(SIGTERM, SIG_DFL);
                close(p[1]);
                if (read(p[0], &b, 1) != 1)
                        _exit(99);
                _exit(fn ? fn(arg) : 0);
        }
        close(p[0]);
        c.go = p[1];
        return c;
}

void go(struct child *c)
{
        ck_assert_int_eq(write(c->go, "g", 1), 1);
        close(c->go);
        c->go = -1;
}

int wait_status(pid_t pid)
{
        int st = 0;

        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        return st;
}

int sleeper(void *arg)
{
        pause();
        return 0;
}

void wait_count(struct step_cgroup *s, unsigned want)
{
        unsigned n = 0;

        for (int i = 0; i < 2000; i++) {
                ck_assert_int_eq(cgroup_step_count(s, &n), 0);
                if (n == want)
                        return;
                usleep(1000);
        }
        ck_abort_msg("count stayed %u, want %u", n, want);
}
