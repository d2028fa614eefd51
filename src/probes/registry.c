/* The probe registry: every probe kind, one line each. Adding a kind is one
 * file defining a struct fl_probe_ops plus a line here and in meson.build. */
#include <string.h>

#include "probes/probe.h"

extern const struct fl_probe_ops fl_probe_tcp;
extern const struct fl_probe_ops fl_probe_command;
extern const struct fl_probe_ops fl_probe_http;
extern const struct fl_probe_ops fl_probe_prometheus;
extern const struct fl_probe_ops fl_probe_redis;
extern const struct fl_probe_ops fl_probe_sql;

static const struct fl_probe_ops *const kinds[] = {
    &fl_probe_tcp,   &fl_probe_command, &fl_probe_http, &fl_probe_prometheus,
    &fl_probe_redis, &fl_probe_sql,     NULL,
};

const struct fl_probe_ops *const *fl_probe_kinds(void)
{
    return kinds;
}

const struct fl_probe_ops *fl_probe_lookup(const char *kind)
{
    for (size_t i = 0; kinds[i]; i++)
        if (!strcmp(kinds[i]->kind, kind))
            return kinds[i];
    return NULL;
}
