/* Fault drivers: one file per fault kind behind one small ops table.
 *
 * The life of a fault, as the engine and `faultline inject` drive it:
 *
 *   params  <- the kind's option table (util/opts.h) parses user input
 *   validate(params)          cross-option rules; touches nothing
 *   plan(fault)               resolves targets against the live system and
 *                             fills fault->undo with everything revert needs
 *                             (pids and their start times, netns, device,
 *                             table name, file path); touches nothing
 *   -- the journal record (params + undo) is written durably here --
 *   inject(fault)             changes the world
 *   revert(fault)             puts it back using ONLY params + undo, so the
 *                             guardian can run it from the journal in another
 *                             process; idempotent: reverting something
 *                             already gone is success, not an error
 *
 * If inject fails half-way, the caller runs revert on the same record, so a
 * driver's revert must cope with any prefix of its inject having happened.
 *
 * Overlapping faults ("Overlapping faults" in docs/faults-*.md): claims(fault)
 * names what a fault holds on the world, each under a key that spells it out
 * ("pid 1234 (start 5678)"). Before a fault is journaled, the journal layer
 * (agent/compose.c) compares its claims with those of every other fault in
 * the journal: a key that either side claims as FL_CLAIM_EXCLUSIVE refuses
 * the new fault (one root qdisc per device); keys both claim as
 * FL_CLAIM_SHARED compose, and fault->held lists the ones other faults still
 * hold when inject and revert run, so revert leaves those in place (a pid
 * paused by two faults stays stopped until the last one ends).
 *
 * Kinds that differ only in data share one driver: their ops point at the
 * shared functions, and ops->impl at what makes the kind itself (see
 * network_common.h and proxy_common.h).
 */
#ifndef FL_FAULTS_FAULT_H
#define FL_FAULTS_FAULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/opts.h"
#include "util/sweep.h"

#define FL_FAULT_ID_LEN 9 /* 8 hex digits + NUL */

enum {
    /* Happens once and has nothing to revert (process.kill): no duration. */
    FL_FAULT_INSTANT = 1 << 0,
};

struct fl_fault;

struct fl_fault_ops {
    const char *kind;          /* "network.partition" */
    const char *summary;       /* one line for `inject --help` */
    const struct fl_opt *opts; /* the kind's options, FL_OPT_END-terminated */
    unsigned flags;            /* FL_FAULT_* */
    /* May be NULL. Gets its own ops, so kinds sharing a driver can share it. */
    int (*validate)(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e);
    int (*plan)(struct fl_fault *f, struct fl_err *e);
    int (*inject)(struct fl_fault *f, struct fl_err *e);
    int (*revert)(const struct fl_fault *f, struct fl_err *e); /* NULL if INSTANT */
    /* One human line: "drop 30% of packets leaving netns n1". */
    void (*describe)(const struct fl_fault *f, char *buf, size_t len);
    /* What a shared driver needs to know of this kind (a struct
     * fl_netfilter_kind or fl_pxfault_kind); NULL for the others. */
    const void *impl;
    /* May be NULL (the fault holds nothing another fault could share: each
     * has its own nft table, cgroup, file). Adds key -> json_integer(mode)
     * pairs to `out` from params and undo; called after plan. */
    void (*claims)(const struct fl_fault *f, json_t *out);
    /* May be NULL. Called once fault->held is set, before the journal record
     * is written: adjusts undo to what other faults hold (a pause leaves a
     * process it finds stopped by another pause to that pause, not to
     * "someone else"), so a revert from the record alone is right. */
    void (*overlap)(struct fl_fault *f);
};

enum fl_claim_mode {
    FL_CLAIM_SHARED = 1,    /* several faults may hold it; the last revert releases it */
    FL_CLAIM_EXCLUSIVE = 2, /* an overlapping fault on it is refused */
};

struct fl_fault {
    char id[FL_FAULT_ID_LEN];
    const struct fl_fault_ops *ops;
    json_t *params;      /* owned; validated options */
    json_t *undo;        /* owned; filled by plan (and inject if it learns more) */
    int64_t duration_ms; /* 0 = until interrupted / lease */
    uint64_t seed;       /* for random selections; recorded in params as "seed" */
    /* A lease nobody renews (a detached inject): the guardian reverts the
     * fault by then. 0 when its holder renews the lease. */
    int64_t fixed_lease_ms;
    /* Shared claims other journaled faults hold too: key -> their fault id.
     * Set by the journal layer before inject and revert; NULL = none. Owned. */
    json_t *held;
};

/* True if another fault still holds `key` (see claims above). */
bool fl_fault_held(const struct fl_fault *f, const char *key);

/* Registry (registry.c): every kind, looked up by name. */
const struct fl_fault_ops *fl_fault_lookup(const char *kind);
const struct fl_fault_ops *const *fl_fault_kinds(void);
/* The same, plus the kinds only journal records carry (process.restart,
 * the pending restart of a killed member): for reverting a record. */
const struct fl_fault_ops *fl_fault_lookup_record(const char *kind);

/* Kinds that exist on paper but cannot run here; returns a message or NULL. */
const char *fl_fault_unavailable_reason(const char *kind);

/* Init/free a fault for `ops`; takes ownership of params (may be NULL). */
int fl_fault_init(struct fl_fault *f, const struct fl_fault_ops *ops, json_t *params);
void fl_fault_fini(struct fl_fault *f);
/* A fresh random id (8 hex digits). */
void fl_fault_new_id(char id[FL_FAULT_ID_LEN]);
void fl_fault_describe(const struct fl_fault *f, char *buf, size_t len);
/* How long from now a fault's own processes (stressors, proxy workers) run
 * at most, so they end even if nothing reverts the fault: --hard-stop if
 * given, else grace_ms after the earlier of the end of --duration and of a
 * fixed lease, else fallback_ms. */
int64_t fl_fault_self_stop_ms(const struct fl_fault *f, int64_t grace_ms, int64_t fallback_ms);

/* The sweepers of every mechanism (util/sweep.h). */
const fl_sweep_fn *fl_fault_sweepers(void); /* NULL-terminated */

#endif
