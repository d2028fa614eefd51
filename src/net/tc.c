/* Traffic control through libnl-route-3 (tc.h): the tbf root qdisc of
 * network.bandwidth and its sweeper. */
#include "net/tc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/tbf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/link.h"
#include "net/netns.h"
#include "util/log.h"

static void fill_dev(struct fl_tc_dev *d, struct rtnl_link *l, struct nl_cache *qdiscs)
{
    struct rtnl_qdisc *q;

    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", rtnl_link_get_name(l) ? rtnl_link_get_name(l) : "");
    d->ifindex = rtnl_link_get_ifindex(l);
    d->mtu = rtnl_link_get_mtu(l);
    q = rtnl_qdisc_get_by_parent(qdiscs, d->ifindex, TC_H_ROOT);
    if (q) {
        d->root_handle = rtnl_tc_get_handle(TC_CAST(q));
        snprintf(d->root_kind, sizeof d->root_kind, "%s",
                 rtnl_tc_get_kind(TC_CAST(q)) ? rtnl_tc_get_kind(TC_CAST(q)) : "");
        rtnl_qdisc_put(q);
    }
}

int fl_tc_devices(const char *const *names, size_t nnames, struct fl_tc_dev **out, size_t *n,
                  struct fl_err *e)
{
    struct nl_cache *links = NULL, *qdiscs = NULL;
    struct fl_tc_dev *v = NULL;
    size_t cnt = 0;
    struct nl_sock *sk;
    int r = 0;

    *out = NULL;
    *n = 0;
    if (!(sk = fl_link_sock(e)))
        return -e->code;
    if ((r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links)) < 0 ||
        (r = rtnl_qdisc_alloc_cache(sk, &qdiscs)) < 0) {
        r = fl_err_set(e, fl_link_nl_code(r), "cannot list network devices: %s", nl_geterror(r));
        goto out;
    }
    v = calloc((nnames ? nnames : (size_t)nl_cache_nitems(links)) + 1, sizeof *v);
    if (!v) {
        r = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    if (nnames) {
        for (size_t i = 0; i < nnames; i++) {
            struct rtnl_link *l = rtnl_link_get_by_name(links, names[i]);
            if (!l) {
                r = fl_err_set(e, FL_ENOTARGET, "there is no network device '%s'", names[i]);
                goto out;
            }
            fill_dev(&v[cnt++], l, qdiscs);
            rtnl_link_put(l);
        }
    } else {
        for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
            struct rtnl_link *l = (struct rtnl_link *)o;
            if (rtnl_link_get_flags(l) & IFF_LOOPBACK)
                continue;
            fill_dev(&v[cnt++], l, qdiscs);
        }
    }
    *out = v;
    *n = cnt;
    v = NULL;
    r = 0;
out:
    free(v);
    nl_cache_free(links);
    nl_cache_free(qdiscs);
    nl_socket_free(sk);
    return r;
}

uint32_t fl_tc_tbf_default_burst(uint64_t rate_bps, unsigned mtu)
{
    uint64_t b = rate_bps / 8 / 50;
    uint64_t floor = 2ULL * ((mtu ? mtu : 1500) + 14);

    if (b < floor)
        b = floor;
    return b > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)b;
}

int fl_tc_tbf_add(int ifindex, const char *name, const struct fl_tc_tbf *t, struct fl_err *e)
{
    struct rtnl_qdisc *q = NULL;
    struct nl_sock *sk;
    int r;

    if (t->rate_bps < 8 || t->rate_bps > FL_TC_RATE_MAX_BPS)
        return fl_err_set(e, FL_EUSAGE, "rate %llu bit/s is outside what tbf takes",
                          (unsigned long long)t->rate_bps);
    if (!(sk = fl_link_sock(e)))
        return -e->code;
    if (!(q = rtnl_qdisc_alloc())) {
        r = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
    rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(q), FL_TC_HANDLE);
    if ((r = rtnl_tc_set_kind(TC_CAST(q), "tbf")) < 0) {
        r = fl_err_set(e, FL_EUNSUPPORTED, "libnl has no tbf support: %s", nl_geterror(r));
        goto out;
    }
    rtnl_qdisc_tbf_set_rate(q, (int)(t->rate_bps / 8), (int)t->burst, 0);
    if ((r = rtnl_qdisc_tbf_set_limit_by_latency(q, (int)t->latency_us)) < 0) {
        r = fl_err_set(e, FL_EFAIL, "tbf queue limit: %s", nl_geterror(r));
        goto out;
    }
    /* CREATE|EXCL: the kernel's default root (handle 0) is replaced, any
     * configured root qdisc makes this fail instead of being destroyed. */
    if ((r = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL)) < 0) {
        r = fl_err_set(e, fl_link_nl_code(r), "cannot add the tbf qdisc on %s: %s%s", name,
                       nl_geterror(r),
                       r == -NLE_EXIST ? " (the device already has a configured root qdisc)" : "");
        goto out;
    }
    r = 0;
