/* SPDX-License-Identifier: MIT */
/* seccomp: how this works.
 *
 * Parent (seccomp_prepare, once per profile, result cached in the profile):
 *   seccomp_init(default action)
 *   + the profile's architectures (the native one is always there); a
 *     syscall made through any other ABI (int 0x80, x32) kills the process
 *   + one libseccomp rule per (syscall, conditions); libseccomp resolves the
 *     name per architecture, and a name it does not know at all is skipped
 *     and counted (published profiles list syscalls newer than our library)
 *   + NO_NEW_PRIVS left to us (the child sets it itself, before this)
 *   → BPF exported into a memfd and read back into memory, because
 *     libseccomp 2.5 can only export to an fd.
 *
 * Child (seccomp_apply, the last setup step before execve): one seccomp()
 * system call with the cached program; no allocation, no libseccomp.
 *
 * User notification (SCMP_ACT_NOTIFY) is refused for now. When it comes,
 * the child will load the filter with SECCOMP_FILTER_FLAG_NEW_LISTENER (see
 * apply_filter()) and pass the listener fd back over the sync socket; the
 * compile side only needs NOTIFY added to action_to_scmp(). */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macro.h"
#include "sandbox/libseccomp-include.h"
#include "sandbox/seccomp.h"

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}
#define _cleanup_scmp_ _cleanup_(seccomp_releasep)

static int action_to_scmp(enum seccomp_action a, int errno_ret, uint32_t *ret)
{
        switch (a) {
        case SECCOMP_ACT_KILL_PROCESS_: *ret = SCMP_ACT_KILL_PROCESS; return 0;
        case SECCOMP_ACT_KILL_THREAD_: *ret = SCMP_ACT_KILL_THREAD; return 0;
        case SECCOMP_ACT_TRAP_: *ret = SCMP_ACT_TRAP; return 0;
        case SECCOMP_ACT_ERRNO_: *ret = SCMP_ACT_ERRNO(errno_ret > 0 ? errno_ret : EPERM); return 0;
        case SECCOMP_ACT_TRACE_: *ret = SCMP_ACT_TRACE(errno_ret); return 0;
        case SECCOMP_ACT_ALLOW_: *ret = SCMP_ACT_ALLOW; return 0;
        case SECCOMP_ACT_LOG_: *ret = SCMP_ACT_LOG; return 0;
        case SECCOMP_ACT_NOTIFY_: /* reserved: needs the listener plumbing first */
        default: return -EOPNOTSUPP;
        }
}

