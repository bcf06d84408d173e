/* SPDX-License-Identifier: MIT */
#pragma once

/* One audit line per step, when it ends, in the log stream (journald
 * priority notice):
 *
 *   event=audit step=ID project=P peer_uid=U peer_pid=N run_uid=U run_gid=G
 *   policy=HASH executor=builtin reason=R exit_code=C signal=S wall_ms=W
 *   [setup_step=X setup_errno=E] [message="..."]
 *
 * Who asked (the peer's uid and pid as of connect()), the project, the
 * identity the step ran as, the hash of the policy it was resolved under
 * (policy_project_hash()), where it ran and how it ended. Unknown values
 * (a step rejected before it was resolved) are written as "-". */

#include <stddef.h>
#include <sys/types.h>

#include "common/result.h"

struct audit_step {
        const char *step;
        const char *project;
        uid_t peer_uid;
        pid_t peer_pid;            /* 0: not known */
        uid_t run_uid;             /* (uid_t)-1: not resolved */
        gid_t run_gid;
        const char *policy_hash;   /* NULL: not known */
        const char *executor;      /* NULL: "builtin" */
        const struct step_result *result;
};

/* The line (without "level=" and prefix) into buf; truncated safely. */
void audit_step_format(const struct audit_step *a, char *buf, size_t len);
/* Format and log it at LOG_NOTICE. */
void audit_step_log(const struct audit_step *a);