out:
    rtnl_qdisc_put(q);
    nl_socket_free(sk);
    return r;
}

uint32_t fl_tc_netem_prob(double percent)
{
    if (!(percent > 0))
        return 0;
    if (percent >= 100)
        return UINT32_MAX;
    return (uint32_t)(percent / 100.0 * (double)UINT32_MAX);
}

/* libnl takes the kernel's u32 probabilities as int: same bits. */
static int prob_arg(uint32_t p)
{
    int v;

    memcpy(&v, &p, sizeof v);
    return v;
}

/* The netem qdisc object for n on ifindex (caller puts it). */
static struct rtnl_qdisc *netem_qdisc(int ifindex, const struct fl_tc_netem *n, struct fl_err *e)
{
    struct rtnl_qdisc *q = rtnl_qdisc_alloc();
    int r;

    if (!q) {
        fl_err_set(e, FL_EFAIL, "out of memory");
        return NULL;
    }
    rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
    rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(q), FL_TC_HANDLE);
    if ((r = rtnl_tc_set_kind(TC_CAST(q), "netem")) < 0) {
        fl_err_set(e, FL_EUNSUPPORTED, "libnl has no netem support: %s", nl_geterror(r));
        rtnl_qdisc_put(q);
        return NULL;
    }
    /* libnl sends every field of tc_netem_qopt, set or not: a limit of 0
     * would drop every packet, so it is always set. */
    rtnl_netem_set_limit(q, (int)(n->limit ? n->limit : FL_TC_NETEM_LIMIT));
    if (n->delay_us || n->jitter_us)
        rtnl_netem_set_delay(q, (int)n->delay_us);
    if (n->jitter_us)
        rtnl_netem_set_jitter(q, (int)n->jitter_us);
    if (n->loss) {
        rtnl_netem_set_loss(q, prob_arg(n->loss));
        rtnl_netem_set_loss_correlation(q, prob_arg(n->correlation));
    }
    if (n->duplicate) {
        rtnl_netem_set_duplicate(q, prob_arg(n->duplicate));
        rtnl_netem_set_duplicate_correlation(q, prob_arg(n->correlation));
    }
    if (n->reorder) {
        rtnl_netem_set_reorder_probability(q, prob_arg(n->reorder));
        rtnl_netem_set_reorder_correlation(q, prob_arg(n->correlation));
        rtnl_netem_set_gap(q, (int)n->gap);
    }
    if (n->corrupt) {
        rtnl_netem_set_corruption_probability(q, prob_arg(n->corrupt));
        rtnl_netem_set_corruption_correlation(q, prob_arg(n->correlation));
    }
    return q;
}

int fl_tc_netem_msg(int ifindex, const struct fl_tc_netem *n, struct nl_msg **out, struct fl_err *e)
{
    struct rtnl_qdisc *q = netem_qdisc(ifindex, n, e);
    int r;

    *out = NULL;
    if (!q)
        return -e->code;
    /* CREATE|EXCL: as for tbf, a configured root qdisc makes this fail. */
    r = rtnl_qdisc_build_add_request(q, NLM_F_CREATE | NLM_F_EXCL, out);
    rtnl_qdisc_put(q);
    if (r < 0)
        return fl_err_set(e, FL_EFAIL, "cannot build the netem request: %s", nl_geterror(r));
    return 0;
}

