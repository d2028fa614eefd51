/* Roles and bearer tokens: viewer reads; operator also changes experiments,
 * schedules and runs; admin also manages webhooks and reads the audit log.
 * The tokens file holds one token per line, "NAME ROLE sha256:HEX", the
 * SHA-256 of the token (GnuTLS), never the token itself; `faultline server
 * --hash-token` prints the hash of a token read on stdin. Comparison is in
 * constant time. docs/server.md ("Tokens"). */
#include <ctype.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"

#define MAX_TOKENS 1024

struct fl_token {
    char name[64];
    enum fl_role role;
    unsigned char hash[32];
};

struct fl_auth {
    size_t n;
    struct fl_token t[];
};

const char *fl_role_name(enum fl_role r)
{
    static const char *const names[] = {"none", "viewer", "operator", "admin"};

    return r >= FL_ROLE_NONE && r <= FL_ROLE_ADMIN ? names[r] : "none";
}

static void sha256(const char *token, unsigned char out[32])
{
    gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), out);
}

void fl_auth_hash(const char *token, char out[72])
{
    unsigned char h[32];

    sha256(token, h);
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", h[i]);
}

static int parse_hex(const char *s, unsigned char out[32])
{
    if (strncmp(s, "sha256:", 7) || strlen(s + 7) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)s[7 + 2 * i]) || !isxdigit((unsigned char)s[8 + 2 * i]) ||
            sscanf(s + 7 + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

static enum fl_role role_of(const char *s)
{
    for (int r = FL_ROLE_VIEWER; r <= FL_ROLE_ADMIN; r++)
        if (!strcmp(s, fl_role_name((enum fl_role)r)))
            return (enum fl_role)r;
    return FL_ROLE_NONE;
}

/* One line "NAME ROLE sha256:HEX" into t. */
static int parse_line(const char *path, int lineno, char *line, struct fl_token *t,
                      struct fl_err *e)
{
    char *save = NULL, *name = strtok_r(line, " \t", &save), *role = strtok_r(NULL, " \t", &save),
         *hash = strtok_r(NULL, " \t", &save), *extra = strtok_r(NULL, " \t", &save);

    if (!name || !role || !hash || extra)
        return fl_err_set(e, FL_EUSAGE,
                          "%s:%d: expected NAME ROLE sha256:HEX (hash a token with `faultline "
                          "server --hash-token`)",
                          path, lineno);
    if (strlen(name) >= sizeof t->name)
        return fl_err_set(e, FL_EUSAGE, "%s:%d: token name longer than 63 bytes", path, lineno);
    snprintf(t->name, sizeof t->name, "%s", name);
    if ((t->role = role_of(role)) == FL_ROLE_NONE)
        return fl_err_set(e, FL_EUSAGE, "%s:%d: role '%s': use viewer, operator or admin", path,
                          lineno, role);
    if (parse_hex(hash, t->hash))
        return fl_err_set(e, FL_EUSAGE,
                          "%s:%d: '%.20s...' is not sha256: and 64 hex digits; the file holds "
                          "hashes, not tokens (`faultline server --hash-token`)",
                          path, lineno, hash);
    return 0;
}

int fl_auth_load(const char *path, struct fl_auth **out, struct fl_err *e)
{
    FILE *f = fopen(path, "re");
    struct fl_auth *a;
    char line[512];
    int lineno = 0;

    *out = NULL;
    if (!f)
        return fl_err_set(e, FL_EUSAGE, "--tokens %s: %s", path, strerror(errno));
    if (!(a = calloc(1, sizeof *a + MAX_TOKENS * sizeof a->t[0]))) {
        fclose(f);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    while (fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        lineno++;
        p[strcspn(p, "\r\n")] = '\0';
        if (!*p || *p == '#')
            continue;
        if (a->n == MAX_TOKENS || parse_line(path, lineno, p, &a->t[a->n], e)) {
            if (a->n == MAX_TOKENS)
                fl_err_set(e, FL_EUSAGE, "%s: more than %d tokens", path, MAX_TOKENS);
            fclose(f);
            free(a);
            return -FL_EUSAGE;
        }
        a->n++;
    }
    fclose(f);
    if (!a->n) {
        free(a);
        return fl_err_set(e, FL_EUSAGE,
                          "--tokens %s holds no token; add lines NAME ROLE sha256:HEX", path);
    }
    *out = a;
    return 0;
}

void fl_auth_free(struct fl_auth *a)
{
    free(a);
}

enum fl_role fl_auth_check(const struct fl_auth *a, const char *token, const char **who)
{
    unsigned char h[32];
    enum fl_role role = FL_ROLE_NONE;

    sha256(token, h);
    for (size_t i = 0; i < a->n; i++) {
        unsigned diff = 0;
        for (int k = 0; k < 32; k++)
            diff |= (unsigned)(h[k] ^ a->t[i].hash[k]);
        if (!diff && role == FL_ROLE_NONE) {
            role = a->t[i].role;
            *who = a->t[i].name;
        }
    }
    return role;
}
