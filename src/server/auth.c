/* Roles and bearer tokens: who may read (viewer), change experiments,
 * schedules and runs (operator), and manage webhooks and read the audit
 * log (admin). */
#include "server/server.h"

const char *fl_role_name(enum fl_role r)
{
    static const char *const names[] = {"none", "viewer", "operator", "admin"};

    return r >= FL_ROLE_NONE && r <= FL_ROLE_ADMIN ? names[r] : "none";
}
