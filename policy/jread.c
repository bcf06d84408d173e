/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "policy/jread.h"

int jfail(const struct jctx *x, const char *path, bool at_key, const char *fmt, ...)
{
        struct policy_error *e = x->err;
        char full[512];
        va_list ap;
        int line = 0, col = 0;

        if (!e)
                return -EINVAL;
        *e = (struct policy_error){ 0 };
        snprintf(e->file, sizeof(e->file), "%s", x->file);
        if (x->prefix && x->prefix[0] && path[0])
                jpath_key(full, sizeof(full), x->prefix, path);
        else if (x->prefix && x->prefix[0])
                snprintf(full, sizeof(full), "%s", x->prefix);
        else
                snprintf(full, sizeof(full), "%s", path);
        if (jpos_find(x->pos, full, at_key, &line, &col)) {
                e->line = line;
                e->column = col;
        }
        size_t n = MIN(strlen(full), sizeof(e->key) - 1);
        memcpy(e->key, full, n);
        e->key[n] = 0;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

const char *jtype(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a number";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        case JSON_NULL: return "null";
        }
        return "something else";
}

int jwant(const struct jctx *x, const char *path, json_t *v, json_type t, const char *what)
{
        if (json_typeof(v) == t || (t == JSON_TRUE && json_is_boolean(v)))
                return 0;
        return jfail(x, path, false, "expected %s, got %s", what, jtype(v));
}

int jcheck_keys(const struct jctx *x, const char *path, json_t *obj, const char *const *allowed)
{
        const char *key;
        json_t *v;
        char child[512], list[400];
        size_t o = 0;

        json_object_foreach(obj, key, v)
        {
                bool ok = strcmp(key, "comment") == 0 || strncmp(key, "comment_", 8) == 0;
                for (const char *const *a = allowed; !ok && *a; a++)
                        ok = strcmp(key, *a) == 0;
                if (ok)
                        continue;
                list[0] = 0;
                for (const char *const *a = allowed; *a && o < sizeof(list); a++)
                        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                                              a == allowed ? "" : ", ", *a);
                jpath_key(child, sizeof(child), path, key);
                return jfail(x, child, true, "unknown key; expected one of: %s", list);
        }
        return 0;
}

int jread_string(const struct jctx *x, const char *path, json_t *v, const char **ret)
{
        int r = jwant(x, path, v, JSON_STRING, "a string");

        if (r < 0)
                return r;
        *ret = json_string_value(v);
        return 0;
}

int jread_bool(const struct jctx *x, const char *path, json_t *v, bool *ret)
{
        if (!json_is_boolean(v))
                return jfail(x, path, false, "expected true or false, got %s", jtype(v));
        *ret = json_is_true(v);
        return 0;
}

int jread_uint(const struct jctx *x, const char *path, json_t *v, uint64_t min, uint64_t max,
               uint64_t *ret)
{
        json_int_t i;

        if (!json_is_integer(v))
                return jfail(x, path, false, "expected an integer, got %s", jtype(v));
        i = json_integer_value(v);
        if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
                return jfail(x, path, false,
                             "%" JSON_INTEGER_FORMAT " is out of range: expected %" PRIu64
                             "..%" PRIu64,
                             i, min, max);
        *ret = (uint64_t)i;
        return 0;
}

static int check_range(const struct jctx *x, const char *path, uint64_t v, uint64_t min,
                       uint64_t max, bool size)
{
        char a[32], b[32], c[32];

        if (v >= min && v <= max)
                return 0;
        if (size) {
                format_size(a, sizeof(a), v);
                format_size(b, sizeof(b), min);
                format_size(c, sizeof(c), max);
        } else {
                format_duration(a, sizeof(a), v);
                format_duration(b, sizeof(b), min);
                format_duration(c, sizeof(c), max);
        }
        return jfail(x, path, false, "%s is out of range: expected %s..%s", a, b, c);
}

int jread_size(const struct jctx *x, const char *path, json_t *v, uint64_t min, uint64_t max,
               bool unlimited_ok, uint64_t *ret)
{
        uint64_t n;
        int r;

        if (json_is_string(v) && unlimited_ok && strcmp(json_string_value(v), "unlimited") == 0) {
                *ret = 0;
                return 0;
        }
        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0)
                        return jfail(x, path, false, "expected a size, got a negative number");
                n = (uint64_t)json_integer_value(v);
        } else if (json_is_string(v)) {
                r = parse_size(json_string_value(v), &n);
                if (r < 0)
                        return jfail(
                                x, path, false,
                                "expected a size such as \"512M\", \"2G\" or bytes%s, got \"%s\"",
                                unlimited_ok ? " or \"unlimited\"" : "", json_string_value(v));
        } else {
                return jfail(x, path, false, "expected a size such as \"512M\", got %s", jtype(v));
        }
        r = check_range(x, path, n, min, max, true);
        if (r < 0)
                return r;
        *ret = n;
        return 0;
}

