/* SPDX-License-Identifier: MIT */
/* Being written: see sandbox/cgroup.h for the contract. */
#include "sandbox/cgroup.h"
