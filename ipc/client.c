/* SPDX-License-Identifier: MIT */
/* Being written: the client library (see ipc/client.h). */
#include "common/macro.h"