static int parse_duration_days(const char *s, uint64_t *ret)
{
        size_t n = strlen(s);
        char num[32];
        uint64_t d;

        if (n < 2 || n >= sizeof(num) || s[n - 1] != 'd')
                return parse_duration_ms(s, ret);
        memcpy(num, s, n - 1);
        num[n - 1] = 0;
        if (parse_uint64(num, &d) < 0 || d > UINT64_MAX / 86400000ULL)
                return -EINVAL;
        *ret = d * 86400000ULL;
        return 0;
}

int jread_duration(const struct jctx *x, const char *path, json_t *v, uint64_t min_ms,
                   uint64_t max_ms, uint64_t *ret_ms)
{
        uint64_t ms;
        int r;

        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                if (i < 0 || (uint64_t)i > UINT64_MAX / 1000)
                        return jfail(x, path, false,
                                     "expected a duration, got %" JSON_INTEGER_FORMAT, i);
                ms = (uint64_t)i * 1000;
        } else if (json_is_string(v)) {
                if (parse_duration_days(json_string_value(v), &ms) < 0)
                        return jfail(x, path, false,
                                     "expected a duration such as \"30s\", \"5m\", \"2h\", \"7d\", "
                                     "got \"%s\"",
                                     json_string_value(v));
        } else {
                return jfail(x, path, false, "expected a duration such as \"30m\", got %s",
                             jtype(v));
        }
        r = check_range(x, path, ms, min_ms, max_ms, false);
        if (r < 0)
                return r;
        *ret_ms = ms;
        return 0;
}

bool path_is_clean_absolute(const char *p)
{
        if (!p || p[0] != '/' || strlen(p) >= 4096)
                return false;
        if (strcmp(p, "/") == 0)
                return true;
        for (const char *c = p; *c; c++) {
                if (c[0] != '/')
                        continue;
                if (c[1] == '/' || c[1] == 0)
                        return false;
                if (c[1] == '.' && (c[2] == '/' || c[2] == 0))
                        return false;
                if (c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == 0))
                        return false;
        }
        return true;
}

int jread_abspath(const struct jctx *x, const char *path, json_t *v, const char **ret)
{
        const char *s;
        int r = jread_string(x, path, v, &s);

        if (r < 0)
                return r;
        if (!path_is_clean_absolute(s))
                return jfail(x, path, false,
                             "expected an absolute path without \".\", \"..\", \"//\" or a "
                             "trailing \"/\", got \"%s\"",
                             s);
        *ret = s;
        return 0;
}

int jread_strv(const struct jctx *x, const char *path, json_t *v, char ***ret)
{
        _cleanup_strv_free_ char **l = NULL;
        char child[512];
        size_t i;
        json_t *e;
        int r;

        r = jwant(x, path, v, JSON_ARRAY, "an array of strings");
        if (r < 0)
                return r;
        json_array_foreach(v, i, e)
        {
                const char *s;
                jpath_index(child, sizeof(child), path, i);
                r = jread_string(x, child, e, &s);
                if (r < 0)
                        return r;
                if (strv_push(&l, s) < 0)
                        return -ENOMEM;
        }
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

void format_size(char *buf, size_t len, uint64_t b)
{
        static const char *const u[] = { "", "K", "M", "G", "T" };
        size_t i = 0;

        while (i + 1 < ARRAY_SIZE(u) && b >= 1024 && b % 1024 == 0) {
                b /= 1024;
                i++;
        }
        snprintf(buf, len, "%" PRIu64 "%s", b, u[i]);
}

void format_duration(char *buf, size_t len, uint64_t ms)
{
        if (ms == 0)
                snprintf(buf, len, "0s");
        else if (ms % 86400000ULL == 0)
                snprintf(buf, len, "%" PRIu64 "d", (uint64_t)(ms / 86400000ULL));
        else if (ms % 3600000ULL == 0)
                snprintf(buf, len, "%" PRIu64 "h", (uint64_t)(ms / 3600000ULL));
        else if (ms % 60000ULL == 0)
                snprintf(buf, len, "%" PRIu64 "m", (uint64_t)(ms / 60000ULL));
        else if (ms % 1000ULL == 0)
                snprintf(buf, len, "%" PRIu64 "s", (uint64_t)(ms / 1000ULL));
        else
                snprintf(buf, len, "%" PRIu64 "ms", ms);
}
