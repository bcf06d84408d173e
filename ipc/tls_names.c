/* SPDX-License-Identifier: MIT */
/* The parts of tls.h that are only text: pins and key type names. They
 * live outside the TLS module (tls_loader.c), so that reading a
 * configuration never loads OpenSSL. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "ipc/tls.h"

int tls_pin_parse(const char *s, char ret[TLS_THUMBPRINT_HEX + 1])
{
        char out[TLS_THUMBPRINT_HEX + 1];

        if (!s)
                return -EINVAL;
        if (strncasecmp(s, "sha256:", 7) == 0)
                s += 7;
        if (strlen(s) != TLS_THUMBPRINT_HEX)
                return -EINVAL;
        for (size_t i = 0; i < TLS_THUMBPRINT_HEX; i++) {
                char ch = s[i];

                if (ch >= 'A' && ch <= 'F')
                        ch = (char)(ch - 'A' + 'a');
                if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
                        return -EINVAL;
                out[i] = ch;
        }
        out[TLS_THUMBPRINT_HEX] = '\0';
        memcpy(ret, out, sizeof(out));
        return 0;
}

int tls_key_type_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        if (strcmp(s, "ec") == 0 || strcmp(s, "p256") == 0 || strcmp(s, "P-256") == 0)
                return TLS_KEY_EC_P256;
        if (strcmp(s, "ed25519") == 0)
                return TLS_KEY_ED25519;
        return -EINVAL;
}
