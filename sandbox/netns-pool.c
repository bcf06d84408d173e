/* SPDX-License-Identifier: MIT */
/* Network namespaces made ahead, by a worker thread (see net.h for why).
 *
 * The worker makes a namespace the way a step's init would, from the
 * launcher's own namespace: unshare(CLONE_NEWNET) (which moves only the
 * calling thread), open /proc/thread-self/ns/net, bring lo up, and setns()
 * back home. The fd is all that keeps the namespace alive until a step
 * takes it. A make that fails is not retried until the next take, so a host
 * that refuses namespaces costs one attempt per step, not a busy loop; the
 * init's own unshare then reports the error.
 *
 * Reuse. Making a namespace and the kernel's teardown of it afterwards are
 * most of a trivial step's network cost (~0.75 ms of CPU here, a sixth of
 * the whole launch). So a step that has ended, every process of it gone,
 * may hand its namespace back (netns_pool_give), and the worker keeps it
 * for a later step *of the same owner* (the step's uid: the daemon never
 * gives two projects one uid) only if nothing in it differs from a
 * namespace just made: no socket left (sockstat: none in use or in
 * TIME_WAIT), no IPv6 flow label, and every counter the kernel keeps per
 * namespace (/proc/net/dev, snmp, snmp6, netstat) byte for byte as in the
 * last namespace the worker made. No packet can cross lo, and no route
 * lookup can fail, without moving one of them; what a step without
 * capabilities can change otherwise (sysctls, links, addresses, routes,
 * rules) needs CAP_NET_ADMIN over the namespace, which it never has. Any
 * doubt (a file unreadable, the worker's way home lost) discards it, and a
 * used one is closed, as without reuse.
 *
 * Why only for the same owner: not everything a step can leave in a
 * namespace shows. A file it opened from /proc/self/net holds a reference
 * to the namespace and shows every later user's sockets; passed over a
 * unix socket to a process that outlives the step, it would watch the
 * namespace's next steps. Flags such as the one an exclusive IPv6 flow
 * label sets stay set. Steps of one project already share their uid and
 * cache folder; another project's steps only ever get a namespace nobody
 * used. */
#include "sandbox/net.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/worker.h"

#define NETNS_SPARES_MAX 16

/* A namespace a step has had, and whose step it was. */
struct used {
        int fd;
        uid_t owner;
};

struct netns_pool {
        struct worker w;   /* w.lock guards the rest */
        bool make_failed;  /* until the next take */
        bool stranded;     /* the worker could not return home: it makes no more */
        unsigned want;     /* new spares to keep */
        int home_fd;       /* the launcher's network namespace */
        int wake_fd;       /* eventfd the worker waits on (wake()) */
        int spares[NETNS_SPARES_MAX];    /* new, nobody's */
        size_t n_spares;
        struct used kept[NETNS_SPARES_MAX]; /* handed back unused, oldest first */
        size_t n_kept;
        struct used given[NETNS_SPARES_MAX]; /* handed back, to be inspected */
        size_t n_given;
        /* Handed back while the lock was busy, as owner << 32 | (fd + 1); 0:
         * empty. The worker moves them to given[] each time round its loop. */
        uint64_t mailbox[NETNS_SPARES_MAX];
        char *fresh;       /* the counters of the last namespace made (state_read) */
        struct sandbox_spares st;
        uint64_t busy;     /* takes that found the lock held (counted as missed) */
        uint64_t give_busy; /* gives that found the lock held and the mailbox full */
};

/* The per-namespace files whose whole text must match a fresh namespace's:
 * the devices (only lo) with their counters, and the protocol counters. A
 * missing file (no IPv6) reads as empty, in both. */
static const char *const counter_files[] = { "dev", "snmp", "snmp6", "netstat" };

/* In the worker, inside the namespace: the text of counter_files, joined;
 * NULL when one cannot be read. */
