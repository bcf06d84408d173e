/* SPDX-License-Identifier: MIT */
#pragma once

/* Private to sandbox/cgroup*.c: the manager's and a step's state, the
 * backend table (one per cgroup version: cgroup-v1.c, cgroup-v2.c), and the
 * helpers they share. See cgroup.c for how this works. */

#include <libcgroup.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/macro.h"
#include "sandbox/cgroup.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define STEPD_DIR "stepd"
#define CFS_PERIOD_US 100000ULL
#define DESTROY_TIMEOUT_USEC 1000000ULL


enum ctrl { CTRL_MEMORY, CTRL_PIDS, CTRL_CPU, CTRL_CPUACCT, _CTRL_MAX };
extern const char *const cg_ctrl_names[_CTRL_MAX];

struct hierarchy {
        char *mount;                     /* /sys/fs/cgroup/memory */
        char *base;                      /* <own>/stepd, relative to mount, starts with '/' */
        char *own;                       /* v1: <own>, where a step's init returns to */
        int own_tasks_fd;                /* v1: <own>/tasks, opened once; -1: opened per use */
        int base_fd;                     /* <base>, opened once: steps are made, renamed
                                          * and removed relative to it */
        const char *ctrls[_CTRL_MAX];
        size_t n_ctrls;
};

struct backend;

/* A limit to write into a new step cgroup: a file of its directory, a value. */
struct cg_setting {
        const char *file;
        char value[48];
};
#define CG_SETTINGS_MAX 8 /* at most 4 now (v2, or v1 with all co-mounted) */

struct cgroup_manager {
        enum cgroup_layout layout;
        const struct backend *be;
        struct hierarchy h[_CTRL_MAX];
        size_t n_h;
        size_t of[_CTRL_MAX];            /* controller -> index in h[] */
        bool has_memsw;                  /* v1 memory.memsw.limit_in_bytes */
        bool has_usage_user;             /* v1 cpuacct.usage_user/_sys */
        bool has_swap_max;               /* v2 memory.swap.max */
        bool has_peak;                   /* v2 memory.peak (5.19+) */
        bool has_kill;                   /* v2 cgroup.kill (5.14+) */
};

struct step_cgroup {
        struct cgroup_manager *m;        /* borrowed: the manager outlives its steps */
        struct cgroup *cg[_CTRL_MAX];    /* per hierarchy; NULL once removed (or never made) */
        char *path[_CTRL_MAX];           /* relative to the hierarchy's mount */
        bool renamed[_CTRL_MAX];         /* cg[] still has the name before a rename:
                                          * cg_object() makes it anew before use */
        int fd[_CTRL_MAX];               /* the step directory, POSIX-locked: "alive" */
        int clone_fd;                    /* v2: O_PATH of the directory, for CLONE_INTO_CGROUP */
};

struct backend {
        /* Find hierarchies and our place, check controllers, create <own>/stepd. */
        int (*setup)(struct cgroup_manager *m, char *err, size_t err_len);
        /* The limits of hierarchy hi, in the order to write them; their number. */
        size_t (*settings)(const struct cgroup_manager *m, size_t hi, const struct step_limits *l,
                           struct cg_setting out[CG_SETTINGS_MAX]);
        int (*stats)(const struct step_cgroup *s, struct cgroup_stats *ret);
        /* Kill every process atomically where the kernel can; 0 if it cannot. */
        int (*kill_all)(const struct step_cgroup *s);
};

extern const struct backend cg_backend_v1;
extern const struct backend cg_backend_v2;

/* Write a message into err and return r. */
_printf_(4, 5) int cg_fail(int r, char *err, size_t err_len, const char *fmt, ...);
/* The one place libcgroup's ECG* codes become -errno. */
int cg_errno(int ecg);
char *cg_path_join(const char *a, const char *b);
bool cg_file_exists(const char *mount, const char *rel, const char *file);
int cg_read_u64(const char *ctrl, const char *rel, const char *file, const char *key,
                uint64_t *ret);
/* cgroup-v1.c, shared with v2 */
int cg_make_base(const struct hierarchy *h, char *err, size_t err_len);
size_t cg_setting_u64(struct cg_setting *out, size_t n, const char *file, uint64_t v);
/* cgroup.c: v1 <own>/tasks of h, opened for writing; -1 and errno */
int cg_open_own_tasks(const struct hierarchy *h);
uint64_t cg_cfs_quota_us(uint32_t cpu_millis);

/* cgroup.c, for the pool: can made step cgroups be renamed (v1), and do it. */
bool cg_can_rename(const struct cgroup_manager *m);
int cg_step_rename(struct step_cgroup *s, const char *name);
/* Free the memory and close the fds only: the directories stay. */
void cg_step_free(struct step_cgroup *s);
