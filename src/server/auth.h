/* Bearer tokens and roles (auth.c), shared by `faultline server` and
 * `faultline agent`: a tokens file of "NAME ROLE sha256:HEX" lines, checked
 * in constant time. docs/server.md ("Tokens"). */
#ifndef FL_SERVER_AUTH_H
#define FL_SERVER_AUTH_H

#include "util/err.h"

enum fl_role { FL_ROLE_NONE, FL_ROLE_VIEWER, FL_ROLE_OPERATOR, FL_ROLE_ADMIN };

struct fl_auth;

int fl_auth_load(const char *path, struct fl_auth **out, struct fl_err *e);
void fl_auth_free(struct fl_auth *a);
/* The role of a bearer token (FL_ROLE_NONE if unknown), its name in *who. */
enum fl_role fl_auth_check(const struct fl_auth *a, const char *token, const char **who);
/* "sha256:<64 hex>" of a token. */
void fl_auth_hash(const char *token, char out[72]);
const char *fl_role_name(enum fl_role r);

#endif
