/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "policy/seccomp_default_bpf.h"
#include "policy/seccomp_profile.h"
#include "sandbox/sandbox.h"
#include "supervisor/exec_options.h"

static const char usage_text[] =
        "Usage: stepd exec [OPTIONS] -- COMMAND [ARG...]\n"
        "\n"
        "Run one command in a sandbox, without the daemon. Output passes through;\n"
        "a one-line result goes to stderr; the exit status is the step's\n"
        "(128+N when killed by signal N, 125 when stepd itself failed).\n"
        "\n"
        "Identity and files:\n"
        "  --project NAME        project name (cgroup, logs, hostname)      [exec]\n"
        "  --uid UID, --gid GID  numeric identity of the step         [65534:65534]\n"
        "  --user NAME           take uid and gid from the password database\n"
        "  --userns              also isolate with a user namespace (ids mapped 1:1)\n"
        "  --rootfs DIR          root filesystem instead of host system folders\n"
        "  --system-dir DIR      host folder to bind read-only (repeatable; replaces\n"
        "                        /usr /bin /sbin /lib* /etc)\n"
        "  --bind SRC[:DST]      bind a host path read-write (repeatable)\n"
        "  --bind-ro SRC[:DST]   bind a host path read-only (repeatable)\n"
        "  --workdir DIR         use DIR (must exist) as the working folder instead\n"
        "                        of a fresh one under STATE/exec\n"
        "  --state DIR           state folder                   [" STEPD_STATEDIR "]\n"
        "  --keep-workdir        do not remove the fresh working folder\n"
        "  --hostname NAME       the step's hostname                        [stepd]\n"
        "\n"
        "Network:\n"
        "  --net MODE            none (only lo), host, or bridge             [none]\n"
        "  --bridge NAME         bridge for --net bridge\n"
        "  --address ADDR/LEN    the step's address for --net bridge\n"
        "  --gateway ADDR        default route for --net bridge\n"
        "\n"
        "Limits:\n"
        "  --memory SIZE         memory limit, e.g. 512M; 0: none             [1G]\n"
        "  --pids N              max processes; 0: none                     [512]\n"
        "  --cpu CPUS            cpu quota, e.g. 0.5 or 2; 0: none            [1]\n"
        "  --nofile N            max open files                            [1024]\n"
        "  --fsize SIZE          max file size; 0: none                       [1G]\n"
        "  --tmp-size SIZE       size of the private /tmp                   [256M]\n"
        "  --timeout DURATION    wall-clock limit, e.g. 30s, 5m; 0: none      [0]\n"
        "  --kill-grace DURATION SIGTERM to SIGKILL at teardown              [2s]\n"
        "  --seccomp PROFILE     default, unconfined, or an OCI/Docker profile\n"
        "                        file                                   [default]\n"
        "\n"
        "Environment (nothing of the caller's leaks unless asked):\n"
        "  --env KEY=VALUE       set a variable (repeatable)\n"
        "  --env-pass KEY        pass the caller's value of KEY (repeatable)\n"
        "                        default: PATH=/usr/local/bin:/usr/bin:/bin HOME=/work\n"
        "\n"
        "Output:\n"
        "  -i, --stdin           give the step this command's stdin (else /dev/null)\n"
        "  --json                print the result as JSON on stderr\n"
        "  -q, --quiet           print no result line\n"
        "  -h, --help            this text\n";

enum {
        OPT_PROJECT = 256, OPT_UID, OPT_GID, OPT_USER, OPT_USERNS, OPT_ROOTFS, OPT_SYSDIR,
        OPT_BIND, OPT_BIND_RO, OPT_WORKDIR, OPT_STATE, OPT_KEEP, OPT_HOSTNAME, OPT_NET,
        OPT_BRIDGE, OPT_ADDRESS, OPT_GATEWAY, OPT_MEMORY, OPT_PIDS, OPT_CPU, OPT_NOFILE,
        OPT_FSIZE, OPT_TMP, OPT_TIMEOUT, OPT_GRACE, OPT_SECCOMP, OPT_ENV, OPT_ENV_PASS, OPT_JSON,
};

