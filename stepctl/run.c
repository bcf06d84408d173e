/* SPDX-License-Identifier: MIT */
/* stepctl run: parse the options into a `run` request, then stream the
 * step's events (stream.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "stepctl/stepctl.h"

#define RUN_MAX_ENV 256
#define RUN_MAX_LABELS 64
#define RUN_MAX_ARGV 256

static const char run_usage[] =
        "Usage: stepctl run --project NAME [OPTIONS] [--] COMMAND [ARG...]\n"
        "       stepctl run --project NAME [OPTIONS] --script FILE\n"
        "\n"
        "Run a step through stepd. Its output streams live to stdout and stderr,\n"
        "byte for byte; stepctl exits with the step's exit code, 128+N when signal\n"
        "N ended it, 125 when stepd refused or could not run it.\n"
        "\n"
        "Options:\n"
        "  -p, --project NAME        the project to run as (required)\n"
        "  -e, --env KEY=VALUE       set a variable in the step (repeatable); the\n"
        "                            project's policy decides which are kept\n"
        "      --env-pass KEY        pass KEY from stepctl's environment (skipped\n"
        "                            when unset; repeatable)\n"
        "  -t, --timeout DURATION    wall-clock limit: 250ms, 30s, 5m, 1h, or seconds\n"
        "  -l, --label KEY=VALUE     a label stored with the step (repeatable)\n"
        "      --stdin FILE          give FILE (at most 512 KiB) to the step's stdin\n"
        "  -i, --interactive         give stepctl's own stdin (read to its end,\n"
        "                            at most 512 KiB) to the step; without --stdin\n"
        "                            or -i the step's stdin is /dev/null\n"
        "  -s, --script FILE         run FILE (text, at most 512 KiB; - for stdin)\n"
        "                            with the interpreter instead of a command\n"
        "      --interpreter PATH    the interpreter for --script (default /bin/sh)\n"
        "      --idempotency-key KEY a second run with the same key attaches to the\n"
        "                            step already started instead of running again\n"
        "      --cancel-on-disconnect  cancel the step if this connection is lost\n"
        "      --retry-safe          the step may be run again elsewhere if its\n"
        "                            agent is lost\n"
        "      --socket PATH         stepd's socket\n"
        "      --json                print every event as a JSON line (see below)\n"
        "  -h, --help                this text\n"
        "\n"
        "Ctrl-C cancels the step and waits for it to end; a second Ctrl-C detaches\n"
        "(exit 130; the step goes on unless cancelled: see stepctl attach).\n"
        "\n"
        "When stderr is a terminal, stepctl shows the queue position while the step\n"
        "waits and a summary line at the end (reason, exit code, wall time, cpu time,\n"
        "peak memory). Whether or not it is, a step that ends by timeout, oom or\n"
        "cancel, or that stepd could not run, gets one line \"stepctl: step ID ...\"\n"
        "on stderr.\n"
        "\n"
        "--json: stdout carries only JSON objects, one per line: the events as\n"
        "stepd sends them (accepted, queued, started, output with base64 `data`,\n"
        "exit with `result`), or an `error`. The exit status is the same.\n";

struct run_args {
        struct client_run_opts o;
        char **env;
        char **labels;
        char **argv;
        char *script;
        char *stdin_data;
        const char *stdin_file;
        const char *script_file;
        bool interactive;
};

static void *mfree(void *p)
{
        free(p);
        return NULL;
}

static void run_args_done(struct run_args *a)
{
        strv_free(a->env);
        strv_free(a->labels);
        strv_free(a->argv);
        free(a->script);
        free(a->stdin_data);
}

/* Read a file (or stdin for "-") of at most max bytes. */
static int read_input(const char *what, const char *path, size_t max, char **ret,
                      size_t *ret_len)
{
        _cleanup_close_ int fd = -1;
        int r, in = STDIN_FILENO;

        if (strcmp(path, "-") != 0) {
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return stepctl_fail("run: cannot open %s %s: %s", what, path,
                                            strerror(errno));
                in = fd;
        }
        r = read_full_fd(in, ret, ret_len);
        if (r == -EFBIG || (r >= 0 && *ret_len > max)) {
                if (r >= 0)
                        *ret = mfree(*ret);
                return stepctl_fail("run: %s %s is larger than %zu KiB", what,
                                    strcmp(path, "-") == 0 ? "(stdin)" : path, max / 1024);
        }
        if (r < 0)
                return stepctl_fail("run: cannot read %s %s: %s", what, path, strerror(-r));
        return 0;
}

