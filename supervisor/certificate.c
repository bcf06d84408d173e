/* SPDX-License-Identifier: MIT */
/* stepd new-certificate --cert FILE --key FILE [--name CN] [--days N]
 *                       [--type ec|ed25519] [--force]
 * stepd new-certificate --thumbprint FILE
 *
 * Makes a key and a self-signed certificate for the agent link (TLS with
 * pinned thumbprints, docs/agents.md) and prints the certificate's
 * thumbprint, "sha256:<64 hex digits>", on stdout: that line is what the
 * other side puts in its configuration. The key is written with mode 0600,
 * the certificate 0644; existing files are kept unless --force. With
 * --thumbprint, prints the thumbprint of an existing certificate. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/tls.h"
#include "supervisor/verbs.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: stepd new-certificate --cert FILE --key FILE [OPTIONS]\n"
                "       stepd new-certificate --thumbprint FILE\n\n"
                "Make a key and a self-signed certificate for the agent link and print\n"
                "the certificate's thumbprint (sha256:<hex>) for the other side to pin.\n\n"
                "  --cert FILE        where to write the certificate (PEM, mode 0644)\n"
                "  --key FILE         where to write the private key (PEM, mode 0600)\n"
                "  --name CN          the certificate's common name (default: host name)\n"
                "  --days N           validity in days (default 3650)\n"
                "  --type TYPE        ec (P-256, the default) or ed25519\n"
                "  --force            replace existing files\n"
                "  --thumbprint FILE  print the thumbprint of an existing certificate\n"
                "  -h, --help         this help\n");
}

struct cert_args {
        const char *cert, *key, *name, *show;
        unsigned days;
        int type;
        bool force;
};

static int parse_args(int argc, char **argv, struct cert_args *a)
{
        static const struct option opts[] = {
                { "cert", required_argument, NULL, 'c' },
                { "key", required_argument, NULL, 'k' },
                { "name", required_argument, NULL, 'n' },
                { "days", required_argument, NULL, 'd' },
                { "type", required_argument, NULL, 't' },
                { "force", no_argument, NULL, 'f' },
                { "thumbprint", required_argument, NULL, 'T' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        uint64_t v;
        int opt;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (opt) {
                case 'c': a->cert = optarg; break;
                case 'k': a->key = optarg; break;
                case 'n': a->name = optarg; break;
                case 'f': a->force = true; break;
                case 'T': a->show = optarg; break;
                case 'd':
                        if (parse_uint64(optarg, &v) < 0 || v == 0 || v > 36500) {
                                fprintf(stderr, "stepd new-certificate: --days: '%s' is not "
                                                "a number of days from 1 to 36500\n", optarg);
                                return 2;
                        }
                        a->days = (unsigned)v;
                        break;
                case 't':
                        a->type = tls_key_type_from_string(optarg);
                        if (a->type < 0) {
                                fprintf(stderr, "stepd new-certificate: --type: '%s' is not "
                                                "ec or ed25519\n", optarg);
                                return 2;
                        }
                        break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "stepd new-certificate: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        return -1; /* go on */
}

static int show_thumbprint(const char *path)
{
        char tp[TLS_THUMBPRINT_STR], err[512];

        if (tls_certificate_thumbprint(path, tp, err, sizeof(err)) < 0) {
                fprintf(stderr, "stepd new-certificate: %s\n", err);
                return 1;
        }
        printf("%s\n", tp);
        return 0;
}

int verb_new_certificate(int argc, char **argv)
{
        struct cert_args a = { .days = 3650, .type = TLS_KEY_EC_P256 };
        char host[HOST_NAME_MAX + 1] = "stepd";
        char tp[TLS_THUMBPRINT_STR], err[512];
        int r = parse_args(argc, argv, &a);

        if (r >= 0)
                return r;
        if (a.show)
                return show_thumbprint(a.show);
        if (!a.cert || !a.key) {
                fprintf(stderr, "stepd new-certificate: --cert and --key are required\n");
                return 2;
        }
        if (strcmp(a.cert, a.key) == 0) {
                fprintf(stderr, "stepd new-certificate: --cert and --key must be different files\n");
                return 2;
        }
        if (!a.name) {
                if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                        snprintf(host, sizeof(host), "stepd");
                a.name = host;
        }
        if (strlen(a.name) > 64) {
                fprintf(stderr, "stepd new-certificate: --name: at most 64 bytes\n");
                return 2;
        }
        r = tls_certificate_create(a.type, a.name, a.days, a.cert, a.key, a.force, tp, err,
                                   sizeof(err));
        if (r < 0) {
                fprintf(stderr, "stepd new-certificate: %s\n", err);
                return 1;
        }
        printf("%s\n", tp);
        return 0;
}
