/* SPDX-License-Identifier: MIT */
#pragma once
/* Shared by the cgroup tests: see kernel.c. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"

#define MIB (1024ULL * 1024ULL)

extern const char *const v1_ctrls[4];

/* What the kernel's mount table says, without the module's statfs logic. */
enum cgroup_layout expected_layout(void);
bool is_v2(void);
bool has_ctrl(const char *list, const char *ctrl);
/* Our own cgroup for a v1 controller, or the v2 one when ctrl is NULL. */
void own_path(const char *ctrl, char *buf, size_t len);
/* Kernel directory of step `name` for controller i (v1) or the v2 one. */
void step_dir(size_t i, const char *name, char *buf, size_t len);
size_t n_dirs(void);
char *read_file(const char *dir, const char *file);
void assert_file(const char *dir, const char *file, const char *want);
bool dir_exists(const char *p);
void assert_gone(const char *name);
bool pid_listed(const char *dir, const char *file, pid_t pid);
/* Does /proc/locks list a POSIX lock of ours on this directory? */
bool lock_held(const char *dir);
/* Step names carry the runner's pid. */
void name_for(char *buf, size_t len, const char *what);
struct cgroup_manager *manager(void);
struct step_cgroup *step(struct cgroup_manager *m, const char *name, const struct step_limits *l);

/* A child that waits for one byte on a pipe, then runs fn and exits with
 * its result. Parent attaches it in between, like the sandbox does. */
struct child {
        pid_t pid;
        int go;
};
struct child spawn(int (*fn)(void *), void *arg);
void go(struct child *c);
int wait_status(pid_t pid);
int sleeper(void *arg);
void wait_count(struct step_cgroup *s, unsigned want);