static int push_pair(char ***v, const char *what, const char *s, size_t max)
{
        const char *eq = strchr(s, '=');

        if (!eq || eq == s)
                return stepctl_usage_error("run", "%s '%s' is not KEY=VALUE", what, s);
        if (strv_length(*v) >= max)
                return stepctl_usage_error("run", "more than %zu %ss", max, what);
        if (strv_push(v, s) < 0)
                return stepctl_fail("out of memory");
        return 0;
}

static int push_env_pass(char ***v, const char *key)
{
        _cleanup_free_ char *pair = NULL;
        const char *val;

        if (!*key || strchr(key, '='))
                return stepctl_usage_error("run", "--env-pass takes a variable name, not '%s'",
                                           key);
        val = getenv(key);
        if (!val)
                return 0;
        if (asprintf(&pair, "%s=%s", key, val) < 0)
                return stepctl_fail("out of memory");
        return push_pair(v, "environment variable", pair, RUN_MAX_ENV);
}

static int set_timeout(struct run_args *a, const char *s)
{
        uint64_t ms;

        if (parse_duration_ms(s, &ms) < 0 || ms == 0 || ms > INT64_MAX)
                return stepctl_usage_error("run", "invalid --timeout '%s' (e.g. 30s, 5m, 1h)",
                                           s);
        a->o.timeout_ms = ms;
        return 0;
}

static int set_project(struct run_args *a, const char *s)
{
        if (!project_name_valid(s))
                return stepctl_usage_error(
                        "run",
                        "invalid project name '%s' (lowercase letters, digits, '-', '_', '.'; "
                        "no leading '.'; at most %d bytes)",
                        s, PROJECT_NAME_MAX);
        a->o.project = s;
        return 0;
}

enum {
        OPT_ENV_PASS = 0x2000,
        OPT_STDIN,
        OPT_IDEMPOTENCY,
        OPT_CANCEL_ON_DISCONNECT,
        OPT_RETRY_SAFE,
        OPT_INTERPRETER,
};

static int run_option(struct run_args *a, int c)
{
        switch (c) {
        case 'p':
                return set_project(a, optarg);
        case 'e':
                return push_pair(&a->env, "environment variable", optarg, RUN_MAX_ENV);
        case OPT_ENV_PASS:
                return push_env_pass(&a->env, optarg);
        case 't':
                return set_timeout(a, optarg);
        case 'l':
                return push_pair(&a->labels, "label", optarg, RUN_MAX_LABELS);
        case OPT_STDIN:
                a->stdin_file = optarg;
                return 0;
        case 'i':
                a->interactive = true;
                return 0;
        case 's':
                a->script_file = optarg;
                return 0;
        case OPT_INTERPRETER:
                a->o.interpreter = optarg;
                return 0;
        case OPT_IDEMPOTENCY:
                if (!*optarg || strlen(optarg) > 128)
                        return stepctl_usage_error("run", "--idempotency-key must be 1 to "
                                                          "128 bytes");
                a->o.idempotency_key = optarg;
                return 0;
        case OPT_CANCEL_ON_DISCONNECT:
                a->o.cancel_on_disconnect = true;
                return 0;
        case OPT_RETRY_SAFE:
                a->o.retry_safe = true;
                return 0;
        default:
                return -1;
        }
}

