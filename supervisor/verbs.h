/* SPDX-License-Identifier: MIT */
#pragma once

/* The verbs of the `stepd` command; each in its own file. Each returns the
 * process exit status. */

int verb_daemon(int argc, char **argv);        /* supervisor/daemon.c */
int verb_agent(int argc, char **argv);         /* supervisor/daemon.c */
int verb_exec(int argc, char **argv);          /* supervisor/exec.c */
int verb_check_config(int argc, char **argv);  /* supervisor/check_config.c */
int verb_doctor(int argc, char **argv);        /* supervisor/doctor.c */
int verb_new_certificate(int argc, char **argv); /* supervisor/certificate.c */
