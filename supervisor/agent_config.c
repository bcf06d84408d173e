/* SPDX-License-Identifier: MIT */
/* stepd.json's agent-link keys: see agent_config.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "ipc/tls.h"
#include "supervisor/agent_config.h"
#include "supervisor/agents.h"

void link_config_done(struct link_config *c)
{
        free(c->tls_certificate);
        free(c->tls_key);
        free(c->listen);
        free(c->agent_certificate);
        free(c->agent_key);
        strv_free(c->trusted);
        strv_free(c->labels);
        *c = (struct link_config){ 0 };
}

static int only_keys(const json_t *o, const char *where, const char *const *keys, char *err,
                     size_t err_len)
{
        const char *k;
        json_t *v;

        json_object_foreach((json_t *)o, k, v) {
                bool known = false;
                for (const char *const *p = keys; *p; p++)
                        known = known || strcmp(*p, k) == 0;
                if (!known) {
                        snprintf(err, err_len, "stepd.json: %s.%s: unknown key", where, k);
                        return -EINVAL;
                }
        }
        return 0;
}

static int get_path(const json_t *o, const char *where, const char *key, bool required,
                    char **ret, char *err, size_t err_len)
{
        const json_t *v = json_object_get(o, key);
        const char *s = json_string_value(v);

        if (!v && !required)
                return 0;
        if (!s || s[0] != '/') {
                snprintf(err, err_len, "stepd.json: %s.%s: expected an absolute path", where,
                         key);
                return -EINVAL;
        }
        return (*ret = strdup(s)) ? 0 : -ENOMEM;
}

static int parse_tls(const json_t *o, struct link_config *c, char *err, size_t err_len)
{
        static const char *const keys[] = { "certificate", "key", NULL };
        int r;

        if (!json_is_object(o)) {
                snprintf(err, err_len, "stepd.json: tls: expected {\"certificate\", \"key\"}");
                return -EINVAL;
        }
        if ((r = only_keys(o, "tls", keys, err, err_len)) < 0 ||
            (r = get_path(o, "tls", "certificate", true, &c->tls_certificate, err, err_len)) < 0)
                return r;
        return get_path(o, "tls", "key", true, &c->tls_key, err, err_len);
}

static int parse_trusted(const json_t *v, struct link_config *c, char *err, size_t err_len)
{
        size_t i;
        json_t *e;

        if (!json_is_array(v) || json_array_size(v) == 0) {
                snprintf(err, err_len, "stepd.json: agent.trusted: expected a non-empty array of "
                                       "thumbprints (sha256:<64 hex digits>)");
                return -EINVAL;
        }
        json_array_foreach(v, i, e) {
                char hex[TLS_THUMBPRINT_HEX + 1], full[TLS_THUMBPRINT_STR];
                if (tls_pin_parse(json_string_value(e), hex) < 0) {
                        snprintf(err, err_len, "stepd.json: agent.trusted[%zu]: expected "
                                               "sha256:<64 hex digits>", i);
                        return -EINVAL;
                }
                snprintf(full, sizeof(full), "sha256:%s", hex);
                if (strv_push(&c->trusted, full) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_labels(const json_t *v, struct link_config *c, char *err, size_t err_len)
{
        const char *k;
        json_t *e;

        if (!json_is_object(v)) {
                snprintf(err, err_len, "stepd.json: agent.labels: expected an object of strings");
                return -EINVAL;
        }
        json_object_foreach((json_t *)v, k, e) {
                _cleanup_free_ char *kv = NULL;
                if (!json_is_string(e) || !*k || strchr(k, '=') ||
                    asprintf(&kv, "%s=%s", k, json_string_value(e)) < 0) {
                        snprintf(err, err_len, "stepd.json: agent.labels.%s: expected a string",
                                 k);
                        return -EINVAL;
                }
                if (strv_push(&c->labels, kv) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_agent(const json_t *o, struct link_config *c, char *err, size_t err_len)
{
        static const char *const keys[] = { "listen", "certificate", "key", "trusted", "labels",
                                             NULL };
        const char *listen = json_string_value(json_object_get(o, "listen"));
        char host[64];
        uint16_t port;
        int r;

        if (!json_is_object(o)) {
                snprintf(err, err_len, "stepd.json: agent: expected an object");
                return -EINVAL;
        }
        if ((r = only_keys(o, "agent", keys, err, err_len)) < 0)
                return r;
        if (!listen || tcp_parse_address(listen, host, sizeof(host), &port) < 0 || port == 0) {
                snprintf(err, err_len, "stepd.json: agent.listen: expected \"address:port\" "
                                       "(\"*:7443\", \"10.0.0.2:7443\", \"[::]:7443\")");
                return -EINVAL;
        }
        if (!(c->listen = strdup(listen)))
                return -ENOMEM;
        if ((r = get_path(o, "agent", "certificate", true, &c->agent_certificate, err,
                          err_len)) < 0 ||
            (r = get_path(o, "agent", "key", true, &c->agent_key, err, err_len)) < 0 ||
            (r = parse_trusted(json_object_get(o, "trusted"), c, err, err_len)) < 0)
                return r;
        if (json_object_get(o, "labels"))
                return parse_labels(json_object_get(o, "labels"), c, err, err_len);
        return 0;
}

int link_config_parse(const json_t *o, struct link_config *ret, char *err, size_t err_len)
{
        struct link_config c = { .health_interval_ms = AGENTS_INTERVAL_MS_DEFAULT };
        const json_t *v;
        int r = 0;

        if ((v = json_object_get(o, "tls")))
                r = parse_tls(v, &c, err, err_len);
        if (r == 0 && (v = json_object_get(o, "agent")))
                r = parse_agent(v, &c, err, err_len);
        if (r == 0 && (v = json_object_get(o, "health_interval"))) {
                if (!json_is_string(v) ||
                    parse_duration_ms(json_string_value(v), &c.health_interval_ms) < 0 ||
                    c.health_interval_ms < 100 || c.health_interval_ms > 3600000) {
                        snprintf(err, err_len, "stepd.json: health_interval: expected a duration "
                                               "from 100ms to 1h");
                        r = -EINVAL;
                }
        }
        if (r < 0) {
                link_config_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}
