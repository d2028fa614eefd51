/* dns.fault's rules: which queries it selects and the answers it builds
 * (read back with ldns, an independent reader of the wire format). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ldns/ldns.h>
#include <string.h>

#include "dns/dns.h"

/* A query for name/type with id 0x4242, in wire format. */
static size_t query(const char *name, ldns_rr_type type, uint8_t *buf, size_t cap)
{
    ldns_pkt *p = NULL;
    uint8_t *w = NULL;
    size_t n = 0;

    cr_assert_eq(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                 LDNS_STATUS_OK);
    ldns_pkt_set_id(p, 0x4242);
    cr_assert_eq(ldns_pkt2wire(&w, p, &n), LDNS_STATUS_OK);
    cr_assert(n <= cap);
    memcpy(buf, w, n);
    free(w);
    ldns_pkt_free(p);
    return n;
}

static void rules(struct fl_dns_rules *r, const char *json)
{
    json_error_t je;
    json_t *p = json_loads(json, 0, &je);
    struct fl_err e = {0};

    cr_assert_not_null(p, "%s", je.text);
    cr_assert_eq(fl_dns_rules_from_params(p, r, &e), 0, "%s", e.msg);
    json_decref(p);
}

static int rules_error(const char *json, const char *want)
{
    struct fl_dns_rules r;
    struct fl_err e = {0};
    json_t *p = json_loads(json, 0, NULL);
    int rc = fl_dns_rules_from_params(p, &r, &e);

    fl_dns_rules_fini(&r);
    json_decref(p);
    cr_expect(rc < 0 && strstr(e.msg, want), "%s: got '%s'", json, e.msg);
    return rc;
}

Test(dns, selects_by_glob_case_insensitively)
{
    struct fl_dns_rules r;
    struct fl_dns_decision d;
    uint8_t q[512];
    size_t n;

    rules(&r, "{\"name\": [\"*.Example.com\", \"db?.internal.\"], \"error\": \"nxdomain\"}");
    n = query("WWW.example.COM.", LDNS_RR_TYPE_A, q, sizeof q);
    fl_dns_decide(&r, q, n, 0.99, &d);
    cr_expect(d.selected);
    cr_expect_eq(d.action, FL_DNS_NXDOMAIN);
    cr_expect_str_eq(d.qname, "www.example.com");
    n = query("db1.internal.", LDNS_RR_TYPE_A, q, sizeof q);
    fl_dns_decide(&r, q, n, 0.0, &d);
    cr_expect(d.selected);
    n = query("example.com.", LDNS_RR_TYPE_A, q, sizeof q); /* *.x does not match x */
    fl_dns_decide(&r, q, n, 0.0, &d);
    cr_expect(!d.selected);
    cr_expect_eq(d.action, FL_DNS_FORWARD);
    fl_dns_rules_fini(&r);
}

Test(dns, percent_selects_a_share)
{
    struct fl_dns_rules r;
    struct fl_dns_decision d;
    uint8_t q[512];
    size_t n;

    rules(&r, "{\"error\": \"servfail\", \"percent\": 30, \"delay\": 50}");
    n = query("a.b.", LDNS_RR_TYPE_A, q, sizeof q);
    fl_dns_decide(&r, q, n, 0.29, &d);
    cr_expect(d.selected);
    cr_expect_eq(d.delay_ms, 50);
    fl_dns_decide(&r, q, n, 0.30, &d);
    cr_expect(!d.selected);
    cr_expect_eq(d.delay_ms, 0, "an unselected query is not delayed");
    fl_dns_rules_fini(&r);
}

Test(dns, garbage_and_answers_are_forwarded_untouched)
{
    struct fl_dns_rules r;
    struct fl_dns_decision d;
    uint8_t junk[] = {1, 2, 3}, q[512];
    ldns_pkt *p = NULL;
    uint8_t *w = NULL;
    size_t n;

    rules(&r, "{\"error\": \"refused\"}");
    fl_dns_decide(&r, junk, sizeof junk, 0.0, &d);
    cr_expect(!d.selected);
    n = query("a.b.", LDNS_RR_TYPE_A, q, sizeof q);
    cr_assert_eq(ldns_wire2pkt(&p, q, n), LDNS_STATUS_OK);
    ldns_pkt_set_qr(p, true); /* a response is nobody's query */
    cr_assert_eq(ldns_pkt2wire(&w, p, &n), LDNS_STATUS_OK);
    fl_dns_decide(&r, w, n, 0.0, &d);
    cr_expect(!d.selected);
    free(w);
    ldns_pkt_free(p);
    fl_dns_rules_fini(&r);
}