static char *state_read(void)
{
        char *all = NULL;
        size_t len = 0;

        for (size_t i = 0; i < ARRAY_SIZE(counter_files); i++) {
                _cleanup_free_ char *buf = NULL;
                char path[64];
                size_t n = 0;
                char *p;
                int r;

                snprintf(path, sizeof(path), "/proc/thread-self/net/%s", counter_files[i]);
                r = read_full_file(path, &buf, &n);
                if (r == -ENOENT)
                        n = 0;
                else if (r < 0)
                        goto fail;
                p = realloc(all, len + n + 2);
                if (!p)
                        goto fail;
                all = p;
                memcpy(all + len, buf ? buf : "", n);
                len += n;
                all[len++] = 0x1e; /* a separator no file holds */
                all[len] = 0;
        }
        return all;
fail:
        free(all);
        return NULL;
}

/* In the worker, inside the namespace: whether a sockstat file shows no
 * socket in use or in TIME_WAIT ("orphan", "alloc" and "mem" count the
 * whole host and are skipped; an orphan is in use). A missing file shows
 * none. */
static bool sockstat_empty(const char *name)
{
        _cleanup_free_ char *buf = NULL;
        char path[64], *save = NULL;
        int r;

        snprintf(path, sizeof(path), "/proc/thread-self/net/%s", name);
        r = read_full_file(path, &buf, NULL);
        if (r < 0)
                return r == -ENOENT;
        for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
                bool counted = streq(t, "used") || streq(t, "inuse") || streq(t, "tw");
                char *v = counted ? strtok_r(NULL, " \n", &save) : NULL;

                if (counted && (!v || !streq(v, "0")))
                        return false;
        }
        return true;
}

/* In the worker, inside the namespace: no IPv6 flow label (they outlive
 * their sockets). Past the header line, the file lists one per line. */
static bool flowlabels_empty(void)
{
        _cleanup_free_ char *buf = NULL;
        char *nl;
        int r = read_full_file("/proc/thread-self/net/ip6_flowlabel", &buf, NULL);

        if (r < 0)
                return r == -ENOENT;
        nl = strchr(buf, '\n');
        return nl && nl[1] == 0;
}

/* In the worker: a fresh namespace with lo up, as an fd; -errno. Its
 * counters go to *fresh (NULL when unreadable). The thread is back in its
 * home namespace afterwards, or *stranded says it is not. */
