/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "result.h"

static const char *const reason_names[_STEP_REASON_MAX] = {
        [STEP_REASON_NONE] = "none",
        [STEP_REASON_EXITED] = "exited",
        [STEP_REASON_SIGNALED] = "signaled",
        [STEP_REASON_TIMEOUT] = "timeout",
        [STEP_REASON_OOM] = "oom",
        [STEP_REASON_CANCELLED] = "cancelled",
        [STEP_REASON_REJECTED] = "rejected",
        [STEP_REASON_SETUP_FAILED] = "setup-failed",
        [STEP_REASON_LOST] = "lost",
};

const char *step_reason_to_string(enum step_reason r)
{
        if ((unsigned)r >= _STEP_REASON_MAX)
                return "unknown";
        return reason_names[r];
}

int step_reason_from_string(const char *s)
{
        for (int i = 0; i < _STEP_REASON_MAX; i++)
                if (s && strcmp(s, reason_names[i]) == 0)
                        return i;
        return -EINVAL;
}

int step_result_exit_status(const struct step_result *r)
{
        switch (r->reason) {
        case STEP_REASON_EXITED:
                return r->exit_code;
        case STEP_REASON_SIGNALED:
        case STEP_REASON_TIMEOUT:
        case STEP_REASON_OOM:
        case STEP_REASON_CANCELLED:
                if (r->exit_code >= 0)
                        return r->exit_code;
                return r->signal > 0 ? 128 + r->signal : 125;
        default:
                return 125;
        }
}

static void format_bytes(uint64_t b, char *buf, size_t len)
{
        if (b >= (1ULL << 30))
                snprintf(buf, len, "%.1fGiB", (double)b / (1ULL << 30));
        else if (b >= (1ULL << 20))
                snprintf(buf, len, "%.1fMiB", (double)b / (1ULL << 20));
        else if (b >= (1ULL << 10))
                snprintf(buf, len, "%.1fKiB", (double)b / (1ULL << 10));
        else
                snprintf(buf, len, "%lluB", (unsigned long long)b);
}

void step_result_format(const struct step_result *r, char *buf, size_t len)
{
        char mem[32], how[96] = "";
        size_t n;

        format_bytes(r->memory_peak_bytes, mem, sizeof(mem));
        if (r->reason == STEP_REASON_EXITED || r->exit_code >= 0)
                snprintf(how, sizeof(how), " code=%d", r->exit_code);
        else if (r->signal > 0)
                snprintf(how, sizeof(how), " signal=%d", r->signal);
        n = (size_t)snprintf(buf, len, "%s%s wall=%.3fs cpu=%.3fs mem=%s",
                             step_reason_to_string(r->reason), how, r->wall_usec / 1e6,
                             (r->cpu_user_usec + r->cpu_system_usec) / 1e6, mem);
        if (n < len && r->oom_kills)
                n += (size_t)snprintf(buf + n, len - n, " oom_kills=%llu",
                                      (unsigned long long)r->oom_kills);
        if (n < len && r->processes_killed)
                n += (size_t)snprintf(buf + n, len - n, " killed=%u", r->processes_killed);
        if (n < len && r->reason == STEP_REASON_SETUP_FAILED)
                n += (size_t)snprintf(buf + n, len - n, " step=%s: %s", r->setup_step,
                                      r->setup_errno ? strerror(r->setup_errno) : "");
        if (n < len && r->message[0])
                snprintf(buf + n, len - n, " (%s)", r->message);
}