static const struct option options[] = {
        { "project", required_argument, NULL, OPT_PROJECT },
        { "uid", required_argument, NULL, OPT_UID },
        { "gid", required_argument, NULL, OPT_GID },
        { "user", required_argument, NULL, OPT_USER },
        { "userns", no_argument, NULL, OPT_USERNS },
        { "rootfs", required_argument, NULL, OPT_ROOTFS },
        { "system-dir", required_argument, NULL, OPT_SYSDIR },
        { "bind", required_argument, NULL, OPT_BIND },
        { "bind-ro", required_argument, NULL, OPT_BIND_RO },
        { "workdir", required_argument, NULL, OPT_WORKDIR },
        { "state", required_argument, NULL, OPT_STATE },
        { "keep-workdir", no_argument, NULL, OPT_KEEP },
        { "hostname", required_argument, NULL, OPT_HOSTNAME },
        { "net", required_argument, NULL, OPT_NET },
        { "bridge", required_argument, NULL, OPT_BRIDGE },
        { "address", required_argument, NULL, OPT_ADDRESS },
        { "gateway", required_argument, NULL, OPT_GATEWAY },
        { "memory", required_argument, NULL, OPT_MEMORY },
        { "pids", required_argument, NULL, OPT_PIDS },
        { "cpu", required_argument, NULL, OPT_CPU },
        { "nofile", required_argument, NULL, OPT_NOFILE },
        { "fsize", required_argument, NULL, OPT_FSIZE },
        { "tmp-size", required_argument, NULL, OPT_TMP },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "kill-grace", required_argument, NULL, OPT_GRACE },
        { "seccomp", required_argument, NULL, OPT_SECCOMP },
        { "env", required_argument, NULL, OPT_ENV },
        { "env-pass", required_argument, NULL, OPT_ENV_PASS },
        { "json", no_argument, NULL, OPT_JSON },
        { "stdin", no_argument, NULL, 'i' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        {},
};

static int bad(const char *opt, const char *value, const char *why)
{
        fprintf(stderr, "stepd exec: %s '%s': %s\n", opt, value, why);
        return -EINVAL;
}

static int replace(char **field, const char *value)
{
        char *c = strdup(value);

        if (!c)
                return -ENOMEM;
        free(*field);
        *field = c;
        return 0;
}

/* "1.5" cpus → 1500 thousandths. */
static int parse_cpus(const char *s, uint32_t *ret)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || v < 0 || v > 4096)
                return -EINVAL;
        *ret = (uint32_t)(v * 1000 + 0.5);
        return 0;
}

