/* The workload and client registries: adding one is a new file plus a line
 * here (and in meson.build). */
#include <stdio.h>
#include <string.h>

#include "workload/workload.h"

extern const struct fl_wl_ops fl_wl_register, fl_wl_bank, fl_wl_set, fl_wl_counter, fl_wl_queue,
    fl_wl_list_append, fl_wl_rw_register;
extern const struct fl_wl_client_ops fl_wl_client_redis, fl_wl_client_postgres, fl_wl_client_etcd,
    fl_wl_client_http;

static const struct fl_wl_ops *const workloads[] = {
    &fl_wl_register, &fl_wl_bank,        &fl_wl_set,         &fl_wl_counter,
    &fl_wl_queue,    &fl_wl_list_append, &fl_wl_rw_register, NULL,
};

static const struct fl_wl_client_ops *const clients[] = {
    &fl_wl_client_redis, &fl_wl_client_postgres, &fl_wl_client_etcd, &fl_wl_client_http, NULL,
};

const struct fl_wl_ops *const *fl_wl_workloads(void)
{
    return workloads;
}

const struct fl_wl_client_ops *const *fl_wl_clients(void)
{
    return clients;
}

const struct fl_wl_ops *fl_wl_find(const char *name)
{
    for (size_t i = 0; workloads[i]; i++)
        if (!strcmp(workloads[i]->name, name))
            return workloads[i];
    return NULL;
}

const struct fl_wl_client_ops *fl_wl_client_find(const char *name)
{
    for (size_t i = 0; clients[i]; i++)
        if (!strcmp(clients[i]->name, name))
            return clients[i];
    return NULL;
}

const struct fl_wl_client_impl *fl_wl_client_find_impl(const struct fl_wl_client_ops *cl,
                                                       const char *workload)
{
    for (const struct fl_wl_client_impl *i = cl->impls; i->workload; i++)
        if (!strcmp(i->workload, workload))
            return i;
    return NULL;
}

bool fl_wl_client_supports(const struct fl_wl_client_ops *cl, const char *workload)
{
    return fl_wl_client_find_impl(cl, workload) != NULL;
}

/* Append ", name" (or "name" first) to buf, truncating. */
static void add_name(char *buf, size_t len, const char *name)
{
    size_t used = strlen(buf);

    if (used < len)
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

void fl_wl_workload_names(char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; workloads[i]; i++)
        add_name(buf, len, workloads[i]->name);
}

void fl_wl_client_names(char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; clients[i]; i++)
        add_name(buf, len, clients[i]->name);
}

void fl_wl_client_workload_names(const struct fl_wl_client_ops *cl, char *buf, size_t len)
{
    buf[0] = '\0';
    for (const struct fl_wl_client_impl *i = cl->impls; i->workload; i++)
        add_name(buf, len, i->workload);
}
