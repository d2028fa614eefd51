/* Fuzz what a dns.fault responder does with a query from the network:
 * deciding (ldns reads the packet, the name is matched) and building the
 * error and wrong-address answers for it. */
#include <stdint.h>
#include <stdlib.h>

#include "dns/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fl_dns_rules r;
    static int ready;
    struct fl_dns_decision d;
    uint8_t *out;
    size_t n;

    if (!ready) {
        json_t *p =
            json_pack("{s:[s,s], s:s}", "name", "*.example.com", "a?c", "address", "192.0.2.1");
        struct fl_err e;

        if (fl_dns_rules_from_params(p, &r, &e) < 0)
            abort();
        json_decref(p);
        ready = 1;
    }
    fl_dns_decide(&r, data, size, 0.5, &d);
    for (int a = FL_DNS_NXDOMAIN; a <= FL_DNS_ADDRESS; a++) {
        if (a == FL_DNS_TIMEOUT)
            continue;
        if (fl_dns_answer(&r, (enum fl_dns_action)a, data, size, &out, &n) == 0 && (!out || !n))
            abort();
        free(out);
    }
    return 0;
}
