/* SPDX-License-Identifier: MIT */
/* Keys, self-signed certificates and thumbprints (OpenSSL 3 EVP API). The
 * thumbprint is SHA-256 over the certificate's DER encoding, the same as
 * `openssl x509 -noout -fingerprint -sha256` prints (without colons). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "ipc/tls.h"
#include "ipc/tls_x509.h"

void tls_openssl_error(char *buf, size_t len)
{
        unsigned long e = ERR_get_error();

        if (!buf || len == 0) {
                ERR_clear_error();
                return;
        }
        if (e == 0)
                snprintf(buf, len, "unknown OpenSSL error");
        else
                ERR_error_string_n(e, buf, len);
        ERR_clear_error();
}

int tls_x509_thumbprint_hex(X509 *cert, char ret[TLS_THUMBPRINT_HEX + 1])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (!cert || X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != TLS_THUMBPRINT_BYTES) {
                ERR_clear_error();
                return -EINVAL;
        }
        for (unsigned i = 0; i < n; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

static FILE *open_read(const char *what, const char *path, char *err, size_t err_len, int *r)
{
        FILE *f;

        if (!path || !*path) {
                snprintf(err, err_len, "no %s file given", what);
                *r = -EINVAL;
                return NULL;
        }
        f = fopen(path, "re");
        if (!f) {
                *r = negative_errno();
                snprintf(err, err_len, "cannot read %s %s: %s", what, path, strerror(-*r));
        }
        return f;
}

int tls_read_cert_file(const char *path, X509 **ret, char *err, size_t err_len)
{
        FILE *f;
        X509 *x;
        int r = 0;

        f = open_read("certificate", path, err, err_len, &r);
        if (!f)
                return r;
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        if (!x) {
                ERR_clear_error();
                snprintf(err, err_len, "%s: not a PEM certificate", path);
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

int tls_read_key_file(const char *path, EVP_PKEY **ret, char *err, size_t err_len)
{
        FILE *f;
        EVP_PKEY *k;
        int r = 0;

        f = open_read("key", path, err, err_len, &r);
        if (!f)
                return r;
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (!k) {
                ERR_clear_error();
                snprintf(err, err_len, "%s: not an unencrypted PEM private key", path);
                return -EINVAL;
        }
        *ret = k;
        return 0;
}

int tls_certificate_thumbprint(const char *cert_path, char ret[TLS_THUMBPRINT_STR], char *err,
                               size_t err_len)
{
        X509 *x = NULL;
        char hex[TLS_THUMBPRINT_HEX + 1];
        int r = tls_read_cert_file(cert_path, &x, err, err_len);

        if (r < 0)
                return r;
        r = tls_x509_thumbprint_hex(x, hex);
        X509_free(x);
        if (r < 0) {
                snprintf(err, err_len, "%s: cannot hash the certificate", cert_path);
                return r;
        }
        snprintf(ret, TLS_THUMBPRINT_STR, "sha256:%s", hex);
        return 0;
}

static EVP_PKEY *make_key(enum tls_key_type type)
{
        if (type == TLS_KEY_ED25519)
                return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *x, int nid, const char *value)
{
        X509V3_CTX v3;
        X509_EXTENSION *ext;
        int ok;

        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
        if (!ext)
                return -EINVAL;
        ok = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        return ok ? 0 : -EINVAL;
}

static int fill_cert(X509 *x, EVP_PKEY *key, const char *cn, unsigned days)
{
        unsigned char serial[16];
        BIGNUM *bn;
        X509_NAME *name = X509_get_subject_name(x);
        int ok;

        if (RAND_bytes(serial, sizeof(serial)) != 1)
                return -EIO;
        serial[0] &= 0x7f; /* positive */
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
        BN_free(bn);
        if (!ok || !X509_set_version(x, X509_VERSION_3) ||
            !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400L) ||
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
                                        -1, -1, 0) ||
            !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key))
                return -EINVAL;
        if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
            add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") < 0)
                return -EINVAL;
        /* Ed25519 signs the message itself: no digest. */
        if (!X509_sign(x, key, EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256()))
                return -EINVAL;
        return 0;
}

/* Create path with mode (O_EXCL unless overwrite) and write PEM with fn. */
static int write_pem(const char *path, mode_t mode, bool overwrite, X509 *x, EVP_PKEY *key,
                     char *err, size_t err_len)
{
        int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (overwrite ? O_TRUNC : O_EXCL);
        int fd = open(path, flags, mode);
        FILE *f;
        int ok, r;

        if (fd < 0) {
                r = negative_errno();
                snprintf(err, err_len, "cannot create %s: %s%s", path, strerror(-r),
                         r == -EEXIST ? " (--force replaces it)" : "");
                return r;
        }
        if (fchmod(fd, mode) < 0 || !(f = fdopen(fd, "w"))) {
                r = negative_errno();
                close(fd);
                snprintf(err, err_len, "cannot write %s: %s", path, strerror(-r));
                return r;
        }
        ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, x);
        if (fclose(f) != 0 || !ok) {
                ERR_clear_error();
                snprintf(err, err_len, "cannot write %s", path);
                return -EIO;
        }
        return 0;
}

int tls_certificate_create(enum tls_key_type type, const char *common_name, unsigned days,
                           const char *cert_path, const char *key_path, bool overwrite,
                           char ret_thumbprint[TLS_THUMBPRINT_STR], char *err, size_t err_len)
{
        EVP_PKEY *key = NULL;
        X509 *x = NULL;
        char hex[TLS_THUMBPRINT_HEX + 1];
        int r = -EINVAL;

        if (type < 0 || type >= _TLS_KEY_TYPE_MAX || !common_name || !*common_name ||
            strlen(common_name) > 64 || days == 0 || days > 36500 || !cert_path || !key_path) {
                snprintf(err, err_len, "bad certificate parameters");
                return -EINVAL;
        }
        key = make_key(type);
        x = X509_new();
        if (!key || !x) {
                tls_openssl_error(err, err_len);
                r = -ENOMEM;
                goto out;
        }
        r = fill_cert(x, key, common_name, days);
        if (r < 0 || (r = tls_x509_thumbprint_hex(x, hex)) < 0) {
                char why[160];

                tls_openssl_error(why, sizeof(why));
                snprintf(err, err_len, "cannot make the certificate: %s", why);
                goto out;
        }
        r = write_pem(key_path, 0600, overwrite, NULL, key, err, err_len);
        if (r < 0)
                goto out;
        r = write_pem(cert_path, 0644, overwrite, x, NULL, err, err_len);
        if (r < 0) {
                (void)unlink(key_path); /* no key without its certificate */
                goto out;
        }
        snprintf(ret_thumbprint, TLS_THUMBPRINT_STR, "sha256:%s", hex);
        r = 0;
out:
        X509_free(x);
        EVP_PKEY_free(key);
        return r;
}
