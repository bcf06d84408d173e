/* SPDX-License-Identifier: MIT */
/* Loading a configuration folder into an immutable, reference-counted
 * struct policy_config. Order: stepd.json (settings, agents, pools), then
 * seccomp.d (profiles), then projects.d/NAME.json, then projects inline in
 * stepd.json's "projects". The first error stops the load and nothing of it
 * survives; a reload is just another policy_load(): the daemon swaps the
 * pointer, and steps keep a reference to the config they were resolved under
 * (their specs hold their own references to profiles). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "policy/internal.h"
#include "policy/jread.h"

struct json_file {
        char *path;
        char *text;
        size_t len;
        json_t *root;
        struct jpos pos;
};

static void json_file_done(struct json_file *f)
{
        free(f->path);
        free(f->text);
        if (f->root)
                json_decref(f->root);
        jpos_done(&f->pos);
        *f = (struct json_file){ 0 };
}

static int file_error(struct policy_error *err, const char *path, int line, int col,
                      const char *msg, int r)
{
        *err = (struct policy_error){ .line = line, .column = col };
        snprintf(err->file, sizeof(err->file), "%s", path);
        snprintf(err->message, sizeof(err->message), "%s", msg);
        return r;
}

/* Read and parse path. A missing file is not an error: f->root stays NULL. */
static int json_file_load(struct json_file *f, struct policy_error *err)
{
        json_error_t je;
        int r;

        r = read_full_file(f->path, &f->text, &f->len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return file_error(err, f->path, 0, 0, strerror(-r), r);
        if (f->len > POLICY_FILE_MAX)
                return file_error(err, f->path, 0, 0, "file is larger than 1 MiB", -EFBIG);
        f->root = json_loadb(f->text, f->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!f->root)
                return file_error(err, f->path, je.line, je.column, je.text, -EINVAL);
        r = jpos_build(f->text, f->len, &f->pos);
        if (r < 0)
                return file_error(err, f->path, 0, 0, strerror(-r), r);
        return 0;
}

static int add_project(struct policy_config *c, struct project_policy *p)
{
        struct project_policy *n = realloc(c->projects, (c->n_projects + 1) * sizeof(*n));

        if (!n)
                return -ENOMEM;
        c->projects = n;
        n[c->n_projects++] = *p;
        *p = (struct project_policy){ 0 };
        return 0;
}

static const struct project_policy *find_exact(const struct policy_config *c, const char *name)
{
        for (size_t i = 0; i < c->n_projects; i++)
                if (strcmp(c->projects[i].name, name) == 0)
                        return &c->projects[i];
        return NULL;
}

static int load_project_file(struct policy_config *c, const char *dir, const char *entry,
                             struct policy_error *err)
{
        _cleanup_free_ char *name = strndup(entry, strlen(entry) - 5);
        struct json_file f = { 0 };
        struct project_policy p = { 0 };
        struct stat st;
        int r;

        if (!name || asprintf(&f.path, "%s/%s", dir, entry) < 0) {
                free(f.path);
                return -ENOMEM;
        }
        if (!project_name_valid(name))
                r = file_error(err, f.path, 0, 0,
                               "invalid project name: a file name must be NAME.json with NAME of "
                               "[a-z0-9_.-], not starting with '.', at most 64 bytes",
                               -EINVAL);
        else if (stat(f.path, &st) == 0 && !S_ISREG(st.st_mode))
                r = file_error(err, f.path, 0, 0, "not a regular file", -EINVAL);
        else
                r = json_file_load(&f, err);
        if (r >= 0 && f.root) {
                struct jctx x = { .file = f.path, .pos = &f.pos, .err = err };
                r = project_parse(&x, name, f.root, c, &p);
                if (r >= 0)
                        r = add_project(c, &p);
        }
        project_policy_done(&p);
        json_file_done(&f);
        return r;
}

static int load_projects_dir(struct policy_config *c, struct policy_error *err)
{
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        if (asprintf(&dir, "%s/projects.d", c->config_dir) < 0)
                return -ENOMEM;
        r = policy_scan_json_dir(dir, &names);
        if (r < 0)
                return file_error(err, dir, 0, 0, strerror(-r), r);
        for (size_t i = 0; names[i]; i++) {
                r = load_project_file(c, dir, names[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_inline_projects(struct policy_config *c, const struct json_file *f,
                                struct policy_error *err)
{
        json_t *all = f->root ? json_object_get(f->root, "projects") : NULL, *v;
        struct jctx x = { .file = f->path, .pos = &f->pos, .err = err };
        const struct project_policy *dup;
        char prefix[512];
        const char *name;
        int r;

        if (!all)
                return 0;
        if ((r = jwant(&x, "projects", all, JSON_OBJECT, "an object {name: {project policy}}")) < 0)
                return r;
        json_object_foreach(all, name, v)
        {
                struct project_policy p = { 0 };
                jpath_key(prefix, sizeof(prefix), "projects", name);
                if (!project_name_valid(name))
                        return jfail(&x, prefix, true,
                                     "invalid project name: expected [a-z0-9_.-], not starting "
                                     "with '.', at most 64 bytes");
                if ((dup = find_exact(c, name)))
                        return jfail(&x, prefix, true,
                                     "duplicate project \"%s\": already defined in %s", name,
                                     dup->file);
                x.prefix = prefix;
                r = project_parse(&x, name, v, c, &p);
                x.prefix = NULL;
                if (r >= 0)
                        r = add_project(c, &p);
                project_policy_done(&p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cmp_project(const void *a, const void *b)
{
        return strcmp(((const struct project_policy *)a)->name,
                      ((const struct project_policy *)b)->name);
}

static int load_all(struct policy_config *c, const struct policy_load_options *o,
                    struct policy_error *err)
{
        struct json_file f = { 0 };
        int r;

        if (asprintf(&f.path, "%s/stepd.json", c->config_dir) < 0)
                return -ENOMEM;
        r = json_file_load(&f, err);
        if (r >= 0) {
                struct jctx x = { .file = f.path, .pos = &f.pos, .err = err };
                r = settings_parse(&x, f.root, c, o ? o->state_dir : NULL);
        }
        if (r >= 0)
                r = profiles_load(c, err);
        if (r >= 0)
                r = load_projects_dir(c, err);
        if (r >= 0)
                r = load_inline_projects(c, &f, err);
        if (r >= 0 && c->n_projects == 0) {
                struct jctx x = { .file = "(built-in default)", .err = err };
                c->builtin_projects = true;
                r = project_parse(&x, "*", NULL, c, &c->template_project);
        }
        json_file_done(&f);
        if (r >= 0 && c->n_projects > 1)
                qsort(c->projects, c->n_projects, sizeof(*c->projects), cmp_project);
        return r;
}

int policy_load_with(const char *config_dir, const struct policy_load_options *o,
                     struct policy_config **ret, struct policy_error *err)
{
        struct policy_error dummy;
        struct policy_config *c;
        int r;

        if (!err)
                err = &dummy;
        *err = (struct policy_error){ 0 };
        if (o && o->state_dir && !path_is_clean_absolute(o->state_dir))
                return file_error(err, "(options)", 0, 0,
                                  "the state folder must be an absolute path", -EINVAL);
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->refcount = 1;
        c->config_dir = strdup(config_dir ? config_dir : STEPD_SYSCONFDIR);
        r = c->config_dir ? settings_defaults(&c->settings) : -ENOMEM;
        if (r >= 0)
                r = load_all(c, o, err);
        if (r < 0) {
                if (r == -ENOMEM && !err->message[0])
                        file_error(err, c->config_dir ? c->config_dir : "", 0, 0, "out of memory",
                                   r);
                policy_config_unref(c);
                return r;
        }
        *ret = c;
        return 0;
}

int policy_load(const char *config_dir, struct policy_config **ret, struct policy_error *err)
{
        return policy_load_with(config_dir, NULL, ret, err);
}

struct policy_config *policy_config_ref(struct policy_config *c)
{
        if (c)
                c->refcount++;
        return c;
}

struct policy_config *policy_config_unref(struct policy_config *c)
{
        if (!c || --c->refcount > 0)
                return NULL;
        for (size_t i = 0; i < c->n_projects; i++)
                project_policy_done(&c->projects[i]);
        free(c->projects);
        project_policy_done(&c->template_project);
        profiles_done(c);
        pools_agents_done(c);
        settings_done(&c->settings);
        for (size_t i = 0; i < c->n_id_cache; i++)
                free(c->id_cache[i].project);
        free(c->id_cache);
        free(c->config_dir);
        free(c);
        return NULL;
}

const struct daemon_settings *policy_settings(const struct policy_config *c)
{
        return &c->settings;
}

const char *policy_config_dir(const struct policy_config *c)
{
        return c->config_dir;
}

bool policy_builtin_projects(const struct policy_config *c)
{
        return c->builtin_projects;
}

char **policy_project_names(const struct policy_config *c)
{
        char **l = calloc(1, sizeof(char *));

        for (size_t i = 0; l && i < c->n_projects; i++)
                if (strv_push(&l, c->projects[i].name) < 0)
                        return strv_free(l);
        return l;
}

const struct project_policy *policy_find_project(const struct policy_config *c, const char *project,
                                                 int *reterr, char *why, size_t why_len)
{
        const struct project_policy *p;

        if (!project_name_valid(project)) {
                snprintf(why, why_len,
                         "invalid project name \"%.80s\": expected [a-z0-9_.-], not starting with "
                         "'.', at most 64 bytes",
                         project ? project : "");
                *reterr = -EINVAL;
                return NULL;
        }
        if (c->builtin_projects)
                return &c->template_project;
        p = bsearch(&(struct project_policy){ .name = (char *)project }, c->projects, c->n_projects,
                    sizeof(*c->projects), cmp_project);
        if (!p) {
                snprintf(why, why_len, "no such project \"%s\" (not configured in %s/projects.d)",
                         project, c->config_dir);
                *reterr = -ENOENT;
        }
        return p;
}

bool policy_project_cache(const struct policy_config *c, const char *project)
{
        char why[256];
        int r;
        const struct project_policy *p = policy_find_project(c, project, &r, why, sizeof(why));

        return p && p->cache;
}

const char *policy_project_hash(const struct policy_config *c, const char *project)
{
        char why[256];
        int r;
        const struct project_policy *p = policy_find_project(c, project, &r, why, sizeof(why));

        return p ? p->hash : NULL;
}

const char *policy_project_pool(const struct policy_config *c, const char *project)
{
        char why[256];
        int r;
        const struct project_policy *p = policy_find_project(c, project, &r, why, sizeof(why));

        return p ? p->pool : NULL;
}

size_t policy_pools(const struct policy_config *c, const struct policy_pool **ret)
{
        *ret = c->pools;
        return c->n_pools;
}

size_t policy_agents(const struct policy_config *c, const struct policy_agent **ret)
{
        *ret = c->agents;
        return c->n_agents;
}

const struct policy_pool *policy_pool_find(const struct policy_config *c, const char *name)
{
        for (size_t i = 0; name && i < c->n_pools; i++)
                if (strcmp(c->pools[i].name, name) == 0)
                        return &c->pools[i];
        return NULL;
}

const struct policy_agent *policy_agent_find(const struct policy_config *c, const char *name)
{
        for (size_t i = 0; name && i < c->n_agents; i++)
                if (strcmp(c->agents[i].name, name) == 0)
                        return &c->agents[i];
        return NULL;
}
