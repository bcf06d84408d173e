/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the policy unit tests: a scratch folder per test holding a
 * configuration folder (cfg/) and a state folder (state/). */

#include <stddef.h>

#include "policy/policy.h"

struct scratch {
        char root[128];
        char cfg[160];
        char state[160];
};

void scratch_make(struct scratch *s);
void scratch_remove(struct scratch *s);
/* Write cfg/<rel> (making folders), aborting the test on failure. */
void scratch_write(const struct scratch *s, const char *rel, const char *text);
/* Replace %D with the cfg folder and %S with the state folder. */
void scratch_expand(const struct scratch *s, const char *in, char *out, size_t len);
/* Load cfg/ with state/ as the state folder. */
int scratch_load(const struct scratch *s, struct policy_config **ret, struct policy_error *err);
