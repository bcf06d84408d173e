/* SPDX-License-Identifier: MIT */
#pragma once

/* seccomp: compile a profile with libseccomp in the parent, once per profile
 * (cached in the profile), export the BPF; the child only loads it, last
 * before exec. Foreign architectures not named by the profile are killed
 * (libseccomp's bad-arch action = KILL_PROCESS). */

#include <stddef.h>

#include "sandbox/spec.h"

/* Fill p->bpf / p->bpf_len unless already done. Returns the number of
 * syscall names libseccomp does not know (skipped; listed in err) or -errno
 * with the failing rule in err. */
int seccomp_prepare(struct seccomp_profile *p, char *err, size_t err_len);
/* Child side: syscalls only. Returns 0 or -errno. */
int seccomp_apply(const void *bpf, size_t bpf_len);
