/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

char **strv_free(char **v)
{
        if (!v)
                return NULL;
        for (char **i = v; *i; i++)
                free(*i);
        free(v);
        return NULL;
}

size_t strv_length(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

int strv_push(char ***v, const char *s)
{
        size_t n = strv_length(*v);
        char **nv;
        char *c;

        c = strdup(s);
        if (!c)
                return -ENOMEM;
        nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv) {
                free(c);
                return -ENOMEM;
        }
        nv[n] = c;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

char **strv_copy(char *const *v)
{
        size_t n = strv_length(v);
        char **c = calloc(n + 1, sizeof(char *));

        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(v[i]);
                if (!c[i])
                        return strv_free(c);
        }
        return c;
}

bool strv_contains(char *const *v, const char *s)
{
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}

bool project_name_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > PROJECT_NAME_MAX || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                      c == '.'))
                        return false;
        }
        return true;
}

bool step_id_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > STEP_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
                        return false;
        return true;
}

int parse_uint64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!s || !*s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Parse "<number><suffix>" with the suffix table; the number must fit after scaling. */
struct unit {
        const char *suffix;
        uint64_t factor;
};

static int parse_with_units(const char *s, const struct unit *units, size_t n_units,
                            uint64_t default_factor, uint64_t *ret)
{
        char num[32];
        size_t i = 0;
        uint64_t v, f = default_factor;

        if (!s)
                return -EINVAL;
        while (isdigit((unsigned char)s[i]) && i < sizeof(num) - 1) {
                num[i] = s[i];
                i++;
        }
        if (i == 0 || i >= sizeof(num) - 1)
                return -EINVAL;
        num[i] = 0;
        if (parse_uint64(num, &v) < 0)
                return -ERANGE;
        if (s[i]) {
                size_t k;
                for (k = 0; k < n_units; k++)
                        if (strcmp(s + i, units[k].suffix) == 0)
                                break;
                if (k == n_units)
                        return -EINVAL;
                f = units[k].factor;
        }
        if (f && v > UINT64_MAX / f)
                return -ERANGE;
        *ret = v * f;
        return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
        static const struct unit units[] = {
                { "B", 1ULL },         { "K", 1ULL << 10 },   { "k", 1ULL << 10 },
                { "KiB", 1ULL << 10 }, { "M", 1ULL << 20 },   { "MiB", 1ULL << 20 },
                { "G", 1ULL << 30 },   { "GiB", 1ULL << 30 }, { "T", 1ULL << 40 },
                { "TiB", 1ULL << 40 },
        };
        return parse_with_units(s, units, ARRAY_SIZE(units), 1, ret);
}

int parse_duration_ms(const char *s, uint64_t *ret)
{
        static const struct unit units[] = {
                { "ms", 1ULL },        { "s", 1000ULL }, { "m", 60ULL * 1000 },
                { "min", 60ULL * 1000 }, { "h", 3600ULL * 1000 },
        };
        return parse_with_units(s, units, ARRAY_SIZE(units), 1000, ret);
}

static uint64_t clock_usec(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

uint64_t now_monotonic_usec(void)
{
        return clock_usec(CLOCK_MONOTONIC);
}

uint64_t now_realtime_usec(void)
{
        return clock_usec(CLOCK_REALTIME);
}

void make_step_id(char *buf, size_t len)
{
        uint32_t rnd = 0;
        uint64_t t = now_realtime_usec();

        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                rnd = (uint32_t)(t * 2654435761u) ^ (uint32_t)getpid();
        /* Sortable by time: seconds since the epoch in hex, then randomness. */
        snprintf(buf, len, "%010llx-%08x", (unsigned long long)(t / 1000), rnd);
}

int fd_set_nonblock(int fd, bool nonblock)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        flags = nonblock ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
        if (fcntl(fd, F_SETFL, flags) < 0)
                return -errno;
        return 0;
}

int loop_write(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int read_full_fd(int fd, char **ret, size_t *ret_len)
{
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;
                if (len + 1 >= cap) {
                        char *nb;
                        if (cap >= (64u << 20)) {
                                free(buf);
                                return -EFBIG;
                        }
                        nb = realloc(buf, cap * 2);
                        if (!nb) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nb;
                        cap *= 2;
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        free(buf);
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = 0;
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_full_file(const char *path, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return -errno;
        return read_full_fd(fd, ret, ret_len);
}

int write_string_file(const char *path, const char *s)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return -errno;
        return loop_write(fd, s, strlen(s));
}

int write_string_file_at(int dir_fd, const char *name, const char *s)
{
        _cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);

        if (fd < 0)
                return -errno;
        return loop_write(fd, s, strlen(s));
}

int mkdir_p(const char *path, mode_t mode)
{
        char buf[PATH_MAX];
        size_t n = strlen(path);

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}
