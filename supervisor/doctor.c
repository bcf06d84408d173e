/* SPDX-License-Identifier: MIT */
/*
 * `stepd doctor`: check that this host can run stepd, and for each thing
 * stepd needs say "ok", or what is missing and how to fix it.
 *
 * Every check tries the real thing where that is harmless: namespaces,
 * seccomp filters and oom_score_adj are tried in a forked child that then
 * exits; cgroups and the state folder get a probe folder that is removed at
 * once. Nothing is left behind, and doctor never touches cgroups of a
 * running daemon (it does not call cgroup_manager_new(), which would clean up
 * "leftovers" that belong to a live stepd).
 *
 * Levels: ok, info (worth knowing, changes nothing), warning (stepd runs,
 * with less), FAIL (stepd cannot run with these settings). Exit status 0
 * when nothing FAILed, 1 otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/tls_module.h"
#include "policy/policy.h"
#include "supervisor/verbs.h"

#define FREE_WARN_BYTES (1024ull * 1024 * 1024)
#define FREE_FAIL_BYTES (64ull * 1024 * 1024)

enum level { L_OK, L_INFO, L_WARN, L_FAIL };

struct doctor {
        const char *config_dir;
        const char *state_dir;
        const char *socket_path;
        struct policy_config *config;
        FILE *out;
        unsigned n_warn, n_fail;
};

static void say(struct doctor *dc, enum level l, const char *what, const char *fix,
                const char *fmt, ...) _printf_(5, 6);

static void say(struct doctor *dc, enum level l, const char *what, const char *fix,
                const char *fmt, ...)
{
        static const char *const names[] = { "ok", "info", "warning", "FAIL" };
        va_list ap;

        fprintf(dc->out, "%-8s %-11s ", names[l], what);
        va_start(ap, fmt);
        vfprintf(dc->out, fmt, ap);
        va_end(ap);
        fputc('\n', dc->out);
        if (fix && l >= L_WARN)
                fprintf(dc->out, "%-8s %-11s fix: %s\n", "", "", fix);
        if (l == L_WARN)
                dc->n_warn++;
        if (l == L_FAIL)
                dc->n_fail++;
}

/* Run fn in a forked child; 0 or the -errno it returned. */
static int probe_in_child(int (*fn)(const void *arg), const void *arg)
{
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int r = fn(arg);
                _exit(r < 0 ? MIN(-r, 255) : 0);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (!WIFEXITED(status))
                return -ECHILD;
        return -WEXITSTATUS(status);
}

static int do_unshare(const void *arg)
{
        return unshare(*(const int *)arg) < 0 ? -errno : 0;
}

static void check_kernel(struct doctor *dc)
{
        struct utsname u;
        int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        long r = syscall(SYS_clone3, NULL, 0);
        bool clone3 = !(r < 0 && errno == ENOSYS);

        uname(&u);
        if (fd < 0 || !clone3) {
                say(dc, L_FAIL, "kernel", "use Linux 5.3 or later", "%s: %s%s", u.release,
                    fd < 0 ? "no pidfd_open() " : "", clone3 ? "" : "no clone3()");
                return;
        }
        close(fd);
        say(dc, L_OK, "kernel", NULL, "Linux %s: clone3() and pidfds", u.release);
}

static int cap_effective(uint64_t *ret)
{
        _cleanup_free_ char *s = NULL;
        int r = read_full_file("/proc/self/status", &s, NULL);
        char *p;

        if (r < 0)
                return r;
        p = strstr(s, "\nCapEff:");
        if (!p || sscanf(p + 8, "%" SCNx64, ret) != 1)
                return -EINVAL;
        return 0;
}

