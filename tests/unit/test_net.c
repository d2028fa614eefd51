/* src/net and the network fault kinds: peer parsing, nft rule text,
 * netem requests, option validation. Nothing here touches the system. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults/fault.h"
#include "faults/network_common.h"
#include "faults/network_netem.h"
#include "net/netem.h"
#include "net/netns.h"
#include "net/nft.h"
#include "net/peer.h"
#include "net/tc.h"

static void peer_ok(const char *in, int family, int prefix, int port, const char *canon)
{
    struct fl_net_peer p;
    struct fl_err e = {0};
    char buf[96];

    cr_assert_eq(fl_net_peer_parse(in, &p, &e), 0, "%s: %s", in, e.msg);
    cr_assert_eq(p.family, family, "%s", in);
    cr_assert_eq(p.prefix, prefix, "%s", in);
    cr_assert_eq(p.port, port, "%s", in);
    fl_net_peer_format(&p, true, buf, sizeof buf);
    cr_assert_str_eq(buf, canon, "%s", in);
}

Test(peer, ipv4)
{
    peer_ok("10.0.0.2", AF_INET, 32, 0, "10.0.0.2");
    peer_ok("10.0.0.0/24", AF_INET, 24, 0, "10.0.0.0/24");
    peer_ok("10.0.0.77/24", AF_INET, 24, 0, "10.0.0.0/24"); /* host bits cleared */
    peer_ok("10.0.0.2:6379", AF_INET, 32, 6379, "10.0.0.2:6379");
    peer_ok("10.1.0.0/16:80", AF_INET, 16, 80, "10.1.0.0/16:80");
    peer_ok("0.0.0.0/0", AF_INET, 0, 0, "0.0.0.0/0");
}

Test(peer, ipv6)
{
    peer_ok("fd00::2", AF_INET6, 128, 0, "fd00::2");
    peer_ok("fd00::/64", AF_INET6, 64, 0, "fd00::/64");
    peer_ok("fd00::1:2/112", AF_INET6, 112, 0, "fd00::1:0/112");
    peer_ok("[fd00::2]:6379", AF_INET6, 128, 6379, "[fd00::2]:6379");
    peer_ok("[fd00::/64]:443", AF_INET6, 64, 443, "[fd00::/64]:443");
    peer_ok("[::1]", AF_INET6, 128, 0, "::1");
}

Test(peer, bad)
{
    const char *bad[] = {"",
                         "localhost",
                         "10.0.0",
                         "10.0.0.256",
                         "10.0.0.1/33",
                         "10.0.0.1:0",
                         "10.0.0.1:65536",
                         "10.0.0.1:x",
                         "fd00::/129",
                         "[10.0.0.1]:80",
                         "[fd00::1",
                         "[fd00::1]x",
                         "fd00::1:80:",
                         "10.0.0.1/24/8",
                         "1.2.3.4; drop",
                         "10.0.0.1:80 accept",
                         "[fd00::1]:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fl_net_peer p;
        struct fl_err e = {0};
        cr_assert_eq(fl_net_peer_parse(bad[i], &p, &e), -FL_EUSAGE, "'%s' was accepted", bad[i]);
        /* the text is quoted; the option is the caller's to name (--peer, --target) */
        cr_assert(!strstr(e.msg, "--peer") && !strstr(e.msg, "--target"), "%s: %s", bad[i], e.msg);
        cr_assert(strstr(e.msg, bad[i]) || !*bad[i], "%s: %s", bad[i], e.msg);
    }
}

Test(peer, protocols)
{
    struct fl_err e = {0};
    cr_assert_eq(fl_net_protocol_check("tcp", &e), 0);
    cr_assert_eq(fl_net_protocol_check("icmp", &e), 0);
    cr_assert_eq(fl_net_protocol_check("17", &e), 0);
    cr_assert_eq(fl_net_protocol_check("256", &e), -FL_EUSAGE);
    cr_assert_eq(fl_net_protocol_check("tcp; flush ruleset", &e), -FL_EUSAGE);
    cr_assert(fl_net_protocol_has_ports("udp"));
    cr_assert(!fl_net_protocol_has_ports("icmp"));
}

static char *render(const struct fl_nft_spec *s)
{
    struct fl_err e = {0};
    char *out = NULL;
    cr_assert_eq(fl_nft_render(s, &out, &e), 0, "%s", e.msg);
    return out;
}

