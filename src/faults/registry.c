/* The fault registry: adding a kind is its file plus one line here. */
#include <stddef.h>
#include <string.h>

#include "faults/fault.h"

/* drivers: extern declarations */
extern const struct fl_fault_ops fl_fault_network_partition;
extern const struct fl_fault_ops fl_fault_network_blackhole;
extern const struct fl_fault_ops fl_fault_network_reject;
extern const struct fl_fault_ops fl_fault_network_loss;
extern const struct fl_fault_ops fl_fault_network_bandwidth;
extern const struct fl_fault_ops fl_fault_process_kill;
extern const struct fl_fault_ops fl_fault_process_pause;
extern const struct fl_fault_ops fl_fault_stress_cpu;
extern const struct fl_fault_ops fl_fault_stress_memory;
extern const struct fl_fault_ops fl_fault_disk_fill;
extern const struct fl_fault_ops fl_fault_network_delay;
extern const struct fl_fault_ops fl_fault_http_fault;
extern const struct fl_fault_ops fl_fault_network_jitter;
extern const struct fl_fault_ops fl_fault_network_reset;
extern const struct fl_fault_ops fl_fault_network_timeout;
extern const struct fl_fault_ops fl_fault_network_slow;
extern const struct fl_fault_ops fl_fault_dns_fault;
extern const struct fl_fault_ops fl_fault_disk_io;
extern const struct fl_fault_ops fl_fault_network_duplicate;
extern const struct fl_fault_ops fl_fault_network_reorder;
extern const struct fl_fault_ops fl_fault_network_corrupt;
extern const struct fl_fault_ops fl_fault_clock_skew;
extern const struct fl_fault_ops fl_fault_process_restart;

static const struct fl_fault_ops *const kinds[] = {
    /* drivers: registry lines */
    &fl_fault_network_partition,
    &fl_fault_network_blackhole,
    &fl_fault_network_reject,
    &fl_fault_network_loss,
    &fl_fault_network_bandwidth,
    &fl_fault_process_kill,
    &fl_fault_process_pause,
    &fl_fault_stress_cpu,
    &fl_fault_stress_memory,
    &fl_fault_disk_fill,
    &fl_fault_network_delay,
    &fl_fault_http_fault,
    &fl_fault_network_jitter,
    &fl_fault_network_reset,
    &fl_fault_network_timeout,
    &fl_fault_network_slow,
    &fl_fault_dns_fault,
    &fl_fault_disk_io,
    &fl_fault_network_duplicate,
    &fl_fault_network_reorder,
    &fl_fault_network_corrupt,
    &fl_fault_clock_skew,
    NULL,
};

/* Kinds only the journal knows: records the engine writes for itself
 * (a pending restart), which the guardian and recover must be able to
 * revert but nobody may inject. */
static const struct fl_fault_ops *const record_kinds[] = {
    &fl_fault_process_restart,
    NULL,
};

/* sweepers: extern declarations */
int fl_nft_sweep(struct fl_sweep_report *r, struct fl_err *e);
int fl_tc_sweep(struct fl_sweep_report *r, struct fl_err *e);
int fl_stress_sweep(struct fl_sweep_report *r, struct fl_err *e);
int fl_fill_sweep(struct fl_sweep_report *r, struct fl_err *e);
int fl_pxfault_sweep(struct fl_sweep_report *r, struct fl_err *e);
int fl_dns_sweep(struct fl_sweep_report *r, struct fl_err *e);
int fl_diskio_sweep(struct fl_sweep_report *r, struct fl_err *e);
int fl_clock_sweep(struct fl_sweep_report *r, struct fl_err *e);

static const fl_sweep_fn sweepers[] = {
    /* sweepers: registry lines */
    fl_pxfault_sweep, /* first: the nft sweep cannot delete a table a live worker owns */
    fl_dns_sweep,     /* the same */
    fl_diskio_sweep,  fl_nft_sweep,   fl_tc_sweep, fl_stress_sweep,
    fl_fill_sweep,    fl_clock_sweep, NULL,
};

const struct fl_fault_ops *const *fl_fault_kinds(void)
{
    return kinds;
}

const fl_sweep_fn *fl_fault_sweepers(void)
{
    return sweepers;
}

const struct fl_fault_ops *fl_fault_lookup(const char *kind)
{
    for (size_t i = 0; kinds[i]; i++)
        if (!strcmp(kinds[i]->kind, kind))
            return kinds[i];
    return NULL;
}

const struct fl_fault_ops *fl_fault_lookup_record(const char *kind)
{
    const struct fl_fault_ops *ops = fl_fault_lookup(kind);

    for (size_t i = 0; !ops && record_kinds[i]; i++)
        if (!strcmp(record_kinds[i]->kind, kind))
            ops = record_kinds[i];
    return ops;
}

/* No kind is known-but-unavailable today: the netem kinds are registered
 * and say at plan time (exit 6) when the kernel lacks sch_netem. The hook
 * stays for kinds a build or platform cannot offer at all. */
const char *fl_fault_unavailable_reason(const char *kind)
{
    (void)kind;
    return NULL;
}
