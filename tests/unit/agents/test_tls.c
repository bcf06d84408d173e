/* SPDX-License-Identifier: MIT */
/* Unit tests of ipc/tls*.c and ipc/tcp.c: real TLS 1.3 handshakes over
 * socketpairs and loopback TCP, with certificates made at test time.
 * Pinned peers talk both ways; a wrong thumbprint on either side, or a
 * client without a certificate (ours or `openssl s_client`), is refused in
 * the handshake with a clear error; hostile bytes never crash the server. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/util.h"
#include "ipc/tls.h"

static char dir[] = "/tmp/stepd-tls-test-XXXXXX";

struct ident {
        char cert[256], key[256];
        char tp[TLS_THUMBPRINT_STR];
};

static void make_ident(struct ident *id, const char *name, enum tls_key_type type)
{
        char err[512] = "";

        snprintf(id->cert, sizeof(id->cert), "%s/%s.crt", dir, name);
        snprintf(id->key, sizeof(id->key), "%s/%s.key", dir, name);
        ck_assert_msg(tls_certificate_create(type, name, 2, id->cert, id->key, false, id->tp, err,
                                             sizeof(err)) == 0, "create %s: %s", name, err);
}

static void setup(void)
{
        ck_assert_ptr_nonnull(mkdtemp(dir));
        signal(SIGPIPE, SIG_DFL); /* prove MSG_NOSIGNAL: SIGPIPE would kill us */
}

static void teardown(void)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", dir);
}

static struct tls_context *ctx_new(enum tls_role role, const struct ident *id, const char *pin)
{
        char *pins[] = { (char *)pin, NULL };
        struct tls_context *ctx = NULL;
        char err[512] = "";

        ck_assert_msg(tls_context_new(role, id->cert, id->key, pins, &ctx, err, sizeof(err)) == 0,
                      "context: %s", err);
        return ctx;
}

static void pair(int sv[2])
{
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
}

/* Step both sides' handshakes until neither wants more. */
static void pump(struct tls_conn *a, struct tls_conn *b, int *ra, int *rb)
{
        *ra = *rb = -EAGAIN;
        for (int i = 0; i < 1000 && (*ra == -EAGAIN || *rb == -EAGAIN); i++) {
                if (*ra == -EAGAIN)
                        *ra = tls_handshake(a);
                if (*rb == -EAGAIN)
                        *rb = tls_handshake(b);
        }
}

