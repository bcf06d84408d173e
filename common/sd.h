/* SPDX-License-Identifier: MIT */
#pragma once

/* The two systemd service protocols stepd speaks, written against their
 * documented, stable interfaces (sd_notify(3), sd_listen_fds(3)) instead of
 * linking libsystemd: that library and what it pulls in (libgcrypt, lz4,
 * zstd, lzma) cost every `stepd exec` about 0.6 ms of loading for two
 * functions of a few lines each. */

#include <stdbool.h>

#define SD_LISTEN_FDS_FIRST 3

/* Send state ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET: a path, or an
 * abstract socket written "@name". Returns 1 sent, 0 when there is no
 * $NOTIFY_SOCKET (not under systemd), -errno on failure (-EAFNOSUPPORT for
 * an address family stepd does not speak, such as vsock). */
int sd_notify_state(const char *state);

/* How many fds systemd passed, starting at SD_LISTEN_FDS_FIRST: 0 when
 * $LISTEN_PID is unset or not us, -EINVAL for malformed variables, -EBADF
 * for an fd that is not open. The fds are made close-on-exec and, whenever
 * $LISTEN_PID is set, $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES are
 * removed (as sd_listen_fds(1) does), so that nothing started later takes
 * them for its own. */
int sd_listen_fds_take(void);

/* Whether fd is a listening Unix stream socket: 1 yes, 0 no, -errno. */
int sd_fd_is_listening_unix_stream(int fd);
