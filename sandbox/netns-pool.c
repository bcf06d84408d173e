/* SPDX-License-Identifier: MIT */
/* Network namespaces made ahead, by a worker thread (see net.h for why).
 *
 * The worker makes a namespace the way a step's init would, from the
 * launcher's own namespace: unshare(CLONE_NEWNET) (which moves only the
 * calling thread), open /proc/thread-self/ns/net, bring lo up, and setns()
 * back home. The fd is all that keeps the namespace alive until a step
 * takes it; after the take, the step's init is its only user, so it dies
 * with the step as one the init made itself would. A spare is never handed
 * out twice and never comes back. A make that fails is not retried until
 * the next take, so a host that refuses namespaces costs one attempt per
 * step, not a busy loop; the init's own unshare then reports the error. */
#include "sandbox/net.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/worker.h"

#define NETNS_SPARES_MAX 16

struct netns_pool {
        struct worker w;   /* w.lock guards the rest */
        bool make_failed;  /* until the next take */
        bool stranded;     /* the worker could not return home: it makes no more */
        unsigned want;
        int home_fd;       /* the launcher's network namespace */
        int spares[NETNS_SPARES_MAX];
        size_t n_spares;
        struct sandbox_spares st;
        uint64_t busy;     /* takes that found the lock held (counted as missed) */
};

/* In the worker: a fresh namespace with lo up, as an fd; -errno. The thread
 * is back in its home namespace afterwards, or *stranded says it is not. */
static int make_one(int home_fd, bool *stranded)
{
        const struct net_child_config none = { .mode = NET_NONE };
        int fd, r;

        if (unshare(CLONE_NEWNET) < 0)
                return -errno;
        fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? -errno : net_apply(&none, NULL, 0);
        if (setns(home_fd, CLONE_NEWNET) < 0) {
                *stranded = true;
                r = r < 0 ? r : -errno;
        }
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        return fd;
}

/* The worker waits at SCHED_IDLE, so it runs only when a CPU has nothing
 * else to do (a namespace made while a step starts would take a core from
 * that step); it makes the namespace at normal priority, since that holds
 * kernel locks (rtnl, pernet) that the rest of the host may be waiting for. */
static void set_idle(bool idle)
{
        const struct sched_param none = { 0 };

        (void)pthread_setschedparam(pthread_self(), idle ? SCHED_IDLE : SCHED_OTHER, &none);
}

static void *worker(void *arg)
{
        struct netns_pool *p = arg;

        set_idle(true);
        pthread_mutex_lock(&p->w.lock);
        while (!p->w.stop) {
                bool stranded = false;
                int fd;

                if (p->stranded || p->make_failed || p->n_spares >= p->want) {
                        pthread_cond_wait(&p->w.wake, &p->w.lock);
                        continue;
                }
                pthread_mutex_unlock(&p->w.lock);
                set_idle(false);
                fd = make_one(p->home_fd, &stranded);
                set_idle(true);
                pthread_mutex_lock(&p->w.lock);
                p->stranded = stranded;
                if (fd < 0) {
                        p->make_failed = true;
                        p->st.failed++;
                } else if (stranded || p->w.stop || p->n_spares >= p->want) {
                        close(fd);
                } else {
                        p->spares[p->n_spares++] = fd;
                        p->st.made++;
                }
        }
        pthread_mutex_unlock(&p->w.lock);
        return NULL;
}

int netns_pool_new(unsigned spares, struct netns_pool **ret, char *err, size_t err_len)
{
        struct netns_pool *p;
        int r;

        if (!ret || spares == 0) {
                snprintf(err, err_len, "no result, or no spares asked for");
                return -EINVAL;
        }
        p = calloc(1, sizeof(*p));
        if (!p) {
                snprintf(err, err_len, "out of memory");
                return -ENOMEM;
        }
        p->want = MIN(spares, (unsigned)NETNS_SPARES_MAX);
        p->home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (p->home_fd < 0) {
                r = -errno;
                snprintf(err, err_len, "cannot open /proc/thread-self/ns/net: %s", strerror(-r));
                free(p);
                return r;
        }
        r = worker_start(&p->w, worker, p, "stepd-netns");
        if (r < 0) {
                snprintf(err, err_len, "cannot start the network namespace worker: %s",
                         strerror(-r));
                close(p->home_fd);
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

struct netns_pool *netns_pool_free(struct netns_pool *p)
{
        if (!p)
                return NULL;
        worker_stop(&p->w);
        for (size_t i = 0; i < p->n_spares; i++)
                close(p->spares[i]);
        close(p->home_fd);
        free(p);
        return NULL;
}

int netns_pool_take(struct netns_pool *p)
{
        int fd = -EAGAIN;

        if (!p)
                return -EINVAL;
        /* Never wait for the worker: a busy lock is a miss, as is an empty pool. */
        if (pthread_mutex_trylock(&p->w.lock) != 0) {
                __atomic_add_fetch(&p->busy, 1, __ATOMIC_RELAXED);
                return -EAGAIN;
        }
        if (p->n_spares > 0) {
                fd = p->spares[--p->n_spares];
                p->st.taken++;
        } else {
                p->st.missed++;
        }
        p->make_failed = false;
        pthread_cond_signal(&p->w.wake);
        pthread_mutex_unlock(&p->w.lock);
        return fd;
}

void netns_pool_stats(struct netns_pool *p, struct sandbox_spares *ret)
{
        if (!p) {
                *ret = (struct sandbox_spares){ 0 };
                return;
        }
        pthread_mutex_lock(&p->w.lock);
        *ret = p->st;
        ret->missed += __atomic_load_n(&p->busy, __ATOMIC_RELAXED);
        ret->ready = (unsigned)p->n_spares;
        pthread_mutex_unlock(&p->w.lock);
}
