/* SPDX-License-Identifier: MIT */
/* Step cgroups made ahead and removed behind, by a worker thread (see
 * cgroup.h for why).
 *
 * One mutex guards everything shared; the worker never holds it while it
 * calls libcgroup (which is thread-safe: its mount table has a rwlock and
 * its error state is per thread). Spares carry the limits they were made
 * with; a take must match them exactly, so a step never runs under another
 * step's limits. The pool keeps making spares with the limits of the last
 * take (a project's steps usually share theirs); spares of other limits are
 * removed. A make that fails is not retried until the next take, so a
 * broken hierarchy costs one attempt per step, not a busy loop; the caller's
 * own create then reports the error. */
#include "sandbox/cgroup-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/worker.h"

#define SPARES_MAX 16

struct spare {
        struct step_cgroup *cg;
        struct step_limits l;
};

struct cgroup_pool {
        struct cgroup_manager *m;
        struct worker w;             /* w.lock guards the rest */
        unsigned want;
        bool have_target;            /* a take has said which limits */
        struct step_limits target;
        bool make_failed;            /* until the next take */
        struct spare spares[SPARES_MAX];
        size_t n_spares;
        struct step_cgroup **doomed; /* to remove */
        size_t n_doomed, cap_doomed;
        uint64_t token;              /* random, per pool: names never meet another's */
        uint64_t seq;
        struct cgroup_pool_stats st;
};

static bool same_limits(const struct step_limits *a, const struct step_limits *b)
{
        /* what the cgroup holds; the rest (rlimits, /tmp) is set per step */
        return a->memory_bytes == b->memory_bytes && a->pids_max == b->pids_max &&
               a->cpu_millis == b->cpu_millis;
}

/* Under the lock. */
static int doom(struct cgroup_pool *p, struct step_cgroup *cg)
{
        if (p->n_doomed == p->cap_doomed) {
                size_t cap = p->cap_doomed ? p->cap_doomed * 2 : 16;
                struct step_cgroup **d = reallocarray(p->doomed, cap, sizeof(*d));

                if (!d)
                        return -ENOMEM;
                p->doomed = d;
                p->cap_doomed = cap;
        }
        p->doomed[p->n_doomed++] = cg;
        return 0;
}

/* Remove and free cg, without the lock held; counted when there is a pool. */
static void remove_now(struct cgroup_pool *p, struct step_cgroup *cg)
{
        int r = cgroup_step_destroy(cg);

        cg_step_free(cg);
        if (!p)
                return;
        pthread_mutex_lock(&p->w.lock);
        p->st.removed++;
        if (r < 0)
                p->st.failed++;
        pthread_mutex_unlock(&p->w.lock);
}

/* One unit of work, with the lock held on entry and exit; false: nothing to do. */
static bool work_one(struct cgroup_pool *p)
{
        bool did = false;

        /* spares of limits nobody asks for any more */
        for (size_t i = 0; i < p->n_spares;) {
                if (same_limits(&p->spares[i].l, &p->target) || doom(p, p->spares[i].cg) < 0) {
                        i++;
                        continue;
                }
                p->spares[i] = p->spares[--p->n_spares];
        }
        if (p->have_target && !p->make_failed && p->n_spares < p->want) {
                struct step_limits l = p->target;
                struct step_cgroup *cg = NULL;
                char name[64];
                int r;

                snprintf(name, sizeof(name), "spare-%d-%016llx-%llu", (int)getpid(),
                         (unsigned long long)p->token, (unsigned long long)++p->seq);
                pthread_mutex_unlock(&p->w.lock);
                r = cgroup_step_create(p->m, name, &l, &cg, NULL, 0);
                pthread_mutex_lock(&p->w.lock);
                if (r < 0) {
                        p->make_failed = true;
                        p->st.failed++;
                } else if (p->n_spares < SPARES_MAX && same_limits(&l, &p->target)) {
                        p->spares[p->n_spares++] = (struct spare){ cg, l };
                        p->st.made++;
                } else if (doom(p, cg) < 0) {
                        pthread_mutex_unlock(&p->w.lock);
                        remove_now(p, cg);
                        pthread_mutex_lock(&p->w.lock);
                }
                did = true;
        }
        if (p->n_doomed > 0) { /* oldest first */
                struct step_cgroup *cg = p->doomed[0];

                memmove(p->doomed, p->doomed + 1, --p->n_doomed * sizeof(*p->doomed));

                pthread_mutex_unlock(&p->w.lock);
                remove_now(p, cg);
                pthread_mutex_lock(&p->w.lock);
                did = true;
        }
        return did;
}

