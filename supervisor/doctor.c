/* SPDX-License-Identifier: MIT */
/* Being written. */
#include <stdio.h>

#include "supervisor/verbs.h"

int verb_doctor(int argc, char **argv)
{
        fprintf(stderr, "stepd: %s is not available in this build yet\n", argv[0]);
        return 1;
}