static void check_privileges(struct doctor *dc)
{
        static const struct { int cap; const char *name; } need[] = {
                { 21, "CAP_SYS_ADMIN" }, { 7, "CAP_SETUID" },   { 6, "CAP_SETGID" },
                { 8, "CAP_SETPCAP" },    { 0, "CAP_CHOWN" },    { 3, "CAP_FOWNER" },
                { 1, "CAP_DAC_OVERRIDE" }, { 5, "CAP_KILL" },   { 12, "CAP_NET_ADMIN" },
                { 18, "CAP_SYS_CHROOT" },
        };
        char missing[256] = "";
        uint64_t eff = 0;

        if (geteuid() != 0) {
                say(dc, L_FAIL, "privileges", "run stepd (and stepd doctor) as root",
                    "running as uid %u: stepd must run as root to build sandboxes",
                    (unsigned)geteuid());
                return;
        }
        if (cap_effective(&eff) < 0) {
                say(dc, L_WARN, "privileges", NULL, "cannot read CapEff from /proc/self/status");
                return;
        }
        for (size_t i = 0; i < ARRAY_SIZE(need); i++)
                if (!(eff & (1ull << need[i].cap)))
                        snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
                                 " %s", need[i].name);
        if (missing[0])
                say(dc, L_FAIL, "privileges",
                    "start stepd with these capabilities (CapabilityBoundingSet= in stepd.service)",
                    "root, but without:%s", missing);
        else
                say(dc, L_OK, "privileges", NULL, "root, with the capabilities stepd needs");
}

static void check_namespaces(struct doctor *dc)
{
        static const struct { int flag; const char *name; } ns[] = {
                { CLONE_NEWNS, "mount" }, { CLONE_NEWPID, "pid" },   { CLONE_NEWNET, "network" },
                { CLONE_NEWIPC, "ipc" },  { CLONE_NEWUTS, "uts" },   { CLONE_NEWCGROUP, "cgroup" },
        };
        char failed[256] = "";

        for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
                int r = probe_in_child(do_unshare, &ns[i].flag);
                if (r < 0)
                        snprintf(failed + strlen(failed), sizeof(failed) - strlen(failed),
                                 " %s (%s)", ns[i].name, strerror(-r));
        }
        if (failed[0])
                say(dc, L_FAIL, "namespaces",
                    "use a kernel with CONFIG_*_NS; in a container, give stepd CAP_SYS_ADMIN "
                    "and no seccomp filter against unshare()",
                    "cannot create:%s", failed);
        else
                say(dc, L_OK, "namespaces", NULL, "mount pid network ipc uts cgroup: can be created");
}

static void read_sysctl(const char *path, char *buf, size_t len)
{
        _cleanup_free_ char *s = NULL;

        if (read_full_file(path, &s, NULL) < 0) {
                snprintf(buf, len, "absent");
                return;
        }
        s[strcspn(s, "\n")] = 0;
        snprintf(buf, len, "%s", s);
}

static void check_userns(struct doctor *dc)
{
        char max[32], unpriv[32];
        int flag = CLONE_NEWUSER;
        int r = probe_in_child(do_unshare, &flag);

        read_sysctl("/proc/sys/user/max_user_namespaces", max, sizeof(max));
        read_sysctl("/proc/sys/kernel/unprivileged_userns_clone", unpriv, sizeof(unpriv));
        if (r < 0)
                say(dc, L_WARN, "userns",
                    "sysctl -w user.max_user_namespaces=15000 (only steps that ask for a user "
                    "namespace need it)",
                    "stepd cannot create user namespaces (%s; user.max_user_namespaces=%s): "
                    "steps that ask for one fail",
                    strerror(-r), max);
        else
                say(dc, L_OK, "userns", NULL, "user namespaces can be created "
                    "(user.max_user_namespaces=%s)", max);
        say(dc, L_INFO, "userns", NULL,
            "unprivileged users %s create user namespaces (kernel.unprivileged_userns_clone=%s); "
            "stepd's default seccomp profile forbids it to steps",
            strcmp(unpriv, "0") == 0 || strcmp(max, "0") == 0 ? "cannot" : "can", unpriv);
}

static int load_allow_all(const void *arg)
{
        struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
        struct sock_fprog prog = { .len = 1, .filter = f };

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? -errno : 0;
}

