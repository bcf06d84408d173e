/* SPDX-License-Identifier: MIT */
#pragma once

/* Read seccomp profiles in the format admins already have: the OCI runtime
 * spec's linux.seccomp object, with Docker's extensions (archMap, names[],
 * comment, includes/excludes). The result is a `struct seccomp_profile`
 * (sandbox/spec.h) that sandbox/seccomp.c compiles with libseccomp.
 *
 * Docker's conditional rules are resolved here, once, for the host stepd runs
 * on and for a step's fixed privileges:
 *   - includes.caps: the rule is SKIPPED (a step has no capabilities);
 *   - excludes.caps: the rule is APPLIED (same reason);
 *   - includes/excludes.arches: compared with the native architecture in
 *     Docker's vocabulary ("amd64" on x86_64, "arm64", "x86", ...);
 *   - includes/excludes.minKernel ("X.Y"): compared with uname's release.
 *
 * Syscall names are only checked for their shape here: libseccomp decides at
 * compile time (seccomp_prepare), where a name unknown to it is skipped and
 * counted, not an error, because published profiles list syscalls that older
 * libraries or kernels lack.
 *
 * Errors: -EINVAL with a policy_error naming file, line, column and the key
 * path ("syscalls[3].args[0].op"). Syntax errors come from jansson; for
 * semantic errors the position is found again by rescanning the text for
 * that key path (the position of the key for an object member, of the value
 * for an array element); line 0 when it cannot be found. */

#include <stddef.h>

#include "policy/policy.h"
#include "sandbox/spec.h"

/* Profiles larger than this are refused (Docker's default is ~20 KiB). */
#define SECCOMP_PROFILE_MAX_BYTES (1u << 20)
/* At most this many (syscall, rule) pairs after expanding names[]. */
#define SECCOMP_PROFILE_MAX_RULES 8192

/* What Docker's includes/excludes are compared with. */
struct seccomp_host {
        const char *docker_arch;   /* Docker's name of the native arch: "amd64", "arm64", ... */
        const char *oci_arch;      /* the OCI name of the native arch: "SCMP_ARCH_X86_64" */
        unsigned kernel_major;     /* from uname -r; 0.0 makes every minKernel false */
        unsigned kernel_minor;
};
/* The host this binary runs on (compile-time arch, uname's kernel). */
int seccomp_host_detect(struct seccomp_host *ret);

/* Parse json (len bytes, need not be NUL-terminated) for the given host.
 * name is the profile's name and the "file" of errors. */
int seccomp_profile_parse(const char *name, const char *json, size_t len,
                          const struct seccomp_host *host, struct seccomp_profile **ret,
                          struct policy_error *err);
/* Both for the running host. load_file names the profile after the file's
 * base name without ".json". */
int seccomp_profile_load_string(const char *name, const char *json,
                                struct seccomp_profile **ret, struct policy_error *err);
int seccomp_profile_load_file(const char *path, struct seccomp_profile **ret,
                              struct policy_error *err);

/* "SCMP_ACT_ERRNO" etc.; NULL for an out-of-range value. */
const char *seccomp_action_to_string(enum seccomp_action a);
const char *seccomp_op_to_string(enum seccomp_op op);

/* The shipped default (policies/seccomp/default.json), embedded into the
 * binary at build time by tools/embed-text.py, so stepd needs no installed
 * file. Defined in the generated seccomp_default_profile.c. */
const char *seccomp_default_profile_json(void);

static inline int seccomp_profile_load_default(struct seccomp_profile **ret,
                                               struct policy_error *err)
{
        return seccomp_profile_load_string("default", seccomp_default_profile_json(), ret, err);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct seccomp_profile *, seccomp_profile_unref);
