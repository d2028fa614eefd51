/* A JSON client of the server's API for the CLI (api_client.c). */
#ifndef FL_CLI_API_CLIENT_H
#define FL_CLI_API_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#define FL_CLI_DEFAULT_SERVER "http://127.0.0.1:7420"
#define FL_CLI_CLIENT_HELP                                                                         \
    "  --server URL        the server (default $FAULTLINE_SERVER or " FL_CLI_DEFAULT_SERVER ")\n"  \
    "  --token TOKEN       bearer token (default $FAULTLINE_TOKEN)\n"                              \
    "  --token-file FILE   read the token from FILE's first line (or $FAULTLINE_TOKEN_FILE)\n"

struct fl_cli_client {
    const char *server, *token, *token_file;
};

/* Consume --server/--token/--token-file at argv[*i] (also --opt=VALUE):
 * 1 consumed, 0 not ours, -1 missing value. */
int fl_cli_client_opt(struct fl_cli_client *c, int argc, char **argv, int *i);
/* One request; returns the HTTP status (reply parsed into *out, may be NULL),
 * or -1 when the server cannot be reached (message printed). */
int fl_cli_api(struct fl_cli_client *c, const char *method, const char *path, json_t *body,
               json_t **out);
/* GET path as text (*out malloc'd); prints the API error unless 200. */
int fl_cli_api_text(struct fl_cli_client *c, const char *path, char **out);
/* s escaped for a URL query (malloc'd), NULL on failure. */
char *fl_cli_url_escape(const char *s);
/* The server's URL: --server, else $FAULTLINE_SERVER, else the default. */
const char *fl_cli_server_url(const struct fl_cli_client *c);
/* As fl_cli_api_fail, naming the server in the message. */
int fl_cli_api_fail_at(const struct fl_cli_client *c, int status, json_t *reply);
/* Print the API error and return the exit code: 2 bad request, 3 not
 * found, 4 conflict, 5 unauthenticated/forbidden, 1 otherwise. */
int fl_cli_api_fail(int status, json_t *reply);
/* 0, or FL_EUSAGE with a message when name cannot be an experiment or
 * schedule name (it goes into the URL path). */
int fl_cli_name_check(const char *what, const char *name);
/* ms since the epoch as UTC, or "-" */
void fl_cli_format_ms(json_t *ms, char *buf, size_t len);

#endif