Test(nft, partition_rules)
{
    struct fl_net_peer peers[2];
    struct fl_err e = {0};
    fl_net_peer_parse("10.0.0.2", &peers[0], &e);
    fl_net_peer_parse("fd00::/64", &peers[1], &e);
    struct fl_nft_spec s = {.table = "faultline_0badcafe",
                            .verdict = FL_NFT_DROP,
                            .in = true,
                            .out = true,
                            .forward = true,
                            .peers = peers,
                            .npeers = 2};
    char *t = render(&s);
    cr_assert(!strncmp(t, "table inet faultline_0badcafe {\n", 31), "%s", t);
    cr_assert(strstr(t, "chain input {\n\t\ttype filter hook input priority -300; policy accept;\n"
                        "\t\tip saddr 10.0.0.2 drop\n\t\tip6 saddr fd00::/64 drop\n\t}"),
              "%s", t);
    cr_assert(strstr(t,
                     "chain output {\n\t\ttype filter hook output priority -300; policy accept;\n"
                     "\t\tip daddr 10.0.0.2 drop\n\t\tip6 daddr fd00::/64 drop\n\t}"),
              "%s", t);
    cr_assert(strstr(t, "chain forward {"), "%s", t);
    cr_assert(strstr(t, "hook forward priority -300; policy accept;\n\t\tip saddr 10.0.0.2 drop\n"
                        "\t\tip6 saddr fd00::/64 drop\n\t\tip daddr 10.0.0.2 drop\n"),
              "%s", t);
    cr_assert_null(strstr(t, "jump"), "%s", t);
    cr_assert_null(strstr(t, "{ tcp, udp }"), "no anonymous sets: %s", t);
    free(t);
}

/* From three peers on, a partition's per-peer rules live once in
 * from_peers / to_peers, which input, output and forward jump to. */
Test(nft, partition_shared_peer_chains)
{
    struct fl_net_peer peers[3];
    struct fl_err e = {0};
    fl_net_peer_parse("10.0.0.2", &peers[0], &e);
    fl_net_peer_parse("10.0.0.3", &peers[1], &e);
    fl_net_peer_parse("fd00::/64", &peers[2], &e);
    struct fl_nft_spec s = {.table = "faultline_9",
                            .verdict = FL_NFT_DROP,
                            .in = true,
                            .out = true,
                            .forward = true,
                            .peers = peers,
                            .npeers = 3};
    char *t = render(&s);
    cr_assert(strstr(t, "\tchain from_peers {\n\t\tip saddr 10.0.0.2 drop\n\t\tip saddr 10.0.0.3 "
                        "drop\n\t\tip6 saddr fd00::/64 drop\n\t}\n"),
              "%s", t);
    cr_assert(strstr(t, "\tchain to_peers {\n\t\tip daddr 10.0.0.2 drop\n"), "%s", t);
    cr_assert(strstr(t, "hook input priority -300; policy accept;\n\t\tjump from_peers\n\t}"), "%s",
              t);
    cr_assert(strstr(t, "hook output priority -300; policy accept;\n\t\tjump to_peers\n\t}"), "%s",
              t);
    cr_assert(strstr(t, "hook forward priority -300; policy accept;\n\t\tjump from_peers\n"
                        "\t\tjump to_peers\n\t}"),
              "%s", t);
    free(t);
    s.in = false; /* direction out: no from_peers, no input chain */
    t = render(&s);
    cr_assert_null(strstr(t, "from_peers"), "%s", t);
    cr_assert_null(strstr(t, "chain input"), "%s", t);
    cr_assert(strstr(t, "hook forward priority -300; policy accept;\n\t\tjump to_peers\n\t}"), "%s",
              t);
    free(t);
}

