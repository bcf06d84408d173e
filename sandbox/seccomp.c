/* SPDX-License-Identifier: MIT */
/* Being written: see sandbox/seccomp.h for the contract. */
#include "sandbox/seccomp.h"
