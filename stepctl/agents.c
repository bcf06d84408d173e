/* SPDX-License-Identifier: MIT */
/* stepctl agents: the members of the supervisor's pools (docs/agents.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "stepctl/stepctl.h"

static void last_seen(const json_t *a, char *buf, size_t len)
{
        json_t *v = json_object_get(a, "last_seen_usec");
        uint64_t now = now_realtime_usec(), t;

        if (!strcmp(json_string_value(json_object_get(a, "name")) ?: "", "builtin")) {
                snprintf(buf, len, "now");
                return;
        }
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
                snprintf(buf, len, "never");
                return;
        }
        t = (uint64_t)json_integer_value(v);
        snprintf(buf, len, "%" PRIu64 "s ago", t < now ? (now - t) / 1000000 : 0);
}

static void print_row(const json_t *a)
{
        char seen[32], load[32];
        const char *err = json_string_value(json_object_get(a, "error"));
        bool healthy = json_is_true(json_object_get(a, "healthy"));

        last_seen(a, seen, sizeof(seen));
        snprintf(load, sizeof(load), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(a, "running")),
                 json_integer_value(json_object_get(a, "capacity")));
        printf("%-16s %-22s %-9s %-9s %-6" JSON_INTEGER_FORMAT " %-10s %s%s%s\n",
               json_string_value(json_object_get(a, "name")) ?: "?",
               json_string_value(json_object_get(a, "address")) ?: "?",
               healthy ? "healthy" : "down", load,
               json_integer_value(json_object_get(a, "queued")), seen,
               json_string_value(json_object_get(a, "version")) ?: "-",
               !healthy && err && *err ? "  " : "", !healthy && err ? err : "");
}

static int agents_main(struct stepctl *ctl, int argc, char **argv)
{
        _cleanup_client_json_ json_t *reply = NULL;
        json_t *list, *a;
        size_t i;
        int r = stepctl_query(ctl, &command_agents, "agents", argc, argv, &reply);

        if (r >= 0)
                return r;
        list = json_object_get(reply, "agents");
        if (!json_is_array(list))
                return stepctl_fail("bad message from stepd: `agents` without a list");
        printf("%-16s %-22s %-9s %-9s %-6s %-10s %s\n", "MEMBER", "ADDRESS", "HEALTH", "LOAD",
               "QUEUED", "LAST SEEN", "VERSION");
        json_array_foreach(list, i, a)
                print_row(a);
        return 0;
}

const struct command command_agents = {
        .name = "agents",
        .run = agents_main,
        .summary = "list the pools' members: health, load, last contact, version",
        .usage = "Usage: stepctl agents\n"
                 "\n"
                 "List the built-in worker and every configured agent with its health\n"
                 "(the supervisor probes each agent over TLS every health_interval),\n"
                 "load (running/capacity), queued steps, when it last answered, and the\n"
                 "version it runs. A member that is down shows why.\n"
                 "\n"
                 "Options: --socket PATH, --json (the reply as one JSON line), -h/--help\n",
};
