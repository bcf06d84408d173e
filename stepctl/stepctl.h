/* SPDX-License-Identifier: MIT */
#pragma once

/* stepctl: the command-line client of stepd. One file per group of
 * commands; they share this small context and a few printing helpers.
 *
 * Exit status (like `docker run`): a step's own exit code, 128+signal when
 * a signal ended it, 125 for everything that is stepctl's or stepd's own
 * failure (usage errors, connection, refused, queue-full, setup-failed,
 * lost), 130 when the user detached with a second Ctrl-C. */

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ipc/client.h"

#define EXIT_STEPCTL 125
#define EXIT_DETACHED 130

struct stepctl {
        const char *socket;  /* --socket, $STEPD_SOCKET, or STEPD_SOCKET */
        bool json;           /* --json */
        bool err_tty;        /* stderr is a terminal: progress and summaries */
        bool color;          /* ... and colors are welcome (NO_COLOR, TERM=dumb) */
};

struct command {
        const char *name;
        int (*run)(struct stepctl *ctl, int argc, char **argv);
        const char *summary;
        const char *usage;   /* the full --help text */
};

extern const struct command command_run, command_attach, command_logs, command_cancel,
        command_ps, command_status, command_result, command_agents, command_metrics,
        command_reload;

/* One line "stepctl: ..." on stderr. Returns EXIT_STEPCTL. */
int stepctl_fail(const char *fmt, ...) _printf_(1, 2);
/* A usage error for a command: the message plus "see stepctl CMD --help". */
int stepctl_usage_error(const char *cmd, const char *fmt, ...) _printf_(2, 3);

/* Common options every command takes: --socket PATH, --json, --help.
 * Returns 1 when the option was one of them (handled), 0 if not, or an
 * exit status (via *ret_exit) when --help was printed. */
enum {
        OPT_COMMON_SOCKET = 0x1000,
        OPT_COMMON_JSON,
        OPT_COMMON_HELP = 'h',
};
#define COMMON_LONG_OPTIONS                                                                        \
        { "socket", required_argument, NULL, OPT_COMMON_SOCKET },                                  \
                { "json", no_argument, NULL, OPT_COMMON_JSON },                                    \
                { "help", no_argument, NULL, OPT_COMMON_HELP }
/* Handle a common option c; 1: handled, 0: not common, 2: help printed. */
int stepctl_common_option(struct stepctl *ctl, const struct command *cmd, int c);
/* Report the option getopt_long refused (opterr is off). */
int stepctl_bad_option(const struct command *cmd, char **argv, int c);

/* A command without arguments: only the common options. -1: go on, or an
 * exit status (usage error printed, or 0 after --help). */
int stepctl_parse_no_args(struct stepctl *ctl, const struct command *cmd, int argc, char **argv);

/* Connect and say hello; on failure prints one line and returns -errno. */
int stepctl_connect(const struct stepctl *ctl, struct client **ret);
/* Print a JSON value as one compact line on stdout. */
int stepctl_print_json(const json_t *j);
/* Print an `error` reply (json: as a line on stdout too). Returns EXIT_STEPCTL. */
int stepctl_print_error_reply(const struct stepctl *ctl, const json_t *err);
/* One line about a lost connection. Returns EXIT_STEPCTL. */
int stepctl_lost(const struct stepctl *ctl, int r);
/* A one-shot request: connect, send, read its reply; errors printed.
 * 0 with *ret_reply, or an exit status. */
int stepctl_request(const struct stepctl *ctl, json_t *(*build)(struct client *, const char *),
                    const char *type, const char *step, json_t **ret_reply);
/* A command without arguments that asks the daemon one thing: parse its
 * options, send `type`, and with --json print the reply. Returns an exit
 * status when that finished the command, or -1 with *ret_reply (the
 * caller's) for the caller to show. */
int stepctl_query(struct stepctl *ctl, const struct command *cmd, const char *type, int argc,
                  char **argv, json_t **ret_reply);

/* Step output, attach and logs (stream.c). */
struct stream_opts {
        const char *step;     /* attach/logs; NULL for run (from `accepted`) */
        uint64_t offset;      /* attach from here */
        bool cancel_on_int;   /* run: first Ctrl-C cancels, second detaches */
        bool until_now;       /* logs: stop at the output present when attached */
        bool exit_with_step;  /* run/attach: exit with the step's status */
};
int stream_events(const struct stepctl *ctl, struct client *c, json_t *first_request,
                  const struct stream_opts *o);
