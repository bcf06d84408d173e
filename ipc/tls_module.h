/* SPDX-License-Identifier: MIT */
#pragma once

/* Everything of tls.h that needs OpenSSL lives in a module of its own,
 * stepd-tls.so, loaded on first use (tls_loader.c): libssl and libcrypto
 * cost about 1 ms of loading and relocation per process start, which every
 * `stepd exec` and `stepctl` would pay for code only the agent links use.
 *
 * The module exports one symbol, TLS_MODULE_SYMBOL: this table. The ABI
 * number changes with any change to the table or to tls.h's types, so that
 * a binary never calls into a module built from other sources. */

#include "ipc/tls.h"

#define TLS_MODULE_FILE "stepd-tls.so"
#define TLS_MODULE_SYMBOL "stepd_tls_module"
#define TLS_MODULE_ABI 1

struct tls_module {
        unsigned abi;
        const char *version; /* STEPD_VERSION of the build */
        int (*context_new)(enum tls_role role, const char *cert_path, const char *key_path,
                           char *const *pins, struct tls_context **ret, char *err,
                           size_t err_len);
        struct tls_context *(*context_free)(struct tls_context *ctx);
        int (*context_set_pins)(struct tls_context *ctx, char *const *pins, char *err,
                                size_t err_len);
        const char *(*context_thumbprint)(const struct tls_context *ctx);
        int (*conn_new)(struct tls_context *ctx, int fd, struct tls_conn **ret);
        struct tls_conn *(*conn_free)(struct tls_conn *c);
        int (*conn_set_pin)(struct tls_conn *c, const char *pin);
        int (*conn_fd)(const struct tls_conn *c);
        uint32_t (*conn_want)(const struct tls_conn *c);
        const char *(*conn_error)(const struct tls_conn *c);
        const char *(*conn_peer_thumbprint)(const struct tls_conn *c);
        bool (*conn_established)(const struct tls_conn *c);
        int (*handshake)(struct tls_conn *c);
        ssize_t (*read)(struct tls_conn *c, void *buf, size_t n);
        ssize_t (*write)(struct tls_conn *c, const void *buf, size_t n);
        void (*shutdown)(struct tls_conn *c);
        int (*certificate_create)(enum tls_key_type type, const char *common_name,
                                  unsigned days, const char *cert_path, const char *key_path,
                                  bool overwrite, char ret_thumbprint[TLS_THUMBPRINT_STR],
                                  char *err, size_t err_len);
        int (*certificate_thumbprint)(const char *cert_path, char ret[TLS_THUMBPRINT_STR],
                                      char *err, size_t err_len);
};

/* Load the module now (it is otherwise loaded on first use). Returns 0, or
 * -ELIBACC with what went wrong (file, dlerror, ABI) in err. */
int tls_module_load(char *err, size_t err_len);

/* Load the module from path instead (tests): before the first use. */
void tls_module_set_path(const char *path);
