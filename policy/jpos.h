/* SPDX-License-Identifier: MIT */
#pragma once

/* A position index for a JSON text: for each key path ("limits.memory",
 * "mounts[0].source") the line and column of the key and of its value. jansson
 * reports positions only for syntax errors; this lets semantic errors point an
 * admin at the line too. Built from text jansson has already accepted, with
 * the same counting as jansson (lines from 1, columns in characters from 1). */

#include <stdbool.h>
#include <stddef.h>

struct jpos_entry {
        char *path;
        int key_line, key_col; /* 0 for array elements and the root */
        int line, col;         /* of the value */
};

struct jpos {
        struct jpos_entry *v;
        size_t n, cap;
};

int jpos_build(const char *text, size_t len, struct jpos *ret);
void jpos_done(struct jpos *p);
/* Position of path's key (key=true, falls back to the value) or value. */
bool jpos_find(const struct jpos *p, const char *path, bool key, int *ret_line, int *ret_col);

/* Path building: "a" + "b" → "a.b"; "a" + 3 → "a[3]". Truncates silently. */
void jpath_key(char *buf, size_t len, const char *parent, const char *key);
void jpath_index(char *buf, size_t len, const char *parent, size_t i);
