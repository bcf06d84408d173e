/* SPDX-License-Identifier: MIT */
/* TCP sockets for the agent link: addresses are numeric "host:port",
 * "[v6]:port" or "*:port"; no name resolution, so an address in a
 * configuration means exactly one endpoint. See tls.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/util.h"
#include "ipc/tls.h"

int tcp_parse_address(const char *address, char *host, size_t host_len, uint16_t *ret_port)
{
        const char *colon, *h = address;
        size_t hl;
        uint64_t port;

        if (!address || !*address)
                return -EINVAL;
        if (*h == '[') {
                const char *end = strchr(h, ']');
                if (!end || end[1] != ':')
                        return -EINVAL;
                h++;
                hl = (size_t)(end - h);
                colon = end + 1;
        } else {
                colon = strrchr(h, ':');
                if (!colon || strchr(h, ':') != colon)
                        return -EINVAL;
                hl = (size_t)(colon - h);
        }
        if (hl == 0 || hl >= host_len)
                return -EINVAL;
        if (parse_uint64(colon + 1, &port) < 0 || port > 65535)
                return -EINVAL;
        memcpy(host, h, hl);
        host[hl] = '\0';
        *ret_port = (uint16_t)port;
        return 0;
}

static int make_sockaddr(const char *address, bool listening, struct sockaddr_storage *ss,
                         socklen_t *ret_len, char *err, size_t err_len)
{
        char host[INET6_ADDRSTRLEN + 1];
        uint16_t port;

        memset(ss, 0, sizeof(*ss));
        if (tcp_parse_address(address, host, sizeof(host), &port) < 0 || (port == 0 && !listening)) {
                snprintf(err, err_len, "'%.100s' is not an address (host:port, [v6]:port)",
                         address ? address : "");
                return -EINVAL;
        }
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        if (strcmp(host, "*") == 0) {
                in->sin_family = AF_INET;
                in->sin_addr.s_addr = htonl(INADDR_ANY);
                in->sin_port = htons(port);
                *ret_len = sizeof(*in);
        } else if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                *ret_len = sizeof(*in);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                *ret_len = sizeof(*in6);
        } else {
                snprintf(err, err_len, "'%.100s' is not a numeric IPv4 or IPv6 address", host);
                return -EINVAL;
        }
        return 0;
}

int tcp_listen(const char *address, int backlog, int *ret_fd, char *err, size_t err_len)
{
        struct sockaddr_storage ss;
        socklen_t len;
        _cleanup_close_ int fd = -1;
        int one = 1, k;

        k = make_sockaddr(address, true, &ss, &len, err, err_len);
        if (k < 0)
                return k;
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
                k = negative_errno();
                snprintf(err, err_len, "cannot listen on %s: %s", address, strerror(-k));
                return k;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int connect_wait(int fd, uint64_t timeout_ms)
{
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        int k = poll(&p, 1, timeout_ms ? (int)MIN(timeout_ms, (uint64_t)INT32_MAX) : -1);

        if (k < 0)
                return negative_errno();
        if (k == 0)
                return -ETIMEDOUT;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                return negative_errno();
        return soerr ? -soerr : 0;
}

int tcp_connect_start(const char *address, int *ret_fd, char *err, size_t err_len)
{
        struct sockaddr_storage ss;
        socklen_t len;
        _cleanup_close_ int fd = -1;
        int one = 1, k;

        k = make_sockaddr(address, false, &ss, &len, err, err_len);
        if (k < 0)
                return k;
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        k = connect(fd, (struct sockaddr *)&ss, len) < 0 ? -errno : 0;
        if (k < 0 && k != -EINPROGRESS) {
                snprintf(err, err_len, "cannot connect to %s: %s", address, strerror(-k));
                return k;
        }
        *ret_fd = TAKE_FD(fd);
        return k == 0 ? 0 : 1;
}

int tcp_connect(const char *address, uint64_t timeout_ms, int *ret_fd, char *err,
                size_t err_len)
{
        _cleanup_close_ int fd = -1;
        int k = tcp_connect_start(address, &fd, err, err_len);

        if (k < 0)
                return k;
        if (k == 1)
                k = connect_wait(fd, timeout_ms);
        if (k == 0)
                k = fd_set_nonblock(fd, false);
        if (k < 0) {
                snprintf(err, err_len, "cannot connect to %s: %s", address,
                         k == -ETIMEDOUT ? "timed out" : strerror(-k));
                return k;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}


int tcp_connect_result(int fd)
{
        int soerr = 0;
        socklen_t sl = sizeof(soerr);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                return negative_errno();
        return soerr ? -soerr : 0;
}
