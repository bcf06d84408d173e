/* SPDX-License-Identifier: MIT */
/* The table stepd-tls.so exports; see tls_module.h. Everything else in the
 * module is hidden (-fvisibility=hidden). */
#include "ipc/tls_module.h"

__attribute__((visibility("default"))) extern const struct tls_module stepd_tls_module;

const struct tls_module stepd_tls_module = {
        .abi = TLS_MODULE_ABI,
        .version = STEPD_VERSION,
        .context_new = tls_context_new,
        .context_free = tls_context_free,
        .context_set_pins = tls_context_set_pins,
        .context_thumbprint = tls_context_thumbprint,
        .conn_new = tls_conn_new,
        .conn_free = tls_conn_free,
        .conn_set_pin = tls_conn_set_pin,
        .conn_fd = tls_conn_fd,
        .conn_want = tls_conn_want,
        .conn_error = tls_conn_error,
        .conn_peer_thumbprint = tls_conn_peer_thumbprint,
        .conn_established = tls_conn_established,
        .handshake = tls_handshake,
        .read = tls_read,
        .write = tls_write,
        .shutdown = tls_shutdown,
        .certificate_create = tls_certificate_create,
        .certificate_thumbprint = tls_certificate_thumbprint,
};
