/* SPDX-License-Identifier: MIT */
/* A small recursive scanner over JSON text jansson has already parsed: it
 * trusts the grammar (jansson checked it) and only records where each key
 * path starts. Nesting is bounded so hostile depth cannot exhaust the stack. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, strndup */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "policy/jpos.h"

#define JPOS_DEPTH_MAX 64
#define JPOS_PATH_MAX 512

struct scan {
        const char *s;
        size_t len, i;
        int line, col;
        struct jpos *out;
};

static int peek(const struct scan *sc)
{
        return sc->i < sc->len ? (unsigned char)sc->s[sc->i] : -1;
}

static void advance(struct scan *sc)
{
        unsigned char c;

        if (sc->i >= sc->len)
                return;
        c = (unsigned char)sc->s[sc->i++];
        if (c == '\n') {
                sc->line++;
                sc->col = 1;
        } else if ((c & 0xC0) != 0x80) {
                /* a character starts here; continuation bytes do not count */
                sc->col++;
        }
}

static void skip_ws(struct scan *sc)
{
        for (int c = peek(sc); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = peek(sc))
                advance(sc);
}

static int add(struct scan *sc, const char *path, int kl, int kc, int l, int c)
{
        struct jpos *p = sc->out;

        if (p->n == p->cap) {
                size_t ncap = p->cap ? p->cap * 2 : 32;
                struct jpos_entry *nv = realloc(p->v, ncap * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                p->v = nv;
                p->cap = ncap;
        }
        p->v[p->n].path = strdup(path);
        if (!p->v[p->n].path)
                return -ENOMEM;
        p->v[p->n].key_line = kl;
        p->v[p->n].key_col = kc;
        p->v[p->n].line = l;
        p->v[p->n].col = c;
        p->n++;
        return 0;
}

static void put_utf8(char *buf, size_t len, size_t *o, uint32_t cp)
{
        char tmp[4];
        size_t n;

        if (cp < 0x80) {
                tmp[0] = (char)cp;
                n = 1;
        } else if (cp < 0x800) {
                tmp[0] = (char)(0xC0 | (cp >> 6));
                tmp[1] = (char)(0x80 | (cp & 0x3F));
                n = 2;
        } else if (cp < 0x10000) {
                tmp[0] = (char)(0xE0 | (cp >> 12));
                tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                tmp[2] = (char)(0x80 | (cp & 0x3F));
                n = 3;
        } else {
                tmp[0] = (char)(0xF0 | (cp >> 18));
                tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                tmp[3] = (char)(0x80 | (cp & 0x3F));
                n = 4;
        }
        for (size_t k = 0; k < n && *o + 1 < len; k++)
                buf[(*o)++] = tmp[k];
}

static uint32_t hex4(struct scan *sc)
{
        uint32_t v = 0;

        for (int k = 0; k < 4; k++) {
                int c = peek(sc);
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (uint32_t)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (uint32_t)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (uint32_t)(c - 'A' + 10);
                advance(sc);
        }
        return v;
}

static uint32_t escape(struct scan *sc)
{
        int c = peek(sc);

        advance(sc);
        switch (c) {
        case 'b': return '\b';
        case 'f': return '\f';
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case 'u': {
                uint32_t cp = hex4(sc);
                if (cp >= 0xD800 && cp < 0xDC00 && peek(sc) == '\\') {
                        advance(sc);
                        advance(sc); /* 'u' */
                        uint32_t lo = hex4(sc);
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                return cp;
        }
        default: return (uint32_t)c; /* '"', '\\', '/' */
        }
}

/* At '"': decode the string into buf (truncated) and step past it. */
static void scan_string(struct scan *sc, char *buf, size_t len)
{
        size_t o = 0;

        advance(sc);
        for (int c = peek(sc); c >= 0 && c != '"'; c = peek(sc)) {
                if (c == '\\') {
                        advance(sc);
                        put_utf8(buf, len, &o, escape(sc));
                        continue;
                }
                if (o + 1 < len)
                        buf[o++] = (char)c;
                advance(sc);
        }
        advance(sc);
        if (len)
                buf[o] = 0;
}

static int scan_value(struct scan *sc, const char *path, int kl, int kc, unsigned depth);

static int scan_object(struct scan *sc, const char *path, unsigned depth)
{
        char key[256], child[JPOS_PATH_MAX];
        int r;

        advance(sc); /* '{' */
        for (;;) {
                skip_ws(sc);
                if (peek(sc) != '"')
                        break;
                int kl = sc->line, kc = sc->col;
                scan_string(sc, key, sizeof(key));
                skip_ws(sc);
                advance(sc); /* ':' */
                skip_ws(sc);
                jpath_key(child, sizeof(child), path, key);
                r = scan_value(sc, child, kl, kc, depth + 1);
                if (r < 0)
                        return r;
                skip_ws(sc);
                if (peek(sc) != ',')
                        break;
                advance(sc);
        }
        advance(sc); /* '}' */
        return 0;
}

static int scan_array(struct scan *sc, const char *path, unsigned depth)
{
        char child[JPOS_PATH_MAX];
        int r;

        advance(sc); /* '[' */
        for (size_t i = 0;; i++) {
                skip_ws(sc);
                if (peek(sc) == ']' || peek(sc) < 0)
                        break;
                jpath_index(child, sizeof(child), path, i);
                r = scan_value(sc, child, 0, 0, depth + 1);
                if (r < 0)
                        return r;
                skip_ws(sc);
                if (peek(sc) != ',')
                        break;
                advance(sc);
        }
        advance(sc); /* ']' */
        return 0;
}

/* Deeper than we index: step over the value without recursion. */
static void skip_value(struct scan *sc)
{
        size_t nest = 0;
        char dummy[1];

        for (int c = peek(sc); c >= 0; c = peek(sc)) {
                if (c == '"') {
                        scan_string(sc, dummy, sizeof(dummy));
                } else if (c == '{' || c == '[') {
                        nest++;
                        advance(sc);
                } else if (c == '}' || c == ']') {
                        if (nest == 0)
                                return;
                        nest--;
                        advance(sc);
                } else if (c == ',' && nest == 0) {
                        return;
                } else {
                        advance(sc);
                }
                if (nest == 0 && (c == '}' || c == ']' || c == '"'))
                        return;
        }
}

static int scan_value(struct scan *sc, const char *path, int kl, int kc, unsigned depth)
{
        char dummy[1];
        int r, c = peek(sc);

        if (depth > JPOS_DEPTH_MAX) {
                skip_value(sc);
                return 0;
        }
        r = add(sc, path, kl, kc, sc->line, sc->col);
        if (r < 0)
                return r;
        if (c == '{')
                return scan_object(sc, path, depth);
        if (c == '[')
                return scan_array(sc, path, depth);
        if (c == '"') {
                scan_string(sc, dummy, sizeof(dummy));
                return 0;
        }
        /* number, true, false, null */
        for (c = peek(sc); c >= 0 && !strchr(",]} \t\r\n", c); c = peek(sc))
                advance(sc);
        return 0;
}

int jpos_build(const char *text, size_t len, struct jpos *ret)
{
        struct jpos p = { 0 };
        struct scan sc = { .s = text, .len = len, .line = 1, .col = 1, .out = &p };
        int r;

        skip_ws(&sc);
        r = scan_value(&sc, "", 0, 0, 0);
        if (r < 0) {
                jpos_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

void jpos_done(struct jpos *p)
{
        for (size_t i = 0; i < p->n; i++)
                free(p->v[i].path);
        free(p->v);
        *p = (struct jpos){ 0 };
}

bool jpos_find(const struct jpos *p, const char *path, bool key, int *ret_line, int *ret_col)
{
        for (size_t i = 0; p && i < p->n; i++) {
                const struct jpos_entry *e = &p->v[i];
                if (strcmp(e->path, path) != 0)
                        continue;
                if (key && e->key_line > 0) {
                        *ret_line = e->key_line;
                        *ret_col = e->key_col;
                } else {
                        *ret_line = e->line;
                        *ret_col = e->col;
                }
                return true;
        }
        return false;
}

void jpath_key(char *buf, size_t len, const char *parent, const char *key)
{
        snprintf(buf, len, "%s%s%s", parent, parent[0] ? "." : "", key);
}

void jpath_index(char *buf, size_t len, const char *parent, size_t i)
{
        snprintf(buf, len, "%s[%zu]", parent, i);
}