static bool action_avail(uint32_t action)
{
        return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

static void check_seccomp(struct doctor *dc)
{
        struct seccomp_notif_sizes sizes;
        int r = probe_in_child(load_allow_all, NULL);

        if (r < 0) {
                say(dc, L_FAIL, "seccomp", "use a kernel with CONFIG_SECCOMP_FILTER",
                    "cannot install a seccomp filter: %s", strerror(-r));
                return;
        }
        if (!action_avail(SECCOMP_RET_ERRNO) || !action_avail(SECCOMP_RET_KILL_PROCESS)) {
                say(dc, L_FAIL, "seccomp", "use Linux 4.14 or later",
                    "the kernel lacks SECCOMP_RET_ERRNO or SECCOMP_RET_KILL_PROCESS");
                return;
        }
        say(dc, L_OK, "seccomp", NULL, "filters with errno, kill-process%s actions",
            action_avail(SECCOMP_RET_LOG) ? ", log" : "");
        if (action_avail(SECCOMP_RET_USER_NOTIF) &&
            syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0)
                say(dc, L_OK, "seccomp", NULL, "user notification available (notif %u bytes, "
                    "resp %u bytes)", sizes.seccomp_notif, sizes.seccomp_notif_resp);
        else
                say(dc, L_WARN, "seccomp", "use Linux 5.0 or later",
                    "no seccomp user notification: profiles with SCMP_ACT_NOTIFY cannot be used");
}

/* One hierarchy of /proc/self/mounts. */
struct hier {
        char path[256];
        bool v2;
        char opts[520];
};

static size_t read_hierarchies(struct hier *h, size_t max)
{
        FILE *f = fopen("/proc/self/mounts", "re");
        char src[256], dir[256], type[32], opts[512];
        size_t n = 0;

        if (!f)
                return 0;
        while (n < max && fscanf(f, "%255s %255s %31s %511s %*d %*d", src, dir, type, opts) == 4) {
                if (strcmp(type, "cgroup") != 0 && strcmp(type, "cgroup2") != 0)
                        continue;
                h[n].v2 = strcmp(type, "cgroup2") == 0;
                snprintf(h[n].path, sizeof(h[n].path), "%s", dir);
                snprintf(h[n].opts, sizeof(h[n].opts), ",%s,", opts);
                n++;
        }
        fclose(f);
        return n;
}

/* Our own cgroup in the hierarchy with this controller ("" and v2: unified). */
static int own_cgroup(const char *controller, char *buf, size_t len)
{
        FILE *f = fopen("/proc/self/cgroup", "re");
        char line[1024], want[64];
        int r = -ENOENT;

        if (!f)
                return -errno;
        snprintf(want, sizeof(want), ",%s,", controller);
        while (fgets(line, sizeof(line), f)) {
                char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b)
                        continue;
                *b = 0;
                b[1 + strcspn(b + 1, "\n")] = 0;
                char list[256];
                snprintf(list, sizeof(list), ",%s,", a + 1);
                if ((controller[0] == 0 && a[1] == 0) || (controller[0] && strstr(list, want))) {
                        snprintf(buf, len, "%s", b + 1);
                        r = 0;
                        break;
                }
        }
        fclose(f);
        return r;
}

/* Create and remove a probe cgroup below dir: 0 or -errno. */
static int probe_mkdir(const char *dir)
{
        char p[512];

        snprintf(p, sizeof(p), "%s/stepd-doctor.%d", dir, (int)getpid());
        if (mkdir(p, 0755) < 0)
                return -errno;
        return rmdir(p) < 0 ? -errno : 0;
}

static const char *const need_ctl[] = { "memory", "pids", "cpu" };

static void check_cgroup_v1(struct doctor *dc, const struct hier *h, size_t n)
{
        char where[1024] = "", missing[128] = "";

        for (size_t c = 0; c < ARRAY_SIZE(need_ctl); c++) {
                char want[32], own[512] = "", dir[800];
                const struct hier *m = NULL;

                snprintf(want, sizeof(want), ",%s,", need_ctl[c]);
                for (size_t i = 0; i < n && !m; i++)
                        if (!h[i].v2 && strstr(h[i].opts, want))
                                m = &h[i];
                if (!m || own_cgroup(need_ctl[c], own, sizeof(own)) < 0) {
                        snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
                                 " %s", need_ctl[c]);
                        continue;
                }
                snprintf(dir, sizeof(dir), "%s%s", m->path, strcmp(own, "/") == 0 ? "" : own);
                int r = probe_mkdir(dir);
                if (r < 0) {
                        say(dc, L_FAIL, "cgroups", "give stepd a writable cgroup (Delegate=yes)",
                            "cannot create cgroups below %s: %s", dir, strerror(-r));
                        return;
                }
                snprintf(where + strlen(where), sizeof(where) - strlen(where), " %s/stepd", dir);
        }
        if (missing[0]) {
                say(dc, L_FAIL, "cgroups", "mount the v1 controllers (or boot with cgroup v2)",
                    "controllers not mounted:%s", missing);
                return;
        }
        say(dc, L_OK, "cgroups", NULL, "step cgroups go below:%s", where);
}

