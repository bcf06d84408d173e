/* SPDX-License-Identifier: MIT */
/* TLS with thumbprint pinning: see tls.h and docs/agents.md.
 *
 * How this works: one SSL_CTX per struct tls_context, TLS 1.3 only, no
 * tickets, no session cache. Peer verification is replaced as a whole by
 * verify_pinned() (SSL_CTX_set_cert_verify_callback): it hashes the peer's
 * leaf certificate (DER) and accepts only a pinned thumbprint. OpenSSL still
 * checks, in the handshake itself, that the peer holds the certificate's key
 * (CertificateVerify), so a copied certificate without its key is useless.
 * Each SSL talks to its socket through a small BIO that uses send() with
 * MSG_NOSIGNAL and recv(), so a daemon that does not ignore SIGPIPE survives
 * a peer that goes away. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/util.h"
#include "ipc/tls.h"
#include "ipc/tls_x509.h"

struct tls_context {
        SSL_CTX *ssl_ctx;
        BIO_METHOD *bio_method;
        enum tls_role role;
        char (*pins)[TLS_THUMBPRINT_HEX + 1];
        size_t n_pins;
        char thumbprint[TLS_THUMBPRINT_STR];
};

enum refusal {
        REFUSED_NONE,
        REFUSED_PIN,
        REFUSED_INTERNAL,
};

struct tls_conn {
        struct tls_context *ctx;
        SSL *ssl;
        int fd;
        uint32_t want;
        bool established;
        enum refusal refused;
        bool has_pin;                        /* tls_conn_set_pin(): only this peer */
        char pin[TLS_THUMBPRINT_HEX + 1];
        char peer[TLS_THUMBPRINT_STR];
        char error[TLS_ERROR_MAX];
};

/* ---- the socket BIO ---------------------------------------------------- */

static int bio_fd(BIO *b)
{
        return (int)(intptr_t)BIO_get_data(b);
}

static int bio_write(BIO *b, const char *buf, int n)
{
        ssize_t k;

        BIO_clear_retry_flags(b);
        k = send(bio_fd(b), buf, (size_t)n, MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                BIO_set_retry_write(b);
        return (int)k;
}

static int bio_read(BIO *b, char *buf, int n)
{
        ssize_t k;

        BIO_clear_retry_flags(b);
        k = recv(bio_fd(b), buf, (size_t)n, 0);
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                BIO_set_retry_read(b);
        return (int)k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
        return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
        BIO_set_init(b, 1);
        return 1;
}

static BIO_METHOD *bio_method_new(void)
{
        BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "stepd-socket");

        if (!m)
                return NULL;
        if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
            !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
                BIO_meth_free(m);
                return NULL;
        }
        return m;
}

/* ---- pins --------------------------------------------------------------- */

int tls_context_set_pins(struct tls_context *ctx, char *const *pins, char *err, size_t err_len)
{
        size_t n = strv_length(pins);
        char(*p)[TLS_THUMBPRINT_HEX + 1];

        if (n == 0 && ctx->role == TLS_SERVER) {
                snprintf(err, err_len, "no trusted thumbprint given: every peer would be refused");
                return -EINVAL;
        }
        p = calloc(n + 1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (tls_pin_parse(pins[i], p[i]) < 0) {
                        snprintf(err, err_len,
                                 "trusted thumbprint %zu ('%.80s') is not sha256:<64 hex digits>",
                                 i + 1, pins[i]);
                        free(p);
                        return -EINVAL;
                }
        free(ctx->pins);
        ctx->pins = p;
        ctx->n_pins = n;
        return 0;
}

static bool pinned(const struct tls_context *ctx, const char *hex)
{
        for (size_t i = 0; i < ctx->n_pins; i++)
                if (strcmp(ctx->pins[i], hex) == 0)
                        return true;
        return false;
}

/* Replaces OpenSSL's chain verification: 1 accepts the peer, 0 refuses it
 * (the handshake then fails with an alert before any application data). */
static int verify_pinned(X509_STORE_CTX *sctx, void *arg)
{
        struct tls_context *ctx = arg;
        SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
        struct tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
        X509 *cert = X509_STORE_CTX_get0_cert(sctx);
        char hex[TLS_THUMBPRINT_HEX + 1];

        if (!c)
                return 0;
        if (!cert || tls_x509_thumbprint_hex(cert, hex) < 0) {
                c->refused = REFUSED_INTERNAL;
                snprintf(c->error, sizeof(c->error), "cannot hash the peer's certificate");
                X509_STORE_CTX_set_error(sctx, X509_V_ERR_UNSPECIFIED);
                return 0;
        }
        snprintf(c->peer, sizeof(c->peer), "sha256:%s", hex);
        if (c->has_pin ? strcmp(c->pin, hex) != 0 : !pinned(ctx, hex)) {
                c->refused = REFUSED_PIN;
                if (c->has_pin)
                        snprintf(c->error, sizeof(c->error),
                                 "peer certificate %s is not the expected sha256:%s", c->peer,
                                 c->pin);
                else
                        snprintf(c->error, sizeof(c->error),
                                 "peer certificate %s is not one of the %zu trusted "
                                 "thumbprint(s)", c->peer, ctx->n_pins);
                X509_STORE_CTX_set_error(sctx, X509_V_ERR_CERT_REJECTED);
                return 0;
        }
        X509_STORE_CTX_set_error(sctx, X509_V_OK);
        return 1;
}

/* ---- contexts ----------------------------------------------------------- */

struct tls_context *tls_context_free(struct tls_context *ctx)
{
        if (!ctx)
                return NULL;
        SSL_CTX_free(ctx->ssl_ctx);
        BIO_meth_free(ctx->bio_method);
        free(ctx->pins);
        free(ctx);
        return NULL;
}

static int ctx_configure(struct tls_context *ctx, char *err, size_t err_len)
{
        SSL_CTX *s = ctx->ssl_ctx;
        int verify = SSL_VERIFY_PEER;

        if (ctx->role == TLS_SERVER)
                verify |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        if (!SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) ||
            !SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) ||
            !SSL_CTX_set_num_tickets(s, 0)) {
                tls_openssl_error(err, err_len);
                return -EPROTO;
        }
        SSL_CTX_set_options(s, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
        SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_verify(s, verify, NULL);
        SSL_CTX_set_cert_verify_callback(s, verify_pinned, ctx);
        return 0;
}

