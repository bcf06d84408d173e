/* SPDX-License-Identifier: MIT */
#include "sandbox/worker.h"

#include <signal.h>

int worker_start(struct worker *w, void *(*fn)(void *), void *arg, const char *name)
{
        sigset_t all, old;
        int r;

        w->stop = false;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = -pthread_create(&w->thread, NULL, fn, arg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
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
