/* The devices and root qdiscs of network.bandwidth and the netem kinds
 * (faults/root_qdisc.h). */
#include "faults/root_qdisc.h"

#include <stdio.h>
#include <stdlib.h>

#include "faults/network_common.h"

size_t fl_rootq_dev_names(const json_t *params, const char **names, size_t cap)
{
    json_t *dev = json_object_get(params, "dev");
    size_t n = 0;

    if (json_is_string(dev) && cap)
        names[n++] = json_string_value(dev);
    for (size_t i = 0; json_is_array(dev) && i < json_array_size(dev) && n < cap; i++)
        names[n++] = json_string_value(json_array_get(dev, i));
    return n;
}

/* 0 when faultline may put its root qdisc on d. */
static int root_free(const struct fl_tc_dev *d, const char *where, struct fl_err *e)
{
    if (d->root_handle == FL_TC_HANDLE)
        return fl_err_set(e, FL_EREFUSED,
                          "%s in %s is already shaped by faultline (root qdisc fa17:, %s): "
                          "another network.bandwidth or netem fault holds it, or a leftover "
                          "that `faultline recover --all` removes",
                          d->name, where, d->root_kind);
    if (d->root_handle)
        return fl_err_set(e, FL_EREFUSED,
                          "%s in %s already has a configured root qdisc (%s %x:); faultline "
                          "never replaces a qdisc it did not create. Remove it yourself "
                          "(`tc qdisc del dev %s root`) if that is what you want",
                          d->name, where, d->root_kind, d->root_handle >> 16, d->name);
    return 0;
}

int fl_rootq_devices(const struct fl_fault *f, const struct fl_netns_scope *scope,
                     const char *where, struct fl_tc_dev **devs, size_t *n, struct fl_err *e)
{
    const char *names[FL_ROOTQ_MAX_DEVS];
    size_t nnames = fl_rootq_dev_names(f->params, names, FL_ROOTQ_MAX_DEVS);
    struct fl_netns_guard g;
    int r;

    *devs = NULL;
    *n = 0;
    if (scope->host && !nnames)
        return fl_err_set(e, FL_EUSAGE,
                          "%s is the host's network namespace: %s needs --dev IFACE there, so "
                          "the host's uplink is never shaped by default",
                          where, f->ops->kind);
    if ((r = fl_netns_enter(scope, &g, e)))
        return r;
    r = fl_tc_devices(nnames ? names : NULL, nnames, devs, n, e);
    fl_netns_leave(&g);
    if (r)
        return fl_err_prefix(e, "%s", where);
    if (!*n)
        r = fl_err_set(e, FL_ENOTARGET, "%s has no network device besides lo to shape", where);
    for (size_t i = 0; i < *n && !r; i++)
        r = root_free(&(*devs)[i], where, e);
    if (r) {
        free(*devs);
        *devs = NULL;
        *n = 0;
    }
    return r;
}

int fl_rootq_apply(const struct fl_fault *f, fl_rootq_add_fn add, const void *arg, struct fl_err *e)
{
    json_t *devs = json_object_get(f->undo, "devices");
    struct fl_netns_guard g;
    int r = fl_netfault_enter_recorded(f, &g, e);

    if (r == 0)
        return fl_err_set(e, FL_ENOTARGET,
                          "the namespace disappeared before the fault was applied");
    if (r < 0)
        return r;
    r = 0;
    for (size_t i = 0; i < json_array_size(devs) && !r; i++) {
        json_t *d = json_array_get(devs, i);
        r = add(d, (int)json_integer_value(json_object_get(d, "ifindex")),
                json_string_value(json_object_get(d, "name")), arg, e);
    }
    fl_netns_leave(&g);
    return r;
}

int fl_rootq_revert(const struct fl_fault *f, struct fl_err *e)
{
    json_t *devs = json_object_get(f->undo, "devices");
    struct fl_netns_guard g;
    int r, first = 0;

    if (!devs || !json_object_get(f->undo, "scope"))
        return 0; /* never planned, so never applied */
    if ((r = fl_netfault_enter_recorded(f, &g, e)) <= 0)
        return r;
    for (size_t i = 0; i < json_array_size(devs); i++) {
        json_t *d = json_array_get(devs, i);
        struct fl_err e2 = {0};
        r = fl_tc_tbf_del((int)json_integer_value(json_object_get(d, "ifindex")),
                          json_string_value(json_object_get(d, "name")), &e2);
        if (r < 0 && !first) {
            first = r;
            *e = e2;
        }
    }
    fl_netns_leave(&g);
    return first;
}

void fl_rootq_claims(const struct fl_fault *f, json_t *out)
{
    json_t *devs = json_object_get(f->undo, "devices"), *d;
    char scope[300], key[400];
    size_t i;

    fl_netfault_scope_id(f, scope, sizeof scope);
    json_array_foreach (devs, i, d) {
        snprintf(key, sizeof key, "the root qdisc of %s in %s",
                 json_string_value(json_object_get(d, "name")), scope);
        json_object_set_new(out, key, json_integer(FL_CLAIM_EXCLUSIVE));
    }
}
