/* SPDX-License-Identifier: MIT */
#pragma once

/* The built-in default seccomp profile, compiled to BPF at build time for
 * the build's architecture by tools/seccomp-bpf-gen.c (same source as
 * seccomp_default_profile_json()). For one-shot launchers only: the daemon
 * parses and compiles its configured profiles itself. */

#include <stddef.h>

extern const unsigned char seccomp_default_bpf[];
extern const size_t seccomp_default_bpf_len;
