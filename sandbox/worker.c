/* SPDX-License-Identifier: MIT */
#include "sandbox/worker.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#include "sandbox/internal.h"

struct start {
        void *(*fn)(void *);
        void *arg;
        bool exclude_stack;
};

static void stack_done(void *unused)
{
        plan_thread_stack(false);
}

/* A pool's worker's stack is left out of the step inits the launcher
 * clones (see plan.c): copied, each write the worker makes to it after a
 * launch would be a copy-on-write fault, and in a process with threads
 * every such fault is a TLB shootdown, an interrupt to each other CPU. An
 * init runs on its cloning thread's stack, never on a helper's. (A
 * short-lived helper does not wait for the list's lock, which a clone
 * holds: it would lose the head start it exists for.) */
static void *start_run(void *userdata)
{
        struct start st = *(struct start *)userdata;
        void *r;

        free(userdata);
        if (!st.exclude_stack)
                return st.fn(st.arg);
        plan_thread_stack(true);
        /* however the thread ends: a stale entry could name a reused mapping */
        pthread_cleanup_push(stack_done, NULL);
        r = st.fn(st.arg);
        pthread_cleanup_pop(1);
        return r;
}

/* pthread_create with every signal blocked in the new thread. */
static int create_blocked(pthread_t *ret, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg, bool exclude_stack)
{
        struct start *st = malloc(sizeof(*st));
        sigset_t all, old;
        int r;

        if (!st)
                return -ENOMEM;
        *st = (struct start){ .fn = fn, .arg = arg, .exclude_stack = exclude_stack };
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = -pthread_create(ret, attr, start_run, st);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                free(st);
        return r;
}

int worker_start(struct worker *w, void *(*fn)(void *), void *arg, const char *name)
{
        int r;

        w->stop = false;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        r = create_blocked(&w->thread, NULL, fn, arg, true);
        if (r < 0) {
                pthread_cond_destroy(&w->wake);
                pthread_mutex_destroy(&w->lock);
                return r;
        }
        (void)pthread_setname_np(w->thread, name);
        return 0;
}

void worker_stop(struct worker *w)
{
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
}

int thread_start_elsewhere(pthread_t *ret, void *(*fn)(void *), void *arg)
{
        pthread_attr_t attr;
        cpu_set_t all, other;
        int cpu = sched_getcpu(), r;

        pthread_attr_init(&attr);
        if (cpu >= 0 && sched_getaffinity(0, sizeof(all), &all) == 0) {
                other = all;
                CPU_CLR(cpu, &other);
                if (CPU_COUNT(&other) > 0)
                        (void)pthread_attr_setaffinity_np(&attr, sizeof(other), &other);
        }
        r = create_blocked(ret, &attr, fn, arg, false);
        pthread_attr_destroy(&attr);
        return r;
}
