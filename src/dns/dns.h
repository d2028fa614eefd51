/* DNS faults: what the responder of a dns.fault does with one query, and the
 * responder process itself.
 *
 * The rules say which queries a fault touches (question names matching one
 * of the globs, then a share of those at random) and what happens to them:
 * an error answer (NXDOMAIN, SERVFAIL, REFUSED), a wrong address, no answer
 * at all (the client times out), and/or a delay before the answer or the
 * forward. Every other query goes to the real resolver unchanged. Packets
 * are read and built with ldns; a query ldns cannot read is forwarded as it
 * is (the fault does not judge what it does not understand). */
#ifndef FL_DNS_DNS_H
#define FL_DNS_DNS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Upstream sockets carry this firewall mark, which the redirect lets pass. */
#define FL_DNS_MARK 0x464c4453u /* "FLDS" */
/* The largest DNS message handled (UDP with EDNS, or one TCP message). */
#define FL_DNS_MAX_MSG 4096
#define FL_DNS_MAX_NAMES 64

enum fl_dns_action {
    FL_DNS_FORWARD,  /* to the real resolver (after the delay, if any) */
    FL_DNS_NXDOMAIN, /* answer: the name does not exist */
    FL_DNS_SERVFAIL, /* answer: the server failed */
    FL_DNS_REFUSED,  /* answer: the server refuses */
    FL_DNS_TIMEOUT,  /* no answer at all */
    FL_DNS_ADDRESS,  /* answer with the rules' address instead of the real one */
};

struct fl_dns_rules {
    char *names[FL_DNS_MAX_NAMES]; /* globs (fnmatch, case-insensitive), without a final dot */
    size_t nnames;
    enum fl_dns_action action; /* for the queries the fault selects */
    int family;                /* FL_DNS_ADDRESS: AF_INET or AF_INET6 */
    unsigned char addr[16];
    int64_t delay_ms;
    double percent; /* of the matching queries, 0 < percent <= 100 */
};

/* Rules from a fault's params (names, error, address, delay, percent), with
 * messages that name the option. Caller frees with fl_dns_rules_fini. */
int fl_dns_rules_from_params(const json_t *params, struct fl_dns_rules *r, struct fl_err *e);
void fl_dns_rules_fini(struct fl_dns_rules *r);
/* "NXDOMAIN for *.example.com (30% of queries), after 200ms" */
void fl_dns_rules_describe(const struct fl_dns_rules *r, char *buf, size_t len);

struct fl_dns_decision {
    enum fl_dns_action action;
    int64_t delay_ms;
    bool selected;   /* the fault touched this query */
    char qname[256]; /* the first question's name, lower-case, no final dot */
};

/* What to do with the query q; rnd is uniform in [0, 1). */
void fl_dns_decide(const struct fl_dns_rules *r, const uint8_t *q, size_t len, double rnd,
                   struct fl_dns_decision *d);

/* The answer for an action that answers (NXDOMAIN, SERVFAIL, REFUSED,
 * ADDRESS): same id and questions as q. *out is malloc'd. Returns 0, or -1
 * when q cannot be read (then nothing is answered). */
int fl_dns_answer(const struct fl_dns_rules *r, enum fl_dns_action a, const uint8_t *q, size_t len,
                  uint8_t **out, size_t *outlen);

/* The responder process of one dns.fault (`faultline __dns-worker CONFIG
 * --ready-fd N`, started by the fault driver through faults/worker.h).
 *
 * CONFIG: {"id", "scope" (net/netns.h JSON), "params" (the fault's params:
 * the rules), "upstream": "ADDR[:PORT]", "deadline_ms" (CLOCK_BOOTTIME ms),
 * "seed"}. It enters the namespace, listens on one free port for UDP and
 * TCP, adds an owned nftables table (`flags owner`: the kernel removes it
 * when the process dies, however it dies) that redirects every UDP and TCP
 * packet to port 53 made in or entering the namespace to that port — except
 * its own upstream queries, which carry FL_DNS_MARK — and answers until
 * SIGTERM or its deadline. Returns the process exit code. */
int fl_dns_worker_main(const char *config, int ready_fd);

#endif
