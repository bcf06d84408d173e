/* SPDX-License-Identifier: MIT */
/* stepd: one binary, several verbs. Without a verb (or with options only) it
 * runs the daemon. */
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "supervisor/verbs.h"

static const struct verb {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *help;
} verbs[] = {
        { "daemon", verb_daemon, "run the supervisor (the default)" },
        { "agent", verb_agent, "run as an agent: serve supervisors over TLS" },
        { "exec", verb_exec, "run one command in the sandbox, without the daemon" },
        { "check-config", verb_check_config, "validate a configuration folder, explain a project" },
        { "doctor", verb_doctor, "check that this host can run stepd" },
        { "new-certificate", verb_new_certificate, "make a key and certificate for the agent link" },
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: stepd [VERB] [OPTIONS]\n\nVerbs:\n");
        for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
                fprintf(f, "  %-16s %s\n", verbs[i].name, verbs[i].help);
        fprintf(f, "\n`stepd VERB --help` describes each verb's options.\n");
}

int main(int argc, char **argv)
{
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                usage(stdout);
                return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
                printf("stepd %s\n", STEPD_VERSION);
                return 0;
        }
        if (argc >= 2 && argv[1][0] != '-') {
                for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
                        if (strcmp(argv[1], verbs[i].name) == 0)
                                return verbs[i].run(argc - 1, argv + 1);
                fprintf(stderr, "stepd: unknown verb '%s'\n", argv[1]);
                usage(stderr);
                return 2;
        }
        return verb_daemon(argc, argv);
}
