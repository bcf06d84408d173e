/* SPDX-License-Identifier: MIT */
/* Being written: see docs/protocol.md. */
#include "common/macro.h"
