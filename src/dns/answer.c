/* A dns.fault's rules: which queries it selects and the answers it makes
 * for them (ldns reads and writes the packets). Pure: touches nothing. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "util/opts.h"

static const struct {
    const char *name;
    enum fl_dns_action action;
} errors[] = {
    {"nxdomain", FL_DNS_NXDOMAIN},
    {"servfail", FL_DNS_SERVFAIL},
    {"refused", FL_DNS_REFUSED},
    {"timeout", FL_DNS_TIMEOUT},
};

/* A name glob: letters, digits, '-', '_', '.', '*', '?', at most 253 long. */
static bool valid_glob(const char *s)
{
    size_t n = strlen(s);

    if (!n || n > 253)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.*?", *s))
            return false;
    return true;
}

static int add_name(struct fl_dns_rules *r, const char *s, struct fl_err *e)
{
    char *c;
    size_t n;

    if (!s || !valid_glob(s))
        return fl_err_set(e, FL_EUSAGE,
                          "--name '%s': give a DNS name or a glob of one (letters, digits, "
                          "'-', '_', '.', '*' and '?'; e.g. db.internal or *.example.com)",
                          s ? s : "");
    if (r->nnames == FL_DNS_MAX_NAMES)
        return fl_err_set(e, FL_EUSAGE, "--name: at most %d names", FL_DNS_MAX_NAMES);
    if (!(c = strdup(s)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (char *p = c; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    n = strlen(c);
    if (n > 1 && c[n - 1] == '.')
        c[n - 1] = '\0';
    r->names[r->nnames++] = c;
    return 0;
}

int fl_dns_rules_from_params(const json_t *params, struct fl_dns_rules *r, struct fl_err *e)
{
    const json_t *names = json_object_get(params, "name");
    const char *err = fl_param_str(params, "error", NULL);
    const char *addr = fl_param_str(params, "address", NULL);
    int rc;

    memset(r, 0, sizeof *r);
    r->percent = fl_param_real(params, "percent", 100.0);
    r->delay_ms = fl_param_int(params, "delay", 0);
    if (json_is_array(names)) {
        size_t i;
        const json_t *v;

        json_array_foreach (names, i, v)
            if ((rc = add_name(r, json_string_value(v), e)) < 0)
                return rc;
    } else if (names) {
        if ((rc = add_name(r, json_string_value(names), e)) < 0)
            return rc;
    }
    if (!r->nnames && (rc = add_name(r, "*", e)) < 0)
        return rc;
    if (err && addr)
        return fl_err_set(e, FL_EUSAGE,
                          "--error and --address exclude each other: a query gets an error or "
                          "a wrong address");
    if (err) {
        r->action = (enum fl_dns_action) - 1;
        for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
            if (!strcmp(err, errors[i].name))
                r->action = errors[i].action;
        if ((int)r->action < 0)
            return fl_err_set(e, FL_EUSAGE,
                              "--error '%s': use nxdomain, servfail, refused or timeout", err);
    } else if (addr) {
        r->action = FL_DNS_ADDRESS;
        r->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(r->family, addr, r->addr) != 1)
            return fl_err_set(e, FL_EUSAGE, "--address '%s': give an IPv4 or IPv6 address", addr);
    } else {
        r->action = FL_DNS_FORWARD;
    }
    if (r->action == FL_DNS_FORWARD && r->delay_ms <= 0)
        return fl_err_set(e, FL_EUSAGE,
                          "say what happens to the matching queries: --error "
                          "nxdomain|servfail|refused|timeout, --address ADDR, and/or --delay "
                          "DURATION");
    if (r->action == FL_DNS_TIMEOUT && r->delay_ms > 0)
        return fl_err_set(e, FL_EUSAGE,
                          "--delay has no meaning with --error timeout (no answer "
                          "ever comes)");
    if (!(r->percent > 0 && r->percent <= 100))
        return fl_err_set(e, FL_EUSAGE, "--percent must be above 0 and at most 100");
    return 0;
}

void fl_dns_rules_fini(struct fl_dns_rules *r)
{
    for (size_t i = 0; i < r->nnames; i++)
        free(r->names[i]);
    r->nnames = 0;
}

void fl_dns_rules_describe(const struct fl_dns_rules *r, char *buf, size_t len)
{
    char names[512] = "", what[96], addr[INET6_ADDRSTRLEN], share[48] = "", delay[48] = "";
    size_t o = 0;

    for (size_t i = 0; i < r->nnames && o + 1 < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", r->names[i]);
    switch (r->action) {
    case FL_DNS_NXDOMAIN:
        snprintf(what, sizeof what, "answer NXDOMAIN");
        break;
    case FL_DNS_SERVFAIL:
        snprintf(what, sizeof what, "answer SERVFAIL");
        break;
    case FL_DNS_REFUSED:
        snprintf(what, sizeof what, "answer REFUSED");
        break;
    case FL_DNS_TIMEOUT:
        snprintf(what, sizeof what, "never answer");
        break;
    case FL_DNS_ADDRESS:
        inet_ntop(r->family, r->addr, addr, sizeof addr);
        snprintf(what, sizeof what, "answer %s", addr);
        break;
    default:
        snprintf(what, sizeof what, "forward");
    }
    if (r->percent < 100)
        snprintf(share, sizeof share, " (%g%% of them)", r->percent);
    if (r->delay_ms > 0)
        snprintf(delay, sizeof delay, " after %lldms", (long long)r->delay_ms);
    snprintf(buf, len, "%s%s to DNS queries for %s%s", what, delay, names, share);
}

void fl_dns_decide(const struct fl_dns_rules *r, const uint8_t *q, size_t len, double rnd,
                   struct fl_dns_decision *d)
{
    ldns_pkt *pkt = NULL;
    ldns_rr_list *qs;
    char *name;
    size_t n;

    memset(d, 0, sizeof *d);
    d->action = FL_DNS_FORWARD;
    if (ldns_wire2pkt(&pkt, q, len) != LDNS_STATUS_OK)
        return;
    qs = ldns_pkt_question(pkt);
    if (ldns_pkt_qr(pkt) || !qs || !ldns_rr_list_rr_count(qs) ||
        !(name = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(qs, 0))))) {
        ldns_pkt_free(pkt);
        return;
    }
    n = strlen(name);
    if (n > 1 && name[n - 1] == '.')
        name[--n] = '\0';
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(d->qname, sizeof d->qname, "%s", name);
    free(name);
    ldns_pkt_free(pkt);
    for (size_t i = 0; i < r->nnames; i++) {
        if (fnmatch(r->names[i], d->qname, FNM_CASEFOLD) == 0) {
            if (rnd * 100.0 < r->percent)
                d->selected = true;
            break;
        }
    }
    if (d->selected) {
        d->action = r->action;
        d->delay_ms = r->delay_ms;
    }
}

int fl_dns_answer(const struct fl_dns_rules *r, enum fl_dns_action a, const uint8_t *q, size_t len,
                  uint8_t **out, size_t *outlen)
{
    ldns_pkt *pkt = NULL, *resp;
    ldns_rr_list *qs;
    uint8_t rcode = a == FL_DNS_NXDOMAIN   ? LDNS_RCODE_NXDOMAIN
                    : a == FL_DNS_SERVFAIL ? LDNS_RCODE_SERVFAIL
                    : a == FL_DNS_REFUSED  ? LDNS_RCODE_REFUSED
                                           : LDNS_RCODE_NOERROR;
    int rc = -1;

    *out = NULL;
    *outlen = 0;
    if (ldns_wire2pkt(&pkt, q, len) != LDNS_STATUS_OK)
        return -1;
    if (!(resp = ldns_pkt_new())) {
        ldns_pkt_free(pkt);
        return -1;
    }
    ldns_pkt_set_id(resp, ldns_pkt_id(pkt));
    ldns_pkt_set_qr(resp, true);
    ldns_pkt_set_opcode(resp, ldns_pkt_get_opcode(pkt));
    ldns_pkt_set_rd(resp, ldns_pkt_rd(pkt));
    ldns_pkt_set_ra(resp, true);
    ldns_pkt_set_rcode(resp, rcode);
    qs = ldns_pkt_question(pkt);
    for (size_t i = 0; qs && i < ldns_rr_list_rr_count(qs); i++) {
        ldns_rr *qr = ldns_rr_list_rr(qs, i);

        ldns_pkt_push_rr(resp, LDNS_SECTION_QUESTION, ldns_rr_clone(qr));
        /* The wrong address answers the questions of its own family (A for
         * IPv4, AAAA for IPv6); other types get an empty NOERROR answer. */
        if (a == FL_DNS_ADDRESS &&
            ldns_rr_get_type(qr) == (r->family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA)) {
            ldns_rr *ans = ldns_rr_new();

            ldns_rr_set_owner(ans, ldns_rdf_clone(ldns_rr_owner(qr)));
            ldns_rr_set_type(ans, ldns_rr_get_type(qr));
            ldns_rr_set_class(ans, LDNS_RR_CLASS_IN);
            ldns_rr_set_ttl(ans, 0);
            ldns_rr_push_rdf(ans, ldns_rdf_new_frm_data(r->family == AF_INET ? LDNS_RDF_TYPE_A
                                                                             : LDNS_RDF_TYPE_AAAA,
                                                        r->family == AF_INET ? 4 : 16, r->addr));
            ldns_pkt_push_rr(resp, LDNS_SECTION_ANSWER, ans);
        }
    }
    if (ldns_pkt2wire(out, resp, outlen) == LDNS_STATUS_OK)
        rc = 0;
    ldns_pkt_free(resp);
    ldns_pkt_free(pkt);
    return rc;
}
