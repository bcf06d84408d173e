/* SPDX-License-Identifier: MIT */
/* Being written. */
#include <stdio.h>

int main(void)
{
        fprintf(stderr, "stepctl: not available in this build yet\n");
        return 125;
}
