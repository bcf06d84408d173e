/* SPDX-License-Identifier: MIT */
#pragma once

/* TLS transport between a supervisor and its agents (docs/agents.md).
 *
 * TLS 1.3 only, over TCP, both sides present a certificate. There is no CA:
 * each side trusts exactly the certificates whose SHA-256 thumbprint (of the
 * DER encoding) it was given ("pins"). The pin check replaces chain and name
 * verification entirely (SSL_CTX_set_cert_verify_callback), so a self-signed
 * certificate is the normal case, and a peer whose thumbprint is not pinned,
 * or that sends no certificate, fails the handshake: no application byte is
 * ever read from it. Session tickets and resumption are off, so every
 * connection is checked by a full handshake.
 *
 * I/O is non-blocking friendly: tls_handshake/tls_read/tls_write return
 * -EAGAIN and tls_conn_want() says which epoll event (EPOLLIN or EPOLLOUT)
 * to wait for. OpenSSL may hold decrypted bytes the socket no longer
 * signals: read until -EAGAIN. Writes go through send(MSG_NOSIGNAL), so a
 * closed peer gives -EPIPE, never SIGPIPE. The blocking helpers at the end
 * (poll with a deadline) are for simple clients, health checks and tests.
 *
 * Nothing here logs: failures return -errno and leave text for people in
 * tls_conn_error() (or the caller's err buffer).
 *
 *   -EPERM        we refused the peer: thumbprint not pinned, no certificate
 *   -EACCES       the peer refused us (its alert, e.g. "certificate required")
 *   -EPROTO       any other TLS failure (version, cipher, malformed record)
 *   -ECONNRESET   the peer closed the connection during the handshake
 *   -ETIMEDOUT    a blocking helper ran out of time
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/macro.h"
#include "ipc/frame.h"

#define TLS_THUMBPRINT_BYTES 32
#define TLS_THUMBPRINT_HEX (2 * TLS_THUMBPRINT_BYTES)
/* "sha256:" + 64 hex digits + NUL */
#define TLS_THUMBPRINT_STR (7 + TLS_THUMBPRINT_HEX + 1)
#define TLS_ERROR_MAX 256

enum tls_role {
        TLS_CLIENT, /* the supervisor, connecting to an agent */
        TLS_SERVER, /* an agent, accepting supervisors */
};

struct tls_context;
struct tls_conn;

/* Pins: "sha256:<64 hex>" or just the 64 hex digits, any case. Writes the
 * 64 lowercase digits (plus NUL) to ret. -EINVAL for anything else. */
int tls_pin_parse(const char *s, char ret[TLS_THUMBPRINT_HEX + 1]);

/* A context: our certificate and key (PEM files), our role, the pins we
 * accept from peers (a server needs at least one; a client may have none and
 * pin each connection with tls_conn_set_pin()). -EINVAL/-ENOENT... with err filled
 * ("cannot read certificate /x: No such file", "key does not match the
 * certificate", "pin 2: not a SHA-256 thumbprint"). */
int tls_context_new(enum tls_role role, const char *cert_path, const char *key_path,
                    char *const *pins, struct tls_context **ret, char *err, size_t err_len);
struct tls_context *tls_context_free(struct tls_context *ctx);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tls_context *, tls_context_free);
/* Replace the pins (reload). Live connections keep their verdict. */
int tls_context_set_pins(struct tls_context *ctx, char *const *pins, char *err, size_t err_len);
/* Our own certificate's thumbprint, "sha256:<hex>". */
const char *tls_context_thumbprint(const struct tls_context *ctx);

/* A connection on a connected TCP (or any stream) socket. The fd stays the
 * caller's: tls_conn_free does not close it. */
int tls_conn_new(struct tls_context *ctx, int fd, struct tls_conn **ret);
struct tls_conn *tls_conn_free(struct tls_conn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tls_conn *, tls_conn_free);

/* Accept only this peer on this connection (instead of the context's
 * pins): a supervisor connecting to agent X trusts X's thumbprint, not any
 * agent's. Before the handshake. -EINVAL for a malformed pin. */
int tls_conn_set_pin(struct tls_conn *c, const char *pin);
int tls_conn_fd(const struct tls_conn *c);
/* After -EAGAIN: EPOLLIN or EPOLLOUT. */
uint32_t tls_conn_want(const struct tls_conn *c);
/* Text for people about the last failure ("" when none). */
const char *tls_conn_error(const struct tls_conn *c);
/* After a successful handshake: the peer's thumbprint "sha256:<hex>". */
const char *tls_conn_peer_thumbprint(const struct tls_conn *c);
bool tls_conn_established(const struct tls_conn *c);

