/* SPDX-License-Identifier: MIT */
/* The per-step audit line (see audit.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/audit.h"

struct out {
        char *buf;
        size_t len, pos;
};

static void put(struct out *o, const char *fmt, ...) _printf_(2, 3);

static void put(struct out *o, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (o->pos >= o->len)
                return;
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
        va_end(ap);
        if (n > 0)
                o->pos = MIN(o->len - 1, o->pos + (size_t)n);
}

/* A value that may hold anything: quoted, with \ " and control bytes
 * escaped, so a message can never forge another key or another line. */
static void put_quoted(struct out *o, const char *key, const char *s)
{
        put(o, " %s=\"", key);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        put(o, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        put(o, "\\x%02x", c);
                else
                        put(o, "%c", c);
        }
        put(o, "\"");
}

/* Names that are validated tokens (step ids, projects, hashes) go bare;
 * anything else is quoted. */
static void put_token(struct out *o, const char *key, const char *s)
{
        if (!s || !*s) {
                put(o, " %s=-", key);
                return;
        }
        if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:") ==
            strlen(s))
                put(o, " %s=%s", key, s);
        else
                put_quoted(o, key, s);
}

static void put_id(struct out *o, const char *key, long long v, bool known)
{
        if (known)
                put(o, " %s=%lld", key, v);
        else
                put(o, " %s=-", key);
}

void audit_step_format(const struct audit_step *a, char *buf, size_t len)
{
        static const struct step_result none = { .reason = STEP_REASON_NONE, .exit_code = -1 };
        const struct step_result *r = a->result ? a->result : &none;
        struct out o = { buf, len, 0 };

        if (!len)
                return;
        buf[0] = 0;
        put(&o, "event=audit");
        put_token(&o, "step", a->step);
        put_token(&o, "project", a->project);
        put(&o, " peer_uid=%u", (unsigned)a->peer_uid);
        put_id(&o, "peer_pid", a->peer_pid, a->peer_pid > 0);
        put_id(&o, "run_uid", a->run_uid, a->run_uid != (uid_t)-1);
        put_id(&o, "run_gid", a->run_gid, a->run_uid != (uid_t)-1);
        put_token(&o, "policy", a->policy_hash);
        put_token(&o, "executor", a->executor ? a->executor : "builtin");
        put(&o, " reason=%s exit_code=%d signal=%d wall_ms=%llu",
            step_reason_to_string(r->reason), r->exit_code, r->signal,
            (unsigned long long)(r->wall_usec / 1000));
        if (r->reason == STEP_REASON_SETUP_FAILED)
                put(&o, " setup_step=%s setup_errno=%d", r->setup_step[0] ? r->setup_step : "-",
                    r->setup_errno);
        if (r->message[0])
                put_quoted(&o, "message", r->message);
}

void audit_step_log(const struct audit_step *a)
{
        char line[1536];

        audit_step_format(a, line, sizeof(line));
        log_notice("%s", line);
}