static int op_to_scmp(enum seccomp_op op, enum scmp_compare *ret)
{
        static const enum scmp_compare map[_SECCOMP_OP_MAX] = {
                [SECCOMP_OP_NE] = SCMP_CMP_NE, [SECCOMP_OP_LT] = SCMP_CMP_LT,
                [SECCOMP_OP_LE] = SCMP_CMP_LE, [SECCOMP_OP_EQ] = SCMP_CMP_EQ,
                [SECCOMP_OP_GE] = SCMP_CMP_GE, [SECCOMP_OP_GT] = SCMP_CMP_GT,
                [SECCOMP_OP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
        };

        if ((unsigned)op >= _SECCOMP_OP_MAX)
                return -EINVAL;
        *ret = map[op];
        return 0;
}

/* Appends "name" to the list of skipped names in note (best effort). */
static void note_skipped(char *note, size_t len, unsigned n, const char *name)
{
        size_t used;

        if (!note || len == 0)
                return;
        if (n == 0)
                snprintf(note, len, "unknown to libseccomp, skipped:");
        used = strlen(note);
        if (used + 1 < len)
                snprintf(note + used, len - used, " %s", name);
}

static int add_arches(scmp_filter_ctx ctx, const struct seccomp_profile *p, unsigned *skipped,
                      char *note, size_t len)
{
        for (char **a = p->architectures; a && *a; a++) {
                uint32_t token = seccomp_arch_resolve_name(*a);
                int r;

                if (token == 0) { /* a name this libseccomp cannot build for */
                        note_skipped(note, len, (*skipped)++, *a);
                        continue;
                }
                r = seccomp_arch_add(ctx, token);
                if (r < 0 && r != -EEXIST) {
                        snprintf(note, len, "architecture %s: %s", *a, strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int add_rule(scmp_filter_ctx ctx, const struct seccomp_rule *rule, uint32_t def_action,
                    unsigned *skipped, char *note, size_t len)
{
        struct scmp_arg_cmp cmp[6];
        uint32_t action;
        int nr, r;

        if (rule->n_args > ARRAY_SIZE(cmp))
                return -EINVAL;
        nr = seccomp_syscall_resolve_name(rule->syscall);
        if (nr == __NR_SCMP_ERROR) {
                note_skipped(note, len, (*skipped)++, rule->syscall);
                return 0;
        }
        r = action_to_scmp(rule->action, rule->errno_ret, &action);
        if (r < 0) {
                snprintf(note, len, "syscall %s: action not supported", rule->syscall);
                return r;
        }
        if (action == def_action) /* libseccomp refuses these; they change nothing */
                return 0;
        for (size_t i = 0; i < rule->n_args; i++) {
                cmp[i] = (struct scmp_arg_cmp){ .arg = rule->args[i].index,
                                                .datum_a = rule->args[i].value,
                                                .datum_b = rule->args[i].value_two };
                r = op_to_scmp(rule->args[i].op, &cmp[i].op);
                if (r < 0)
                        return r;
        }
        r = seccomp_rule_add_array(ctx, action, nr, (unsigned)rule->n_args, cmp);
        if (r < 0)
                snprintf(note, len, "syscall %s: %s", rule->syscall, strerror(-r));
        return r;
}

/* BPF out of libseccomp through a memfd into malloc'd memory. */
static int export_bpf(scmp_filter_ctx ctx, void **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = memfd_create("stepd-seccomp-bpf", MFD_CLOEXEC);
        _cleanup_free_ void *buf = NULL;
        struct stat st;
        ssize_t n;
        int r;

        if (fd < 0)
                return negative_errno();
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
            st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return -E2BIG;
        buf = malloc(st.st_size);
        if (!buf)
                return -ENOMEM;
        n = pread(fd, buf, st.st_size, 0);
        if (n < 0)
                return negative_errno();
        if (n != st.st_size)
                return -EIO;
        *ret = TAKE_PTR(buf);
        *ret_len = (size_t)st.st_size;
        return 0;
}

static int compile(const struct seccomp_profile *p, void **ret, size_t *ret_len, char *note,
                   size_t len)
{
        _cleanup_scmp_ scmp_filter_ctx ctx = NULL;
        uint32_t def;
        unsigned skipped = 0;
        int r;

        r = action_to_scmp(p->default_action, p->default_errno_ret, &def);
        if (r < 0) {
                snprintf(note, len, "default action not supported");
                return r;
        }
        ctx = seccomp_init(def);
        if (!ctx)
                return -ENOMEM;
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r < 0) {
                snprintf(note, len, "setting filter attributes: %s", strerror(-r));
                return r;
        }
        (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); /* binary tree, if known */
        r = add_arches(ctx, p, &skipped, note, len);
        for (size_t i = 0; r >= 0 && i < p->n_rules; i++)
                r = add_rule(ctx, &p->rules[i], def, &skipped, note, len);
        if (r < 0)
                return r;
        r = export_bpf(ctx, ret, ret_len);
        if (r < 0) {
                snprintf(note, len, "exporting the filter: %s", strerror(-r));
                return r;
        }
        return (int)skipped;
}

int seccomp_prepare(struct seccomp_profile *p, char *err, size_t err_len)
{
        char note[1024] = "";
        void *bpf = NULL;
        size_t bpf_len = 0;
        int r;

        if (!p)
                return -EINVAL;
        if (err && err_len > 0)
                err[0] = 0;
        if (!p->bpf) {
                /* Once per profile: a daemon prepares it for every step. */
                r = compile(p, &bpf, &bpf_len, note, sizeof(note));
                if (r < 0) {
                        if (err && err_len > 0)
                                snprintf(err, err_len, "%s", note);
                        return r;
                }
                /* Out of memory for the note: the program still stands. */
                p->bpf_note = note[0] ? strdup(note) : NULL;
                p->bpf = bpf;
                p->bpf_len = bpf_len;
                p->bpf_skipped = (unsigned)r;
        }
        if (err && err_len > 0 && p->bpf_note)
                snprintf(err, err_len, "%s", p->bpf_note);
        return (int)p->bpf_skipped;
}

static int apply_filter(const void *bpf, size_t bpf_len, unsigned flags)
{
        struct sock_fprog prog = {
                .len = (unsigned short)(bpf_len / sizeof(struct sock_filter)),
                .filter = (struct sock_filter *)bpf,
        };
        long r;

        if (!bpf || bpf_len == 0 || bpf_len % sizeof(struct sock_filter) != 0 ||
            bpf_len / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return -EINVAL;
        r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
        if (r < 0 && errno == ENOSYS && flags == 0)
                r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
        if (r < 0)
                return negative_errno();
        return (int)r; /* with SECCOMP_FILTER_FLAG_NEW_LISTENER: the listener fd */
}

int seccomp_apply(const void *bpf, size_t bpf_len)
{
        int r = apply_filter(bpf, bpf_len, 0);

        return r < 0 ? r : 0;
}
