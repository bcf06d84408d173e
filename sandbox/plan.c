/* SPDX-License-Identifier: MIT */
/* What the step's init gets of the launcher's memory (see internal.h).
 *
 * clone3() without CLONE_VM gives the init a copy of the whole launcher:
 * the daemon's heap with every step's request, environment and policy in
 * it. The kernel copies the page tables, write-protects every page in the
 * launcher, and the launcher then takes a copy-on-write fault (and, with
 * its worker threads, a TLB shootdown) for each page it writes next; the
 * init tears its copy down at exit. perf put that at a third of the
 * daemon thread's time.
 *
 * So the init gets one private mapping instead: the plan, frozen, with
 * everything it points to (the spec, its strings, the BPF program, the
 * tables the init fills). Around the clone, the malloc heap (the brk area)
 * is marked MADV_DONTFORK, and the init's copy of the process has no heap:
 * a pointer into it that the copy missed crashes the init in every test,
 * instead of reading whatever is there. Most of what the daemon keeps of
 * other steps (their specs, environments, records) is gone from the init.
 *
 * The pools' worker threads' stacks (with their thread descriptors and
 * TLS) are left out the same way (worker.c lists them), and every thread
 * allocates from the brk area (plan_heap_init): each page of theirs the
 * init shared would cost them a copy-on-write fault, with a TLB shootdown,
 * after every launch. Only around the clone: a plain fork() elsewhere (a
 * test, a helper) must still get every thread's stack, where glibc's fork
 * tidies up the thread list.
 *
 * What is still copied: the binaries' data, the cloning thread's stack and
 * TLS (the init runs on them), short-lived helpers' stacks (`stepd exec`
 * starts libcgroup on one and makes its cgroup on another), and what glibc
 * keeps outside the brk area: allocations of 128 KiB and more (a client's
 * frame buffer after a large request, say). The init uses none of it, and
 * is non-dumpable. A brk a helper thread grows between the madvise and the
 * clone is copied too.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/internal.h"

/* A bump allocator over one mapping; with base NULL it only measures. */
struct arena {
        char *base;
        size_t used;
};

static void *take(struct arena *a, size_t n)
{
        size_t at = (a->used + 15) & ~(size_t)15;

        a->used = at + n;
        return a->base ? a->base + at : NULL;
}

static void *copy_mem(struct arena *a, const void *m, size_t n)
{
        void *d;

        if (!m)
                return NULL;
        d = take(a, n);
        if (d)
                memcpy(d, m, n);
        return d;
}

static char *copy_str(struct arena *a, const char *s)
{
        return s ? copy_mem(a, s, strlen(s) + 1) : NULL;
}

static char **copy_strv(struct arena *a, char *const *v)
{
        size_t n = 0;
        char **d;

        if (!v)
                return NULL;
        while (v[n])
                n++;
        d = take(a, (n + 1) * sizeof(*d));
        for (size_t i = 0; i < n; i++) {
                char *c = copy_str(a, v[i]);

                if (d)
                        d[i] = c;
        }
        if (d)
                d[n] = NULL;
        return d;
}

static struct launch_spec *copy_spec(struct arena *a, const struct launch_spec *s)
{
        struct launch_spec *d = take(a, sizeof(*d));
        struct bind_mount *b = s->n_binds ? take(a, s->n_binds * sizeof(*b)) : NULL;
        struct launch_spec t = *s;

        t.project = copy_str(a, s->project);
        t.step_id = copy_str(a, s->step_id);
        t.argv = copy_strv(a, s->argv);
        t.envp = copy_strv(a, s->envp);
        t.bridge.bridge = copy_str(a, s->bridge.bridge);
        t.bridge.address = copy_str(a, s->bridge.address);
        t.bridge.gateway = copy_str(a, s->bridge.gateway);
        t.hostname = copy_str(a, s->hostname);
        t.rootfs = copy_str(a, s->rootfs);
        t.system_binds = copy_strv(a, s->system_binds);
        t.masked = copy_strv(a, s->masked);
        t.workdir = copy_str(a, s->workdir);
        t.workdir_target = copy_str(a, s->workdir_target);
        for (size_t i = 0; i < s->n_binds; i++) {
                struct bind_mount m = {
                        .source = copy_str(a, s->binds[i].source),
                        .target = copy_str(a, s->binds[i].target),
                        .writable = s->binds[i].writable,
                };

                if (b)
                        b[i] = m;
        }
        t.binds = b;
        t.seccomp = NULL; /* the init loads the plan's BPF program */
        if (d)
                *d = t;
        return d;
}

static struct sandbox_plan *copy_plan(struct arena *a, const struct sandbox_plan *p)
{
        struct sandbox_plan *d = take(a, sizeof(*d));
        struct sandbox_plan t = *p;

