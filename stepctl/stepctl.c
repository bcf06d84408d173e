/* SPDX-License-Identifier: MIT */
/* stepctl: talk to stepd. This file holds main(), the global options, the
 * command table and the helpers every command shares; run.c, stream.c and
 * query.c hold the commands. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "stepctl/stepctl.h"

static const struct command *const commands[] = {
        &command_run,    &command_attach, &command_logs,   &command_cancel,  &command_ps,
        &command_status, &command_result, &command_agents, &command_metrics, &command_reload,
};

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: stepctl [--socket PATH] [--json] COMMAND [OPTIONS] [ARGS]\n"
                "       stepctl --help | --version\n"
                "\n"
                "Run steps through stepd and look at them.\n"
                "\n"
                "Commands:\n");
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
        fprintf(f,
                "\n"
                "Options (also accepted after the command):\n"
                "  --socket PATH  stepd's socket (default: $STEPD_SOCKET, else %s)\n"
                "  --json         machine-readable output: JSON objects, one per line\n"
                "  -h, --help     this text; `stepctl COMMAND --help` for a command\n"
                "  --version      print the version\n"
                "\n"
                "--json: run, attach and logs print every event stepd sends (accepted,\n"
                "queued, started, output with base64 `data`, exit with `result`) as it\n"
                "arrives; cancel, ps, status and result print the daemon's reply. An\n"
                "`error` from stepd is printed the same way; stepctl's own errors stay\n"
                "one line of text on stderr.\n"
                "\n"
                "Exit status: run and attach exit with the step's exit code, 128+N when\n"
                "signal N ended it; other commands exit 0 on success. 125 means stepctl\n"
                "or stepd failed: a usage error, no connection, a refused step\n"
                "(queue-full, permission-denied...), setup-failed, rejected, lost.\n"
                "130: detached with a second Ctrl-C.\n",
                STEPD_SOCKET);
}

int stepctl_fail(const char *fmt, ...)
{
        va_list ap;

        fputs("stepctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return EXIT_STEPCTL;
}

int stepctl_usage_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "stepctl: %s%s", cmd ? cmd : "", cmd ? ": " : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see stepctl %s%s--help)\n", cmd ? cmd : "", cmd ? " " : "");
        return EXIT_STEPCTL;
}

int stepctl_common_option(struct stepctl *ctl, const struct command *cmd, int c)
{
        switch (c) {
        case OPT_COMMON_SOCKET:
                ctl->socket = optarg;
                return 1;
        case OPT_COMMON_JSON:
                ctl->json = true;
                return 1;
        case OPT_COMMON_HELP:
                fputs(cmd->usage, stdout);
                return 2;
        default:
                return 0;
        }
}

int stepctl_bad_option(const struct command *cmd, char **argv, int c)
{
        const char *name = cmd ? cmd->name : NULL;
        const char *arg = argv[optind - 1];

        if (c == ':')
                return stepctl_usage_error(name, "option '%s' needs a value", arg);
        if (optopt && optopt < 0x1000)
                return stepctl_usage_error(name, "unknown option '-%c'", optopt);
        return stepctl_usage_error(name, "unknown option '%s'", arg);
}

static const char *connect_hint(int r)
{
        switch (r) {
        case -ENOENT:
        case -ECONNREFUSED:
                return " (is stepd running?)";
        case -EACCES:
                return " (are you in stepd's group?)";
        default:
                return "";
        }
}

int stepctl_connect(const struct stepctl *ctl, struct client **ret)
{
        _cleanup_(client_freep) struct client *c = NULL;
        int r;

        r = client_connect(ctl->socket, &c);
        if (r < 0) {
                stepctl_fail("cannot connect to %s: %s%s", ctl->socket, strerror(-r),
                             connect_hint(r));
                return r;
        }
        r = client_hello(c, "stepctl/" STEPD_VERSION, NULL);
        if (r == -EPROTO) {
                char text[1024];

                client_error_format(client_error(c), text, sizeof(text));
                stepctl_fail("stepd refused the connection: %s", text);
                return r;
        }
        if (r < 0) {
                stepctl_fail("no valid hello from stepd at %s: %s", ctl->socket,
                             r == -ECONNRESET ? "connection closed" : strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int stepctl_print_json(const json_t *j)
{
        _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

        if (!s)
                return -ENOMEM;
        if (puts(s) == EOF || fflush(stdout) == EOF)
                return -EIO;
        return 0;
}

int stepctl_print_error_reply(const struct stepctl *ctl, const json_t *err)
{
        char text[1024];

        if (ctl->json)
                stepctl_print_json(err);
        client_error_format(err, text, sizeof(text));
        return stepctl_fail("stepd: %s", text);
}

int stepctl_lost(const struct stepctl *ctl, int r)
{
        if (r == 0 || r == -ECONNRESET || r == -EPIPE)
                return stepctl_fail("connection to stepd lost");
        if (r == -EBADMSG || r == -EMSGSIZE)
                return stepctl_fail("bad message from stepd: %s", strerror(-r));
        return stepctl_fail("connection to stepd failed: %s", strerror(-r));
}

int stepctl_request(const struct stepctl *ctl, json_t *(*build)(struct client *, const char *),
                    const char *type, const char *step, json_t **ret_reply)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_client_json_ json_t *req = NULL, *reply = NULL;
        int r;

        if (stepctl_connect(ctl, &c) < 0)
                return EXIT_STEPCTL;
        req = build ? build(c, step) : client_simple_request(c, type, step);
        if (!req)
                return stepctl_fail("out of memory");
        r = client_call(c, req, &reply);
        if (r < 0)
                return stepctl_lost(ctl, r);
        if (client_is_error(reply))
                return stepctl_print_error_reply(ctl, reply);
        *ret_reply = TAKE_PTR(reply);
        return 0;
}

static void context_init(struct stepctl *ctl)
{
        const char *env = getenv("STEPD_SOCKET");
        const char *term = getenv("TERM");

        ctl->socket = env && *env ? env : STEPD_SOCKET;
        ctl->err_tty = isatty(STDERR_FILENO) == 1;
        ctl->color = ctl->err_tty && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
}

static int dispatch(struct stepctl *ctl, int argc, char **argv)
{
        const char *name = argv[0];

        if (strcmp(name, "help") == 0) {
                if (argc < 2) {
                        usage(stdout);
                        return 0;
                }
                name = argv[1];
                for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                        if (strcmp(name, commands[i]->name) == 0) {
                                fputs(commands[i]->usage, stdout);
                                return 0;
                        }
        }
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (strcmp(name, commands[i]->name) == 0) {
                        optind = 0; /* glibc: reinitialise for the command's options */
                        return commands[i]->run(ctl, argc, argv);
                }
        return stepctl_usage_error(NULL, "unknown command '%s'", name);
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "socket", required_argument, NULL, OPT_COMMON_SOCKET },
                { "json", no_argument, NULL, OPT_COMMON_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        struct stepctl ctl = {};
        int c;

        context_init(&ctl);
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_COMMON_SOCKET:
                        ctl.socket = optarg;
                        break;
                case OPT_COMMON_JSON:
                        ctl.json = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("stepctl %s\n", STEPD_VERSION);
                        return 0;
                default:
                        return stepctl_bad_option(NULL, argv, c);
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return EXIT_STEPCTL;
        }
        if (!*ctl.socket)
                return stepctl_usage_error(NULL, "--socket needs a path");
        return dispatch(&ctl, argc - optind, argv + optind);
}
