/* SPDX-License-Identifier: MIT */
/* Seccomp profiles a project may name: the built-in "default" (the shipped
 * profile embedded in the binary) and every seccomp.d/NAME.json, parsed with
 * the seccomp engineer's reader (policy/seccomp_profile.h). A seccomp.d/
 * default.json replaces the built-in one; "unconfined" is reserved. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "policy/internal.h"
#include "policy/seccomp_profile.h"

static void dirents_free(struct dirent **l, int n)
{
        for (int i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

/* Entries of dir named *.json, not hidden, sorted; 0 entries when dir is
 * missing. */
int policy_scan_json_dir(const char *dir, char ***ret)
{
        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));
        struct dirent **l = NULL;
        int n;

        if (!names)
                return -ENOMEM;
        n = scandir(dir, &l, NULL, alphasort);
        if (n < 0) {
                if (errno == ENOENT) {
                        *ret = TAKE_PTR(names);
                        return 0;
                }
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                const char *d = l[i]->d_name;
                size_t len = strlen(d);
                if (d[0] == '.' || len <= 5 || strcmp(d + len - 5, ".json") != 0)
                        continue;
                if (strv_push(&names, d) < 0) {
                        dirents_free(l, n);
                        return -ENOMEM;
                }
        }
        dirents_free(l, n);
        *ret = TAKE_PTR(names);
        return 0;
}

static int add_profile(struct policy_config *c, const char *name, const char *file,
                       struct seccomp_profile *p)
{
        struct profile_entry *n;

        for (size_t i = 0; i < c->n_profiles; i++)
                if (strcmp(c->profiles[i].name, name) == 0) {
                        /* seccomp.d/default.json replaces the built-in default */
                        char *f = file ? strdup(file) : NULL;
                        if (file && !f)
                                return -ENOMEM;
                        seccomp_profile_unref(c->profiles[i].profile);
                        free(c->profiles[i].file);
                        c->profiles[i].profile = p;
                        c->profiles[i].file = f;
                        return 0;
                }
        n = realloc(c->profiles, (c->n_profiles + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        c->profiles = n;
        n[c->n_profiles] = (struct profile_entry){ .name = strdup(name),
                                                   .file = file ? strdup(file) : NULL,
                                                   .profile = p };
        if (!n[c->n_profiles].name || (file && !n[c->n_profiles].file)) {
                free(n[c->n_profiles].name);
                free(n[c->n_profiles].file);
                return -ENOMEM;
        }
        c->n_profiles++;
        return 0;
}

static void fail_file(struct policy_error *err, const char *file, const char *fmt, ...)
        _printf_(3, 4);
static void fail_file(struct policy_error *err, const char *file, const char *fmt, ...)
{
        va_list ap;

        *err = (struct policy_error){ 0 };
        snprintf(err->file, sizeof(err->file), "%s", file);
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
}

static int load_one(struct policy_config *c, const char *dir, const char *entry,
                    struct policy_error *err)
{
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
        _cleanup_free_ char *path = NULL, *name = strndup(entry, strlen(entry) - 5);
        int r;

        if (!name || asprintf(&path, "%s/%s", dir, entry) < 0)
                return -ENOMEM;
        if (!project_name_valid(name)) {
                fail_file(err, path,
                          "invalid profile name \"%s\": expected [a-z0-9_.-], at most 64 bytes",
                          name);
                return -EINVAL;
        }
        if (strcmp(name, POLICY_UNCONFINED) == 0) {
                fail_file(err, path, "\"%s\" is reserved: it means no seccomp filter", name);
                return -EINVAL;
        }
        r = seccomp_profile_load_file(path, &p, err);
        if (r < 0)
                return r;
        r = add_profile(c, name, path, p);
        if (r < 0)
                return r;
        TAKE_PTR(p);
        return 0;
}

static int load_builtin(struct policy_config *c, struct policy_error *err)
{
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
        int r;

        r = seccomp_profile_load_default(&p, err);
        if (r < 0)
                return r;
        r = add_profile(c, POLICY_DEFAULT_PROFILE, NULL, p);
        if (r < 0)
                return r;
        TAKE_PTR(p);
        return 0;
}

int profiles_load(struct policy_config *c, struct policy_error *err)
{
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        r = load_builtin(c, err);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/seccomp.d", c->config_dir) < 0)
                return -ENOMEM;
        r = policy_scan_json_dir(dir, &names);
        if (r < 0) {
                fail_file(err, dir, "cannot read the folder: %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; names[i]; i++) {
                r = load_one(c, dir, names[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

void profiles_done(struct policy_config *c)
{
        for (size_t i = 0; i < c->n_profiles; i++) {
                free(c->profiles[i].name);
                free(c->profiles[i].file);
                seccomp_profile_unref(c->profiles[i].profile);
        }
        free(c->profiles);
        c->profiles = NULL;
        c->n_profiles = 0;
}

const struct profile_entry *policy_find_profile(const struct policy_config *c, const char *name)
{
        for (size_t i = 0; name && i < c->n_profiles; i++)
                if (strcmp(c->profiles[i].name, name) == 0)
                        return &c->profiles[i];
        return NULL;
}
