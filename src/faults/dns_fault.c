/* dns.fault: answer DNS queries of a network namespace wrongly. A responder
 * process (src/dns/responder.c) enters the namespace and redirects every
 * UDP and TCP packet to port 53 into itself through an nftables table it
 * owns; matching queries get the fault (an error, a wrong address, no
 * answer, a delay), every other query goes to the real resolver. The
 * responder's death, however it happens, takes the redirect with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/dns.h"
#include "faults/fault.h"
#include "faults/network_common.h"
#include "faults/worker.h"
#include "net/netns.h"
#include "net/nft.h"
#include "net/peer.h"
#include "util/log.h"
#include "util/time.h"

#define DNS_DEFAULT_HARD_STOP_MS (60LL * 60 * 1000)
#define DNS_HARD_STOP_GRACE_MS (30LL * 1000)

static const struct fl_fault_worker_spec dns_worker = {
    .subcommand = "__dns-worker",
    .what = "DNS responder",
    .log_env = "FAULTLINE_DNS_WORKER_LOG",
};

static const struct fl_opt dns_opts[] = {
    FL_NETNS_OPTS,
    {"name", FL_OPT_STRING, FL_OPT_MULTI, "GLOB",
     "question names to act on, a name or a glob (*.example.com; case-insensitive); default: "
     "every name",
     NULL, 0, 0},
    {"error", FL_OPT_ENUM, 0, "ERROR",
     "answer the matching queries with nxdomain, servfail or refused, or never answer "
     "(timeout)",
     "nxdomain|servfail|refused|timeout", 0, 0},
    {"address", FL_OPT_STRING, 0, "ADDR",
     "answer matching A queries (IPv4 ADDR) or AAAA queries (IPv6 ADDR) with ADDR", NULL, 0, 0},
    {"delay", FL_OPT_DURATION, 0, "DURATION",
     "hold each matching query this long before answering or forwarding it", NULL, 0, 0},
    {"percent", FL_OPT_PERCENT, 0, "PERCENT", "act on this share of matching queries (default 100)",
     NULL, 0, 0},
    {"upstream", FL_OPT_STRING, 0, "ADDR[:PORT]",
     "the real resolver for every other query (default: the first nameserver of "
     "/etc/netns/NAME/resolv.conf for --netns NAME, else of /etc/resolv.conf)",
     NULL, 0, 0},
    {"hard-stop", FL_OPT_DURATION, 0, "DURATION",
     "the responder stops by itself this long after inject even if nothing reverts the fault "
     "(default: 30s after --duration or the lease, else 1h)",
     NULL, 0, 0},
    FL_OPT_END,
};

static int dns_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    struct fl_dns_rules r;
    const char *up = fl_param_str(params, "upstream", NULL);
    struct fl_net_peer p;
    int rc;

    if ((rc = fl_netns_validate(params, e)) < 0)
        return rc;
    rc = fl_dns_rules_from_params(params, &r, e);
    fl_dns_rules_fini(&r);
    if (rc < 0)
        return rc;
    if (up &&
        ((rc = fl_net_peer_parse(up, &p, e)) < 0 || p.prefix != (p.family == AF_INET ? 32 : 128)))
        return rc < 0 ? fl_err_prefix(e, "--upstream")
                      : fl_err_set(e, FL_EUSAGE,
                                   "--upstream '%s': give one address, not a "
                                   "network",
                                   up);
    return 0;
}

/* The first "nameserver ADDR" of a resolv.conf, or "" when it has none. */
static void first_nameserver(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    char line[512], addr[256];

    buf[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, " nameserver %255s", addr) == 1) {
            snprintf(buf, len, "%s", addr);
            break;
        }
    if (f)
        fclose(f);
}

/* The resolver the namespace's processes use: what `ip netns exec` gives
 * them (/etc/netns/NAME/resolv.conf over /etc/resolv.conf) for a named
 * namespace, else this machine's. */
