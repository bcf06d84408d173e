/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The only mutable file-scope state in stepd (see STYLE.md). */
static int log_level = LOG_INFO;
static const char *log_prefix = "stepd";

void log_set_level(int level)
{
        log_level = level;
}

int log_get_level(void)
{
        return log_level;
}

void log_set_prefix(const char *prefix)
{
        log_prefix = prefix;
}

int log_full_errno(int level, int r, const char *fmt, ...)
{
        static const char *names[] = { "emerg", "alert", "crit", "err",
                                       "warning", "notice", "info", "debug" };
        char msg[2048];
        va_list ap;
        int saved = errno;

        if (level > log_level)
                return r;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (getenv("JOURNAL_STREAM"))
                fprintf(stderr, "<%d>", level);
        else
                fprintf(stderr, "%s: ", log_prefix);
        if (r < 0)
                fprintf(stderr, "level=%s %s: %s\n", names[level & 7], msg, strerror(-r));
        else
                fprintf(stderr, "level=%s %s\n", names[level & 7], msg);
        errno = saved;
        return r;
}
