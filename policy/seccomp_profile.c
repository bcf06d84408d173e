/* SPDX-License-Identifier: MIT */
/* Being written: the OCI/Docker seccomp profile reader. */
#include "sandbox/spec.h"