static void check_cgroup_v2(struct doctor *dc, const struct hier *m)
{
        char own[512] = "", dir[800], file[900];
        _cleanup_free_ char *ctl = NULL;

        if (own_cgroup("", own, sizeof(own)) < 0) {
                say(dc, L_FAIL, "cgroups", NULL, "no cgroup v2 entry in /proc/self/cgroup");
                return;
        }
        snprintf(dir, sizeof(dir), "%s%s", m->path, strcmp(own, "/") == 0 ? "" : own);
        snprintf(file, sizeof(file), "%s/cgroup.controllers", dir);
        if (read_full_file(file, &ctl, NULL) < 0)
                ctl = strdup("");
        for (size_t c = 0; ctl && c < ARRAY_SIZE(need_ctl); c++)
                if (!strstr(ctl, need_ctl[c])) {
                        say(dc, L_FAIL, "cgroups",
                            "delegate the controllers to stepd (Delegate=yes in stepd.service)",
                            "controller %s is not available in %s", need_ctl[c], dir);
                        return;
                }
        int r = probe_mkdir(dir);
        if (r < 0) {
                say(dc, L_FAIL, "cgroups", "give stepd a writable cgroup (Delegate=yes)",
                    "cannot create cgroups below %s: %s", dir, strerror(-r));
                return;
        }
        say(dc, L_OK, "cgroups", NULL, "step cgroups go below %s/stepd (stepd moves itself "
            "to %s/supervisor)", dir, dir);
}

static void check_cgroups(struct doctor *dc)
{
        struct hier h[32];
        size_t n = read_hierarchies(h, ARRAY_SIZE(h)), n_v1 = 0;
        const struct hier *v2 = NULL;
        char v1names[512] = "";

        for (size_t i = 0; i < n; i++) {
                if (h[i].v2) {
                        v2 = &h[i];
                        continue;
                }
                n_v1++;
                for (size_t c = 0; c < 12; c++) {
                        static const char *const all[] = { "cpu", "cpuacct", "cpuset", "memory",
                                "pids", "blkio", "io", "devices", "freezer", "net_cls",
                                "perf_event", "hugetlb" };
                        char want[32];
                        snprintf(want, sizeof(want), ",%s,", all[c]);
                        if (strstr(h[i].opts, want) && !strstr(v1names, want))
                                snprintf(v1names + strlen(v1names),
                                         sizeof(v1names) - strlen(v1names), ",%s", all[c]);
                }
        }
        if (n == 0) {
                say(dc, L_FAIL, "cgroups", "mount cgroup2 on /sys/fs/cgroup",
                    "no cgroup file system is mounted");
                return;
        }
        if (n_v1 == 0) {
                say(dc, L_OK, "cgroups", NULL, "layout v2 (unified, %s)", v2->path);
                check_cgroup_v2(dc, v2);
                return;
        }
        say(dc, L_OK, "cgroups", NULL, "layout %s: v1 controllers %s,%s", v2 ? "hybrid" : "v1",
            v1names + 1, v2 ? " and a cgroup2 hierarchy without them" : "");
        check_cgroup_v1(dc, h, n);
        say(dc, L_INFO, "cgroups", NULL, "these are the cgroups of this shell; under systemd "
            "stepd uses its service's cgroup (Delegate=yes)");
}

