/* SPDX-License-Identifier: MIT */
/* The OCI/Docker seccomp profile reader. See seccomp_profile.h for the
 * format, how Docker's conditional rules are resolved, and how errors are
 * located (policy/jpos.h). This file also implements policy_error_format(). */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/util.h"
#include "policy/jpos.h"
#include "policy/seccomp_profile.h"

#define PATH_LEN 128

/* Key paths are cut at PATH_LEN: a longer one only loses its position. */
static void pathf(char *buf, size_t len, const char *fmt, ...) _printf_(3, 4);
static void pathf(char *buf, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)!vsnprintf(buf, len, fmt, ap);
        va_end(ap);
}

#define _cleanup_json_ _cleanup_(json_decrefp) /* json_decrefp: jansson >= 2.9 */

/* ---- names ------------------------------------------------------------ */

static const char *const action_names[_SECCOMP_ACT_MAX] = {
        [SECCOMP_ACT_KILL_PROCESS_] = "SCMP_ACT_KILL_PROCESS",
        [SECCOMP_ACT_KILL_THREAD_] = "SCMP_ACT_KILL_THREAD",
        [SECCOMP_ACT_TRAP_] = "SCMP_ACT_TRAP",
        [SECCOMP_ACT_ERRNO_] = "SCMP_ACT_ERRNO",
        [SECCOMP_ACT_TRACE_] = "SCMP_ACT_TRACE",
        [SECCOMP_ACT_ALLOW_] = "SCMP_ACT_ALLOW",
        [SECCOMP_ACT_LOG_] = "SCMP_ACT_LOG",
        [SECCOMP_ACT_NOTIFY_] = "SCMP_ACT_NOTIFY",
};

static const char *const op_names[_SECCOMP_OP_MAX] = {
        [SECCOMP_OP_NE] = "SCMP_CMP_NE",
        [SECCOMP_OP_LT] = "SCMP_CMP_LT",
        [SECCOMP_OP_LE] = "SCMP_CMP_LE",
        [SECCOMP_OP_EQ] = "SCMP_CMP_EQ",
        [SECCOMP_OP_GE] = "SCMP_CMP_GE",
        [SECCOMP_OP_GT] = "SCMP_CMP_GT",
        [SECCOMP_OP_MASKED_EQ] = "SCMP_CMP_MASKED_EQ",
};

/* OCI architecture names; libseccomp's name is the lower-cased suffix. */
static const char *const oci_arches[] = {
        "SCMP_ARCH_X86",       "SCMP_ARCH_X86_64",    "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",   "SCMP_ARCH_MIPS",      "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",    "SCMP_ARCH_MIPSEL64",  "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",     "SCMP_ARCH_PPC64LE",   "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",    "SCMP_ARCH_PARISC64",  "SCMP_ARCH_RISCV64",     "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",      "SCMP_ARCH_SH",        "SCMP_ARCH_SHEB",
};

/* Docker's vocabulary in includes/excludes.arches (Go's GOARCH, mostly). */
static const char *const docker_arches[] = {
        "x86",      "386",       "amd64",       "x32",         "arm",     "arm64",
        "mips",     "mipsle",    "mips64",      "mips64le",    "mips64n32", "mipsel64",
        "mipsel64n32", "mips3l64n32", "ppc",    "ppc64",       "ppc64le", "riscv64",
        "s390",     "s390x",     "loong64",
};

const char *seccomp_action_to_string(enum seccomp_action a)
{
        return (unsigned)a < _SECCOMP_ACT_MAX ? action_names[a] : NULL;
}

const char *seccomp_op_to_string(enum seccomp_op op)
{
        return (unsigned)op < _SECCOMP_OP_MAX ? op_names[op] : NULL;
}

static bool str_in(const char *s, const char *const *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(s, list[i]) == 0)
                        return true;
        return false;
}