static int pick_upstream(const struct fl_netns_scope *s, const json_t *params, char *buf,
                         size_t len, struct fl_err *e)
{
    const char *up = fl_param_str(params, "upstream", NULL);
    struct fl_net_peer p;
    char path[300];

    if (up) {
        snprintf(buf, len, "%s", up);
        return 0;
    }
    buf[0] = '\0';
    if (s->kind == FL_NETNS_NAMED) {
        snprintf(path, sizeof path, "/etc/netns/%s/resolv.conf", s->name);
        first_nameserver(path, buf, len);
    }
    if (!buf[0]) {
        snprintf(path, sizeof path, "/etc/resolv.conf");
        first_nameserver(path, buf, len);
    }
    if (!buf[0])
        return fl_err_set(e, FL_EUSAGE,
                          "no nameserver in %s: give the real resolver with --upstream ADDR[:PORT]",
                          path);
    if (fl_net_peer_parse(buf, &p, e) < 0)
        return fl_err_prefix(e, "the nameserver in %s (give --upstream instead)", path);
    return 0;
}

static int dns_plan(struct fl_fault *f, struct fl_err *e)
{
    int64_t hard = fl_fault_self_stop_ms(f, DNS_HARD_STOP_GRACE_MS, DNS_DEFAULT_HARD_STOP_MS);
    struct fl_netns_scope scope;
    char upstream[256], table[64];
    json_t *cfg;
    int r;

    if ((r = dns_validate(f->ops, f->params, e)) < 0 ||
        (r = fl_netns_resolve(f->params, &scope, e)) < 0 ||
        (r = pick_upstream(&scope, f->params, upstream, sizeof upstream, e)) < 0)
        return r;
    snprintf(table, sizeof table, FL_NFT_TABLE_PREFIX "%s", f->id);
    cfg = json_pack("{s:s, s:o, s:O, s:s, s:I, s:I}", "id", f->id, "scope",
                    fl_netns_to_json(&scope), "params", f->params, "upstream", upstream,
                    "deadline_ms", (json_int_t)fl_now_ms() + hard, "seed",
                    (json_int_t)(f->seed & 0x7fffffffffffffffull));
    json_object_set_new(f->undo, "scope", fl_netns_to_json(&scope));
    json_object_set_new(f->undo, "table", json_string(table));
    json_object_set_new(f->undo, "upstream", json_string(upstream));
    json_object_set_new(f->undo, "config", cfg);
    return 0;
}

static int dns_inject(struct fl_fault *f, struct fl_err *e)
{
    int port = 0, r;

    r = fl_fault_worker_spawn(&dns_worker, json_object_get(f->undo, "config"), f->undo, &port, e);
    if (r < 0)
        return r;
    json_object_set_new(f->undo, "port", json_integer(port));
    fl_debug("%s: DNS responder listens on port %d", f->id, port);
    return 0;
}

static int dns_revert(const struct fl_fault *f, struct fl_err *e)
{
    return fl_netfault_revert_worker(f, &dns_worker, e);
}

static void dns_describe(const struct fl_fault *f, char *buf, size_t len)
{
    struct fl_dns_rules r;
    struct fl_err e = {0};
    char what[700], scope[300];

    fl_netfault_scope_text(f, scope, sizeof scope);
    if (fl_dns_rules_from_params(f->params, &r, &e) < 0)
        snprintf(what, sizeof what, "a DNS fault (%s)", e.msg);
    else
        fl_dns_rules_describe(&r, what, sizeof what);
    fl_dns_rules_fini(&r);
    snprintf(buf, len, "%s in %s", what, scope);
}

/* All port-53 traffic of a namespace goes to one responder: a second DNS
 * fault there would never see a query. */
static void dns_claims(const struct fl_fault *f, json_t *out)
{
    char scope[300], key[400];

    fl_netfault_scope_id(f, scope, sizeof scope);
    snprintf(key, sizeof key, "DNS queries in %s (redirected to a responder)", scope);
    json_object_set_new(out, key, json_integer(FL_CLAIM_EXCLUSIVE));
}

int fl_dns_sweep(struct fl_sweep_report *rep, struct fl_err *e)
{
    (void)e;
    return fl_fault_worker_sweep(&dns_worker, rep);
}

const struct fl_fault_ops fl_fault_dns_fault = {
    .kind = "dns.fault",
    .summary = "answer DNS queries of a namespace with errors, wrong addresses, delays or "
               "silence",
    .opts = dns_opts,
    .validate = dns_validate,
    .plan = dns_plan,
    .inject = dns_inject,
    .revert = dns_revert,
    .describe = dns_describe,
    .claims = dns_claims,
};
