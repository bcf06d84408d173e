/* SPDX-License-Identifier: MIT */
/* stepctl attach, logs, cancel, ps, status, result. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "stepctl/stepctl.h"

/* Options of the commands that take one STEP: --offset/-f where allowed. */
struct step_args {
        const char *step;
        uint64_t offset;
        bool follow;
};

enum { OPT_OFFSET = 0x3000 };

static int parse_step_args(struct stepctl *ctl, const struct command *cmd, bool offset_ok,
                           bool follow_ok, int argc, char **argv, struct step_args *a)
{
        static const struct option options[] = {
                { "offset", required_argument, NULL, OPT_OFFSET },
                { "follow", no_argument, NULL, 'f' },
                COMMON_LONG_OPTIONS,
                {},
        };
        int c, r;

        /* Permuting getopt: options may come after STEP too. */
        while ((c = getopt_long(argc, argv, ":hf", options, NULL)) >= 0) {
                r = stepctl_common_option(ctl, cmd, c);
                if (r == 2)
                        return 0;
                if (r == 1)
                        continue;
                if (c == OPT_OFFSET && offset_ok) {
                        if (parse_uint64(optarg, &a->offset) < 0 || a->offset > INT64_MAX)
                                return stepctl_usage_error(cmd->name, "invalid --offset '%s'",
                                                           optarg);
                } else if (c == 'f' && follow_ok) {
                        a->follow = true;
                } else if (c == '?' || c == ':') {
                        return stepctl_bad_option(cmd, argv, c);
                } else {
                        return stepctl_usage_error(cmd->name, "unknown option '%s'",
                                                   c == 'f' ? "--follow" : "--offset");
                }
        }
        if (optind >= argc)
                return stepctl_usage_error(cmd->name, "no STEP given (stepctl ps lists them)");
        if (argc - optind > 1)
                return stepctl_usage_error(cmd->name, "one step only, not '%s'", argv[optind + 1]);
        if (!step_id_valid(argv[optind]))
                return stepctl_usage_error(cmd->name, "'%s' is not a step id", argv[optind]);
        a->step = argv[optind];
        return -1;
}

static int follow(struct stepctl *ctl, const struct step_args *a, bool logs)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_client_json_ json_t *req = NULL;
        struct stream_opts so = {
                .step = a->step,
                .offset = a->offset,
                .until_now = logs && !a->follow,
                .exit_with_step = !logs,
        };

        if (stepctl_connect(ctl, &c) < 0)
                return EXIT_STEPCTL;
        req = client_simple_request(c, "attach", a->step);
        if (!req || json_object_set_new(req, "offset", json_integer((json_int_t)a->offset)) < 0)
                return stepctl_fail("out of memory");
        return stream_events(ctl, c, req, &so);
}

static int attach_main(struct stepctl *ctl, int argc, char **argv)
{
        struct step_args a = {};
        int r = parse_step_args(ctl, &command_attach, true, false, argc, argv, &a);

        return r >= 0 ? r : follow(ctl, &a, false);
}

static int logs_main(struct stepctl *ctl, int argc, char **argv)
{
        struct step_args a = {};
        int r = parse_step_args(ctl, &command_logs, true, true, argc, argv, &a);

        return r >= 0 ? r : follow(ctl, &a, true);
}

static int cancel_main(struct stepctl *ctl, int argc, char **argv)
{
        _cleanup_client_json_ json_t *reply = NULL;
        struct step_args a = {};
        int r = parse_step_args(ctl, &command_cancel, false, false, argc, argv, &a);

        if (r >= 0)
                return r;
        r = stepctl_request(ctl, NULL, "cancel", a.step, &reply);
        if (r != 0)
                return r;
        if (ctl->json)
                stepctl_print_json(reply);
        else
                printf("cancelling %s\n", a.step);
        return 0;
}

