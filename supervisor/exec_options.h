/* SPDX-License-Identifier: MIT */
#pragma once

/* Command line of `stepd exec`: options → a launch spec. */

#include <stdbool.h>

#include "sandbox/spec.h"

struct exec_options {
        struct launch_spec *spec;
        char *state_dir;     /* where the fresh working folder is made */
        char *exec_dir;      /* <state>/exec, the working folder's parent */
        bool workdir_made;   /* we created spec->workdir and remove it */
        bool keep_workdir;
        bool pass_stdin;
        bool json;
        bool quiet;
        bool sysdirs_replaced; /* first --system-dir drops the defaults */
};

/* 1: run; 0: --help was printed; -errno: a usage error was printed. */
int exec_options_parse(int argc, char **argv, struct exec_options *o);
void exec_options_done(struct exec_options *o);

/* A fresh working folder <state>/exec/<step-id>, owned by the step's uid. */
int exec_workdir_create(struct exec_options *o);
void exec_workdir_remove(struct exec_options *o);