Test(nft, ports_and_protocols)
{
    struct fl_net_peer p;
    struct fl_err e = {0};
    fl_net_peer_parse("10.0.0.2", &p, &e);
    struct fl_nft_spec s = {.table = "faultline_1",
                            .verdict = FL_NFT_DROP,
                            .out = true,
                            .peers = &p,
                            .npeers = 1,
                            .port = 6379};
    char *t = render(&s);
    /* the body of a peer with a port is one chain, jumped to per peer */
    cr_assert(strstr(t, "\tchain match_6379 {\n"
                        "\t\tmeta l4proto tcp th dport 6379 drop\n"
                        "\t\tmeta l4proto udp th dport 6379 drop\n"
                        "\t\tmeta l4proto tcp th sport 6379 drop\n"
                        "\t\tmeta l4proto udp th sport 6379 drop\n\t}\n"),
              "%s", t);
    cr_assert(strstr(t, "policy accept;\n\t\tip daddr 10.0.0.2 jump match_6379\n\t}"), "%s", t);
    cr_assert_null(strstr(t, "chain input"));
    free(t);
    s.protocol = "tcp";
    t = render(&s);
    cr_assert(strstr(t, "\t\tmeta l4proto tcp th dport 6379 drop\n"
                        "\t\tmeta l4proto tcp th sport 6379 drop\n\t}"),
              "%s", t);
    cr_assert_null(strstr(t, "udp"), "%s", t);
    free(t);
    /* A peer's own port wins over --port. */
    fl_net_peer_parse("10.0.0.2:53", &p, &e);
    s.protocol = "udp";
    t = render(&s);
    cr_assert(strstr(t, "meta l4proto udp th dport 53 drop\n"), "%s", t);
    cr_assert(strstr(t, "ip daddr 10.0.0.2 jump match_53\n"), "%s", t);
    cr_assert_null(strstr(t, "6379"));
    free(t);
    /* icmp has no ports */
    s.protocol = "icmp";
    cr_assert_eq(fl_nft_render(&s, &t, &e), -FL_EUSAGE);
    p.port = 0;
    s.port = 0;
    t = render(&s);
    cr_assert(strstr(t, "ip daddr 10.0.0.2 meta l4proto { icmp, ipv6-icmp } drop\n"), "%s", t);
    free(t);
    /* no peer: the port rules sit in the base chain */
    s.npeers = 0;
    s.protocol = NULL;
    s.port = 80;
    t = render(&s);
    cr_assert(strstr(t, "policy accept;\n\t\tmeta l4proto tcp th dport 80 drop\n"
                        "\t\tmeta l4proto udp th dport 80 drop\n"
                        "\t\tmeta l4proto tcp th sport 80 drop\n"
                        "\t\tmeta l4proto udp th sport 80 drop\n\t}"),
              "%s", t);
    free(t);
}

Test(nft, reject_rules)
{
    struct fl_net_peer p;
    struct fl_err e = {0};
    fl_net_peer_parse("10.0.0.2", &p, &e);
    struct fl_nft_spec s = {
        .table = "faultline_2", .verdict = FL_NFT_REJECT, .in = true, .peers = &p, .npeers = 1};
    char *t = render(&s);
    cr_assert(strstr(t, "\tchain match_any {\n\t\tmeta l4proto tcp reject with tcp reset\n"
                        "\t\treject\n\t}\n"),
              "%s", t);
    cr_assert(strstr(t, "\t\tip saddr 10.0.0.2 jump match_any\n"), "%s", t);
    free(t);
    s.protocol = "tcp";
    t = render(&s);
    cr_assert(strstr(t, "\t\tip saddr 10.0.0.2 meta l4proto tcp reject with tcp reset\n"), "%s", t);
    cr_assert_null(strstr(t, "reject\n\t}"), "%s", t);
    free(t);
    s.protocol = "udp";
    t = render(&s);
    cr_assert_null(strstr(t, "tcp reset"), "%s", t);
    cr_assert(strstr(t, "ip saddr 10.0.0.2 meta l4proto udp reject\n"), "%s", t);
    free(t);
    /* a port and no protocol: tcp gets a reset, udp the icmp answer */
    s.protocol = NULL;
    s.port = 53;
    t = render(&s);
    cr_assert(strstr(t, "\t\tmeta l4proto tcp th dport 53 reject with tcp reset\n"
                        "\t\tmeta l4proto udp th dport 53 reject\n"),
              "%s", t);
    free(t);
}

/* Both directions rejected: the kernel's own answers must pass the other
 * chain, or the peer sees a timeout instead of a refusal. */
Test(nft, reject_both_lets_answers_pass)
{
    struct fl_net_peer p[2];
    struct fl_err e = {0};
    fl_net_peer_parse("10.0.0.2", &p[0], &e);
    fl_net_peer_parse("fd00::2", &p[1], &e);
    struct fl_nft_spec s = {.table = "faultline_5",
                            .verdict = FL_NFT_REJECT,
                            .in = true,
                            .out = true,
                            .peers = p,
                            .npeers = 1};
    char *t = render(&s);
    cr_assert(strstr(t, "\tchain match4_any {\n"
                        "\t\tmeta l4proto tcp tcp flags & rst == rst accept\n"
                        "\t\ticmp type destination-unreachable accept\n"
                        "\t\tmeta l4proto tcp reject with tcp reset\n"),
              "%s", t);
    cr_assert(strstr(t, "\t\tip saddr 10.0.0.2 jump match4_any\n"), "%s", t);
    cr_assert(strstr(t, "\t\tip daddr 10.0.0.2 jump match4_any\n"), "%s", t);
    cr_assert_null(strstr(t, "icmpv6"), "%s", t);
    free(t);
    s.npeers = 2; /* the v6 peer gets its own body, with icmpv6 */
    t = render(&s);
    cr_assert(strstr(t, "\tchain match6_any {\n"
                        "\t\tmeta l4proto tcp tcp flags & rst == rst accept\n"
                        "\t\ticmpv6 type destination-unreachable accept\n"),
              "%s", t);
    cr_assert(strstr(t, "\t\tip6 daddr fd00::2 jump match6_any\n"), "%s", t);
    free(t);
}