static int result_main(struct stepctl *ctl, int argc, char **argv)
{
        _cleanup_client_json_ json_t *reply = NULL;
        struct step_args a = {};
        struct step_result res;
        char line[1024];
        int r = parse_step_args(ctl, &command_result, false, false, argc, argv, &a);

        if (r >= 0)
                return r;
        r = stepctl_request(ctl, NULL, "result", a.step, &reply);
        if (r != 0)
                return r;
        if (ctl->json)
                return stepctl_print_json(reply) < 0 ? EXIT_STEPCTL : 0;
        if (client_result_from_json(json_object_get(reply, "result"), &res) < 0)
                return stepctl_fail("bad message from stepd: malformed result");
        step_result_format(&res, line, sizeof(line));
        printf("%s %s exit_status=%d\n", a.step, line, step_result_exit_status(&res));
        return 0;
}

int stepctl_parse_no_args(struct stepctl *ctl, const struct command *cmd, int argc, char **argv)
{
        static const struct option options[] = { COMMON_LONG_OPTIONS, {} };
        int c, r;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                r = stepctl_common_option(ctl, cmd, c);
                if (r == 2)
                        return 0;
                if (r == 0)
                        return stepctl_bad_option(cmd, argv, c);
        }
        if (optind < argc)
                return stepctl_usage_error(cmd->name, "unexpected argument '%s'", argv[optind]);
        return -1;
}

int stepctl_query(struct stepctl *ctl, const struct command *cmd, const char *type, int argc,
                  char **argv, json_t **ret_reply)
{
        _cleanup_client_json_ json_t *reply = NULL;
        int r = stepctl_parse_no_args(ctl, cmd, argc, argv);

        if (r >= 0)
                return r;
        r = stepctl_request(ctl, NULL, type, NULL, &reply);
        if (r != 0)
                return r;
        if (ctl->json)
                return stepctl_print_json(reply) < 0 ? EXIT_STEPCTL : 0;
        *ret_reply = TAKE_PTR(reply);
        return -1;
}

static void format_age(uint64_t created_usec, char *buf, size_t len)
{
        uint64_t now = now_realtime_usec(), s;

        if (created_usec == 0 || created_usec > now) {
                snprintf(buf, len, "-");
                return;
        }
        s = (now - created_usec) / 1000000;
        if (s < 120)
                snprintf(buf, len, "%" PRIu64 "s", s);
        else if (s < 2 * 3600)
                snprintf(buf, len, "%" PRIu64 "m", s / 60);
        else if (s < 2 * 86400)
                snprintf(buf, len, "%" PRIu64 "h", s / 3600);
        else
                snprintf(buf, len, "%" PRIu64 "d", s / 86400);
}

static void print_step_row(const json_t *st)
{
        const char *reason = client_msg_string(st, "reason");
        json_t *created = json_object_get(st, "created_usec");
        char age[32];

        format_age(json_is_integer(created) && json_integer_value(created) > 0 ?
                           (uint64_t)json_integer_value(created) : 0,
                   age, sizeof(age));
        printf("%-24s %-20s %-8s %-13s %s\n", client_msg_string(st, "step") ?: "?",
               client_msg_string(st, "project") ?: "?", client_msg_string(st, "state") ?: "?",
               reason ? reason : "-", age);
}

static int ps_main(struct stepctl *ctl, int argc, char **argv)
{
        _cleanup_client_json_ json_t *reply = NULL;
        json_t *steps, *st;
        size_t i;
        int r = stepctl_query(ctl, &command_ps, "list", argc, argv, &reply);

        if (r >= 0)
                return r;
        steps = json_object_get(reply, "steps");
        if (!json_is_array(steps))
                return stepctl_fail("bad message from stepd: `list` without steps");
        printf("%-24s %-20s %-8s %-13s %s\n", "STEP", "PROJECT", "STATE", "REASON", "AGE");
        json_array_foreach(steps, i, st)
                print_step_row(st);
        return 0;
}

static void print_status_member(const json_t *reply, const char *key, const char *label)
{
        json_t *v = json_object_get(reply, key);

        if (json_is_integer(v))
                printf("%-12s %" JSON_INTEGER_FORMAT "\n", label, json_integer_value(v));
        else if (json_is_boolean(v))
                printf("%-12s %s\n", label, json_is_true(v) ? "yes" : "no");
        else if (json_is_string(v))
                printf("%-12s %s\n", label, json_string_value(v));
}