static int ctx_load_identity(struct tls_context *ctx, const char *cert_path,
                             const char *key_path, char *err, size_t err_len)
{
        X509 *cert = NULL;
        EVP_PKEY *key = NULL;
        char hex[TLS_THUMBPRINT_HEX + 1];
        int r;

        r = tls_read_cert_file(cert_path, &cert, err, err_len);
        if (r < 0)
                return r;
        r = tls_read_key_file(key_path, &key, err, err_len);
        if (r < 0)
                goto out;
        r = -EINVAL;
        if (X509_check_private_key(cert, key) != 1) {
                ERR_clear_error();
                snprintf(err, err_len, "key %s does not match certificate %s", key_path,
                         cert_path);
                goto out;
        }
        if (SSL_CTX_use_certificate(ctx->ssl_ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey(ctx->ssl_ctx, key) != 1) {
                char why[160];

                tls_openssl_error(why, sizeof(why));
                snprintf(err, err_len, "cannot use certificate %s with key %s: %s", cert_path,
                         key_path, why);
                goto out;
        }
        r = tls_x509_thumbprint_hex(cert, hex);
        if (r < 0)
                goto out;
        snprintf(ctx->thumbprint, sizeof(ctx->thumbprint), "sha256:%s", hex);
        r = 0;
out:
        X509_free(cert);
        EVP_PKEY_free(key);
        return r;
}

int tls_context_new(enum tls_role role, const char *cert_path, const char *key_path,
                    char *const *pins, struct tls_context **ret, char *err, size_t err_len)
{
        _cleanup_(tls_context_freep) struct tls_context *ctx = NULL;
        int r;

        if (role != TLS_CLIENT && role != TLS_SERVER)
                return -EINVAL;
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        ctx->role = role;
        r = tls_context_set_pins(ctx, pins, err, err_len);
        if (r < 0)
                return r;
        ctx->bio_method = bio_method_new();
        ctx->ssl_ctx = SSL_CTX_new(role == TLS_SERVER ? TLS_server_method() : TLS_client_method());
        if (!ctx->bio_method || !ctx->ssl_ctx) {
                tls_openssl_error(err, err_len);
                return -ENOMEM;
        }
        r = ctx_configure(ctx, err, err_len);
        if (r < 0)
                return r;
        r = ctx_load_identity(ctx, cert_path, key_path, err, err_len);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ctx);
        return 0;
}

const char *tls_context_thumbprint(const struct tls_context *ctx)
{
        return ctx->thumbprint;
}

/* ---- connections -------------------------------------------------------- */

int tls_conn_new(struct tls_context *ctx, int fd, struct tls_conn **ret)
{
        _cleanup_(tls_conn_freep) struct tls_conn *c = NULL;
        BIO *bio;

        if (fd < 0)
                return -EBADF;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ctx = ctx;
        c->fd = fd;
        c->want = EPOLLIN;
        c->ssl = SSL_new(ctx->ssl_ctx);
        bio = BIO_new(ctx->bio_method);
        if (!c->ssl || !bio) {
                BIO_free(bio);
                ERR_clear_error();
                return -ENOMEM;
        }
        BIO_set_data(bio, (void *)(intptr_t)fd);
        SSL_set_bio(c->ssl, bio, bio); /* c->ssl owns it now */
        SSL_set_app_data(c->ssl, c);
        if (ctx->role == TLS_SERVER)
                SSL_set_accept_state(c->ssl);
        else
                SSL_set_connect_state(c->ssl);
        *ret = TAKE_PTR(c);
        return 0;
}

struct tls_conn *tls_conn_free(struct tls_conn *c)
{
        if (!c)
                return NULL;
        SSL_free(c->ssl);
        free(c);
        return NULL;
}

