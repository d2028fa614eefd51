/* What the faults that own a device's root qdisc (network.bandwidth's tbf,
 * the netem kinds) share: which devices they act on, the refusal of a root
 * qdisc someone else holds, applying per device inside the recorded scope,
 * the revert, and the exclusive claim on each device's root qdisc.
 *
 * undo: "scope" (net/netns.h), "devices": [{"name", "ifindex", ...}]. */
#ifndef FL_FAULTS_ROOT_QDISC_H
#define FL_FAULTS_ROOT_QDISC_H

#include <jansson.h>
#include <stddef.h>

#include "faults/fault.h"
#include "net/netns.h"
#include "net/tc.h"

#define FL_ROOTQ_MAX_DEVS 32

/* --dev as a list of names (one string or an array; at most cap). */
size_t fl_rootq_dev_names(const json_t *params, const char **names, size_t cap);
/* The devices f acts on in scope (described as `where`): those --dev names,
 * else every device but lo (on the host --dev is required). Refused
 * (FL_EREFUSED) when one's root qdisc is faultline's already or one someone
 * configured. Caller frees *devs. */
int fl_rootq_devices(const struct fl_fault *f, const struct fl_netns_scope *scope,
                     const char *where, struct fl_tc_dev **devs, size_t *n, struct fl_err *e);
/* Inside the recorded scope, add(dev, ifindex, name, arg) for each recorded
 * device, stopping at the first failure. */
typedef int (*fl_rootq_add_fn)(const json_t *dev, int ifindex, const char *name, const void *arg,
                               struct fl_err *e);
int fl_rootq_apply(const struct fl_fault *f, fl_rootq_add_fn add, const void *arg,
                   struct fl_err *e);
/* Delete faultline's root qdisc from every recorded device: all are tried,
 * the first failure is reported. */
int fl_rootq_revert(const struct fl_fault *f, struct fl_err *e);
/* One exclusive claim per recorded device: a device has one root qdisc. */
void fl_rootq_claims(const struct fl_fault *f, json_t *out);

#endif