static void *worker(void *arg)
{
        struct cgroup_pool *p = arg;

        pthread_mutex_lock(&p->w.lock);
        while (!p->w.stop)
                if (!work_one(p) && !p->w.stop)
                        pthread_cond_wait(&p->w.wake, &p->w.lock);
        pthread_mutex_unlock(&p->w.lock);
        return NULL;
}

int cgroup_pool_new(struct cgroup_manager *m, unsigned spares, struct cgroup_pool **ret,
                    char *err, size_t err_len)
{
        struct cgroup_pool *p;
        int r;

        if (!m || !ret)
                return cg_fail(-EINVAL, err, err_len, "missing manager or result");
        p = calloc(1, sizeof(*p));
        if (!p)
                return cg_fail(-ENOMEM, err, err_len, "out of memory");
        p->m = m;
        if (getrandom(&p->token, sizeof(p->token), 0) != sizeof(p->token))
                p->token = now_monotonic_usec() ^ ((uint64_t)getpid() << 32);
        p->want = cg_can_rename(m) ? MIN(spares, (unsigned)SPARES_MAX) : 0;
        r = worker_start(&p->w, worker, p, "stepd-cgroups");
        if (r < 0) {
                free(p);
                return cg_fail(r, err, err_len, "cannot start the cgroup worker: %s", strerror(-r));
        }
        *ret = p;
        return 0;
}

struct cgroup_pool *cgroup_pool_free(struct cgroup_pool *p)
{
        if (!p)
                return NULL;
        worker_stop(&p->w);
        for (size_t i = 0; i < p->n_spares; i++)
                remove_now(p, p->spares[i].cg);
        for (size_t i = 0; i < p->n_doomed; i++)
                remove_now(p, p->doomed[i]);
        free(p->doomed);
        free(p);
        return NULL;
}

int cgroup_pool_take(struct cgroup_pool *p, const char *name, const struct step_limits *l,
                     struct step_cgroup **ret)
{
        struct step_cgroup *cg = NULL;
        int r;

        if (!p || !name || !l || !ret)
                return -EINVAL;
        pthread_mutex_lock(&p->w.lock);
        for (size_t i = 0; i < p->n_spares && !cg; i++)
                if (same_limits(&p->spares[i].l, l)) {
                        cg = p->spares[i].cg;
                        p->spares[i] = p->spares[--p->n_spares];
                }
        if (!cg)
                p->st.missed++;
        p->target = *l;
        p->have_target = true;
        p->make_failed = false;
        pthread_cond_signal(&p->w.wake);
        pthread_mutex_unlock(&p->w.lock);
        if (!cg)
                return -EAGAIN;
        r = cg_step_rename(cg, name);
        if (r < 0) {
                cgroup_pool_release(p, cg);
                return r;
        }
        pthread_mutex_lock(&p->w.lock);
        p->st.taken++;
        pthread_mutex_unlock(&p->w.lock);
        *ret = cg;
        return 0;
}

void cgroup_pool_release(struct cgroup_pool *p, struct step_cgroup *cg)
{
        int r;

        if (!cg)
                return;
        if (!p) {
                remove_now(NULL, cg);
                return;
        }
        pthread_mutex_lock(&p->w.lock);
        r = p->w.stop ? -ESHUTDOWN : doom(p, cg);
        if (r == 0)
                pthread_cond_signal(&p->w.wake);
        pthread_mutex_unlock(&p->w.lock);
        if (r < 0)
                remove_now(p, cg);
}

void cgroup_pool_stats(struct cgroup_pool *p, struct cgroup_pool_stats *ret)
{
        if (!p) {
                *ret = (struct cgroup_pool_stats){ 0 };
                return;
        }
        pthread_mutex_lock(&p->w.lock);
        *ret = p->st;
        ret->spares = (unsigned)p->n_spares;
        pthread_mutex_unlock(&p->w.lock);
}