Test(nft, loss_rules)
{
    struct fl_nft_spec s = {
        .table = "faultline_3", .verdict = FL_NFT_DROP, .out = true, .loss_per10k = 1250};
    char *t = render(&s);
    cr_assert(strstr(t, "policy accept;\n\t\tnumgen random mod 10000 < 1250 drop\n"), "%s", t);
    free(t);
}

Test(nft, table_family_follows_the_peers)
{
    struct fl_net_peer v4[2], v6, mixed[2];
    struct fl_err e = {0};
    fl_net_peer_parse("10.0.0.2", &v4[0], &e);
    fl_net_peer_parse("10.1.0.0/16:80", &v4[1], &e);
    fl_net_peer_parse("fd00::2", &v6, &e);
    mixed[0] = v4[0];
    mixed[1] = v6;
    struct fl_nft_spec s = {
        .table = "faultline_4", .verdict = FL_NFT_REJECT, .in = true, .out = true};
    char *t;

    cr_assert_str_eq(fl_nft_family(&s), "inet"); /* no peers: every packet, both families */
    s.peers = v4;
    s.npeers = 2;
    cr_assert_str_eq(fl_nft_family(&s), "ip");
    t = render(&s);
    cr_assert(!strncmp(t, "table ip faultline_4 {\n", 23), "%s", t);
    free(t);
    s.peers = &v6;
    s.npeers = 1;
    cr_assert_str_eq(fl_nft_family(&s), "ip6");
    t = render(&s);
    cr_assert(!strncmp(t, "table ip6 faultline_4 {\n", 24), "%s", t);
    free(t);
    s.peers = mixed;
    s.npeers = 2;
    cr_assert_str_eq(fl_nft_family(&s), "inet");
}

Test(nft, bad_specs)
{
    struct fl_err e = {0};
    char *t = NULL;
    struct fl_nft_spec s = {.table = "faultline_x; flush ruleset", .out = true};
    cr_assert_lt(fl_nft_render(&s, &t, &e), 0);
    s.table = "faultline_4";
    s.out = false;
    cr_assert_eq(fl_nft_render(&s, &t, &e), -FL_EUSAGE);
    s.out = true;
    s.protocol = "bogus";
    cr_assert_eq(fl_nft_render(&s, &t, &e), -FL_EUSAGE);
    cr_assert_null(t);
}

/* Validation through the registered kinds, as `faultline inject` runs it. */
static int validate(const char *kind, const char *json, struct fl_err *e)
{
    const struct fl_fault_ops *ops = fl_fault_lookup(kind);
    json_t *p = json_loads(json, 0, NULL);
    int r;

    cr_assert_not_null(ops, "%s is not registered", kind);
    cr_assert_not_null(p, "bad test json %s", json);
    memset(e, 0, sizeof *e);
    r = ops->validate(ops, p, e);
    json_decref(p);
    return r;
}

