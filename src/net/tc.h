/* Traffic control through libnl-route-3, in-process: faultline's token
 * bucket (tbf) root qdisc for network.bandwidth, and the sweeper for its
 * leftovers.
 *
 * faultline's qdisc always has the root handle fa17: (FL_TC_HANDLE), so it
 * can be told apart from anything a user configured. The kernel's default
 * root qdiscs (noqueue, pfifo_fast, mq, fq_codel) have handle 0: faultline
 * may replace those, and deleting its own root qdisc brings the default
 * back. A root qdisc with any other handle belongs to someone else and is
 * never touched. Every function acts in the calling thread's current
 * network namespace (see net/netns.h). */
#ifndef FL_NET_TC_H
#define FL_NET_TC_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/sweep.h"

#define FL_TC_HANDLE 0xfa170000u

struct fl_tc_dev {
    char name[IF_NAMESIZE];
    int ifindex;
    unsigned mtu;
    uint32_t root_handle; /* of the current root qdisc; 0 = kernel default */
    char root_kind[32];   /* "noqueue", "tbf", "" if none */
};

/* The named devices (nnames > 0), or every non-loopback device (nnames 0).
 * A named device that does not exist is FL_ENOTARGET. Caller frees *out. */
int fl_tc_devices(const char *const *names, size_t nnames, struct fl_tc_dev **out, size_t *n,
                  struct fl_err *e);

struct fl_tc_tbf {
    uint64_t rate_bps;   /* bits per second */
    uint32_t burst;      /* bytes */
    uint32_t latency_us; /* how long a packet may wait; sets the queue limit */
};

/* A burst that keeps a multi-second average within a few percent of the
 * rate: 20 ms worth of the rate, and never below two full frames. */
uint32_t fl_tc_tbf_default_burst(uint64_t rate_bps, unsigned mtu);
/* Highest rate libnl's tbf takes (bytes/s in an int). */
#define FL_TC_RATE_MAX_BPS (8ULL * 2147483647ULL)

/* Install faultline's tbf as the root qdisc of ifindex. Fails (FL_EREFUSED)
 * rather than replace a root qdisc someone configured. */
int fl_tc_tbf_add(int ifindex, const char *name, const struct fl_tc_tbf *t, struct fl_err *e);
/* Delete the root qdisc of ifindex (or, if that index is gone, of the
 * device called name) if and only if it is faultline's. Returns 1 when
 * deleted, 0 when there was nothing of faultline's there. */
int fl_tc_tbf_del(int ifindex, const char *name, struct fl_err *e);

/* A netem root qdisc (faultline's handle fa17:, like the tbf above; the
 * kernel needs sch_netem, see net/netem.h). Probabilities are the kernel's
 * scale: 0 = never, UINT32_MAX = always (fl_tc_netem_prob). */
struct fl_tc_netem {
    uint32_t delay_us, jitter_us;
    uint32_t loss, duplicate, reorder, corrupt;
    uint32_t correlation; /* of whichever of the above is set (same scale) */
    uint32_t gap;         /* reorder: every gap-th packet is sent at once */
    uint32_t limit;       /* queue length in packets (0: FL_TC_NETEM_LIMIT) */
};
#define FL_TC_NETEM_LIMIT 1000 /* tc's default */
/* percent (0..100) on the kernel's probability scale. */
uint32_t fl_tc_netem_prob(double percent);

struct nl_msg;
/* The RTM_NEWQDISC request (CREATE|EXCL) that installs n as the root qdisc
 * of ifindex. Builds, sends nothing; caller frees *out with nlmsg_free. */
int fl_tc_netem_msg(int ifindex, const struct fl_tc_netem *n, struct nl_msg **out,
                    struct fl_err *e);
/* Install faultline's netem as the root qdisc of ifindex; refuses
 * (FL_EREFUSED) a device whose root qdisc someone configured, like
 * fl_tc_tbf_add. Remove it with fl_tc_tbf_del (it deletes any root qdisc
 * with faultline's handle, tbf or netem). */
int fl_tc_netem_add(int ifindex, const char *name, const struct fl_tc_netem *n, struct fl_err *e);

/* Sweeper: delete every root qdisc with handle fa17: (tbf or netem) in
 * every namespace. */
int fl_tc_sweep(struct fl_sweep_report *r, struct fl_err *e);

#endif
