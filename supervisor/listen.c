/* SPDX-License-Identifier: MIT */
/* Listening sockets: the ones systemd passes (LISTEN_FDS, socket
 * activation), or one Unix socket we bind (path, mode and group from the
 * settings, path overridable by --socket). And sd_notify. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sd.h"
#include "common/util.h"
#include "supervisor/daemon.h"

void notify(const char *state)
{
        int r = sd_notify_state(state);

        if (r < 0)
                log_warning_errno(r, "event=notify-error cannot tell systemd '%s'", state);
}

static void on_listen(struct daemon *d, struct watch *w, uint32_t events)
{
        if (d->n_listeners == 0)
                return; /* closed earlier in this batch (drain) */
        client_accept(d, w->fd);
}

static int add_listener(struct daemon *d, int fd)
{
        if (d->n_listeners >= LISTENERS_MAX) {
                safe_close(fd);
                return log_errno(-EMFILE, "event=listen-error too many listening sockets");
        }
        struct watch *w = &d->listeners[d->n_listeners];
        *w = (struct watch){ fd, on_listen };
        int r = watch_add(d, w, EPOLLIN);
        if (r < 0) {
                safe_close(fd);
                return log_errno(r, "event=listen-error cannot watch fd %d", fd);
        }
        d->n_listeners++;
        return 0;
}

static int from_systemd(struct daemon *d, int n)
{
        for (int fd = SD_LISTEN_FDS_FIRST; fd < SD_LISTEN_FDS_FIRST + n; fd++) {
                if (sd_fd_is_listening_unix_stream(fd) <= 0)
                        return log_errno(-EINVAL, "event=listen-error fd %d passed by systemd "
                                         "is not a listening Unix stream socket", fd);
                if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fd_set_nonblock(fd, true) < 0)
                        return log_errno(-errno, "event=listen-error fd %d", fd);
                int r = add_listener(d, fd);
                if (r < 0)
                        return r;
        }
        log_info("event=listening sockets=%d source=systemd", n);
        return 0;
}

/* A socket file left by a previous run is removed, unless someone still
 * listens on it. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return log_errno(-EEXIST, "event=listen-error path=%s exists and is not a socket",
                                 path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
                return log_errno(-EADDRINUSE, "event=listen-error path=%s another server listens there",
                                 path);
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static void set_group(const char *path, const char *group)
{
        struct group gr, *res = NULL;
        char buf[4096];

        if (!group || !*group)
                return;
        if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 || !res) {
                log_warning("event=listen-warning path=%s group=%s no such group", path, group);
                return;
        }
        if (chown(path, 0, res->gr_gid) < 0)
                log_warning_errno(-errno, "event=listen-warning path=%s cannot chown", path);
}

static int bind_socket(struct daemon *d, const char *path)
{
        const struct daemon_settings *set = policy_settings(d->config);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *dir = strdup(path);
        int r;

        if (!dir)
                return -ENOMEM;
        if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
                return log_errno(-EINVAL, "event=listen-error path=%s must be absolute and "
                                 "shorter than %zu bytes", path, sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path));
        r = mkdir_p(dirname(dir), 0755);
        if (r < 0)
                return log_errno(r, "event=listen-error path=%s cannot create its folder", path);
        r = clear_stale(path, &sa);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_errno(-errno, "event=listen-error socket()");
        mode_t old = umask(0177);
        r = bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
        umask(old);
        if (r < 0)
                return log_errno(r, "event=listen-error path=%s cannot bind", path);
        d->socket_path = strdup(path);
        mode_t mode = d->opt.socket_mode ? d->opt.socket_mode : set->socket_mode;
        if (chmod(path, mode) < 0)
                return log_errno(-errno, "event=listen-error path=%s cannot chmod", path);
        set_group(path, set->socket_group);
        if (listen(fd, SOMAXCONN) < 0)
                return log_errno(-errno, "event=listen-error path=%s cannot listen", path);
        log_info("event=listening path=%s mode=%04o", path, (unsigned)mode);
        return add_listener(d, TAKE_FD(fd));
}

int listen_setup(struct daemon *d)
{
        int n = sd_listen_fds_take();

        if (n < 0)
                return log_errno(n, "event=listen-error malformed LISTEN_PID or LISTEN_FDS, or "
                                 "a passed fd is not open");
        if (n > 0)
                return from_systemd(d, n);
        const char *path = d->opt.socket_path ? d->opt.socket_path
                                              : policy_settings(d->config)->socket_path;
        if (!path)
                path = STEPD_SOCKET;
        return bind_socket(d, path);
}

void listen_pause(struct daemon *d)
{
        for (size_t i = 0; i < d->n_listeners; i++)
                (void)watch_mod(d, &d->listeners[i], 0);
        d->listen_paused = true;
}

void listen_resume(struct daemon *d)
{
        if (!d->listen_paused)
                return;
        for (size_t i = 0; i < d->n_listeners; i++)
                (void)watch_mod(d, &d->listeners[i], EPOLLIN);
        d->listen_paused = false;
}

void listen_close(struct daemon *d)
{
        for (size_t i = 0; i < d->n_listeners; i++) {
                watch_del(d, &d->listeners[i]);
                safe_close(d->listeners[i].fd);
        }
        d->n_listeners = 0;
        if (d->socket_path && unlink(d->socket_path) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "event=listen-warning path=%s cannot remove", d->socket_path);
        free(d->socket_path);
        d->socket_path = NULL;
}