Test(validate, network_kinds)
{
    struct fl_err e;
    cr_assert_eq(validate("network.partition", "{\"peer\": [\"10.0.0.2\"]}", &e), 0, "%s", e.msg);
    cr_assert_eq(validate("network.partition", "{\"peer\": \"10.0.0.2\", \"netns\": \"n1\"}", &e),
                 0);
    cr_assert_eq(validate("network.partition", "{}", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--peer"), "%s", e.msg);
    cr_assert_eq(validate("network.blackhole", "{\"peer\": [\"nohost\"]}", &e), -FL_EUSAGE);
    cr_assert_eq(
        validate("network.reject", "{\"peer\": [\"10.0.0.2\"], \"netns\": \"a\", \"pid\": 5}", &e),
        -FL_EUSAGE);
    cr_assert(strstr(e.msg, "one of them"), "%s", e.msg);
    cr_assert_eq(
        validate("network.partition", "{\"peer\": [\"10.0.0.2\"], \"netns\": \"../x\"}", &e),
        -FL_EUSAGE);
    cr_assert_eq(
        validate("network.partition", "{\"peer\": [\"10.0.0.2\"], \"direction\": \"up\"}", &e),
        -FL_EUSAGE);
    cr_assert_eq(validate("network.partition",
                          "{\"peer\": [\"10.0.0.2\"], \"port\": 80, \"protocol\": \"icmp\"}", &e),
                 -FL_EUSAGE);
    cr_assert_eq(validate("network.partition", "{\"peer\": [\"10.0.0.2\"], \"port\": 70000}", &e),
                 -FL_EUSAGE);
    cr_assert_eq(validate("network.partition", "{\"peer\": [\"10.0.0.2\"], \"percent\": 5}", &e),
                 -FL_EUSAGE);
}

Test(validate, loss)
{
    struct fl_err e;
    cr_assert_eq(validate("network.loss", "{\"percent\": 12.5}", &e), 0, "%s", e.msg);
    cr_assert_eq(validate("network.loss", "{\"percent\": 0.01, \"peer\": [\"fd00::1\"]}", &e), 0);
    cr_assert_eq(validate("network.loss", "{}", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--percent"), "%s", e.msg);
    cr_assert_eq(validate("network.loss", "{\"percent\": 130}", &e), -FL_EUSAGE);
    cr_assert_eq(validate("network.loss", "{\"percent\": 0.001}", &e), -FL_EUSAGE);
}

Test(validate, bandwidth)
{
    struct fl_err e;
    cr_assert_eq(validate("network.bandwidth", "{\"rate\": 1000000, \"netns\": \"n1\"}", &e), 0,
                 "%s", e.msg);
    cr_assert_eq(validate("network.bandwidth", "{\"rate\": 1000000, \"dev\": [\"eth0\"]}", &e), 0);
    cr_assert_eq(validate("network.bandwidth", "{\"rate\": 1000000}", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--dev"), "%s", e.msg);
    cr_assert_eq(validate("network.bandwidth",
                          "{\"rate\": 1000000, \"netns\": \"n1\", \"direction\": \"in\"}", &e),
                 -FL_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "ifb"), "%s", e.msg);
    cr_assert_eq(validate("network.bandwidth", "{\"netns\": \"n1\"}", &e), -FL_EUSAGE);
    cr_assert_eq(validate("network.bandwidth", "{\"rate\": 1000000, \"dev\": [\"a/b\"]}", &e),
                 -FL_EUSAGE);
}

Test(describe, partition)
{
    const struct fl_fault_ops *ops = fl_fault_lookup("network.partition");
    struct fl_fault f;
    char buf[512];
    fl_fault_init(&f, ops,
                  json_loads("{\"netns\": \"n1\", \"peer\": [\"10.0.0.2\", \"10.0.0.3\"], "
                             "\"port\": 6379, \"protocol\": \"tcp\"}",
                             0, NULL));
    fl_fault_describe(&f, buf, sizeof buf);
    cr_assert_str_eq(buf, "drop traffic between netns n1 and 10.0.0.2, 10.0.0.3 (both directions, "
                          "tcp port 6379)");
    fl_fault_fini(&f);
    fl_fault_init(&f, fl_fault_lookup("network.loss"), json_loads("{\"percent\": 30}", 0, NULL));
    fl_fault_describe(&f, buf, sizeof buf);
    cr_assert_str_eq(buf, "drop 30% of packets leaving the host");
    fl_fault_fini(&f);
}

Test(tc, burst)
{
    cr_assert_eq(fl_tc_tbf_default_burst(2000000, 1500), 5000);
    cr_assert_eq(fl_tc_tbf_default_burst(100000, 1500), 3028);
    cr_assert_eq(fl_tc_tbf_default_burst(1000000000, 1500), 2500000);
}

Test(format, rate)
{
    char b[32];
    fl_netfault_format_rate(2000000, b, sizeof b);
    cr_assert_str_eq(b, "2mbit");
    fl_netfault_format_rate(1500000, b, sizeof b);
    cr_assert_str_eq(b, "1.5mbit");
    fl_netfault_format_rate(800, b, sizeof b);
    cr_assert_str_eq(b, "800bit");
}

/* A scope survives the journal: resolve the current namespace, write it as
 * the undo record does, read it back, open the same namespace again. */
Test(netns, scope_round_trip)
{
    struct fl_netns_scope s, back;
    struct fl_err e = {0};
    json_t *params = json_object(), *j;
    char buf[128];
    int fd;

    cr_assert_eq(fl_netns_resolve(params, &s, &e), 0, "%s", e.msg);
    cr_assert_eq(s.kind, FL_NETNS_SELF);
    cr_assert_neq(s.ino, 0);
    j = fl_netns_to_json(&s);
    cr_assert_eq(fl_netns_from_json(j, &back, &e), 0, "%s", e.msg);
    cr_assert_eq(back.ino, s.ino);
    cr_assert_eq(back.dev, s.dev);
    fd = fl_netns_open(&back, &e);
    cr_assert_geq(fd, 0, "%s", e.msg);
    close(fd);
    /* a namespace identity that exists nowhere: gone, not an error */
    json_object_set_new(j, "ino", json_integer(1));
    cr_assert_eq(fl_netns_from_json(j, &back, &e), 0);
    cr_assert_eq(fl_netns_open(&back, &e), -FL_ENOTARGET);
    fl_netns_describe(&s, buf, sizeof buf);
    cr_assert(strstr(buf, "host") || strstr(buf, "netns"), "%s", buf);
    json_decref(j);
    json_decref(params);
}

Test(netns, missing_name_and_pid)
{
    struct fl_netns_scope s;
    struct fl_err e = {0};
    json_t *p = json_pack("{s:s}", "netns", "fl-unit-no-such-ns");

    cr_assert_eq(fl_netns_resolve(p, &s, &e), -FL_ENOTARGET);
    cr_assert(strstr(e.msg, "'fl-unit-no-such-ns' does not exist"), "%s", e.msg);
    cr_assert(strstr(e.msg, "ip netns list"), "%s", e.msg);
    json_decref(p);
    p = json_pack("{s:i}", "pid", 4194303);
    cr_assert_eq(fl_netns_resolve(p, &s, &e), -FL_ENOTARGET);
    cr_assert(strstr(e.msg, "4194303"), "%s", e.msg);
    json_decref(p);
}

/* ---- kernel netem (net/tc.c, faults/network_netem.c) ----
 * This kernel has no sch_netem, so the requests are checked by building
 * them and parsing them back with libnl's own qdisc parser. */

static struct rtnl_qdisc *parsed_qdisc;

static void keep_qdisc(struct nl_object *o, void *arg)
{
    (void)arg;
    nl_object_get(o);
    parsed_qdisc = (struct rtnl_qdisc *)o;
}

/* Build the request for n on ifindex 7, check its header, parse it back. */
static struct rtnl_qdisc *netem_roundtrip(const struct fl_tc_netem *n)
{
    struct nl_msg *msg = NULL;
    struct fl_err e = {0};
    struct nlmsghdr *h;

    cr_assert_eq(fl_tc_netem_msg(7, n, &msg, &e), 0, "%s", e.msg);
    h = nlmsg_hdr(msg);
    cr_assert_eq(h->nlmsg_type, RTM_NEWQDISC);
    cr_assert_eq(h->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_REPLACE),
                 NLM_F_CREATE | NLM_F_EXCL, "never replaces a configured qdisc");
    parsed_qdisc = NULL;
    nlmsg_set_proto(msg, NETLINK_ROUTE); /* picks libnl's rtnetlink qdisc parser */
    int r = nl_msg_parse(msg, keep_qdisc, NULL);
    nlmsg_free(msg);
    cr_assert_geq(r, 0, "%s", nl_geterror(r));
    cr_assert(parsed_qdisc, "the request parses back into a qdisc");
    cr_assert_eq(rtnl_tc_get_ifindex(TC_CAST(parsed_qdisc)), 7);
    cr_assert_eq(rtnl_tc_get_parent(TC_CAST(parsed_qdisc)), TC_H_ROOT);
    cr_assert_eq(rtnl_tc_get_handle(TC_CAST(parsed_qdisc)), FL_TC_HANDLE);
    cr_assert_str_eq(rtnl_tc_get_kind(TC_CAST(parsed_qdisc)), "netem");
    return parsed_qdisc;
}

static uint32_t u32(int v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

Test(netem, probability_scale)
{
    cr_assert_eq(fl_tc_netem_prob(0), 0);
    cr_assert_eq(fl_tc_netem_prob(-1), 0);
    cr_assert_eq(fl_tc_netem_prob(100), UINT32_MAX);
    cr_assert_eq(fl_tc_netem_prob(250), UINT32_MAX);
    /* tc's scale: 50% is half of UINT32_MAX, 1% a hundredth */
    cr_assert_leq(llabs((long long)fl_tc_netem_prob(50) - (long long)(UINT32_MAX / 2)), 1);
    cr_assert_leq(llabs((long long)fl_tc_netem_prob(1) - 42949672LL), 1);
}

Test(netem, delay_and_jitter_message)
{
    struct fl_tc_netem n = {.delay_us = 100000, .jitter_us = 10000};
    struct rtnl_qdisc *q = netem_roundtrip(&n);

    /* libnl carries delays as kernel ticks: allow its rounding */
    cr_assert_leq(abs(rtnl_netem_get_delay(q) - 100000), 10, "delay %d", rtnl_netem_get_delay(q));
    cr_assert_leq(abs(rtnl_netem_get_jitter(q) - 10000), 10, "jitter %d", rtnl_netem_get_jitter(q));
    cr_assert_eq(rtnl_netem_get_limit(q), FL_TC_NETEM_LIMIT, "a zero limit would drop everything");
    cr_assert_eq(u32(rtnl_netem_get_loss(q)), 0);
    cr_assert_eq(u32(rtnl_netem_get_duplicate(q)), 0);
    rtnl_qdisc_put(q);
}

Test(netem, duplicate_and_corrupt_message)
{
    struct fl_tc_netem n = {.duplicate = fl_tc_netem_prob(5), .correlation = fl_tc_netem_prob(25)};
    struct rtnl_qdisc *q = netem_roundtrip(&n);

    cr_assert_eq(u32(rtnl_netem_get_duplicate(q)), fl_tc_netem_prob(5));
    cr_assert_eq(u32(rtnl_netem_get_duplicate_correlation(q)), fl_tc_netem_prob(25));
    cr_assert_eq(u32(rtnl_netem_get_delay(q)), 0);
    rtnl_qdisc_put(q);

    struct fl_tc_netem c = {.corrupt = fl_tc_netem_prob(75)}; /* above INT_MAX: the bits pass */
    q = netem_roundtrip(&c);
    cr_assert_eq(u32(rtnl_netem_get_corruption_probability(q)), fl_tc_netem_prob(75));
    cr_assert_eq(u32(rtnl_netem_get_duplicate(q)), 0);
    rtnl_qdisc_put(q);
}

Test(netem, reorder_message)
{
    struct fl_tc_netem n = {.delay_us = 10000, .reorder = fl_tc_netem_prob(30), .gap = 5};
    struct rtnl_qdisc *q = netem_roundtrip(&n);

    cr_assert_eq(u32(rtnl_netem_get_reorder_probability(q)), fl_tc_netem_prob(30));
    cr_assert_eq(rtnl_netem_get_gap(q), 5);
    cr_assert_leq(abs(rtnl_netem_get_delay(q) - 10000), 10);
    rtnl_qdisc_put(q);
}

Test(netem, undo_record_roundtrip)
{
    struct fl_tc_netem n = {.delay_us = 1,
                            .jitter_us = 2,
                            .loss = 3,
                            .duplicate = UINT32_MAX,
                            .reorder = 5,
                            .corrupt = 6,
                            .correlation = 7,
                            .gap = 8},
                       back;
    json_t *j = fl_netemfault_to_json(&n);

    fl_netemfault_from_json(j, &back);
    json_decref(j);
    cr_assert_eq(memcmp(&n, &back, sizeof n), 0);
}

Test(netem, options)
{
    struct fl_err e = {0};

    cr_assert_eq(validate("network.duplicate", "{\"netns\":\"n1\",\"percent\":5}", &e), 0, "%s",
                 e.msg);
    cr_assert_eq(validate("network.corrupt", "{\"dev\":[\"eth0\"],\"percent\":0.5}", &e), 0, "%s",
                 e.msg);
    cr_assert_eq(validate("network.duplicate", "{\"netns\":\"n1\"}", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--percent"), "%s", e.msg);
    cr_assert_eq(validate("network.duplicate", "{\"netns\":\"n1\",\"percent\":0}", &e), -FL_EUSAGE);
    /* never the host's devices by default */
    cr_assert_eq(validate("network.corrupt", "{\"percent\":5}", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--dev"), "%s", e.msg);
    cr_assert_eq(validate("network.corrupt", "{\"dev\":[\"a/b\"],\"percent\":5}", &e), -FL_EUSAGE);
    cr_assert_eq(validate("network.corrupt", "{\"dev\":\"a/b\",\"percent\":5}", &e), -FL_EUSAGE,
                 "a single --dev (a YAML scalar) is checked too");
    /* reorder needs the delay the other packets wait */
    cr_assert_eq(validate("network.reorder", "{\"netns\":\"n1\",\"percent\":5}", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--latency"), "%s", e.msg);
    cr_assert_eq(validate("network.reorder",
                          "{\"netns\":\"n1\",\"percent\":5,\"latency\":10,\"gap\":3}", &e),
                 0, "%s", e.msg);
    /* delay: without --target the netem path, with it the proxy; never both */
    cr_assert_eq(validate("network.delay", "{\"netns\":\"n1\",\"latency\":100}", &e), 0, "%s",
                 e.msg);
    cr_assert_eq(validate("network.delay", "{\"latency\":100}", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--target"), "the message names the proxy way too: %s", e.msg);
    cr_assert_eq(validate("network.delay",
                          "{\"target\":[\"10.0.0.2:80\"],\"dev\":[\"eth0\"],\"latency\":1}", &e),
                 -FL_EUSAGE);
    /* the proxy's own options are refused on the netem path, never ignored */
    cr_assert_eq(validate("network.delay", "{\"netns\":\"n1\",\"latency\":10,\"percent\":50}", &e),
                 -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--percent needs --target"), "%s", e.msg);
    cr_assert_eq(validate("network.jitter",
                          "{\"netns\":\"n1\",\"jitter\":10,\"direction\":\"upstream\"}", &e),
                 -FL_EUSAGE);
    cr_assert_eq(validate("network.jitter", "{\"netns\":\"n1\",\"jitter\":120000}", &e), -FL_EUSAGE,
                 "netem's delays stop at 1m");
}

Test(netem, describe)
{
    const struct fl_fault_ops *ops = fl_fault_lookup("network.reorder");
    struct fl_fault f;
    char buf[512];

    cr_assert(ops);
    cr_assert_eq(fl_fault_init(&f, ops,
                               json_loads("{\"netns\":\"n1\",\"percent\":25,\"latency\":10,"
                                          "\"dev\":[\"veth0\"]}",
                                          0, NULL)),
                 0);
    fl_fault_describe(&f, buf, sizeof buf);
    cr_assert(strstr(buf, "send at once 25% of packets, delay the rest 10ms"), "%s", buf);
    cr_assert(strstr(buf, "veth0") && strstr(buf, "kernel netem"), "%s", buf);
    fl_fault_fini(&f);
}

Test(netem, env_switch)
{
    const char *why = NULL;
    struct fl_err e = {0};

    setenv("FAULTLINE_NETEM", "bogus", 1);
    cr_assert_eq(fl_netem_available(&why, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "FAULTLINE_NETEM"), "%s", e.msg);
    setenv("FAULTLINE_NETEM", "off", 1);
    cr_assert_eq(fl_netem_available(&why, &e), 0);
    cr_assert(why && strstr(why, "FAULTLINE_NETEM=off"));
    unsetenv("FAULTLINE_NETEM");
}

/* The claims of a fault of `kind` planned (undo) onto device veth0 of n1. */
static json_t *claims_on_veth0(const char *kind, const char *params, const char *mechanism)
{
    struct fl_fault f;
    json_t *out = json_object();

    cr_assert_eq(fl_fault_init(&f, fl_fault_lookup(kind), json_loads(params, 0, NULL)), 0);
    json_object_set_new(f.undo, "devices",
                        json_pack("[{s:s, s:i}]", "name", "veth0", "ifindex", 4));
    if (mechanism)
        json_object_set_new(f.undo, "mechanism", json_string(mechanism));
    f.ops->claims(&f, out);
    fl_fault_fini(&f);
    return out;
}

Test(netem, one_root_qdisc_per_device)
{
    json_t *bw = claims_on_veth0("network.bandwidth", "{\"netns\":\"n1\",\"rate\":1000000}", NULL);
    json_t *dup = claims_on_veth0("network.duplicate", "{\"netns\":\"n1\",\"percent\":5}", "netem");
    json_t *delay = claims_on_veth0("network.delay", "{\"netns\":\"n1\",\"latency\":10}", "netem");
    const char *key;
    json_t *v;

    cr_assert_eq(json_object_size(bw), 1);
    /* the same exclusive key: bandwidth and netem faults refuse each other */
    json_object_foreach (bw, key, v) {
        cr_assert(strstr(key, "root qdisc of veth0"), "%s", key);
        cr_assert(json_integer_value(json_object_get(dup, key)) == FL_CLAIM_EXCLUSIVE, "%s", key);
        cr_assert(json_integer_value(json_object_get(delay, key)) == FL_CLAIM_EXCLUSIVE, "%s", key);
    }
    json_decref(bw);
    json_decref(dup);
    json_decref(delay);
}
