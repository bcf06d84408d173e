/* SPDX-License-Identifier: MIT */
/* stepd check-config [--config DIR] [--state DIR] [PROJECT]
 *
 * Validates a configuration folder exactly as the daemon loads it and prints
 * the first error as FILE:LINE:COL: KEY: MESSAGE (exit 1); warnings (valid,
 * but probably not meant) go to stderr as "warning: ..." and do not change
 * the exit status. With a project name, explains what a step of that
 * project can see and do (exit 1 if the project does not exist). Never
 * writes anything. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "policy/policy.h"
#include "supervisor/agent_config.h"
#include "supervisor/verbs.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: stepd check-config [--config DIR] [--state DIR] [PROJECT]\n\n"
                "Validate a configuration folder (default %s); with PROJECT, explain\n"
                "exactly what a step of that project can see and do.\n\n"
                "  -c, --config DIR   configuration folder\n"
                "  -s, --state DIR    state folder, as the daemon's --state\n"
                "  -h, --help         this help\n",
                STEPD_SYSCONFDIR);
}

static void summary(const struct policy_config *c)
{
        _cleanup_strv_free_ char **names = policy_project_names(c);
        const struct policy_pool *pools;
        const struct policy_agent *agents;
        size_t n_pools = policy_pools(c, &pools), n_agents = policy_agents(c, &agents);

        printf("%s: OK\n", policy_config_dir(c));
        if (policy_builtin_projects(c))
                printf("projects: none configured: any valid project name runs under the built-in "
                       "default\n");
        else {
                printf("projects:");
                for (char **n = names; n && *n; n++)
                        printf(" %s", *n);
                printf("\n");
        }
        printf("pools: %zu, agents: %zu, state folder: %s, uid range: %u..%u\n", n_pools, n_agents,
               policy_settings(c)->state_dir, (unsigned)policy_settings(c)->uid_min,
               (unsigned)policy_settings(c)->uid_max);
}

/* On stderr, so stdout stays the summary or the explanation. */
static void print_warnings(const struct policy_config *c)
{
        _cleanup_strv_free_ char **w = policy_warnings(c);

        for (char **s = w; s && *s; s++)
                fprintf(stderr, "warning: %s\n", *s);
}

int verb_check_config(int argc, char **argv)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' },
                { "state", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(policy_config_unrefp) struct policy_config *c = NULL;
        struct policy_load_options o = { 0 };
        struct policy_error e;
        const char *dir = NULL;
        char buf[1200];
        int r, opt;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:s:h", opts, NULL)) >= 0) {
                switch (opt) {
                case 'c': dir = optarg; break;
                case 's': o.state_dir = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (argc - optind > 1) {
                usage(stderr);
                return 2;
        }
        r = policy_load_with(dir, &o, &c, &e);
        if (r < 0) {
                policy_error_format(&e, buf, sizeof(buf));
                fprintf(stderr, "%s\n", buf);
                return 1;
        }
        struct link_config lc;
        if (link_config_parse(policy_link_settings(c), &lc, buf, sizeof(buf)) < 0) {
                fprintf(stderr, "%s/%s\n", policy_config_dir(c), buf); /* docs/agents.md */
                return 1;
        }
        link_config_done(&lc);
        print_warnings(c);
        if (optind == argc) {
                summary(c);
                return 0;
        }
        r = policy_explain(c, argv[optind], stdout, buf, sizeof(buf));
        if (r < 0) {
                fprintf(stderr, "stepd check-config: %s\n", buf[0] ? buf : strerror(-r));
                return 1;
        }
        return 0;
}
