/* faultline server: the control plane (src/server/, docs/server.md). This
 * file only parses the flags. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"
#include "store/store.h"
#include "util/err.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: faultline server [options]\n\n"
            "Serve the control plane: an HTTP API (docs/api.md) over stored experiments,\n"
            "runs, schedules and webhooks, a scheduler, and /metrics. Each run is its own\n"
            "`faultline run` process: stopping or killing the server leaves no fault behind,\n"
            "and the next server adopts runs that are still going (docs/server.md).\n"
            "Its root URL serves a web console (docs/console.md): overview, runs with probe\n"
            "charts and fault windows, live progress, comparing runs.\n\n"
            "options:\n"
            "  --listen HOST:PORT  address to serve on (default %s; port 0 picks one);\n"
            "                      a non-loopback address needs --tokens\n"
            "  --db PATH|URL       history store: a SQLite file or postgresql://USER@HOST/DB\n"
            "                      (default $FAULTLINE_DB or %s)\n"
            "  --tokens FILE       bearer tokens with roles, one 'NAME ROLE sha256:HEX' a line\n"
            "                      (roles viewer, operator, admin); without it every client\n"
            "                      is admin and only loopback addresses are allowed\n"
            "  --hash-token        read a token on stdin, print its sha256:HEX and exit\n"
            "  --tls-cert FILE     serve HTTPS with this PEM certificate (chain)...\n"
            "  --tls-key FILE      ...and its PEM private key (GnuTLS)\n"
            "  --work-dir DIR      run files and logs (default DB.server/)\n"
            "  --state-dir DIR     journal and guardian directory for the runs\n",
            FL_SERVER_DEFAULT_LISTEN, FL_STORE_DEFAULT_PATH);
}

/* --hash-token: the line a tokens file needs for the token on stdin. */
static int hash_token(void)
{
    char tok[512], out[72];

    if (fgets(tok, sizeof tok, stdin))
        tok[strcspn(tok, "\r\n")] = '\0';
    else
        tok[0] = '\0';
    if (strlen(tok) < 16) {
        fprintf(stderr, "faultline: error: --hash-token reads one token of at least 16 "
                        "characters on stdin (e.g. from `openssl rand -hex 32`)\n");
        return FL_EUSAGE;
    }
    fl_auth_hash(tok, out);
    printf("%s\n", out);
    return 0;
}

int fl_cli_server(int argc, char **argv)
{
    struct fl_server_opts o = {0};
    struct fl_err e = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dest;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--listen")) {
            dest = &o.listen;
        } else if (!strcmp(a, "--hash-token")) {
            return hash_token();
        } else if (!strcmp(a, "--tokens")) {
            dest = &o.tokens;
        } else if (!strcmp(a, "--db")) {
            dest = &o.db;
        } else if (!strcmp(a, "--tls-cert")) {
            dest = &o.tls_cert;
        } else if (!strcmp(a, "--tls-key")) {
            dest = &o.tls_key;
        } else if (!strcmp(a, "--work-dir")) {
            dest = &o.work_dir;
        } else if (!strcmp(a, "--state-dir")) {
            dest = &o.state_dir;
        } else {
            fl_err_set(&e, FL_EUSAGE, "unexpected argument %s; run `faultline server --help`", a);
            return fl_cli_fail(&e);
        }
        if (i + 1 >= argc) {
            fl_err_set(&e, FL_EUSAGE, "%s needs a value", a);
            return fl_cli_fail(&e);
        }
        *dest = argv[++i];
    }
    if (fl_server_run(&o, &e))
        return fl_cli_fail(&e);
    return 0;
}
