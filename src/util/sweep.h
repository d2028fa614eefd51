/* What a sweep for leftovers (`faultline recover --all`) found, and the
 * rule for sparing the live faults of other state directories. Lower layers
 * (net/nft, net/tc) report into it, so it lives here rather than in
 * faults/fault.h. */
#ifndef FL_UTIL_SWEEP_H
#define FL_UTIL_SWEEP_H

#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"

/* What `faultline recover --all` found and removed by naming convention. */
struct fl_sweep_report {
    int found;   /* leftovers seen */
    int removed; /* leftovers removed */
    int failed;  /* leftovers that could not be removed (details logged) */
    int spared;  /* left alone: their fault is journaled in another state directory */
    /* Fault ids -> records journaled in other state directories (NULL: none):
     * their objects are live faults, not leftovers. Filled by the caller,
     * who owns it (and decrefs r->spare at the end: a reload replaces it). */
    json_t *spare;
    /* Reads `spare` anew (NULL: never). A fault applied in another state
     * directory while the sweep runs has its record (and guardian) before
     * its objects, so an object that `spare` does not name is looked up once
     * more before it is taken for a leftover. */
    json_t *(*reload)(void *arg);
    void *reload_arg;
};

/* True (and logged, and counted) if a sweeper must leave `what` alone:
 * fault `id` is journaled in another state directory. */
bool fl_sweep_spared(struct fl_sweep_report *r, const char *id, const char *what);
/* The same for objects that carry no id (tbf qdiscs): true if any fault of
 * `kind` is journaled in another state directory. */
bool fl_sweep_spared_kind(struct fl_sweep_report *r, const char *kind, const char *what);

/* A sweeper finds leftovers of one mechanism (nft tables faultline_*, tbf
 * qdiscs with faultline's handle, stress cgroups, fill files) without any
 * journal, and removes them all. It logs each leftover it finds (fl_info)
 * and returns 0 unless it could not look at all. */
typedef int (*fl_sweep_fn)(struct fl_sweep_report *r, struct fl_err *e);

#endif