static int parse_id(const char *s, uint32_t *ret)
{
        uint64_t v;

        if (parse_uint64(s, &v) < 0 || v >= UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static int add_bind(struct launch_spec *s, const char *arg, bool writable)
{
        _cleanup_free_ char *src = strdup(arg);
        char *colon;

        if (!src)
                return -ENOMEM;
        colon = strchr(src, ':');
        if (colon)
                *colon = 0;
        if (src[0] != '/')
                return bad(writable ? "--bind" : "--bind-ro", arg, "source must be absolute");
        if (access(src, F_OK) < 0)
                return bad(writable ? "--bind" : "--bind-ro", arg, strerror(errno));
        return launch_spec_add_bind(s, src, colon ? colon + 1 : src, writable);
}

/* The default profile as compiled at build time: no JSON, no libseccomp. */
static int default_compiled(struct seccomp_profile **ret)
{
        struct seccomp_profile *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->refcount = 1;
        p->name = strdup("default");
        p->bpf = malloc(seccomp_default_bpf_len);
        if (!p->name || !p->bpf) {
                seccomp_profile_unref(p);
                return -ENOMEM;
        }
        memcpy(p->bpf, seccomp_default_bpf, seccomp_default_bpf_len);
        p->bpf_len = seccomp_default_bpf_len;
        *ret = p;
        return 0;
}

static int set_seccomp(struct launch_spec *s, const char *arg)
{
        struct policy_error e = { 0 };
        char msg[1024];
        int r;

        s->seccomp = seccomp_profile_unref(s->seccomp);
        if (strcmp(arg, "unconfined") == 0)
                return 0;
        if (strcmp(arg, "default") == 0)
                return default_compiled(&s->seccomp);
        else
                r = seccomp_profile_load_file(arg, &s->seccomp, &e);
        if (r < 0) {
                policy_error_format(&e, msg, sizeof(msg));
                fprintf(stderr, "stepd exec: --seccomp: %s\n", msg);
        }
        return r;
}

static int env_set(struct launch_spec *s, const char *kv)
{
        size_t klen = strcspn(kv, "=");

        if (!kv[klen] || klen == 0)
                return bad("--env", kv, "expected KEY=VALUE");
        for (char **e = s->envp; e && *e; e++)
                if (strncmp(*e, kv, klen + 1) == 0) {
                        char *c = strdup(kv);
                        if (!c)
                                return -ENOMEM;
                        free(*e);
                        *e = c;
                        return 0;
                }
        return strv_push(&s->envp, kv);
}

static int env_pass(struct launch_spec *s, const char *key)
{
        const char *v = getenv(key);
        _cleanup_free_ char *kv = NULL;

        if (!v)
                return 0;
        if (asprintf(&kv, "%s=%s", key, v) < 0)
                return -ENOMEM;
        return env_set(s, kv);
}

static int set_user(struct launch_spec *s, const char *name)
{
        struct passwd *pw = getpwnam(name);

        if (!pw)
                return bad("--user", name, "no such user");
        s->uid = pw->pw_uid;
        s->gid = pw->pw_gid;
        return 0;
}

static int apply_option(struct exec_options *o, int c, const char *arg)
{
        struct launch_spec *s = o->spec;
        uint64_t v;
        int r;

        switch (c) {
        case OPT_PROJECT:
                if (!project_name_valid(arg))
                        return bad("--project", arg, "expected [a-z0-9_.-], at most 64 bytes, no leading dot");
                return replace(&s->project, arg);
        case OPT_UID:
                return parse_id(arg, &s->uid) < 0 ? bad("--uid", arg, "expected a number") : 0;
        case OPT_GID:
                return parse_id(arg, &s->gid) < 0 ? bad("--gid", arg, "expected a number") : 0;
        case OPT_USER:
                return set_user(s, arg);
        case OPT_USERNS:
                s->user_namespace = true;
                return 0;
        case OPT_ROOTFS:
                return replace(&s->rootfs, arg);
        case OPT_SYSDIR:
                if (!o->sysdirs_replaced) {
                        s->system_binds = strv_free(s->system_binds);
                        o->sysdirs_replaced = true;
                }
                return strv_push(&s->system_binds, arg);
        case OPT_BIND:
        case OPT_BIND_RO:
                return add_bind(s, arg, c == OPT_BIND);
        case OPT_WORKDIR:
                return replace(&s->workdir, arg);
        case OPT_STATE:
                return replace(&o->state_dir, arg);
        case OPT_KEEP:
                o->keep_workdir = true;
                return 0;
        case OPT_HOSTNAME:
                return replace(&s->hostname, arg);
        case OPT_NET:
                r = net_mode_from_string(arg);
                if (r < 0)
                        return bad("--net", arg, "expected none, host or bridge");
                s->net = (enum net_mode)r;
                return 0;
        case OPT_BRIDGE:
                return replace(&s->bridge.bridge, arg);
        case OPT_ADDRESS:
                return replace(&s->bridge.address, arg);
        case OPT_GATEWAY:
                return replace(&s->bridge.gateway, arg);
        case OPT_MEMORY:
                return parse_size(arg, &s->limits.memory_bytes) < 0 ? bad("--memory", arg, "expected a size like 512M") : 0;
        case OPT_PIDS:
                return parse_uint64(arg, &s->limits.pids_max) < 0 ? bad("--pids", arg, "expected a number") : 0;
        case OPT_CPU:
                return parse_cpus(arg, &s->limits.cpu_millis) < 0 ? bad("--cpu", arg, "expected a number of cpus like 0.5") : 0;
        case OPT_NOFILE:
                r = parse_uint64(arg, &v);
                if (r < 0 || v == 0 || v > (1u << 20))
                        return bad("--nofile", arg, "expected 1..1048576");
                s->limits.nofile = v;
                return 0;
        case OPT_FSIZE:
                return parse_size(arg, &s->limits.fsize_bytes) < 0 ? bad("--fsize", arg, "expected a size like 1G") : 0;
        case OPT_TMP:
                r = parse_size(arg, &s->limits.tmp_bytes);
                return r < 0 || s->limits.tmp_bytes == 0 ? bad("--tmp-size", arg, "expected a size above 0") : 0;
        case OPT_TIMEOUT:
                return parse_duration_ms(arg, &s->timeout_ms) < 0 ? bad("--timeout", arg, "expected a duration like 30s") : 0;
        case OPT_GRACE:
                return parse_duration_ms(arg, &s->kill_grace_ms) < 0 ? bad("--kill-grace", arg, "expected a duration like 2s") : 0;
        case OPT_SECCOMP:
                return set_seccomp(s, arg);
        case OPT_ENV:
                return env_set(s, arg);
        case OPT_ENV_PASS:
                return env_pass(s, arg);
        case OPT_JSON:
                o->json = true;
                return 0;
        case 'i':
                o->pass_stdin = true;
                return 0;
        case 'q':
                o->quiet = true;
                return 0;
        default:
                return -EINVAL;
        }
}

static int defaults(struct exec_options *o)
{
        struct launch_spec *s = o->spec;
        char id[64];
        int r;

        make_step_id(id, sizeof(id));
        r = replace(&s->step_id, id);
        if (r >= 0)
                r = replace(&s->project, "exec");
        if (r >= 0)
                r = replace(&o->state_dir, STEPD_STATEDIR);
        if (r >= 0)
                r = env_set(s, "PATH=/usr/local/bin:/usr/bin:/bin");
        if (r >= 0)
                r = env_set(s, "HOME=/work");
        if (r >= 0)
                r = set_seccomp(s, "default");
        return r;
}

int exec_options_parse(int argc, char **argv, struct exec_options *o)
{
        int c, r;

        o->spec = launch_spec_new();
        if (!o->spec)
                return -ENOMEM;
        r = defaults(o);
        if (r < 0)
                return r;
        optind = 1;
        while ((c = getopt_long(argc, argv, "+iqh", options, NULL)) >= 0) {
                if (c == 'h') {
                        fputs(usage_text, stdout);
                        return 0;
                }
                if (c == '?') {
                        fprintf(stderr, "Try 'stepd exec --help'.\n");
                        return -EINVAL;
                }
                r = apply_option(o, c, optarg);
                if (r < 0)
                        return r;
        }
        if (optind >= argc) {
                fprintf(stderr, "stepd exec: no command given (stepd exec [OPTIONS] -- COMMAND)\n");
                return -EINVAL;
        }
        o->spec->argv = strv_copy(argv + optind);
        if (!o->spec->argv)
                return -ENOMEM;
        return 1;
}

void exec_options_done(struct exec_options *o)
{
        launch_spec_free(o->spec);
        free(o->state_dir);
        free(o->exec_dir);
}

int exec_workdir_create(struct exec_options *o)
{
        _cleanup_close_ int dfd = -1;
        char err[512];
        int r;

        if (o->spec->workdir)
                goto validate;
        if (asprintf(&o->exec_dir, "%s/exec", o->state_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(o->exec_dir, 0700);
        if (r < 0) {
                fprintf(stderr, "stepd exec: cannot create %s: %s\n", o->exec_dir, strerror(-r));
                return r;
        }
        dfd = open(o->exec_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return -errno;
        r = workdir_create(dfd, o->spec->step_id, o->spec->uid, o->spec->gid, 0700);
        if (r < 0) {
                fprintf(stderr, "stepd exec: cannot create the working folder: %s\n", strerror(-r));
                return r;
        }
        o->workdir_made = true;
        if (asprintf(&o->spec->workdir, "%s/%s", o->exec_dir, o->spec->step_id) < 0)
                return -ENOMEM;
validate:
        r = launch_spec_validate(o->spec, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "stepd exec: %s\n", err);
                exec_workdir_remove(o);
        }
        return r;
}

void exec_workdir_remove(struct exec_options *o)
{
        _cleanup_close_ int dfd = -1;
        int r;

        if (!o->workdir_made || o->keep_workdir)
                return;
        dfd = open(o->exec_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        r = dfd < 0 ? -errno : workdir_remove(dfd, o->spec->step_id);
        if (r < 0)
                fprintf(stderr, "stepd exec: cannot remove the working folder %s: %s\n",
                        o->spec->workdir, strerror(-r));
        o->workdir_made = false;
}
