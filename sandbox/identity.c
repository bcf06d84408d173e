/* SPDX-License-Identifier: MIT */
/*
 * Who the step is: capabilities, uid/gid, no_new_privs, rlimits. Child side:
 * system calls only (the init has no heap for libcap's cap_t: plan.c).
 *
 * Order (OpenSMTPD's privsep order, with capabilities first because dropping
 * the bounding set needs CAP_SETPCAP):
 *   caps:     bounding set emptied, ambient cleared, securebits locked so
 *             that uid 0 (if ever used) confers nothing;
 *   identity: setgroups(none) → setresgid → setresuid, then capset(empty),
 *             which clears the inheritable set that a uid change keeps;
 *   nnp:      PR_SET_NO_NEW_PRIVS, so no exec can gain privileges.
 *
 * All of it runs in the init, which the payload inherits it from.
 *
 * The ids change by bare system calls: glibc's wrappers would ask every
 * thread it knows of to change too (setxid broadcast), and the init, a raw
 * clone3 of the launcher, is not the process glibc's thread list describes.
 */
#include <errno.h>
#include <grp.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/internal.h"

int caps_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        for (int c = 0; c <= p->cap_last; c++)
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) {
                        snprintf(what, what_len, "bounding set, capability %d", c);
                        return -errno;
                }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
                snprintf(what, what_len, "ambient set");
                return -errno;
        }
        if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
                                             SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                             SECBIT_NO_CAP_AMBIENT_RAISE |
                                             SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) < 0) {
                snprintf(what, what_len, "securebits");
                return -errno;
        }
        return 0;
}

/* 32-bit ABIs keep 16-bit ids under the plain names (as glibc knows). */
#ifdef SYS_setresuid32
#define NR_SETGROUPS SYS_setgroups32
#define NR_SETRESGID SYS_setresgid32
#define NR_SETRESUID SYS_setresuid32
#else
#define NR_SETGROUPS SYS_setgroups
#define NR_SETRESGID SYS_setresgid
#define NR_SETRESUID SYS_setresuid
#endif

int sys_set_ids(uid_t uid, gid_t gid, bool clear_groups)
{
        if ((clear_groups && syscall(NR_SETGROUPS, 0, NULL) < 0) ||
            syscall(NR_SETRESGID, gid, gid, gid) < 0 || syscall(NR_SETRESUID, uid, uid, uid) < 0)
                return -errno;
        return 0;
}

int ids_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
        uid_t uid = p->run_uid;
        gid_t gid = p->run_gid;
        int r;

        snprintf(what, what_len, "uid %u gid %u", (unsigned)uid, (unsigned)gid);
        r = sys_set_ids(uid, gid, true);
        if (r < 0)
                return r;
        /* Every set empty, with a bare capset(): the init has no heap
         * (plan.c), and libcap keeps its cap_t there. */
        if (syscall(SYS_capset, &h, none) < 0) {
                snprintf(what, what_len, "capset");
                return -errno;
        }
        return 0;
}

int nnp_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int rlimits_apply(const struct sandbox_plan *p, char *what, size_t what_len)
{
        const struct step_limits *l = &p->spec->limits;
        const struct {
                int resource;
                const char *name;
                uint64_t value;
        } limits[] = {
                { RLIMIT_CORE, "core", 0 },
                { RLIMIT_NOFILE, "nofile", l->nofile },
                { RLIMIT_FSIZE, "fsize", l->fsize_bytes ? l->fsize_bytes : RLIM_INFINITY },
        };

        for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
                struct rlimit rl = { limits[i].value, limits[i].value };

                if (limits[i].resource == RLIMIT_NOFILE && limits[i].value == 0)
                        continue;
                if (setrlimit(limits[i].resource, &rl) < 0) {
                        snprintf(what, what_len, "RLIMIT_%s", limits[i].name);
                        return -errno;
                }
        }
        return 0;
}
