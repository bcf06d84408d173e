/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by ipc/tls.c and ipc/tls_cert.c; not for other rooms. */

#include <stddef.h>

#include <openssl/x509.h>

#include "ipc/tls.h"

/* SHA-256 of the certificate's DER encoding as 64 lowercase hex digits. */
int tls_x509_thumbprint_hex(X509 *cert, char ret[TLS_THUMBPRINT_HEX + 1]);
/* The oldest queued OpenSSL error as text (clears the queue); "unknown" when none. */
void tls_openssl_error(char *buf, size_t len);
/* Read a PEM certificate / private key file, err naming the file and why. */
int tls_read_cert_file(const char *path, X509 **ret, char *err, size_t err_len);
int tls_read_key_file(const char *path, EVP_PKEY **ret, char *err, size_t err_len);
