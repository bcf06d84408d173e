/* SPDX-License-Identifier: MIT */
#pragma once

/* The agent link's settings in stepd.json (docs/agents.md):
 *
 *   "tls": {"certificate": PATH, "key": PATH}   this host's identity when it
 *                                               connects to its agents
 *   "health_interval": "5s"                     how often agents are probed
 *   "agent": {"listen": "*:7443",               agent mode (stepd agent)
 *             "certificate": PATH, "key": PATH,
 *             "trusted": ["sha256:<hex>", ...], supervisors it serves
 *             "labels": {"key": "value"}}       reported in status
 *
 * policy/ keeps these keys as given (policy_link_settings); this checks them
 * strictly: every key known, every value of its type, pins well formed. */

#include <stdint.h>

#include <jansson.h>

struct link_config {
        char *tls_certificate, *tls_key;
        uint64_t health_interval_ms;
        char *listen;               /* NULL: no "agent" block */
        char *agent_certificate, *agent_key;
        char **trusted;             /* "sha256:<hex>" */
        char **labels;              /* "key=value" */
};

/* o may be NULL (nothing configured). -EINVAL with err naming the key. */
int link_config_parse(const json_t *o, struct link_config *ret, char *err, size_t err_len);
void link_config_done(struct link_config *c);