int tls_conn_set_pin(struct tls_conn *c, const char *pin)
{
        int r = tls_pin_parse(pin, c->pin);

        if (r < 0)
                return r;
        c->has_pin = true;
        return 0;
}

int tls_conn_fd(const struct tls_conn *c)
{
        return c->fd;
}

uint32_t tls_conn_want(const struct tls_conn *c)
{
        return c->want;
}

const char *tls_conn_error(const struct tls_conn *c)
{
        return c->error;
}

const char *tls_conn_peer_thumbprint(const struct tls_conn *c)
{
        return c->peer;
}

bool tls_conn_established(const struct tls_conn *c)
{
        return c->established;
}

/* Certificate-related alerts: the peer refused who we are. */
static bool alert_is_refusal(int alert)
{
        switch (alert) {
        case SSL_AD_BAD_CERTIFICATE:
        case SSL_AD_UNSUPPORTED_CERTIFICATE:
        case SSL_AD_CERTIFICATE_REVOKED:
        case SSL_AD_CERTIFICATE_EXPIRED:
        case SSL_AD_CERTIFICATE_UNKNOWN:
        case SSL_AD_UNKNOWN_CA:
        case SSL_AD_ACCESS_DENIED:
        case SSL_AD_CERTIFICATE_REQUIRED:
                return true;
        default:
                return false;
        }
}

/* SSL_ERROR_SSL: sort the queued error into one of tls.h's codes. */
static int classify_ssl_error(struct tls_conn *c, const char *op)
{
        unsigned long e = ERR_peek_error();
        int reason = ERR_GET_REASON(e);
        char why[160];

        tls_openssl_error(why, sizeof(why));
        if (c->refused == REFUSED_PIN)
                return -EPERM; /* verify_pinned() wrote the text */
        if (c->refused == REFUSED_INTERNAL)
                return -EPROTO;
        if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
                snprintf(c->error, sizeof(c->error), "peer sent no certificate");
                return -EPERM;
        }
        if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                snprintf(c->error, sizeof(c->error), "peer closed the connection during %s", op);
                return -ECONNRESET;
        }
        if (reason >= SSL_AD_REASON_OFFSET && alert_is_refusal(reason - SSL_AD_REASON_OFFSET)) {
                snprintf(c->error, sizeof(c->error), "peer refused our certificate (%s)", why);
                return -EACCES;
        }
        snprintf(c->error, sizeof(c->error), "TLS %s failed: %s", op, why);
        return -EPROTO;
}

/* After an SSL_* call returned k <= 0. */
static int conn_error(struct tls_conn *c, int k, int saved_errno, const char *op)
{
        switch (SSL_get_error(c->ssl, k)) {
        case SSL_ERROR_WANT_READ:
                c->want = EPOLLIN;
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                c->want = EPOLLOUT;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                ERR_clear_error();
                if (saved_errno == 0 || saved_errno == ECONNRESET) {
                        snprintf(c->error, sizeof(c->error),
                                 "peer closed the connection during %s", op);
                        return -ECONNRESET;
                }
                snprintf(c->error, sizeof(c->error), "TLS %s: %s", op, strerror(saved_errno));
                return -saved_errno;
        case SSL_ERROR_SSL:
                return classify_ssl_error(c, op);
        default:
                ERR_clear_error();
                snprintf(c->error, sizeof(c->error), "TLS %s failed", op);
                return -EPROTO;
        }
}

int tls_handshake(struct tls_conn *c)
{
        int k;

        if (c->established)
                return 0;
        ERR_clear_error();
        errno = 0;
        k = SSL_do_handshake(c->ssl);
        if (k == 1) {
                /* verify_pinned() ran; belt and braces for a peer with no certificate. */
                if (c->peer[0] == '\0') {
                        snprintf(c->error, sizeof(c->error), "peer sent no certificate");
                        return -EPERM;
                }
                c->established = true;
                c->error[0] = '\0';
                return 0;
        }
        k = conn_error(c, k, errno, "handshake");
        return k == 0 ? -ECONNRESET : k;
}

ssize_t tls_read(struct tls_conn *c, void *buf, size_t n)
{
        size_t got = 0;
        int k;

        if (!c->established) {
                k = tls_handshake(c);
                if (k < 0)
                        return k;
        }
        ERR_clear_error();
        errno = 0;
        k = SSL_read_ex(c->ssl, buf, n, &got);
        if (k == 1)
                return (ssize_t)got;
        return conn_error(c, 0, errno, "read");
}

ssize_t tls_write(struct tls_conn *c, const void *buf, size_t n)
{
        size_t put = 0;
        int k;

        if (!c->established) {
                k = tls_handshake(c);
                if (k < 0)
                        return k;
        }
        if (n == 0)
                return 0;
        ERR_clear_error();
        errno = 0;
        k = SSL_write_ex(c->ssl, buf, n, &put);
        if (k == 1)
                return (ssize_t)put;
        k = conn_error(c, 0, errno, "write");
        return k == 0 ? -EPIPE : k;
}

void tls_shutdown(struct tls_conn *c)
{
        if (c && c->established) {
                (void)SSL_shutdown(c->ssl);
                ERR_clear_error();
        }
}