Test(dns, error_answers_keep_id_and_question)
{
    static const struct {
        enum fl_dns_action a;
        ldns_pkt_rcode rc;
    } cases[] = {{FL_DNS_NXDOMAIN, LDNS_RCODE_NXDOMAIN},
                 {FL_DNS_SERVFAIL, LDNS_RCODE_SERVFAIL},
                 {FL_DNS_REFUSED, LDNS_RCODE_REFUSED}};
    struct fl_dns_rules r;
    uint8_t q[512], *out;
    size_t n, on;

    rules(&r, "{\"error\": \"nxdomain\"}");
    n = query("x.example.", LDNS_RR_TYPE_A, q, sizeof q);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ldns_pkt *p = NULL;

        cr_assert_eq(fl_dns_answer(&r, cases[i].a, q, n, &out, &on), 0);
        cr_assert_eq(ldns_wire2pkt(&p, out, on), LDNS_STATUS_OK);
        cr_expect_eq(ldns_pkt_id(p), 0x4242);
        cr_expect(ldns_pkt_qr(p));
        cr_expect_eq(ldns_pkt_get_rcode(p), cases[i].rc);
        cr_expect_eq(ldns_pkt_qdcount(p), 1);
        cr_expect_eq(ldns_pkt_ancount(p), 0);
        ldns_pkt_free(p);
        free(out);
    }
    fl_dns_rules_fini(&r);
}

Test(dns, wrong_address_answers_its_own_family)
{
    struct fl_dns_rules r;
    uint8_t q[512], *out;
    size_t n, on;
    ldns_pkt *p = NULL;
    ldns_rr *rr;
    char *s;

    rules(&r, "{\"address\": \"192.0.2.9\"}");
    n = query("x.example.", LDNS_RR_TYPE_A, q, sizeof q);
    cr_assert_eq(fl_dns_answer(&r, FL_DNS_ADDRESS, q, n, &out, &on), 0);
    cr_assert_eq(ldns_wire2pkt(&p, out, on), LDNS_STATUS_OK);
    cr_assert_eq(ldns_pkt_ancount(p), 1);
    rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
    cr_expect_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
    cr_expect_eq(ldns_rr_ttl(rr), 0);
    s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    cr_expect_str_eq(s, "192.0.2.9");
    free(s);
    ldns_pkt_free(p);
    free(out);
    /* an AAAA question gets an empty NOERROR answer */
    n = query("x.example.", LDNS_RR_TYPE_AAAA, q, sizeof q);
    cr_assert_eq(fl_dns_answer(&r, FL_DNS_ADDRESS, q, n, &out, &on), 0);
    p = NULL;
    cr_assert_eq(ldns_wire2pkt(&p, out, on), LDNS_STATUS_OK);
    cr_expect_eq(ldns_pkt_ancount(p), 0);
    cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    ldns_pkt_free(p);
    free(out);
    fl_dns_rules_fini(&r);
}

Test(dns, bad_rules_say_which_option)
{
    rules_error("{\"error\": \"nope\"}", "--error");
    rules_error("{\"error\": \"nxdomain\", \"address\": \"1.2.3.4\"}", "exclude each other");
    rules_error("{}", "say what happens");
    rules_error("{\"address\": \"1.2.3\"}", "--address");
    rules_error("{\"error\": \"timeout\", \"delay\": 10}", "--delay");
    rules_error("{\"error\": \"nxdomain\", \"name\": \"a b\"}", "--name");
    rules_error("{\"error\": \"nxdomain\", \"percent\": 0}", "--percent");
}

Test(dns, describe_says_what_and_where)
{
    struct fl_dns_rules r;
    char buf[256];

    rules(&r, "{\"name\": \"*.x\", \"address\": \"2001:db8::1\", \"percent\": 25, \"delay\": "
              "100}");
    fl_dns_rules_describe(&r, buf, sizeof buf);
    cr_expect_str_eq(buf, "answer 2001:db8::1 after 100ms to DNS queries for *.x (25% of them)");
    fl_dns_rules_fini(&r);
}