int fl_tc_netem_add(int ifindex, const char *name, const struct fl_tc_netem *n, struct fl_err *e)
{
    struct nl_msg *msg = NULL;
    struct nl_sock *sk;
    int r;

    if ((r = fl_tc_netem_msg(ifindex, n, &msg, e)))
        return r;
    if (!(sk = fl_link_sock(e))) {
        nlmsg_free(msg);
        return -e->code;
    }
    if ((r = nl_send_auto(sk, msg)) >= 0)
        r = nl_wait_for_ack(sk);
    nlmsg_free(msg);
    nl_socket_free(sk);
    if (r < 0)
        return fl_err_set(
            e, fl_link_nl_code(r), "cannot add the netem qdisc on %s: %s%s", name, nl_geterror(r),
            r == -NLE_EXIST ? " (the device already has a configured root qdisc)"
            : r == -NLE_OBJ_NOTFOUND || r == -NLE_NOATTR ? " (does this kernel have sch_netem?)"
                                                         : "");
    return 0;
}

int fl_tc_tbf_del(int ifindex, const char *name, struct fl_err *e)
{
    struct nl_cache *links = NULL, *qdiscs = NULL;
    struct rtnl_qdisc *q = NULL;
    struct rtnl_link *l = NULL;
    struct nl_sock *sk;
    int r;

    if (!(sk = fl_link_sock(e)))
        return -e->code;
    if ((r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links)) < 0 ||
        (r = rtnl_qdisc_alloc_cache(sk, &qdiscs)) < 0) {
        r = fl_err_set(e, fl_link_nl_code(r), "cannot list qdiscs: %s", nl_geterror(r));
        goto out;
    }
    l = rtnl_link_get(links, ifindex);
    if (!l && name && *name)
        l = rtnl_link_get_by_name(links, name);
    if (!l) {
        r = 0; /* the device is gone, and its qdisc with it */
        goto out;
    }
    q = rtnl_qdisc_get_by_parent(qdiscs, rtnl_link_get_ifindex(l), TC_H_ROOT);
    if (!q || rtnl_tc_get_handle(TC_CAST(q)) != FL_TC_HANDLE) {
        r = 0;
        goto out;
    }
    r = rtnl_qdisc_delete(sk, q);
    if (r < 0 && r != -NLE_OBJ_NOTFOUND && r != -NLE_NODEV && r != -NLE_NOATTR) {
        r = fl_err_set(e, fl_link_nl_code(r), "cannot delete the tbf qdisc on %s: %s",
                       rtnl_link_get_name(l), nl_geterror(r));
        goto out;
    }
    r = r < 0 ? 0 : 1;
out:
    rtnl_qdisc_put(q);
    rtnl_link_put(l);
    nl_cache_free(links);
    nl_cache_free(qdiscs);
    nl_socket_free(sk);
    return r;
}

/* A netem qdisc of faultline's may belong to any of the netem kinds. */
static bool spared_netem(struct fl_sweep_report *rep, const char *dev)
{
    static const char *const kinds[] = {"network.delay",   "network.jitter",  "network.duplicate",
                                        "network.reorder", "network.corrupt", NULL};

    for (size_t i = 0; kinds[i]; i++)
        if (fl_sweep_spared_kind(rep, kinds[i], dev))
            return true;
    return false;
}

/* Delete faultline's root qdiscs in the namespace this thread is in. */
static void sweep_here(const char *where, void *arg)
{
    struct fl_sweep_report *rep = arg;
    struct fl_tc_dev *devs = NULL;
    struct fl_err e = {0};
    size_t n = 0;

    if (fl_tc_devices(NULL, 0, &devs, &n, &e)) {
        fl_warn("tc sweep: %s: %s", where, e.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (devs[i].root_handle != FL_TC_HANDLE)
            continue;
        if (strcmp(devs[i].root_kind, "netem")
                ? fl_sweep_spared_kind(rep, "network.bandwidth", devs[i].name)
                : spared_netem(rep, devs[i].name))
            continue;
        rep->found++;
        fl_info("removing leftover %s qdisc fa17: on %s in %s",
                *devs[i].root_kind ? devs[i].root_kind : "root", devs[i].name, where);
        if (fl_tc_tbf_del(devs[i].ifindex, devs[i].name, &e) < 0) {
            fl_warn("cannot remove the qdisc on %s in %s: %s", devs[i].name, where, e.msg);
            rep->failed++;
        } else {
            rep->removed++;
        }
    }
    free(devs);
}

int fl_tc_sweep(struct fl_sweep_report *r, struct fl_err *e)
{
    return fl_netns_each("tc sweep", sweep_here, r, e);
}
