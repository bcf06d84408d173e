/* SPDX-License-Identifier: MIT */
/* tls.h for stepd's binaries: each call goes to stepd-tls.so, loaded on
 * first use (see tls_module.h), by absolute path: the build folder's for a
 * binary of this build tree, the installed one otherwise, so the two never
 * mix (and a sanitizer's dlopen interceptor, which hides the caller's
 * RUNPATH, changes nothing). Only if that fails is the plain name tried,
 * which the dynamic linker looks up in LD_LIBRARY_PATH, the binary's
 * RUNPATH if any (stepd has none) and the system's paths: root's
 * environment decides, as for any library. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ipc/tls_module.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const struct tls_module *mod;
static const char *module_path; /* NULL: by where this binary is */
static char load_error[768];

void tls_module_set_path(const char *path)
{
        module_path = path;
}

static const char *default_path(void)
{
        static char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        if (n > 0) {
                exe[n] = 0;
                if (strncmp(exe, STEPD_BUILD_ROOT "/", strlen(STEPD_BUILD_ROOT "/")) == 0)
                        return STEPD_BUILD_ROOT "/ipc/" TLS_MODULE_FILE;
        }
        return STEPD_TLS_MODULE_PATH;
}

static void load(void)
{
        const char *path = module_path ? module_path : default_path();
        const struct tls_module *m;
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

        if (!h) {
                snprintf(load_error, sizeof(load_error), "cannot load the TLS module: %s%s",
                         dlerror(), module_path ? "" : " (nor " TLS_MODULE_FILE " by name)");
                if (!module_path) /* LD_LIBRARY_PATH, RUNPATH, ld.so.cache */
                        h = dlopen(TLS_MODULE_FILE, RTLD_NOW | RTLD_LOCAL);
                if (!h)
                        return;
        }
        m = dlsym(h, TLS_MODULE_SYMBOL);
        if (!m) {
                snprintf(load_error, sizeof(load_error), "the TLS module has no %s: %s",
                         TLS_MODULE_SYMBOL, dlerror());
        } else if (m->abi != TLS_MODULE_ABI || strcmp(m->version, STEPD_VERSION) != 0) {
                snprintf(load_error, sizeof(load_error),
                         "the TLS module is from another build (stepd %s, ABI %u; this is "
                         "stepd %s, ABI %u)", m->version, m->abi, STEPD_VERSION,
                         TLS_MODULE_ABI);
        } else {
                mod = m;
                return; /* stays loaded */
        }
        dlclose(h);
}

int tls_module_load(char *err, size_t err_len)
{
        pthread_once(&once, load);
        if (mod)
                return 0;
        if (err && err_len > 0)
                snprintf(err, err_len, "%s", load_error);
        return -ELIBACC;
}

/* The calls below that take a context or a connection need no check: the
 * module made it, so it is loaded. */

int tls_context_new(enum tls_role role, const char *cert_path, const char *key_path,
                    char *const *pins, struct tls_context **ret, char *err, size_t err_len)
{
        int r = tls_module_load(err, err_len);

        return r < 0 ? r : mod->context_new(role, cert_path, key_path, pins, ret, err, err_len);
}

struct tls_context *tls_context_free(struct tls_context *ctx)
{
        return ctx ? mod->context_free(ctx) : NULL;
}

int tls_context_set_pins(struct tls_context *ctx, char *const *pins, char *err, size_t err_len)
{
        return mod->context_set_pins(ctx, pins, err, err_len);
}

const char *tls_context_thumbprint(const struct tls_context *ctx)
{
        return mod->context_thumbprint(ctx);
}

int tls_conn_new(struct tls_context *ctx, int fd, struct tls_conn **ret)
{
        return mod->conn_new(ctx, fd, ret);
}

struct tls_conn *tls_conn_free(struct tls_conn *c)
{
        return c ? mod->conn_free(c) : NULL;
}

int tls_conn_set_pin(struct tls_conn *c, const char *pin)
{
        return mod->conn_set_pin(c, pin);
}

int tls_conn_fd(const struct tls_conn *c)
{
        return mod->conn_fd(c);
}

uint32_t tls_conn_want(const struct tls_conn *c)
{
        return mod->conn_want(c);
}

const char *tls_conn_error(const struct tls_conn *c)
{
        return mod->conn_error(c);
}

const char *tls_conn_peer_thumbprint(const struct tls_conn *c)
{
        return mod->conn_peer_thumbprint(c);
}

bool tls_conn_established(const struct tls_conn *c)
{
        return mod->conn_established(c);
}

int tls_handshake(struct tls_conn *c)
{
        return mod->handshake(c);
}

ssize_t tls_read(struct tls_conn *c, void *buf, size_t n)
{
        return mod->read(c, buf, n);
}

ssize_t tls_write(struct tls_conn *c, const void *buf, size_t n)
{
        return mod->write(c, buf, n);
}

void tls_shutdown(struct tls_conn *c)
{
        mod->shutdown(c);
}

int tls_certificate_create(enum tls_key_type type, const char *common_name, unsigned days,
                           const char *cert_path, const char *key_path, bool overwrite,
                           char ret_thumbprint[TLS_THUMBPRINT_STR], char *err, size_t err_len)
{
        int r = tls_module_load(err, err_len);

        return r < 0 ? r
                     : mod->certificate_create(type, common_name, days, cert_path, key_path,
                                               overwrite, ret_thumbprint, err, err_len);
}

int tls_certificate_thumbprint(const char *cert_path, char ret[TLS_THUMBPRINT_STR], char *err,
                               size_t err_len)
{
        int r = tls_module_load(err, err_len);

        return r < 0 ? r : mod->certificate_thumbprint(cert_path, ret, err, err_len);
}