int seccomp_host_detect(struct seccomp_host *ret)
{
        struct utsname u;
        struct seccomp_host h = { 0 };

#if defined(__x86_64__) && defined(__ILP32__)
        h.docker_arch = "x32", h.oci_arch = "SCMP_ARCH_X32";
#elif defined(__x86_64__)
        h.docker_arch = "amd64", h.oci_arch = "SCMP_ARCH_X86_64";
#elif defined(__i386__)
        h.docker_arch = "x86", h.oci_arch = "SCMP_ARCH_X86";
#elif defined(__aarch64__)
        h.docker_arch = "arm64", h.oci_arch = "SCMP_ARCH_AARCH64";
#elif defined(__arm__)
        h.docker_arch = "arm", h.oci_arch = "SCMP_ARCH_ARM";
#elif defined(__riscv)
        h.docker_arch = "riscv64", h.oci_arch = "SCMP_ARCH_RISCV64";
#elif defined(__s390x__)
        h.docker_arch = "s390x", h.oci_arch = "SCMP_ARCH_S390X";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
        h.docker_arch = "ppc64le", h.oci_arch = "SCMP_ARCH_PPC64LE";
#elif defined(__powerpc64__)
        h.docker_arch = "ppc64", h.oci_arch = "SCMP_ARCH_PPC64";
#elif defined(__loongarch64)
        h.docker_arch = "loong64", h.oci_arch = "SCMP_ARCH_LOONGARCH64";
#else
        return -EOPNOTSUPP;
#endif
        if (uname(&u) < 0)
                return negative_errno();
        if (sscanf(u.release, "%u.%u", &h.kernel_major, &h.kernel_minor) != 2)
                return -EINVAL;
        *ret = h;
        return 0;
}

/* ---- errors and where they are ------------------------------------------ */

static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...) _printf_(4, 5);
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (*pos >= len)
                return;
        va_start(ap, fmt);
        n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
        va_end(ap);
        if (n > 0)
                *pos = MIN(len, *pos + (size_t)n);
}

void policy_error_format(const struct policy_error *e, char *buf, size_t len)
{
        size_t pos = 0;

        if (!buf || len == 0)
                return;
        buf[0] = 0;
        append(buf, len, &pos, "%s", e->file[0] ? e->file : "<input>");
        if (e->line > 0)
                append(buf, len, &pos, ":%d:%d", e->line, e->column);
        append(buf, len, &pos, ": ");
        if (e->key[0])
                append(buf, len, &pos, "%s: ", e->key);
        append(buf, len, &pos, "%s", e->message);
}

/* Where a key path is: the position of an object member's key, of an array
 * element's value; 0:0 when not found (policy/jpos rescans the text). */
static void locate(const char *text, size_t len, const char *path, int *ret_line, int *ret_col)
{
        struct jpos pos;

        *ret_line = *ret_col = 0;
        if (jpos_build(text, len, &pos) < 0)
                return;
        if (!jpos_find(&pos, path, true, ret_line, ret_col))
                *ret_line = *ret_col = 0;
        jpos_done(&pos);
}

/* ---- the parser ---------------------------------------------------------- */

struct parse_ctx {
        const char *file;
        const char *text;
        size_t len;
        const struct seccomp_host *host;
        struct policy_error *err;
        struct seccomp_profile *p;
        size_t rules_cap;
        size_t *origin;     /* per rule: its index in syscalls[] */
        size_t cur;         /* the syscalls[] entry being read */
};

