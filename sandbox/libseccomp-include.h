/* SPDX-License-Identifier: MIT */
#pragma once

/* libseccomp's <seccomp.h>. meson puts each target's source folder on the
 * include path, so inside sandbox/ a plain #include <seccomp.h> finds our own
 * sandbox/seccomp.h. Included as "sandbox/libseccomp-include.h" this file is
 * found through the project root, and #include_next continues the search
 * after it, into the system folders. (Not needed once libsandbox is built
 * with implicit_include_directories : false.) */
#include_next <seccomp.h>