static int status_main(struct stepctl *ctl, int argc, char **argv)
{
        _cleanup_client_json_ json_t *reply = NULL;
        int r = stepctl_query(ctl, &command_status, "status", argc, argv, &reply);

        if (r >= 0)
                return r;
        print_status_member(reply, "version", "version:");
        print_status_member(reply, "running", "running:");
        print_status_member(reply, "queued", "queued:");
        print_status_member(reply, "capacity", "capacity:");
        print_status_member(reply, "queue_limit", "queue limit:");
        print_status_member(reply, "draining", "draining:");
        return 0;
}

const struct command command_attach = {
        .name = "attach",
        .run = attach_main,
        .summary = "follow a step's output from an offset until it ends",
        .usage = "Usage: stepctl attach STEP [--offset N]\n"
                 "\n"
                 "Print the step's output from byte N of its output (stdout and stderr\n"
                 "together, as stepd read them; default 0), then follow it live until the\n"
                 "step ends; exit with the step's status like `stepctl run`. Ctrl-C\n"
                 "detaches (the step goes on). After a lost connection, attach again at\n"
                 "the offset stepctl printed to get the rest without gaps or repeats.\n"
                 "\n"
                 "Options: --offset N, --socket PATH, --json (events as JSON lines), -h/--help\n",
};

const struct command command_logs = {
        .name = "logs",
        .run = logs_main,
        .summary = "print a step's output so far (or all of it) and exit",
        .usage = "Usage: stepctl logs STEP [--offset N] [-f|--follow]\n"
                 "\n"
                 "Print the step's output (from byte N, default 0): all of it for a step\n"
                 "that ended, what there is so far for one still running. Exit 0.\n"
                 "With --follow, keep printing until the step ends (like attach, but\n"
                 "exit 0 whatever the step's status).\n"
                 "\n"
                 "Options: --offset N, -f/--follow, --socket PATH, --json, -h/--help\n",
};

const struct command command_cancel = {
        .name = "cancel",
        .run = cancel_main,
        .summary = "cancel a step (queued or running)",
        .usage = "Usage: stepctl cancel STEP\n"
                 "\n"
                 "Ask stepd to cancel the step: a queued step never starts, a running one\n"
                 "is killed with its whole cgroup and ends with reason `cancelled`.\n"
                 "Clients following it get its exit. Prints \"cancelling STEP\".\n"
                 "\n"
                 "Options: --socket PATH, --json (the daemon's reply), -h/--help\n",
};

const struct command command_ps = {
        .name = "ps",
        .run = ps_main,
        .summary = "list steps: id, project, state, reason, age",
        .usage = "Usage: stepctl ps\n"
                 "\n"
                 "List the steps you may see, live and kept on disk: STEP, PROJECT, STATE\n"
                 "(queued, running, done), REASON (for done steps) and AGE.\n"
                 "\n"
                 "Options: --socket PATH, --json (the daemon's `list` reply), -h/--help\n",
};

const struct command command_status = {
        .name = "status",
        .run = status_main,
        .summary = "show the daemon: running, queued, capacity, draining",
        .usage = "Usage: stepctl status\n"
                 "\n"
                 "Show stepd's version, how many steps run and wait, its capacity and\n"
                 "queue limit, and whether it is draining.\n"
                 "\n"
                 "Options: --socket PATH, --json (the daemon's `status` reply), -h/--help\n",
};

const struct command command_result = {
        .name = "result",
        .run = result_main,
        .summary = "print how an ended step ended",
        .usage = "Usage: stepctl result STEP\n"
                 "\n"
                 "Print one line: STEP, reason, exit code or signal, wall time, cpu time,\n"
                 "peak memory, and the exit status stepctl run gave or would give.\n"
                 "Exit 0; 125 with stepd's error (not-finished, no-such-step...).\n"
                 "\n"
                 "Options: --socket PATH, --json (the daemon's `result` reply), -h/--help\n",
};
