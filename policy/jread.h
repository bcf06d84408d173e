/* SPDX-License-Identifier: MIT */
#pragma once

/* Typed reading of configuration JSON with errors that name the file, line,
 * column, key path and what was expected. Every reader returns 0 or -EINVAL
 * (with x->err filled) and writes its output only on success. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/macro.h"
#include "policy/jpos.h"
#include "policy/policy.h"

struct jctx {
        const char *file;
        const struct jpos *pos;
        struct policy_error *err;
        const char *prefix; /* paths are relative to this one ("projects.web"), or NULL */
};

/* json_decrefp comes with jansson >= 2.9. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Fill x->err at path (the key's position when at_key, else the value's) and
 * return -EINVAL. */
int jfail(const struct jctx *x, const char *path, bool at_key, const char *fmt, ...) _printf_(4, 5);
const char *jtype(const json_t *v);

/* Every key of obj must be in allowed (NULL-terminated); "comment" and
 * "comment_*" are always accepted and ignored. */
int jcheck_keys(const struct jctx *x, const char *path, json_t *obj, const char *const *allowed);
int jwant(const struct jctx *x, const char *path, json_t *v, json_type t, const char *what);

int jread_string(const struct jctx *x, const char *path, json_t *v, const char **ret);
int jread_bool(const struct jctx *x, const char *path, json_t *v, bool *ret);
int jread_uint(const struct jctx *x, const char *path, json_t *v, uint64_t min, uint64_t max,
               uint64_t *ret);
/* "512M"/"2G"/bytes as an integer; "unlimited" (if allowed) is 0. */
int jread_size(const struct jctx *x, const char *path, json_t *v, uint64_t min, uint64_t max,
               bool unlimited_ok, uint64_t *ret);
/* "30s", "5m", "2h", "7d", "250ms" or seconds as an integer. */
int jread_duration(const struct jctx *x, const char *path, json_t *v, uint64_t min_ms,
                   uint64_t max_ms, uint64_t *ret_ms);
/* An absolute, clean path ("/a/b", no "." or ".." parts, no "//"). */
int jread_abspath(const struct jctx *x, const char *path, json_t *v, const char **ret);
/* An array of strings. */
int jread_strv(const struct jctx *x, const char *path, json_t *v, char ***ret);

bool path_is_clean_absolute(const char *p);
/* Human size/duration for messages and explanations. */
void format_size(char *buf, size_t len, uint64_t bytes);
void format_duration(char *buf, size_t len, uint64_t ms);
