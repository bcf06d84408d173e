/* SPDX-License-Identifier: MIT */
#pragma once

/* A background thread of the launcher, as the pools use it: one mutex that
 * guards what it shares, one condition to wake it, a stop flag. The thread
 * takes no signal (they stay for the caller's signalfd). */

#include <pthread.h>
#include <stdbool.h>

struct worker {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stop;           /* under lock: the thread's loop ends */
};

/* Start fn(arg) on a thread named name (at most 15 characters); returns
 * -errno, and then w holds nothing to free. The thread's stack is left out
 * of the step inits the launcher clones (plan.c). */
int worker_start(struct worker *w, void *(*fn)(void *), void *arg, const char *name);
/* Set stop, wake the thread, wait for it to end, free w's lock and condition. */
void worker_stop(struct worker *w);

/* A short-lived helper thread for a launch, with signals blocked, started
 * on a CPU other than the caller's when there is one: on the 2-CPU VMs
 * measured, a new task starts next to its parent and, when the parent
 * goes on working, waits for it while the other CPU idles. -errno. */
int thread_start_elsewhere(pthread_t *ret, void *(*fn)(void *), void *arg);
