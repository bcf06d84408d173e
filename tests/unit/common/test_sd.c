/* SPDX-License-Identifier: MIT */
/* systemd's notify and socket-activation protocols, against real sockets. */
#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sd.h"

static int bound_dgram(struct sockaddr_un *sa, socklen_t len)
{
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)sa, len), 0);
        return fd;
}

static void recv_eq(int fd, const char *want)
{
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

        ck_assert_int_eq(n, (ssize_t)strlen(want));
        buf[n] = 0;
        ck_assert_str_eq(buf, want);
}

START_TEST(notify_path_socket)
{
        char dir[] = "/tmp/stepd-sd-XXXXXX";
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
        int fd = bound_dgram(&sa, sizeof(sa));

        unsetenv("NOTIFY_SOCKET");
        ck_assert_int_eq(sd_notify_state("READY=1"), 0); /* not under systemd */
        setenv("NOTIFY_SOCKET", sa.sun_path, 1);
        ck_assert_int_eq(sd_notify_state("READY=1\nSTATUS=running"), 1);
        recv_eq(fd, "READY=1\nSTATUS=running");
        close(fd);
        unlink(sa.sun_path);
        /* nobody listens any more */
        ck_assert_int_eq(sd_notify_state("STOPPING=1"), -ENOENT);
        rmdir(dir);
        unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(notify_abstract_socket)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char name[64], env[80];

        snprintf(name, sizeof(name), "stepd-test-notify-%d", (int)getpid());
        memcpy(sa.sun_path + 1, name, strlen(name));
        int fd = bound_dgram(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                                               strlen(name)));

        snprintf(env, sizeof(env), "@%s", name);
        setenv("NOTIFY_SOCKET", env, 1);
        ck_assert_int_eq(sd_notify_state("RELOADING=1"), 1);
        recv_eq(fd, "RELOADING=1");
        close(fd);
        setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
        ck_assert_int_eq(sd_notify_state("READY=1"), -EAFNOSUPPORT);
        unsetenv("NOTIFY_SOCKET");
}
END_TEST

static void set_listen(const char *pid, const char *fds)
{
        setenv("LISTEN_PID", pid, 1);
        if (fds)
                setenv("LISTEN_FDS", fds, 1);
        else
                unsetenv("LISTEN_FDS");
        setenv("LISTEN_FDNAMES", "stepd.socket", 1);
}

static bool env_gone(void)
{
        return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES");
}

/* In a child of its own: fds 3 and 4 may be Check's. Exit status: 0 all
 * as expected, else the number of the first check that failed. */
static int listen_child(void)
{
        char me[32];
        int sv[2], l, dg, tcp;

        snprintf(me, sizeof(me), "%d", (int)getpid());
        unsetenv("LISTEN_PID");
        if (sd_listen_fds_take() != 0)
                return 1;
        /* For another process: not ours, and not for our children either. */
        set_listen("1", "1");
        if (sd_listen_fds_take() != 0 || !env_gone())
                return 2;
        /* Two fds at 3 and 4, not close-on-exec yet: taken and marked. */
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || dup2(sv[0], 3) != 3 ||
            dup2(sv[1], 4) != 4)
                return 3;
        set_listen(me, "2");
        if (sd_listen_fds_take() != 2 || !env_gone())
                return 4;
        if (!(fcntl(3, F_GETFD) & FD_CLOEXEC) || !(fcntl(4, F_GETFD) & FD_CLOEXEC))
                return 5;
        /* A connected pair is not a listener; a listening Unix socket is. */
        if (sd_fd_is_listening_unix_stream(3) != 0)
                return 6;
        l = socket(AF_UNIX, SOCK_STREAM, 0);
        if (sd_fd_is_listening_unix_stream(l) != 0) /* not yet listening */
                return 7;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t len = (socklen_t)offsetof(struct sockaddr_un, sun_path); /* autobind */
        if (bind(l, (struct sockaddr *)&sa, len) < 0 || listen(l, 1) < 0 ||
            sd_fd_is_listening_unix_stream(l) != 1)
                return 7;
        dg = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (sd_fd_is_listening_unix_stream(dg) != 0)
                return 8;
        tcp = socket(AF_INET, SOCK_STREAM, 0);
        if (listen(tcp, 1) < 0 || sd_fd_is_listening_unix_stream(tcp) != 0)
                return 9;
        if (sd_fd_is_listening_unix_stream(open("/dev/null", O_RDONLY)) != 0)
                return 10;
        /* Malformed: refused, and the variables still go. */
        set_listen(me, "two");
        if (sd_listen_fds_take() != -EINVAL || !env_gone())
                return 11;
        set_listen("12abc", "1");
        if (sd_listen_fds_take() != -EINVAL || !env_gone())
                return 12;
        set_listen(me, NULL);
        if (sd_listen_fds_take() != -EINVAL)
                return 13;
        /* Fds that are not open. */
        close(3);
        close(4);
        set_listen(me, "2");
        if (sd_listen_fds_take() != -EBADF || !env_gone())
                return 14;
        return 0;
}

START_TEST(listen_fds)
{
        int status;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(listen_child());
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("sd");
        TCase *tc = tcase_create("protocols");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, notify_path_socket);
        tcase_add_test(tc, notify_abstract_socket);
        tcase_add_test(tc, listen_fds);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
