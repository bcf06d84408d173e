/* SPDX-License-Identifier: MIT */
/* Being written: see sandbox/net.h for the contract. */
#include "sandbox/net.h"