static const char *fs_name(unsigned long type)
{
        static const struct { unsigned long type; const char *name; } t[] = {
                { 0xEF53, "ext4" },        { 0x58465342, "xfs" },  { 0x9123683E, "btrfs" },
                { 0x01021994, "tmpfs" },   { 0x794c7630, "overlay" }, { 0x6969, "nfs" },
                { 0x2fc12fc1, "zfs" },     { 0xF2F52010, "f2fs" }, { 0x858458f6, "ramfs" },
                { 0x62656572, "sysfs" },   { 0x9fa0, "proc" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                if (t[i].type == type)
                        return t[i].name;
        return "unknown";
}

/* The deepest existing folder of path (a copy in buf). */
static int existing_ancestor(const char *path, char *buf, size_t len)
{
        struct stat st;

        snprintf(buf, len, "%s", path);
        while (stat(buf, &st) < 0) {
                if (errno != ENOENT)
                        return -errno;
                char *slash = strrchr(buf, '/');
                if (!slash)
                        return -ENOENT;
                if (slash == buf)
                        slash[1] = 0;
                else
                        *slash = 0;
        }
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int probe_folder(const char *dir)
{
        char p[512];

        snprintf(p, sizeof(p), "%s/.stepd-doctor.%d", strcmp(dir, "/") ? dir : "", (int)getpid());
        if (mkdir(p, 0700) < 0)
                return -errno;
        return rmdir(p) < 0 ? -errno : 0;
}

static void check_state(struct doctor *dc)
{
        static const char fix[] = "choose a writable folder with --state or \"state_dir\" in stepd.json";
        const char *path = dc->state_dir;
        char base[512];
        struct statvfs sv;
        struct statfs sf;
        int r = path[0] == '/' ? existing_ancestor(path, base, sizeof(base)) : -EINVAL;

        if (r < 0) {
                say(dc, L_FAIL, "state", fix, "%s: %s", path,
                    r == -EINVAL ? "not an absolute path" : r == -ENOTDIR ? "not a folder" : strerror(-r));
                return;
        }
        if (statvfs(base, &sv) < 0 || statfs(base, &sf) < 0) {
                say(dc, L_FAIL, "state", fix, "%s: %s", base, strerror(errno));
                return;
        }
        if (sv.f_flag & ST_RDONLY) {
                say(dc, L_FAIL, "state", fix, "%s: on a read-only file system (%s)", path,
                    fs_name((unsigned long)sf.f_type));
                return;
        }
        r = probe_folder(base);
        if (r < 0) {
                say(dc, L_FAIL, "state", fix, "%s: cannot create folders in %s: %s", path, base,
                    strerror(-r));
                return;
        }
        uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        enum level l = avail < FREE_FAIL_BYTES ? L_FAIL : avail < FREE_WARN_BYTES ? L_WARN : L_OK;
        say(dc, l, "state", "free space on that file system, or move the state folder",
            "%s%s on %s, %.1f GiB free", path, strcmp(base, path) ? " (created at start)" : "",
            fs_name((unsigned long)sf.f_type), (double)avail / (1 << 30));
        if (sf.f_type == 0x01021994 || sf.f_type == 0x858458f6)
                say(dc, L_INFO, "state", NULL, "on %s: step records do not survive a reboot",
                    fs_name((unsigned long)sf.f_type));
}

static void check_socket_path(struct doctor *dc, const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;

        if (lstat(path, &st) < 0) {
                char dir[512], base[512];
                snprintf(dir, sizeof(dir), "%s", path);
                int r = existing_ancestor(dirname(dir), base, sizeof(base));
                r = r < 0 ? r : probe_folder(base);
                if (r < 0)
                        say(dc, L_FAIL, "socket", "choose another path (--socket, \"socket\")",
                            "%s: cannot create it below %s: %s", path, base, strerror(-r));
                else
                        say(dc, L_OK, "socket", NULL, "%s can be created", path);
                return;
        }
        if (!S_ISSOCK(st.st_mode)) {
                say(dc, L_FAIL, "socket", "remove it or choose another path",
                    "%s exists and is not a socket", path);
                return;
        }
        memcpy(sa.sun_path, path, strlen(path));
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                say(dc, L_INFO, "socket", NULL, "%s: a stepd is listening there now", path);
        else
                say(dc, L_OK, "socket", NULL, "%s: a stale socket stepd will replace", path);
}

static void check_socket(struct doctor *dc)
{
        const char *group = dc->config ? policy_settings(dc->config)->socket_group : "stepd";

        if (dc->socket_path[0] != '/' || strlen(dc->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                say(dc, L_FAIL, "socket", "use an absolute path shorter than 108 bytes",
                    "%s: not a usable socket path", dc->socket_path);
        else
                check_socket_path(dc, dc->socket_path);
        if (!group || !*group)
                group = "stepd";
        if (!getgrnam(group))
                say(dc, L_WARN, "socket",
                    "systemd-sysusers (installs the group from sysusers.d/stepd.conf) or "
                    "groupadd --system stepd",
                    "no group \"%s\": only root can connect to the socket", group);
        else
                say(dc, L_OK, "socket", NULL, "members of group \"%s\" may connect", group);
}

static int try_oom_adj(const void *arg)
{
        return write_string_file("/proc/self/oom_score_adj", "-1000");
}

static void check_oom(struct doctor *dc)
{
        int r = probe_in_child(try_oom_adj, NULL);

        if (r < 0)
                say(dc, L_WARN, "oom",
                    "give stepd CAP_SYS_RESOURCE (in a container: --cap-add SYS_RESOURCE)",
                    "cannot set oom_score_adj -1000 (%s): the OOM killer may pick stepd itself "
                    "instead of a step; step memory limits still work",
                    strerror(-r));
        else
                say(dc, L_OK, "oom", NULL, "stepd can protect itself from the OOM killer");
}

static void check_tls(struct doctor *dc)
{
        char err[512];

        if (tls_module_load(err, sizeof(err)) < 0)
                say(dc, L_WARN, "tls", "install stepd-tls.so with stepd (meson install)",
                    "%s: agents and new-certificate cannot work; local steps can", err);
        else
                say(dc, L_OK, "tls", NULL, "the TLS module (OpenSSL) loads, for agents");
}

static void check_config(struct doctor *dc)
{
        struct policy_load_options o = { .state_dir = dc->state_dir };
        struct policy_error perr = { 0 };
        char msg[1024];
        int r = policy_load_with(dc->config_dir, &o, &dc->config, &perr);

        if (r < 0) {
                policy_error_format(&perr, msg, sizeof(msg));
                say(dc, L_FAIL, "config", "stepd check-config explains the file; fix it",
                    "%s: %s", dc->config_dir ? dc->config_dir : STEPD_SYSCONFDIR,
                    msg[0] ? msg : strerror(-r));
                return;
        }
        _cleanup_strv_free_ char **names = policy_project_names(dc->config);
        if (policy_builtin_projects(dc->config))
                say(dc, L_OK, "config", NULL, "%s: built-in default policy (any project name)",
                    policy_config_dir(dc->config));
        else
                say(dc, L_OK, "config", NULL, "%s: %zu project(s)", policy_config_dir(dc->config),
                    strv_length(names));
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: stepd doctor [OPTIONS]\n\n"
                   "Check that this host can run stepd; for each need say ok, or what is\n"
                   "missing and how to fix it. Exit status 0 when stepd can run.\n\n"
                   "  --config DIR    configuration folder (default " STEPD_SYSCONFDIR ")\n"
                   "  --state DIR     state folder to check (default: from stepd.json)\n"
                   "  --socket PATH   socket path to check (default: from stepd.json)\n");
}

static int parse_args(int argc, char **argv, struct doctor *dc)
{
        static const struct option opts[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "state", required_argument, NULL, 's' },
                { "socket", required_argument, NULL, 'S' },
                {},
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'h': usage(stdout); return 0;
                case 'c': dc->config_dir = optarg; break;
                case 's': dc->state_dir = optarg; break;
                case 'S': dc->socket_path = optarg; break;
                default: usage(stderr); return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "stepd doctor: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

int verb_doctor(int argc, char **argv)
{
        struct doctor dc = { .out = stdout };
        int r = parse_args(argc, argv, &dc);

        if (r <= 0)
                return r < 0 ? 2 : 0;
        check_kernel(&dc);
        check_privileges(&dc);
        check_config(&dc);
        const struct daemon_settings *set = dc.config ? policy_settings(dc.config) : NULL;
        if (!dc.state_dir)
                dc.state_dir = set && set->state_dir ? set->state_dir : STEPD_STATEDIR;
        if (!dc.socket_path)
                dc.socket_path = set && set->socket_path ? set->socket_path : STEPD_SOCKET;
        check_namespaces(&dc);
        check_userns(&dc);
        check_seccomp(&dc);
        check_cgroups(&dc);
        check_state(&dc);
        check_socket(&dc);
        check_oom(&dc);
        check_tls(&dc);
        if (dc.n_fail)
                printf("\nstepd cannot run here: %u problem(s), %u warning(s)\n", dc.n_fail,
                       dc.n_warn);
        else
                printf("\nstepd can run here (%u warning(s))\n", dc.n_warn);
        policy_config_unref(dc.config);
        return dc.n_fail ? 1 : 0;
}