START_TEST(test_pin_parse)
{
        char out[TLS_THUMBPRINT_HEX + 1];
        char hex[] = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef";

        ck_assert_int_eq(tls_pin_parse(hex, out), 0);
        ck_assert_str_eq(out, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        char pre[80];
        snprintf(pre, sizeof(pre), "SHA256:%s", hex);
        ck_assert_int_eq(tls_pin_parse(pre, out), 0);
        ck_assert_int_eq(tls_pin_parse(hex + 1, out), -EINVAL);
        ck_assert_int_eq(tls_pin_parse("sha256:", out), -EINVAL);
        ck_assert_int_eq(tls_pin_parse("", out), -EINVAL);
        ck_assert_int_eq(tls_pin_parse(NULL, out), -EINVAL);
        hex[10] = 'g';
        ck_assert_int_eq(tls_pin_parse(hex, out), -EINVAL);
        snprintf(pre, sizeof(pre), "sha1:%s", hex + 24);
        ck_assert_int_eq(tls_pin_parse(pre, out), -EINVAL);
}
END_TEST

START_TEST(test_parse_address)
{
        char host[64];
        uint16_t port;

        ck_assert_int_eq(tcp_parse_address("127.0.0.1:8443", host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "127.0.0.1");
        ck_assert_uint_eq(port, 8443);
        ck_assert_int_eq(tcp_parse_address("[::1]:9", host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "::1");
        ck_assert_uint_eq(port, 9);
        ck_assert_int_eq(tcp_parse_address("*:1", host, sizeof(host), &port), 0);
        ck_assert_int_eq(tcp_parse_address("::1:9", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(tcp_parse_address("host", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(tcp_parse_address("h:65536", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(tcp_parse_address("h:-1", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(tcp_parse_address(":80", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(tcp_parse_address("[::1]9", host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(tcp_parse_address("", host, sizeof(host), &port), -EINVAL);

        int fd = -1;
        char err[256] = "";
        ck_assert_int_eq(tcp_connect("localhost:80", 100, &fd, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "not a numeric"));
        ck_assert_int_eq(tcp_connect("127.0.0.1:0", 100, &fd, err, sizeof(err)), -EINVAL);
}
END_TEST

/* The thumbprint is what `openssl x509 -fingerprint -sha256` says; the key
 * is 0600, the certificate 0644; existing files are not replaced. */
START_TEST(test_certificate_files)
{
        struct ident a, e;
        struct stat st;
        char cmd[512], line[256] = "", want[TLS_THUMBPRINT_STR] = "sha256:", err[512];
        size_t j = 7;

        make_ident(&a, "alpha", TLS_KEY_EC_P256);
        make_ident(&e, "edwards", TLS_KEY_ED25519);
        ck_assert_int_eq(stat(a.key, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(stat(a.cert, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0644);
        ck_assert_str_ne(a.tp, e.tp);

        snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -fingerprint -sha256", a.cert);
        FILE *p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
        ck_assert_int_eq(pclose(p), 0);
        for (char *c = strchr(line, '=') + 1; *c && *c != '\n'; c++)
                if (*c != ':')
                        want[j++] = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
        want[j] = '\0';
        ck_assert_str_eq(a.tp, want);

        char tp[TLS_THUMBPRINT_STR];
        ck_assert_int_eq(tls_certificate_thumbprint(a.cert, tp, err, sizeof(err)), 0);
        ck_assert_str_eq(tp, a.tp);
        ck_assert_int_eq(tls_certificate_thumbprint(a.key, tp, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "not a PEM certificate"));

        ck_assert_int_eq(tls_certificate_create(TLS_KEY_EC_P256, "x", 1, a.cert, a.key, false, tp,
                                                err, sizeof(err)), -EEXIST);
        ck_assert_ptr_nonnull(strstr(err, "--force"));
        ck_assert_int_eq(tls_certificate_create(TLS_KEY_EC_P256, "x", 1, a.cert, a.key, true, tp,
                                                err, sizeof(err)), 0);
        ck_assert_str_ne(tp, a.tp);
}
END_TEST

START_TEST(test_context_errors)
{
        struct ident a, b;
        struct tls_context *ctx = NULL;
        char err[512];
        char *pins[] = { "sha256:00", NULL };
        char *none[] = { NULL };

        make_ident(&a, "a", TLS_KEY_EC_P256);
        make_ident(&b, "b", TLS_KEY_EC_P256);
        char *good[] = { a.tp, NULL };

        ck_assert_int_eq(tls_context_new(TLS_SERVER, a.cert, a.key, pins, &ctx, err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "thumbprint 1"));
        ck_assert_int_eq(tls_context_new(TLS_SERVER, a.cert, a.key, none, &ctx, err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "no trusted thumbprint"));
        ck_assert_int_eq(tls_context_new(TLS_SERVER, "/nonexistent.crt", a.key, good, &ctx, err,
                                         sizeof(err)), -ENOENT);
        ck_assert_ptr_nonnull(strstr(err, "/nonexistent.crt"));
        ck_assert_int_eq(tls_context_new(TLS_SERVER, a.cert, b.key, good, &ctx, err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "does not match"));
        ck_assert_int_eq(tls_context_new(TLS_SERVER, a.cert, a.cert, good, &ctx, err, sizeof(err)),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "private key"));
        ck_assert_ptr_null(ctx);
}
END_TEST

/* Both pinned: the handshake completes non-blocking, each side sees the
 * other's thumbprint, and frames of every size pass both ways byte-exact
 * (1 MiB payloads force WANT_WRITE on the socketpair). */
static void good_pin_both_ways(enum tls_key_type type)
{
        struct ident s, c;
        int sv[2], rs, rc;

        make_ident(&s, "server", type);
        make_ident(&c, "client", type);
        _cleanup_(tls_context_freep) struct tls_context *sctx = ctx_new(TLS_SERVER, &s, c.tp);
        _cleanup_(tls_context_freep) struct tls_context *cctx = ctx_new(TLS_CLIENT, &c, s.tp);
        _cleanup_(tls_conn_freep) struct tls_conn *sc = NULL, *cc = NULL;
        pair(sv);
        ck_assert_int_eq(tls_conn_new(sctx, sv[0], &sc), 0);
        ck_assert_int_eq(tls_conn_new(cctx, sv[1], &cc), 0);
        pump(sc, cc, &rs, &rc);
        ck_assert_msg(rs == 0 && rc == 0, "server %d (%s), client %d (%s)", rs,
                      tls_conn_error(sc), rc, tls_conn_error(cc));
        ck_assert_str_eq(tls_conn_peer_thumbprint(sc), c.tp);
        ck_assert_str_eq(tls_conn_peer_thumbprint(cc), s.tp);
        ck_assert_str_eq(tls_context_thumbprint(sctx), s.tp);

        /* a big frame from client to server, then one back */
        size_t big = FRAME_MAX - 64;
        char *data = malloc(big + 1);
        for (size_t i = 0; i < big; i++)
                data[i] = (char)('a' + i % 26);
        data[big] = '\0';
        json_t *o = json_pack("{s:s, s:s}", "type", "output", "data", data);
        struct frame_buffer out = { 0 };
        struct frame_reader in;
        const uint8_t *p;
        size_t len;
        int more = 1, got = 0;
        frame_reader_init(&in, 0);
        ck_assert_int_eq(frame_buffer_append_json(&out, o), 0);
        while (more || !got) {
                if (more) {
                        more = tls_frame_flush(cc, &out);
                        ck_assert_int_ge(more, 0);
                }
                int k;
                while ((k = tls_frame_fill(sc, &in)) > 0)
                        ;
                ck_assert_int_eq(k, -EAGAIN);
                got = frame_reader_next(&in, &p, &len);
                ck_assert_int_ge(got, 0);
        }
        json_t *back = NULL;
        char why[128];
        ck_assert_int_eq(frame_parse_payload(p, len, &back, why, sizeof(why)), 0);
        ck_assert_str_eq(json_string_value(json_object_get(back, "data")), data);
        json_decref(back);
        json_t *hello = json_pack("{s:s}", "type", "hello");
        ck_assert_int_eq(tls_frame_send(sc, hello, 1000), 0);
        json_decref(hello);
        ck_assert_int_eq(tls_frame_recv(cc, &back, 1000), 0);
        ck_assert_str_eq(json_string_value(json_object_get(back, "type")), "hello");
        json_decref(back);
        /* a clean close is a clean end of stream */
        tls_shutdown(sc);
        ck_assert_int_eq(tls_frame_recv(cc, &back, 1000), -ENODATA);
        json_decref(o);
        frame_buffer_done(&out);
        frame_reader_done(&in);
        free(data);
        close(sv[0]);
        close(sv[1]);
}

START_TEST(test_good_pin_ec)
{
        good_pin_both_ways(TLS_KEY_EC_P256);
}
END_TEST

START_TEST(test_good_pin_ed25519)
{
        good_pin_both_ways(TLS_KEY_ED25519);
}
END_TEST

/* The server does not trust the client: it refuses in the handshake
 * (-EPERM naming the client's thumbprint); the client learns it was refused
 * (-EACCES) and no request of its ever reaches the server. */
START_TEST(test_server_refuses_wrong_client)
{
        struct ident s, c, other;
        int sv[2], rs, rc;

        make_ident(&s, "server", TLS_KEY_EC_P256);
        make_ident(&c, "client", TLS_KEY_EC_P256);
        make_ident(&other, "other", TLS_KEY_EC_P256);
        _cleanup_(tls_context_freep) struct tls_context *sctx = ctx_new(TLS_SERVER, &s, other.tp);
        _cleanup_(tls_context_freep) struct tls_context *cctx = ctx_new(TLS_CLIENT, &c, s.tp);
        _cleanup_(tls_conn_freep) struct tls_conn *sc = NULL, *cc = NULL;
        pair(sv);
        ck_assert_int_eq(tls_conn_new(sctx, sv[0], &sc), 0);
        ck_assert_int_eq(tls_conn_new(cctx, sv[1], &cc), 0);
        pump(sc, cc, &rs, &rc);
        ck_assert_int_eq(rs, -EPERM);
        ck_assert_ptr_nonnull(strstr(tls_conn_error(sc), c.tp));
        ck_assert_ptr_nonnull(strstr(tls_conn_error(sc), "not one of the 1 trusted"));
        ck_assert(!tls_conn_established(sc));
        /* TLS 1.3: the client finished first; its first read shows the refusal */
        if (rc == 0) {
                char buf[16];
                (void)tls_write(cc, "{\"type\":\"run\"}", 14);
                ssize_t k;
                while ((k = tls_read(cc, buf, sizeof(buf))) == -EAGAIN)
                        ;
                rc = (int)k;
        }
        ck_assert_int_eq(rc, -EACCES);
        ck_assert_ptr_nonnull(strstr(tls_conn_error(cc), "refused our certificate"));
        /* the server never yields application data */
        char buf[16];
        ck_assert_int_lt(tls_read(sc, buf, sizeof(buf)), 0);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_client_refuses_wrong_server)
{
        struct ident s, c, other;
        int sv[2], rs, rc;

        make_ident(&s, "server", TLS_KEY_EC_P256);
        make_ident(&c, "client", TLS_KEY_EC_P256);
        make_ident(&other, "other", TLS_KEY_ED25519);
        _cleanup_(tls_context_freep) struct tls_context *sctx = ctx_new(TLS_SERVER, &s, c.tp);
        _cleanup_(tls_context_freep) struct tls_context *cctx = ctx_new(TLS_CLIENT, &c, other.tp);
        _cleanup_(tls_conn_freep) struct tls_conn *sc = NULL, *cc = NULL;
        pair(sv);
        ck_assert_int_eq(tls_conn_new(sctx, sv[0], &sc), 0);
        ck_assert_int_eq(tls_conn_new(cctx, sv[1], &cc), 0);
        pump(sc, cc, &rs, &rc);
        ck_assert_int_eq(rc, -EPERM);
        ck_assert_ptr_nonnull(strstr(tls_conn_error(cc), s.tp));
        ck_assert_int_eq(rs, -EACCES);
        ck_assert_ptr_nonnull(strstr(tls_conn_error(sc), "refused our certificate"));
        close(sv[0]);
        close(sv[1]);
}
END_TEST

/* A client context without pins trusts, per connection, only the peer it
 * means to reach: the right agent passes, another pinned-elsewhere one not. */
START_TEST(test_connection_pin)
{
        struct ident s, c, other;
        char err[512];
        int sv[2], rs, rc;

        make_ident(&s, "agent", TLS_KEY_EC_P256);
        make_ident(&c, "supervisor", TLS_KEY_EC_P256);
        make_ident(&other, "other", TLS_KEY_EC_P256);
        char *none[] = { NULL };
        struct tls_context *cctx = NULL;
        ck_assert_int_eq(tls_context_new(TLS_CLIENT, c.cert, c.key, none, &cctx, err, sizeof(err)),
                         0);
        _cleanup_(tls_context_freep) struct tls_context *sctx = ctx_new(TLS_SERVER, &s, c.tp);

        for (int round = 0; round < 3; round++) {
                struct tls_conn *sc = NULL, *cc = NULL;
                pair(sv);
                ck_assert_int_eq(tls_conn_new(sctx, sv[0], &sc), 0);
                ck_assert_int_eq(tls_conn_new(cctx, sv[1], &cc), 0);
                if (round == 0)
                        ck_assert_int_eq(tls_conn_set_pin(cc, s.tp), 0);
                if (round == 1)
                        ck_assert_int_eq(tls_conn_set_pin(cc, other.tp), 0);
                ck_assert_int_eq(tls_conn_set_pin(cc, "sha256:xyz"), -EINVAL);
                pump(sc, cc, &rs, &rc);
                if (round == 0) {
                        ck_assert_msg(rs == 0 && rc == 0, "%s", tls_conn_error(cc));
                } else {
                        ck_assert_int_eq(rc, -EPERM);
                        ck_assert_ptr_nonnull(strstr(tls_conn_error(cc), s.tp));
                        ck_assert_ptr_nonnull(strstr(tls_conn_error(cc),
                                                     round == 1 ? "not the expected" : "of the 0"));
                        ck_assert_int_eq(rs, -EACCES);
                }
                tls_conn_free(sc);
                tls_conn_free(cc);
                close(sv[0]);
                close(sv[1]);
        }
        tls_context_free(cctx);
}
END_TEST

/* A client that sends no certificate at all (raw OpenSSL, verification off). */
START_TEST(test_no_client_certificate)
{
        struct ident s, c;
        int sv[2], rs = -EAGAIN, rc = -1;

        make_ident(&s, "server", TLS_KEY_EC_P256);
        make_ident(&c, "client", TLS_KEY_EC_P256);
        _cleanup_(tls_context_freep) struct tls_context *sctx = ctx_new(TLS_SERVER, &s, c.tp);
        _cleanup_(tls_conn_freep) struct tls_conn *sc = NULL;
        pair(sv);
        ck_assert_int_eq(tls_conn_new(sctx, sv[0], &sc), 0);
        SSL_CTX *raw = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(raw, TLS1_3_VERSION);
        SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, NULL);
        SSL *ssl = SSL_new(raw);
        SSL_set_fd(ssl, sv[1]);
        SSL_set_connect_state(ssl);
        for (int i = 0; i < 1000 && rs == -EAGAIN; i++) {
                rc = SSL_do_handshake(ssl);
                rs = tls_handshake(sc);
        }
        ck_assert_int_eq(rs, -EPERM);
        ck_assert_str_eq(tls_conn_error(sc), "peer sent no certificate");
        ck_assert_str_eq(tls_conn_peer_thumbprint(sc), "");
        (void)rc;
        SSL_free(ssl);
        SSL_CTX_free(raw);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

/* Plain text, and a peer that hangs up mid-handshake: errors, no crash. */
START_TEST(test_hostile_bytes)
{
        struct ident s, c;
        int sv[2], k;

        make_ident(&s, "server", TLS_KEY_EC_P256);
        make_ident(&c, "client", TLS_KEY_EC_P256);
        _cleanup_(tls_context_freep) struct tls_context *sctx = ctx_new(TLS_SERVER, &s, c.tp);
        struct tls_conn *sc = NULL;

        pair(sv);
        ck_assert_int_eq(tls_conn_new(sctx, sv[0], &sc), 0);
        ck_assert_int_eq(write(sv[1], "\0\0\0\x10{\"type\":\"hello\"}", 20), 20);
        k = tls_handshake(sc);
        ck_assert_int_eq(k, -EPROTO);
        ck_assert_ptr_nonnull(strstr(tls_conn_error(sc), "handshake failed"));
        tls_conn_free(sc);
        close(sv[0]);
        close(sv[1]);

        pair(sv);
        ck_assert_int_eq(tls_conn_new(sctx, sv[0], &sc), 0);
        ck_assert_int_eq(tls_handshake(sc), -EAGAIN);
        close(sv[1]);
        k = tls_handshake(sc);
        ck_assert_int_eq(k, -ECONNRESET);
        ck_assert_ptr_nonnull(strstr(tls_conn_error(sc), "closed"));
        tls_conn_free(sc);
        close(sv[0]);
}
END_TEST

static uint16_t bound_port(int fd)
{
        struct sockaddr_in a;
        socklen_t l = sizeof(a);

        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
        return ntohs(a.sin_port);
}

/* Serve one connection in a child: exit 0 when the handshake passed and a
 * frame came, 10 + errno of the handshake otherwise. */
static pid_t serve_one(struct tls_context *sctx, int lfd)
{
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct tls_conn *sc = NULL;
                json_t *o = NULL;
                int fd;

                while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0 &&
                       errno == EAGAIN)
                        usleep(1000);
                if (fd < 0 || tls_conn_new(sctx, fd, &sc) < 0)
                        _exit(2);
                int k = tls_handshake_wait(sc, 5000);
                if (k < 0) {
                        fprintf(stderr, "server: %s\n", tls_conn_error(sc));
                        _exit(10 + -k);
                }
                k = tls_frame_recv(sc, &o, 5000);
                if (k < 0)
                        _exit(3);
                _exit(tls_frame_send(sc, o, 5000) < 0 ? 4 : 0);
        }
        return pid;
}

static int child_status(pid_t pid)
{
        int st = 0;

        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert(WIFEXITED(st));
        return WEXITSTATUS(st);
}

/* Over loopback TCP with the blocking helpers: the good pin gets an echo;
 * a server that pins someone else refuses the client before reading. */
START_TEST(test_tcp_loopback)
{
        struct ident s, c, other;
        char addr[64], err[512];
        int lfd, fd = -1;

        make_ident(&s, "server", TLS_KEY_EC_P256);
        make_ident(&c, "client", TLS_KEY_EC_P256);
        make_ident(&other, "other", TLS_KEY_EC_P256);
        ck_assert_int_eq(tcp_listen("127.0.0.1:0", 8, &lfd, err, sizeof(err)), 0);
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", bound_port(lfd));
        _cleanup_(tls_context_freep) struct tls_context *sctx = ctx_new(TLS_SERVER, &s, c.tp);
        _cleanup_(tls_context_freep) struct tls_context *cctx = ctx_new(TLS_CLIENT, &c, s.tp);
        struct tls_conn *cc = NULL;

        pid_t pid = serve_one(sctx, lfd);
        ck_assert_msg(tls_connect(cctx, addr, 5000, &cc, &fd, err, sizeof(err)) == 0, "%s", err);
        json_t *o = json_pack("{s:s,s:i}", "type", "status", "req", 7), *back = NULL;
        ck_assert_int_eq(tls_frame_send(cc, o, 5000), 0);
        ck_assert_int_eq(tls_frame_recv(cc, &back, 5000), 0);
        ck_assert(json_equal(o, back));
        json_decref(back);
        tls_conn_free(cc);
        close(fd);
        ck_assert_int_eq(child_status(pid), 0);

        /* the server now trusts only `other` */
        char *pins[] = { other.tp, NULL };
        ck_assert_int_eq(tls_context_set_pins(sctx, pins, err, sizeof(err)), 0);
        pid = serve_one(sctx, lfd);
        ck_assert_int_eq(tls_connect(cctx, addr, 5000, &cc, &fd, err, sizeof(err)), 0);
        (void)tls_frame_send(cc, o, 5000);
        ck_assert_int_eq(tls_frame_recv(cc, &back, 5000), -EACCES);
        ck_assert_ptr_nonnull(strstr(tls_conn_error(cc), "refused our certificate"));
        tls_conn_free(cc);
        close(fd);
        ck_assert_int_eq(child_status(pid), 10 + EPERM);

        /* nobody listening: a clear connect error */
        close(lfd);
        ck_assert_int_eq(tls_connect(cctx, addr, 2000, &cc, &fd, err, sizeof(err)), -ECONNREFUSED);
        ck_assert_ptr_nonnull(strstr(err, "cannot connect"));
        json_decref(o);
}
END_TEST

/* `openssl s_client` without a certificate is refused in the handshake;
 * with the pinned client's certificate it gets through (interoperability). */
static int run_s_client(const char *addr, const struct ident *c, char *out, size_t out_len)
{
        char cmd[1024];
        FILE *p;
        size_t n;

        if (c)
                snprintf(cmd, sizeof(cmd),
                         "printf '\\000\\000\\000\\014{\"type\":\"x\"}' | timeout 10 openssl s_client "
                         "-connect %s -tls1_3 -ign_eof -cert %s -key %s 2>&1",
                         addr, c->cert, c->key);
        else
                snprintf(cmd, sizeof(cmd),
                         "printf '\\000\\000\\000\\014{\"type\":\"x\"}' | timeout 10 openssl s_client "
                         "-connect %s -tls1_3 -ign_eof 2>&1", addr);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        n = fread(out, 1, out_len - 1, p);
        for (size_t i = 0; i < n; i++)
                if (out[i] == '\0')
                        out[i] = ' '; /* the frame's length header */
        out[n] = '\0';
        return pclose(p);
}

START_TEST(test_s_client)
{
        struct ident s, c;
        char addr[64], err[512], *out = malloc(65536);
        int lfd;

        make_ident(&s, "server", TLS_KEY_EC_P256);
        make_ident(&c, "client", TLS_KEY_EC_P256);
        ck_assert_int_eq(tcp_listen("127.0.0.1:0", 8, &lfd, err, sizeof(err)), 0);
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", bound_port(lfd));
        _cleanup_(tls_context_freep) struct tls_context *sctx = ctx_new(TLS_SERVER, &s, c.tp);

        pid_t pid = serve_one(sctx, lfd);
        run_s_client(addr, NULL, out, 65536);
        ck_assert_int_eq(child_status(pid), 10 + EPERM);
        ck_assert_msg(strstr(out, "certificate required"), "s_client said: %s", out);

        pid = serve_one(sctx, lfd);
        run_s_client(addr, &c, out, 65536);
        ck_assert_int_eq(child_status(pid), 0);
        ck_assert_msg(strstr(out, "\f{\"type\":\"x\"}"), "s_client got no echo");
        close(lfd);
        free(out);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("tls");
        TCase *tc = tcase_create("tls");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_pin_parse);
        tcase_add_test(tc, test_parse_address);
        tcase_add_test(tc, test_certificate_files);
        tcase_add_test(tc, test_context_errors);
        tcase_add_test(tc, test_good_pin_ec);
        tcase_add_test(tc, test_good_pin_ed25519);
        tcase_add_test(tc, test_server_refuses_wrong_client);
        tcase_add_test(tc, test_client_refuses_wrong_server);
        tcase_add_test(tc, test_connection_pin);
        tcase_add_test(tc, test_no_client_certificate);
        tcase_add_test(tc, test_hostile_bytes);
        tcase_add_test(tc, test_tcp_loopback);
        tcase_add_test(tc, test_s_client);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
