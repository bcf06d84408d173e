/* SPDX-License-Identifier: MIT */
#pragma once

/* How a step ended. Produced by sandbox/ (exited, signaled, oom,
 * setup-failed) and by the supervisor (timeout, cancelled, rejected, lost),
 * encoded by ipc/, stored by supervisor/. */

#include <stdint.h>

enum step_reason {
        STEP_REASON_NONE, /* not ended yet */
        STEP_REASON_EXITED,
        STEP_REASON_SIGNALED,
        STEP_REASON_TIMEOUT,
        STEP_REASON_OOM,
        STEP_REASON_CANCELLED,
        STEP_REASON_REJECTED,
        STEP_REASON_SETUP_FAILED,
        STEP_REASON_LOST,
        _STEP_REASON_MAX,
};

const char *step_reason_to_string(enum step_reason r);
int step_reason_from_string(const char *s); /* enum step_reason, or -EINVAL */

struct step_result {
        enum step_reason reason;
        int exit_code;              /* valid for exited; -1 otherwise */
        int signal;                 /* valid for signaled/timeout/oom/cancelled when killed; 0 otherwise */
        uint64_t wall_usec;
        uint64_t cpu_user_usec;     /* whole cgroup */
        uint64_t cpu_system_usec;
        uint64_t memory_peak_bytes; /* whole cgroup; 0 if unknown */
        uint64_t oom_kills;
        uint32_t processes_killed;  /* left in the step when its main process ended */
        char setup_step[32];        /* for setup-failed: which sandbox setup step */
        int setup_errno;            /* positive errno */
        char message[512];          /* human-readable detail, may be empty */
};

/* The exit status a front end should exit with for this result, like
 * docker run: the exit code, 128+signal, or 125 for stepd's own failures. */
int step_result_exit_status(const struct step_result *r);
/* One line: "exited code=0 wall=12ms cpu=3ms mem=1.2MiB" style. */
void step_result_format(const struct step_result *r, char *buf, size_t len);
