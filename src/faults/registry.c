/* The fault registry: adding a kind is its file plus one line here. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

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

static const fl_sweep_fn sweepers[] = {
    /* sweepers: registry lines */
    fl_pxfault_sweep, /* first: the nft sweep cannot delete a table a live worker owns */
    fl_dns_sweep,     /* the same */
    fl_diskio_sweep,  fl_nft_sweep, fl_tc_sweep, fl_stress_sweep, fl_fill_sweep, NULL,
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

/* True when the running kernel can create a netem qdisc: built in, loaded,
 * or present as a module file for this kernel release. */
static int netem_present(void)
{
    struct stat st;
    char path[256];
    FILE *f;
    char line[256];
    int found = 0;
    struct utsname u;

    if (uname(&u) == 0) {
        snprintf(path, sizeof path, "/lib/modules/%s/kernel/net/sched/sch_netem.ko", u.release);
        if (stat(path, &st) == 0)
            return 1;
        snprintf(path, sizeof path, "/lib/modules/%s/kernel/net/sched/sch_netem.ko.xz", u.release);
        if (stat(path, &st) == 0)
            return 1;
    }
    f = fopen("/proc/modules", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "sch_netem ", 10))
            found = 1;
    if (f)
        fclose(f);
    return found;
}

const char *fl_fault_unavailable_reason(const char *kind)
{
    /* network.delay and network.jitter are registered drivers (the
     * userspace proxy, faults/proxy_*.c), so they never get here. */
    static const char *const netem_kinds[] = {"network.duplicate", "network.reorder",
                                              "network.corrupt", NULL};
    for (size_t i = 0; netem_kinds[i]; i++) {
        if (strcmp(kind, netem_kinds[i]))
            continue;
        if (!netem_present())
            return "this kernel has no netem queueing discipline (sch_netem is neither "
                   "built in nor available as a module), and duplication, reordering and "
                   "corruption need it. On kernels with netem these kinds come in a later "
                   "faultline release; here, use network.loss, network.bandwidth, the "
                   "partition kinds, or the proxy kinds (network.delay, network.jitter, "
                   "network.reset, network.timeout, network.slow)";
        return "the kernel has netem, but netem-based kinds are not part of this "
               "faultline release yet; use network.loss, network.bandwidth, the "
               "partition kinds or the proxy kinds (network.delay & co.)";
    }
    return NULL;
}