        t.spec = copy_spec(a, p->spec);
        t.go = copy_mem(a, p->go, sizeof(*p->go));
        t.source_fds = copy_mem(a, p->source_fds, (p->spec->n_binds + 1) * sizeof(int));
        t.bpf = copy_mem(a, p->bpf, p->bpf_len);
        /* PATH in the copy's environment, as spawn.c found it in the spec's */
        t.path_env = NULL;
        for (char **e = d && p->path_env ? t.spec->envp : NULL; e && *e && !t.path_env; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        t.path_env = *e + 5;
        if (d)
                *d = t;
        return d;
}

struct sandbox_plan *plan_freeze(const struct sandbox_plan *p, size_t *ret_size)
{
        struct arena a = { 0 };
        long page = sysconf(_SC_PAGESIZE);
        size_t size;
        void *m;

        copy_plan(&a, p);
        size = (a.used + (size_t)page - 1) & ~((size_t)page - 1);
        m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
                return NULL;
        a = (struct arena){ .base = m };
        *ret_size = size;
        return copy_plan(&a, p);
}

void plan_thaw(struct sandbox_plan *frozen, size_t size)
{
        if (frozen)
                munmap(frozen, size);
}

/* ---- the malloc heap, left out of the init ------------------------------ */

static uintptr_t heap_start; /* the brk area's start; 0: unknown, copy everything */

/* /proc/self/stat field 47, start_brk; after the last ')' (comm may hold
 * anything) come fields 3, 4, ... */
void plan_heap_init(void)
{
        _cleanup_free_ char *s = NULL;
        unsigned long long v = 0;
        char *p;
        int field = 3;

        if (heap_start)
                return;
        /* Every thread allocates from the brk area, which plan_heap_exclude()
         * leaves out of the init. A helper thread's arena of its own would be
         * copied into every init, and the thread, writing on, would take a
         * copy-on-write fault and a TLB shootdown per page after each launch
         * (15% of the cgroup worker's time, in perf). The threads allocate
         * little and seldom at once: one arena costs them no waiting. Only
         * while no second arena exists (glibc hands out existing ones):
         * this runs before the launcher starts any thread. */
        (void)mallopt(M_ARENA_MAX, 1);
        if (read_full_file("/proc/self/stat", &s, NULL) < 0)
                return;
        p = strrchr(s, ')');
        if (!p)
                return;
        for (p++; *p && field < 47; field++) {
                p += strspn(p, " ");
                p += strcspn(p, " ");
        }
        if (field == 47 && sscanf(p, " %llu", &v) == 1)
                heap_start = (uintptr_t)v;
}

/* ---- the helper threads' stacks, left out too -------------------------- */

#define STACKS_MAX 16

struct range {
        uintptr_t start, end;
};

/* held from plan_heap_exclude(true) to (false): a thread that starts or
 * ends meanwhile waits */
static pthread_mutex_t stacks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct range stacks[STACKS_MAX];
static size_t n_stacks;

/* The calling thread's stack, as glibc allocated it (the stack with the
 * thread's descriptor and TLS above it; not the guard page). */
static bool own_stack(struct range *ret)
{
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        pthread_attr_t attr;
        void *addr;
        size_t size;
        bool ok = false;

        if (pthread_getattr_np(pthread_self(), &attr) != 0)
                return false;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                ret->start = ((uintptr_t)addr + page - 1) & ~(page - 1);
                ret->end = ((uintptr_t)addr + size) & ~(page - 1);
                ok = ret->end > ret->start;
        }
        pthread_attr_destroy(&attr);
        return ok;
}

void plan_thread_stack(bool add)
{
        struct range r;

        if (!own_stack(&r))
                return;
        pthread_mutex_lock(&stacks_lock);
        for (size_t i = 0; i < n_stacks; i++)
                if (stacks[i].start == r.start) {
                        stacks[i] = stacks[--n_stacks];
                        break;
                }
        if (add && n_stacks < STACKS_MAX) /* beyond: copied, as before */
                stacks[n_stacks++] = r;
        pthread_mutex_unlock(&stacks_lock);
}

int plan_heap_exclude(bool exclude)
{
        long page = sysconf(_SC_PAGESIZE);
        int advice = exclude ? MADV_DONTFORK : MADV_DOFORK, r = 0;
        uintptr_t start, end;

        if (exclude)
                pthread_mutex_lock(&stacks_lock);
        for (size_t i = 0; i < n_stacks; i++)
                (void)madvise((void *)stacks[i].start, stacks[i].end - stacks[i].start, advice);
        if (heap_start) {
                start = (heap_start + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
                end = ((uintptr_t)sbrk(0) + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
                if (end > start && madvise((void *)start, end - start, advice) < 0)
                        r = -errno;
        }
        if (!exclude)
                pthread_mutex_unlock(&stacks_lock);
        return r;
}
