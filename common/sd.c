/* SPDX-License-Identifier: MIT */
/* systemd's notify and socket-activation protocols; see sd.h. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/sd.h"
#include "common/util.h"

int sd_notify_state(const char *state)
{
        const char *e = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len, n = strlen(state);
        socklen_t salen;

        if (!e || !*e)
                return 0;
        len = strlen(e);
        if (e[0] != '/' && e[0] != '@')
                return -EAFNOSUPPORT; /* vsock:, or something newer */
        if (len > sizeof(sa.sun_path) || (e[0] == '/' && len == sizeof(sa.sun_path)))
                return -EINVAL;
        memcpy(sa.sun_path, e, len);
        if (e[0] == '@')
                sa.sun_path[0] = 0; /* abstract: the name is not 0-terminated */
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/'));

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        ssize_t k = sendto(fd, state, n, MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
        if (k < 0)
                return -errno;
        return (size_t)k == n ? 1 : -EMSGSIZE;
}

int sd_listen_fds_take(void)
{
        const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
        uint64_t pid, n;
        int r = 0;

        if (!pid_s)
                return 0;
        if (parse_uint64(pid_s, &pid) < 0 || pid == 0) {
                r = -EINVAL;
                goto out;
        }
        if (pid != (uint64_t)getpid())
                goto out; /* meant for someone else: 0, and not for our children either */
        if (!fds_s || parse_uint64(fds_s, &n) < 0 || n > 4096) {
                r = -EINVAL;
                goto out;
        }
        for (int fd = SD_LISTEN_FDS_FIRST; fd < SD_LISTEN_FDS_FIRST + (int)n; fd++)
                if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                        r = -errno;
                        goto out;
                }
        r = (int)n;
out:
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        return r;
}

int sd_fd_is_listening_unix_stream(int fd)
{
        struct sockaddr_storage ss;
        socklen_t l = sizeof(ss);
        int type, acc;
        socklen_t tl = sizeof(type), al = sizeof(acc);
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return 0;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 ||
            getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
                return -errno;
        return type == SOCK_STREAM && acc && ss.ss_family == AF_UNIX;
}