static int fail(struct parse_ctx *c, const char *path, const char *fmt, ...) _printf_(3, 4);
static int fail(struct parse_ctx *c, const char *path, const char *fmt, ...)
{
        va_list ap;
        struct policy_error *e = c->err;

        if (!e)
                return -EINVAL;
        memset(e, 0, sizeof(*e));
        pathf(e->file, sizeof(e->file), "%s", c->file);
        pathf(e->key, sizeof(e->key), "%s", path);
        locate(c->text, c->len, path, &e->line, &e->column);
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static const char *subpath(char *buf, const char *parent, const char *key)
{
        pathf(buf, PATH_LEN, "%s%s%s", parent, parent[0] ? "." : "", key);
        return buf;
}

static const char *type_name(const json_t *j)
{
        switch (json_typeof(j)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a number with a fraction";
        case JSON_TRUE: case JSON_FALSE: return "a boolean";
        case JSON_NULL: return "null";
        }
        return "something else";
}

/* Rejects keys not in allowed (a NULL-terminated list). */
static int check_keys(struct parse_ctx *c, json_t *obj, const char *path,
                      const char *const *allowed)
{
        const char *key;
        json_t *v;

        json_object_foreach(obj, key, v) {
                char kp[PATH_LEN], list[256];
                size_t pos = 0;
                bool ok = false;

                for (size_t i = 0; allowed[i]; i++)
                        ok = ok || strcmp(key, allowed[i]) == 0;
                if (ok)
                        continue;
                list[0] = 0;
                for (size_t i = 0; allowed[i]; i++)
                        append(list, sizeof(list), &pos, "%s%s", i ? ", " : "", allowed[i]);
                return fail(c, subpath(kp, path, key), "unknown key \"%s\" (expected one of: %s)",
                            key, list);
        }
        return 0;
}

/* The member key of obj, of the given type; NULL (and 0) when absent or
 * null unless required. */
static int member(struct parse_ctx *c, json_t *obj, const char *path, const char *key,
                  json_type type, bool required, json_t **ret)
{
        static const char *const want[] = {
                [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
                [JSON_STRING] = "a string",  [JSON_INTEGER] = "an integer",
        };
        json_t *v = json_object_get(obj, key);
        char kp[PATH_LEN];

        *ret = NULL;
        if (!v || json_is_null(v)) {
                if (required)
                        return fail(c, path[0] ? path : "", "missing required key \"%s\"", key);
                return 0;
        }
        if (json_typeof(v) != type)
                return fail(c, subpath(kp, path, key), "expected %s, got %s", want[type],
                            type_name(v));
        *ret = v;
        return 0;
}

static int parse_action(struct parse_ctx *c, json_t *v, const char *path,
                        enum seccomp_action *ret)
{
        const char *s = json_string_value(v);

        if (strcmp(s, "SCMP_ACT_KILL") == 0) { /* libseccomp's old name */
                *ret = SECCOMP_ACT_KILL_THREAD_;
                return 0;
        }
        for (int i = 0; i < _SECCOMP_ACT_MAX; i++)
                if (strcmp(s, action_names[i]) == 0) {
                        if (i == SECCOMP_ACT_NOTIFY_)
                                return fail(c, path, "SCMP_ACT_NOTIFY (user notification) is "
                                                     "not supported yet");
                        *ret = i;
                        return 0;
                }
        return fail(c, path,
                    "unknown action \"%s\" (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, "
                    "SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL, SCMP_ACT_TRAP, "
                    "SCMP_ACT_TRACE or SCMP_ACT_LOG)",
                    s);
}

/* errnoRet: 1..4095 for ERRNO (absent: EPERM), 0..65535 for TRACE, else none. */
static int parse_errno_ret(struct parse_ctx *c, json_t *obj, const char *path, const char *key,
                           enum seccomp_action a, int *ret)
{
        char kp[PATH_LEN];
        json_t *v;
        json_int_t n;
        int r = member(c, obj, path, key, JSON_INTEGER, false, &v);

        *ret = 0;
        if (r < 0 || !v)
                return r;
        subpath(kp, path, key);
        n = json_integer_value(v);
        if (a == SECCOMP_ACT_ERRNO_ && (n < 1 || n > 4095))
                return fail(c, kp, "%lld is not an errno number (1..4095)", (long long)n);
        if (a == SECCOMP_ACT_TRACE_ && (n < 0 || n > 65535))
                return fail(c, kp, "%lld is out of range for SCMP_ACT_TRACE (0..65535)",
                            (long long)n);
        if (a != SECCOMP_ACT_ERRNO_ && a != SECCOMP_ACT_TRACE_)
                return fail(c, kp, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s",
                            action_names[a]);
        *ret = (int)n;
        return 0;
}

static int get_u64(struct parse_ctx *c, json_t *obj, const char *path, const char *key,
                        bool required, uint64_t *ret)
{
        char kp[PATH_LEN];
        json_t *v;
        int r = member(c, obj, path, key, JSON_INTEGER, required, &v);

        if (r < 0 || !v)
                return r;
        if (json_integer_value(v) < 0)
                return fail(c, subpath(kp, path, key), "must not be negative");
        *ret = (uint64_t)json_integer_value(v);
        return 0;
}

static int parse_arg(struct parse_ctx *c, json_t *a, const char *path, struct seccomp_arg *ret)
{
        static const char *const keys[] = { "index", "value", "valueTwo", "op", NULL };
        struct seccomp_arg arg = { 0 };
        char kp[PATH_LEN];
        uint64_t index = 0;
        json_t *op;
        int r;

        if (!json_is_object(a))
                return fail(c, path, "expected an object, got %s", type_name(a));
        r = check_keys(c, a, path, keys);
        if (r >= 0)
                r = get_u64(c, a, path, "index", true, &index);
        if (r >= 0 && index > 5)
                r = fail(c, subpath(kp, path, "index"), "%llu is not an argument index (0..5)",
                         (unsigned long long)index);
        if (r >= 0)
                r = get_u64(c, a, path, "value", true, &arg.value);
        if (r >= 0)
                r = get_u64(c, a, path, "valueTwo", false, &arg.value_two);
        if (r >= 0)
                r = member(c, a, path, "op", JSON_STRING, true, &op);
        if (r < 0)
                return r;
        arg.index = (unsigned)index;
        for (int i = 0; i < _SECCOMP_OP_MAX; i++)
                if (strcmp(json_string_value(op), op_names[i]) == 0) {
                        arg.op = i;
                        *ret = arg;
                        return 0;
                }
        return fail(c, subpath(kp, path, "op"),
                    "unknown operator \"%s\" (expected SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, "
                    "SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT or SCMP_CMP_MASKED_EQ)",
                    json_string_value(op));
}

static int parse_args(struct parse_ctx *c, json_t *rule, const char *path,
                      struct seccomp_arg *ret, size_t *ret_n)
{
        char ap[PATH_LEN], ep[PATH_LEN];
        json_t *args, *a;
        size_t i;
        int r = member(c, rule, path, "args", JSON_ARRAY, false, &args);

        *ret_n = 0;
        if (r < 0 || !args)
                return r;
        subpath(ap, path, "args");
        if (json_array_size(args) > 6)
                return fail(c, ap, "at most 6 argument conditions, got %zu",
                            json_array_size(args));
        json_array_foreach(args, i, a) {
                pathf(ep, sizeof(ep), "%s[%zu]", ap, i);
                r = parse_arg(c, a, ep, &ret[i]);
                if (r < 0)
                        return r;
        }
        *ret_n = json_array_size(args);
        return 0;
}

/* A string array: each element checked by valid(); NULL valid() accepts all. */
static int parse_strings(struct parse_ctx *c, json_t *obj, const char *path, const char *key,
                         bool (*valid)(const char *), const char *what, json_t **ret)
{
        char kp[PATH_LEN], ep[PATH_LEN];
        json_t *arr, *v;
        size_t i;
        int r = member(c, obj, path, key, JSON_ARRAY, false, &arr);

        *ret = NULL;
        if (r < 0 || !arr)
                return r;
        subpath(kp, path, key);
        json_array_foreach(arr, i, v) {
                pathf(ep, sizeof(ep), "%s[%zu]", kp, i);
                if (!json_is_string(v))
                        return fail(c, ep, "expected a string, got %s", type_name(v));
                if (valid && !valid(json_string_value(v)))
                        return fail(c, ep, "\"%s\" is not %s", json_string_value(v), what);
        }
        *ret = arr;
        return 0;
}

static bool strings_contain(json_t *arr, const char *s)
{
        size_t i;
        json_t *v;

        json_array_foreach(arr, i, v)
                if (strcmp(json_string_value(v), s) == 0)
                        return true;
        return false;
}

static bool valid_cap(const char *s)
{
        if (strncmp(s, "CAP_", 4) != 0 || !s[4])
                return false;
        for (s += 4; *s; s++)
                if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
                        return false;
        return true;
}

static bool valid_docker_arch(const char *s)
{
        return str_in(s, docker_arches, ARRAY_SIZE(docker_arches));
}

static bool valid_oci_arch(const char *s)
{
        return str_in(s, oci_arches, ARRAY_SIZE(oci_arches));
}

static bool valid_syscall_name(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 63)
                return false;
        for (; *s; s++)
                if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
                        return false;
        return true;
}

/* minKernel "X.Y": 1 if the host's kernel is at least that, 0 if not. */
static int parse_min_kernel(struct parse_ctx *c, json_t *obj, const char *path)
{
        char kp[PATH_LEN];
        unsigned major, minor;
        int n = 0;
        json_t *v;
        int r = member(c, obj, path, "minKernel", JSON_STRING, false, &v);

        if (r < 0 || !v)
                return r < 0 ? r : 1;
        if (sscanf(json_string_value(v), "%u.%u%n", &major, &minor, &n) != 2 ||
            json_string_value(v)[n] || !isdigit((unsigned char)json_string_value(v)[0]))
                return fail(c, subpath(kp, path, "minKernel"),
                            "\"%s\" is not a kernel version \"MAJOR.MINOR\"",
                            json_string_value(v));
        return c->host->kernel_major > major ||
               (c->host->kernel_major == major && c->host->kernel_minor >= minor);
}

/* Docker's includes/excludes: 1 when the rule applies to a step on this host. */
static int rule_applies(struct parse_ctx *c, json_t *rule, const char *path)
{
        static const char *const keys[] = { "caps", "arches", "minKernel", NULL };
        bool applies = true;

        for (int inc = 1; inc >= 0; inc--) {
                char fp[PATH_LEN];
                json_t *f, *caps, *arches;
                int r, kernel_ok;

                r = member(c, rule, path, inc ? "includes" : "excludes", JSON_OBJECT, false, &f);
                if (r < 0)
                        return r;
                if (!f)
                        continue;
                subpath(fp, path, inc ? "includes" : "excludes");
                r = check_keys(c, f, fp, keys);
                if (r >= 0)
                        r = parse_strings(c, f, fp, "caps", valid_cap, "a capability name",
                                          &caps);
                if (r >= 0)
                        r = parse_strings(c, f, fp, "arches", valid_docker_arch,
                                          "an architecture (amd64, arm64, x86, x32, ...)",
                                          &arches);
                kernel_ok = r >= 0 ? parse_min_kernel(c, f, fp) : r;
                if (kernel_ok < 0)
                        return kernel_ok;
                if (inc) {
                        /* Steps have no capabilities: a rule that needs one never applies. */
                        if (caps && json_array_size(caps) > 0)
                                applies = false;
                        if (arches && json_array_size(arches) > 0 &&
                            !strings_contain(arches, c->host->docker_arch))
                                applies = false;
                        if (!kernel_ok)
                                applies = false;
                } else {
                        /* excludes.caps never matches a step: nothing to do. */
                        if (arches && strings_contain(arches, c->host->docker_arch))
                                applies = false;
                        if (json_object_get(f, "minKernel") &&
                            !json_is_null(json_object_get(f, "minKernel")) && kernel_ok)
                                applies = false;
                }
        }
        return applies;
}

static int add_rule(struct parse_ctx *c, const char *name, enum seccomp_action a, int errno_ret,
                    const struct seccomp_arg *args, size_t n_args, const char *path)
{
        struct seccomp_profile *p = c->p;
        struct seccomp_rule *rule;

        if (p->n_rules >= SECCOMP_PROFILE_MAX_RULES)
                return fail(c, path, "too many rules (at most %u syscall rules)",
                            SECCOMP_PROFILE_MAX_RULES);
        if (p->n_rules == c->rules_cap) {
                size_t cap = c->rules_cap ? c->rules_cap * 2 : 64;
                struct seccomp_rule *n = reallocarray(p->rules, cap, sizeof(*n));
                if (!n)
                        return -ENOMEM;
                p->rules = n;
                size_t *o = reallocarray(c->origin, cap, sizeof(*o));
                if (!o)
                        return -ENOMEM;
                c->origin = o;
                c->rules_cap = cap;
        }
        rule = &p->rules[p->n_rules];
        *rule = (struct seccomp_rule){ .action = a, .errno_ret = errno_ret, .n_args = n_args };
        rule->syscall = strdup(name);
        if (!rule->syscall)
                return -ENOMEM;
        if (n_args > 0) {
                rule->args = calloc(n_args, sizeof(*args));
                if (!rule->args) {
                        free(rule->syscall);
                        return -ENOMEM;
                }
                memcpy(rule->args, args, n_args * sizeof(*args));
        }
        c->origin[p->n_rules++] = c->cur;
        return 0;
}

static bool same_action(const struct seccomp_rule *a, const struct seccomp_rule *b)
{
        return a->action == b->action &&
               (a->action != SECCOMP_ACT_ERRNO_ || MAX(a->errno_ret, 1) == MAX(b->errno_ret, 1)) &&
               (a->action != SECCOMP_ACT_TRACE_ || a->errno_ret == b->errno_ret);
}

/* libseccomp keeps only one of two rules for a syscall when one of them has
 * no conditions (the first unconditional one, whatever came before): a later
 * rule with another action would be silently ignored. Refuse that. */
static int check_conflicts(struct parse_ctx *c)
{
        const struct seccomp_profile *p = c->p;
        char kp[PATH_LEN];

        for (size_t i = 0; i < p->n_rules; i++) {
                if (p->rules[i].n_args > 0)
                        continue;
                for (size_t j = 0; j < p->n_rules; j++) {
                        if (j == i || strcmp(p->rules[i].syscall, p->rules[j].syscall) != 0 ||
                            same_action(&p->rules[i], &p->rules[j]))
                                continue;
                        pathf(kp, sizeof(kp), "syscalls[%zu]", c->origin[MAX(i, j)]);
                        return fail(c, kp,
                                    "\"%s\" has a rule without conditions (syscalls[%zu]) and "
                                    "another with a different action (syscalls[%zu]): libseccomp "
                                    "would apply only one of them",
                                    p->rules[i].syscall, c->origin[i], c->origin[j]);
                }
        }
        return 0;
}

static int parse_names(struct parse_ctx *c, json_t *rule, const char *path, json_t **ret_names,
                       json_t **ret_name)
{
        char kp[PATH_LEN];
        int r = parse_strings(c, rule, path, "names", valid_syscall_name,
                              "a syscall name ([a-z0-9_], 1..63 bytes)", ret_names);

        if (r >= 0)
                r = member(c, rule, path, "name", JSON_STRING, false, ret_name);
        if (r < 0)
                return r;
        if (*ret_name && *ret_names)
                return fail(c, subpath(kp, path, "name"), "use either \"name\" or \"names\"");
        if (*ret_name && !valid_syscall_name(json_string_value(*ret_name)))
                return fail(c, subpath(kp, path, "name"),
                            "\"%s\" is not a syscall name ([a-z0-9_], 1..63 bytes)",
                            json_string_value(*ret_name));
        if (!*ret_name && (!*ret_names || json_array_size(*ret_names) == 0))
                return fail(c, path, "a rule needs \"names\" (a non-empty list) or \"name\"");
        return 0;
}

static int parse_rule(struct parse_ctx *c, json_t *rule, const char *path)
{
        static const char *const keys[] = { "names", "name", "action", "errnoRet", "args",
                                             "comment", "includes", "excludes", NULL };
        struct seccomp_arg args[6];
        size_t n_args = 0, i;
        enum seccomp_action a;
        json_t *names, *name, *act, *comment, *v;
        char kp[PATH_LEN];
        int errno_ret, r, applies;

        if (!json_is_object(rule))
                return fail(c, path, "expected an object, got %s", type_name(rule));
        r = check_keys(c, rule, path, keys);
        if (r >= 0)
                r = parse_names(c, rule, path, &names, &name);
        if (r >= 0)
                r = member(c, rule, path, "action", JSON_STRING, true, &act);
        if (r >= 0)
                r = parse_action(c, act, subpath(kp, path, "action"), &a);
        if (r >= 0)
                r = parse_errno_ret(c, rule, path, "errnoRet", a, &errno_ret);
        if (r >= 0)
                r = parse_args(c, rule, path, args, &n_args);
        if (r >= 0)
                r = member(c, rule, path, "comment", JSON_STRING, false, &comment);
        if (r < 0)
                return r;
        applies = rule_applies(c, rule, path);
        if (applies <= 0)
                return applies;
        if (name)
                return add_rule(c, json_string_value(name), a, errno_ret, args, n_args, path);
        json_array_foreach(names, i, v) {
                r = add_rule(c, json_string_value(v), a, errno_ret, args, n_args, path);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *arch_to_libseccomp(const char *oci)
{
        char *s = strdup(oci + strlen("SCMP_ARCH_"));

        for (char *q = s; q && *q; q++)
                *q = (char)tolower((unsigned char)*q);
        return s;
}

static int push_arch(struct parse_ctx *c, const char *oci)
{
        _cleanup_free_ char *name = arch_to_libseccomp(oci);

        if (!name)
                return -ENOMEM;
        for (char **a = c->p->architectures; a && *a; a++)
                if (strcmp(*a, name) == 0)
                        return 0;
        return strv_push(&c->p->architectures, name);
}

/* archMap: the entry of the native architecture and its sub-architectures. */
static int parse_arch_map(struct parse_ctx *c, json_t *map)
{
        static const char *const keys[] = { "architecture", "subArchitectures", NULL };
        char ep[PATH_LEN], kp[PATH_LEN];
        size_t i, j;
        json_t *e, *arch, *subs, *s;
        int r;

        json_array_foreach(map, i, e) {
                pathf(ep, sizeof(ep), "archMap[%zu]", i);
                if (!json_is_object(e))
                        return fail(c, ep, "expected an object, got %s", type_name(e));
                r = check_keys(c, e, ep, keys);
                if (r >= 0)
                        r = member(c, e, ep, "architecture", JSON_STRING, true, &arch);
                if (r >= 0 && !valid_oci_arch(json_string_value(arch)))
                        r = fail(c, subpath(kp, ep, "architecture"),
                                 "\"%s\" is not an architecture (SCMP_ARCH_X86_64, ...)",
                                 json_string_value(arch));
                if (r >= 0)
                        r = parse_strings(c, e, ep, "subArchitectures", valid_oci_arch,
                                          "an architecture (SCMP_ARCH_X86, ...)", &subs);
                if (r < 0)
                        return r;
                if (strcmp(json_string_value(arch), c->host->oci_arch) != 0)
                        continue;
                r = push_arch(c, json_string_value(arch));
                json_array_foreach(subs, j, s) {
                        if (r >= 0)
                                r = push_arch(c, json_string_value(s));
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_arches(struct parse_ctx *c, json_t *root)
{
        json_t *arches, *map, *v;
        size_t i;
        int r = parse_strings(c, root, "", "architectures", valid_oci_arch,
                              "an architecture (SCMP_ARCH_X86_64, SCMP_ARCH_X86, ...)", &arches);

        if (r >= 0)
                r = member(c, root, "", "archMap", JSON_ARRAY, false, &map);
        if (r < 0)
                return r;
        if (arches && map)
                return fail(c, "archMap", "use either \"architectures\" or \"archMap\"");
        if (map)
                return parse_arch_map(c, map);
        json_array_foreach(arches, i, v) {
                r = push_arch(c, json_string_value(v));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_unsupported(struct parse_ctx *c, json_t *root)
{
        json_t *v;
        int r = member(c, root, "", "flags", JSON_ARRAY, false, &v);

        if (r < 0)
                return r;
        if (v && json_array_size(v) > 0)
                return fail(c, "flags", "seccomp filter flags are not supported");
        if (json_object_get(root, "listenerPath"))
                return fail(c, "listenerPath", "user notification (SCMP_ACT_NOTIFY) is not "
                                               "supported yet");
        if (json_object_get(root, "listenerMetadata"))
                return fail(c, "listenerMetadata", "user notification (SCMP_ACT_NOTIFY) is not "
                                                   "supported yet");
        return 0;
}

static int parse_root(struct parse_ctx *c, json_t *root)
{
        static const char *const keys[] = { "defaultAction", "defaultErrnoRet", "architectures",
                                            "archMap", "syscalls", "flags", "listenerPath",
                                            "listenerMetadata", "comment", NULL };
        json_t *act, *syscalls, *comment, *rule;
        char rp[PATH_LEN];
        size_t i;
        int r;

        if (!json_is_object(root))
                return fail(c, "", "a profile is a JSON object, not %s", type_name(root));
        r = check_keys(c, root, "", keys);
        if (r >= 0)
                r = member(c, root, "", "defaultAction", JSON_STRING, true, &act);
        if (r >= 0)
                r = parse_action(c, act, "defaultAction", &c->p->default_action);
        if (r >= 0)
                r = parse_errno_ret(c, root, "", "defaultErrnoRet", c->p->default_action,
                                    &c->p->default_errno_ret);
        if (r >= 0)
                r = parse_unsupported(c, root);
        if (r >= 0)
                r = member(c, root, "", "comment", JSON_STRING, false, &comment);
        if (r >= 0)
                r = parse_arches(c, root);
        if (r >= 0)
                r = member(c, root, "", "syscalls", JSON_ARRAY, false, &syscalls);
        if (r < 0)
                return r;
        json_array_foreach(syscalls, i, rule) {
                pathf(rp, sizeof(rp), "syscalls[%zu]", i);
                c->cur = i;
                r = parse_rule(c, rule, rp);
                if (r < 0)
                        return r;
        }
        return check_conflicts(c);
}

static int parse_full(const char *file, const char *name, const char *json, size_t len,
                      const struct seccomp_host *host, struct seccomp_profile **ret,
                      struct policy_error *err)
{
        _cleanup_(seccomp_profile_unrefp) struct seccomp_profile *p = NULL;
        _cleanup_json_ json_t *root = NULL;
        json_error_t jerr;
        struct parse_ctx c = { .file = file, .text = json, .len = len, .host = host, .err = err };
        int r;

        if (len > SECCOMP_PROFILE_MAX_BYTES)
                return fail(&c, "", "profile is larger than %u bytes", SECCOMP_PROFILE_MAX_BYTES);
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                if (err) {
                        memset(err, 0, sizeof(*err));
                        pathf(err->file, sizeof(err->file), "%s", file);
                        err->line = jerr.line > 0 ? jerr.line : 0;
                        err->column = jerr.line > 0 ? jerr.column : 0;
                        snprintf(err->message, sizeof(err->message), "%s", jerr.text);
                }
                return -EINVAL;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->refcount = 1;
        p->name = strdup(name);
        if (!p->name)
                return -ENOMEM;
        c.p = p;
        r = parse_root(&c, root);
        free(c.origin);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int seccomp_profile_parse(const char *name, const char *json, size_t len,
                          const struct seccomp_host *host, struct seccomp_profile **ret,
                          struct policy_error *err)
{
        return parse_full(name, name, json, len, host, ret, err);
}

int seccomp_profile_load_string(const char *name, const char *json,
                                struct seccomp_profile **ret, struct policy_error *err)
{
        struct seccomp_host host;
        int r = seccomp_host_detect(&host);

        if (r < 0)
                return r;
        return parse_full(name, name, json, strlen(json), &host, ret, err);
}

int seccomp_profile_load_file(const char *path, struct seccomp_profile **ret,
                              struct policy_error *err)
{
        _cleanup_free_ char *text = NULL, *name = NULL;
        struct seccomp_host host;
        const char *base = strrchr(path, '/');
        size_t text_len, n;
        int r;

        r = seccomp_host_detect(&host);
        if (r < 0)
                return r;
        r = read_full_file(path, &text, &text_len);
        if (r < 0) {
                if (err) {
                        memset(err, 0, sizeof(*err));
                        pathf(err->file, sizeof(err->file), "%s", path);
                        snprintf(err->message, sizeof(err->message), "cannot read: %s",
                                 strerror(-r));
                }
                return r;
        }
        base = base ? base + 1 : path;
        n = strlen(base);
        if (n > 5 && strcmp(base + n - 5, ".json") == 0)
                n -= 5;
        name = strndup(base, n);
        if (!name)
                return -ENOMEM;
        return parse_full(path, name, text, text_len, &host, ret, err);
}
