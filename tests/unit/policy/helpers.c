/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "helpers.h"

void scratch_make(struct scratch *s)
{
        snprintf(s->root, sizeof(s->root), "/tmp/stepd-policy-test-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(s->root));
        snprintf(s->cfg, sizeof(s->cfg), "%s/cfg", s->root);
        snprintf(s->state, sizeof(s->state), "%s/state", s->root);
        ck_assert_int_eq(mkdir_p(s->cfg, 0755), 0);
        ck_assert_int_eq(mkdir_p(s->state, 0755), 0);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
        return remove(p);
}

void scratch_remove(struct scratch *s)
{
        if (s->root[0])
                nftw(s->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void scratch_write(const struct scratch *s, const char *rel, const char *text)
{
        char path[512], dir[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", s->cfg, rel);
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = 0;
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

void scratch_expand(const struct scratch *s, const char *in, char *out, size_t len)
{
        size_t o = 0;

        for (const char *c = in; *c && o + 1 < len; c++) {
                const char *rep = NULL;
                if (c[0] == '%' && c[1] == 'D')
                        rep = s->cfg;
                else if (c[0] == '%' && c[1] == 'S')
                        rep = s->state;
                if (!rep) {
                        out[o++] = *c;
                        continue;
                }
                for (; *rep && o + 1 < len; rep++)
                        out[o++] = *rep;
                c++;
        }
        out[o] = 0;
}

int scratch_load(const struct scratch *s, struct policy_config **ret, struct policy_error *err)
{
        struct policy_load_options o = { .state_dir = s->state };

        return policy_load_with(s->cfg, &o, ret, err);
}