static int parse_options(struct stepctl *ctl, struct run_args *a, int argc, char **argv)
{
        static const struct option options[] = {
                { "project", required_argument, NULL, 'p' },
                { "env", required_argument, NULL, 'e' },
                { "env-pass", required_argument, NULL, OPT_ENV_PASS },
                { "timeout", required_argument, NULL, 't' },
                { "label", required_argument, NULL, 'l' },
                { "stdin", required_argument, NULL, OPT_STDIN },
                { "interactive", no_argument, NULL, 'i' },
                { "script", required_argument, NULL, 's' },
                { "interpreter", required_argument, NULL, OPT_INTERPRETER },
                { "idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY },
                { "cancel-on-disconnect", no_argument, NULL, OPT_CANCEL_ON_DISCONNECT },
                { "retry-safe", no_argument, NULL, OPT_RETRY_SAFE },
                COMMON_LONG_OPTIONS,
                {},
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "+:hp:e:t:l:is:", options, NULL)) >= 0) {
                r = stepctl_common_option(ctl, &command_run, c);
                if (r == 2)
                        return 0;
                if (r == 1)
                        continue;
                if (c == '?' || c == ':')
                        return stepctl_bad_option(&command_run, argv, c);
                r = run_option(a, c);
                if (r != 0)
                        return r;
        }
        return -1; /* go on */
}

static int check_args(struct run_args *a, int argc, char **argv)
{
        if (!a->o.project)
                return stepctl_usage_error("run", "--project is required");
        if (a->script_file && optind < argc)
                return stepctl_usage_error("run", "give either --script or a command, not both");
        if (!a->script_file && optind >= argc)
                return stepctl_usage_error("run", "no command given (or use --script FILE)");
        if (a->stdin_file && a->interactive)
                return stepctl_usage_error("run", "give either --stdin or -i, not both");
        if (a->interactive && a->script_file && strcmp(a->script_file, "-") == 0)
                return stepctl_usage_error("run", "-i and --script - both want stdin");
        if (a->stdin_file && a->script_file && strcmp(a->stdin_file, "-") == 0 &&
            strcmp(a->script_file, "-") == 0)
                return stepctl_usage_error("run", "--stdin - and --script - both want stdin");
        if (a->o.interpreter && !a->script_file)
                return stepctl_usage_error("run", "--interpreter only goes with --script");
        if (argc - optind > RUN_MAX_ARGV)
                return stepctl_usage_error("run", "more than %d command arguments",
                                           RUN_MAX_ARGV);
        return 0;
}

static int load_inputs(struct run_args *a, int argc, char **argv)
{
        size_t len;
        int r;

        if (a->script_file) {
                r = read_input("script", a->script_file, CLIENT_SCRIPT_MAX, &a->script, &len);
                if (r != 0)
                        return r;
                if (strlen(a->script) != len)
                        return stepctl_fail("run: script %s contains NUL bytes", a->script_file);
                a->o.script = a->script;
        } else {
                a->argv = strv_copy(argv + optind);
                if (!a->argv)
                        return stepctl_fail("out of memory");
                a->o.argv = a->argv;
        }
        if (a->stdin_file || a->interactive) {
                r = read_input("stdin", a->stdin_file ? a->stdin_file : "-", CLIENT_STDIN_MAX,
                               &a->stdin_data, &a->o.stdin_len);
                if (r != 0)
                        return r;
                a->o.stdin_data = a->stdin_data;
        }
        a->o.env = a->env;
        a->o.labels = a->labels;
        return 0;
}

static int run_main(struct stepctl *ctl, int argc, char **argv)
{
        _cleanup_(run_args_done) struct run_args a = {};
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_client_json_ json_t *req = NULL;
        struct stream_opts so = { .cancel_on_int = true, .exit_with_step = true };
        char err[256];
        int r;

        r = parse_options(ctl, &a, argc, argv);
        if (r >= 0)
                return r;
        r = check_args(&a, argc, argv);
        if (r != 0)
                return r;
        r = load_inputs(&a, argc, argv);
        if (r != 0)
                return r;
        if (stepctl_connect(ctl, &c) < 0)
                return EXIT_STEPCTL;
        r = client_run_request(c, &a.o, &req, err, sizeof(err));
        if (r == -ENOMEM)
                return stepctl_fail("out of memory");
        if (r < 0)
                return stepctl_fail("run: %s", err);
        return stream_events(ctl, c, req, &so);
}

const struct command command_run = {
        .name = "run",
        .run = run_main,
        .summary = "run a step and stream its output; exit with its status",
        .usage = run_usage,
};