/* Drive the handshake: 0 when done (peer pinned), -EAGAIN, or an error
 * above. On the client side in TLS 1.3 the handshake ends before the server
 * has judged our certificate: a server that refuses us shows up as -EACCES
 * from the first tls_read. */
int tls_handshake(struct tls_conn *c);
/* > 0 bytes read, 0 on a clean close (close_notify or EOF), -EAGAIN, -errno. */
ssize_t tls_read(struct tls_conn *c, void *buf, size_t n);
/* > 0 bytes written (may be fewer than n), -EAGAIN, -errno. After -EAGAIN
 * the same bytes must be offered again (the buffer may move). */
ssize_t tls_write(struct tls_conn *c, const void *buf, size_t n);
/* Send close_notify (best effort, never blocks). */
void tls_shutdown(struct tls_conn *c);

/* Frames over TLS for an epoll loop, like frame_reader_fill() and
 * frame_buffer_flush(): fill returns bytes read (> 0), 0 at the end of the
 * stream, -EAGAIN, -errno; flush returns 0 when the buffer is empty, 1 when
 * bytes remain (wait for tls_conn_want()), -errno. */
int tls_frame_fill(struct tls_conn *c, struct frame_reader *r);
int tls_frame_flush(struct tls_conn *c, struct frame_buffer *b);

/* Blocking helpers; timeout_ms is for the whole call (0: no limit). */
int tls_handshake_wait(struct tls_conn *c, uint64_t timeout_ms);
int tls_write_all(struct tls_conn *c, const void *buf, size_t n, uint64_t timeout_ms);
/* One frame: 0 with *ret (an object with a string "type"), -ENODATA on a
 * clean end before any byte, -EPIPE on an end inside a frame, -EMSGSIZE,
 * -EBADMSG, -ETIMEDOUT, or the TLS errors above. */
int tls_frame_send(struct tls_conn *c, const json_t *obj, uint64_t timeout_ms);
int tls_frame_recv(struct tls_conn *c, json_t **ret, uint64_t timeout_ms);

/* Connect to "host:port" ("[v6]:port"), handshake, and return the
 * connection with its socket (ret_fd; closed by the caller after
 * tls_conn_free). err gets the reason on failure. */
int tls_connect(struct tls_context *ctx, const char *address, uint64_t timeout_ms,
                struct tls_conn **ret, int *ret_fd, char *err, size_t err_len);

/* TCP helpers (ipc/tcp.c). "host:port", "[v6]:port", "*:port" (any IPv4); numeric
 * addresses only. Port 0 is for tcp_listen (the kernel picks; getsockname). */
int tcp_parse_address(const char *address, char *host, size_t host_len, uint16_t *ret_port);
/* A listening socket (SOCK_CLOEXEC|SOCK_NONBLOCK, SO_REUSEADDR). */
int tcp_listen(const char *address, int backlog, int *ret_fd, char *err, size_t err_len);
/* Start connecting without blocking: 0 connected, 1 in progress (wait for
 * EPOLLOUT, then tcp_connect_result()), -errno. The socket is non-blocking. */
int tcp_connect_start(const char *address, int *ret_fd, char *err, size_t err_len);
int tcp_connect_result(int fd);
/* A connected socket (blocking mode on return), within timeout_ms. */
int tcp_connect(const char *address, uint64_t timeout_ms, int *ret_fd, char *err,
                size_t err_len);

/* Certificates (ipc/tls_cert.c). */
enum tls_key_type {
        TLS_KEY_EC_P256,
        TLS_KEY_ED25519,
        _TLS_KEY_TYPE_MAX,
};
int tls_key_type_from_string(const char *s); /* "ec", "p256", "ed25519" */
/* Make a key and a self-signed certificate for common_name, valid `days`
 * from now, and write them: key mode 0600, certificate 0644, each created
 * fresh (O_EXCL) unless overwrite. ret_thumbprint gets "sha256:<hex>". */
int tls_certificate_create(enum tls_key_type type, const char *common_name, unsigned days,
                           const char *cert_path, const char *key_path, bool overwrite,
                           char ret_thumbprint[TLS_THUMBPRINT_STR], char *err, size_t err_len);
/* The thumbprint of a PEM certificate file. */
int tls_certificate_thumbprint(const char *cert_path, char ret[TLS_THUMBPRINT_STR], char *err,
                               size_t err_len);