static int make_one(int home_fd, char **fresh, bool *stranded)
{
        const struct net_child_config none = { .mode = NET_NONE };
        int fd, r;

        if (unshare(CLONE_NEWNET) < 0)
                return -errno;
        fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? -errno : net_apply(&none, NULL, 0);
        if (r >= 0)
                *fresh = state_read();
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

/* In the worker: whether the namespace of fd is as one just made (see the
 * top of this file). The thread is back home afterwards, or *stranded. */
static bool untouched(int fd, int home_fd, const char *fresh, bool *stranded)
{
        _cleanup_free_ char *now = NULL;
        bool same;

        if (!fresh || setns(fd, CLONE_NEWNET) < 0)
                return false;
        same = sockstat_empty("sockstat") && sockstat_empty("sockstat6") && flowlabels_empty();
        if (same) {
                now = state_read();
                same = now && streq(now, fresh);
        }
        if (setns(home_fd, CLONE_NEWNET) < 0) {
                *stranded = true;
                return false;
        }
        return same;
}

/* The worker waits at SCHED_IDLE, so it wakes for a take only when a CPU
 * has nothing else to do (a namespace made while a step starts would take a
 * core from that step); it works at normal priority, since making one holds
 * kernel locks (rtnl, pernet) that the rest of the host may be waiting for.
 * A give lifts a waiting worker at once (netns_pool_give): the inspection
 * is short, and waiting for an idle CPU under load would turn the next
 * takes into misses. */
static void set_idle(bool idle)
{
        const struct sched_param none = { 0 };

        (void)pthread_setschedparam(pthread_self(), idle ? SCHED_IDLE : SCHED_OTHER, &none);
}

/* Lock held: move what the mailbox holds to given[] (or close it: no room). */
static void drain_mailbox(struct netns_pool *p)
{
        for (size_t i = 0; i < NETNS_SPARES_MAX; i++) {
                uint64_t v = __atomic_exchange_n(&p->mailbox[i], 0, __ATOMIC_ACQUIRE);
                struct used u = { .fd = (int)(uint32_t)v - 1, .owner = (uid_t)(v >> 32) };

                if (!v)
                        continue;
                if (p->n_given < NETNS_SPARES_MAX) {
                        p->given[p->n_given++] = u;
                } else {
                        close(u.fd);
                        p->st.discarded++;
                }
        }
}

/* In the worker, lock held: inspect the last namespace handed back, and
 * keep it for its owner (the oldest kept one goes when there is no room)
 * or close it. */
static void recycle_one(struct netns_pool *p)
{
        struct used u = p->given[--p->n_given];
        bool stranded = false, keep;

        pthread_mutex_unlock(&p->w.lock);
        keep = untouched(u.fd, p->home_fd, p->fresh, &stranded);
        pthread_mutex_lock(&p->w.lock);
        p->stranded = stranded;
        if (!keep || stranded || p->w.stop) {
                close(u.fd);
                p->st.discarded++;
                return;
        }
        if (p->n_kept == NETNS_SPARES_MAX) {
                close(p->kept[0].fd);
                p->st.discarded++;
                memmove(p->kept, p->kept + 1, --p->n_kept * sizeof(p->kept[0]));
        }
        p->kept[p->n_kept++] = u;
        p->st.recycled++;
}

/* Lock held: nothing to inspect and nothing to make. */
static bool nothing_to_do(struct netns_pool *p)
{
        return (p->n_given == 0 || p->stranded) &&
               (p->stranded || p->make_failed || p->n_spares >= p->want);
}

/* Wake the worker: take, give (with or without the lock) and free. An
 * eventfd keeps the count, so a wake just before the worker blocks is not
 * lost, and the worker blocks without the lock. */
static void wake(struct netns_pool *p)
{
        const uint64_t one = 1;

        (void)!write(p->wake_fd, &one, sizeof(one));
}

/* Lock held: wait at SCHED_IDLE until woken, without the lock: a thread at
 * SCHED_IDLE holding it would make takes miss while the CPUs are busy. */
static void wait_idle(struct netns_pool *p)
{
        uint64_t n;

        pthread_mutex_unlock(&p->w.lock);
        set_idle(true);
        (void)!read(p->wake_fd, &n, sizeof(n));
        set_idle(false);
        pthread_mutex_lock(&p->w.lock);
}

static void *worker(void *arg)
{
        struct netns_pool *p = arg;

        pthread_mutex_lock(&p->w.lock);
        while (!p->w.stop) {
                bool stranded = false;
                char *fresh = NULL;
                int fd;

                drain_mailbox(p);
                if (p->n_given > 0 && !p->stranded) {
                        recycle_one(p);
                        continue;
                }
                if (nothing_to_do(p)) {
                        wait_idle(p); /* what is in the mailbox came with a wake */
                        continue;
                }
                pthread_mutex_unlock(&p->w.lock);
                fd = make_one(p->home_fd, &fresh, &stranded);
                pthread_mutex_lock(&p->w.lock);
                if (fresh) {
                        free(p->fresh);
                        p->fresh = fresh;
                }
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
        p->wake_fd = eventfd(0, EFD_CLOEXEC);
        p->home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (p->home_fd < 0 || p->wake_fd < 0) {
                r = -errno;
                snprintf(err, err_len, "cannot open /proc/thread-self/ns/net or an eventfd: %s",
                         strerror(-r));
                goto fail;
        }
        r = worker_start(&p->w, worker, p, "stepd-netns");
        if (r < 0) {
                snprintf(err, err_len, "cannot start the network namespace worker: %s",
                         strerror(-r));
                goto fail;
        }
        *ret = p;
        return 0;
fail:
        safe_close(p->home_fd);
        safe_close(p->wake_fd);
        free(p);
        return r;
}

struct netns_pool *netns_pool_free(struct netns_pool *p)
{
        if (!p)
                return NULL;
        pthread_mutex_lock(&p->w.lock);
        p->w.stop = true;
        pthread_mutex_unlock(&p->w.lock);
        wake(p); /* it waits on the eventfd, not on w.wake */
        worker_stop(&p->w);
        drain_mailbox(p);
        for (size_t i = 0; i < p->n_spares; i++)
                close(p->spares[i]);
        for (size_t i = 0; i < p->n_kept; i++)
                close(p->kept[i].fd);
        for (size_t i = 0; i < p->n_given; i++)
                close(p->given[i].fd);
        free(p->fresh);
        close(p->home_fd);
        close(p->wake_fd);
        free(p);
        return NULL;
}

int netns_pool_take(struct netns_pool *p, uid_t owner)
{
        int fd = -EAGAIN;
        bool need;

        if (!p)
                return -EINVAL;
        /* Never wait for the worker: a busy lock is a miss, as is an empty pool. */
        if (pthread_mutex_trylock(&p->w.lock) != 0) {
                __atomic_add_fetch(&p->busy, 1, __ATOMIC_RELAXED);
                return -EAGAIN;
        }
        /* the owner's last one kept, else a new one */
        for (size_t i = p->n_kept; fd < 0 && i-- > 0;)
                if (p->kept[i].owner == owner) {
                        fd = p->kept[i].fd;
                        memmove(p->kept + i, p->kept + i + 1,
                                (--p->n_kept - i) * sizeof(p->kept[0]));
                }
        if (fd < 0 && p->n_spares > 0)
                fd = p->spares[--p->n_spares];
        if (fd >= 0)
                p->st.taken++;
        else
                p->st.missed++;
        p->make_failed = false;
        /* a kept one taken leaves the new ones as they were: nothing to make */
        need = p->n_spares < p->want && !p->stranded;
        pthread_mutex_unlock(&p->w.lock);
        if (need)
                wake(p);
        return fd;
}

/* Handed back: the worker inspects it promptly, even while the CPUs are
 * busy (the owner's next take is due soon, and a miss costs far more), so
 * it is lifted from SCHED_IDLE now rather than when a CPU idles. */
static void wake_now(struct netns_pool *p)
{
        const struct sched_param none = { 0 };

        (void)pthread_setschedparam(p->w.thread, SCHED_OTHER, &none);
        wake(p);
}

void netns_pool_give(struct netns_pool *p, int fd, uid_t owner)
{
        if (fd < 0)
                return;
        if (!p) {
                close(fd);
                return;
        }
        /* Never wait for the worker: with the lock busy, leave it in the
         * mailbox, which the worker empties each time round its loop. */
        if (pthread_mutex_trylock(&p->w.lock) != 0) {
                uint64_t v = (uint64_t)owner << 32 | (uint32_t)(fd + 1);

                for (size_t i = 0; i < NETNS_SPARES_MAX; i++) {
                        uint64_t empty = 0;

                        if (__atomic_compare_exchange_n(&p->mailbox[i], &empty, v, false,
                                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
                                wake_now(p);
                                return;
                        }
                }
                close(fd);
                __atomic_add_fetch(&p->give_busy, 1, __ATOMIC_RELAXED);
                return;
        }
        if (p->n_given >= NETNS_SPARES_MAX || p->stranded || p->w.stop) {
                close(fd);
                p->st.discarded++;
                pthread_mutex_unlock(&p->w.lock);
                return;
        }
        p->given[p->n_given++] = (struct used){ .fd = fd, .owner = owner };
        pthread_mutex_unlock(&p->w.lock);
        wake_now(p);
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
        ret->discarded += __atomic_load_n(&p->give_busy, __ATOMIC_RELAXED);
        ret->ready = (unsigned)(p->n_spares + p->n_kept);
        pthread_mutex_unlock(&p->w.lock);
}
