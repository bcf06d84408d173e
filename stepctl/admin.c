/* SPDX-License-Identifier: MIT */
/* stepctl metrics, reload: the daemon rather than its steps (agents.c: agents). */
#include <stdio.h>

#include "stepctl/stepctl.h"

static int metrics_main(struct stepctl *ctl, int argc, char **argv)
{
        _cleanup_client_json_ json_t *reply = NULL;
        const char *text;
        int r = stepctl_query(ctl, &command_metrics, "metrics", argc, argv, &reply);

        if (r >= 0)
                return r;
        text = client_msg_string(reply, "text");
        if (!text)
                return stepctl_fail("bad message from stepd: `metrics` without text");
        fputs(text, stdout);
        return fflush(stdout) == 0 ? 0 : stepctl_fail("cannot write to stdout");
}

static int reload_main(struct stepctl *ctl, int argc, char **argv)
{
        _cleanup_client_json_ json_t *reply = NULL;
        int r = stepctl_query(ctl, &command_reload, "reload", argc, argv, &reply);

        if (r >= 0)
                return r;
        printf("reloaded\n");
        return 0;
}

const struct command command_metrics = {
        .name = "metrics",
        .run = metrics_main,
        .summary = "print the daemon's metrics (Prometheus text format)",
        .usage = "Usage: stepctl metrics\n"
                 "\n"
                 "Print stepd's counters in the Prometheus text exposition format.\n"
                 "\n"
                 "Options: --socket PATH, --json (the daemon's `metrics` reply), -h/--help\n",
};

const struct command command_reload = {
        .name = "reload",
        .run = reload_main,
        .summary = "read the configuration again (root only)",
        .usage = "Usage: stepctl reload\n"
                 "\n"
                 "Ask stepd to read its configuration again, as SIGHUP does: new steps get\n"
                 "the new configuration, running ones keep theirs. A bad configuration is\n"
                 "refused with `bad-config` and where it is wrong (exit 125); the last good\n"
                 "one stays. Root only.\n"
                 "\n"
                 "Options: --socket PATH, --json (the daemon's reply), -h/--help\n",
};
