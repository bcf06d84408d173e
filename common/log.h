/* SPDX-License-Identifier: MIT */
#pragma once

/* Logging for the supervisor and command front ends (rooms return codes
 * instead). One line per event on stderr; with journald priority prefixes
 * ("<3>") when stderr is connected to the journal (JOURNAL_STREAM). */

#include <syslog.h>

#include "macro.h"

void log_set_level(int level);  /* LOG_ERR .. LOG_DEBUG */
int log_get_level(void);
void log_set_prefix(const char *prefix);  /* e.g. "stepctl" for front ends */

/* Logs and returns r (a -errno), so `return log_errno(r, "...")` works. */
int log_full_errno(int level, int r, const char *fmt, ...) _printf_(3, 4);

#define log_full(level, ...) ((void)log_full_errno((level), 0, __VA_ARGS__))
#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_errno(r, ...) log_full_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_full_errno(LOG_WARNING, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) log_full_errno(LOG_DEBUG, (r), __VA_ARGS__)
