/* Peers of a network fault (peer.h): strict address, prefix and port parsing. */
#include "net/peer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int parse_uint(const char *s, size_t len, long max, long *out)
{
    long v = 0;

    if (len == 0 || len > 6)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static void clear_host_bits(struct fl_net_peer *p)
{
    int bytes = p->family == AF_INET ? 4 : 16;

    for (int i = 0; i < bytes; i++) {
        int keep = p->prefix - i * 8;
        if (keep >= 8)
            continue;
        p->addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
}

/* "ADDR" or "ADDR/PREFIX" of either family. */
static int parse_cidr(const char *s, size_t len, struct fl_net_peer *p)
{
    char buf[INET6_ADDRSTRLEN + 8];
    char *slash;
    long prefix = -1;

    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    slash = strchr(buf, '/');
    if (slash) {
        *slash = 0;
        if (parse_uint(slash + 1, strlen(slash + 1), 128, &prefix))
            return -1;
    }
    if (inet_pton(AF_INET, buf, p->addr) == 1) {
        p->family = AF_INET;
        if (prefix > 32)
            return -1;
        p->prefix = prefix < 0 ? 32 : (int)prefix;
    } else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
        p->family = AF_INET6;
        p->prefix = prefix < 0 ? 128 : (int)prefix;
    } else {
        return -1;
    }
    clear_host_bits(p);
    return 0;
}

int fl_net_peer_parse(const char *s, struct fl_net_peer *p, struct fl_err *e)
{
    const char *colon, *end;
    long port = 0;

    memset(p, 0, sizeof *p);
    if (!s || !*s)
        return fl_err_set(e, FL_EUSAGE, "the address is empty: give one such as 10.0.0.2");
    if (s[0] == '[') {
        /* [V6] or [V6/PREFIX], optionally followed by :PORT */
        end = strchr(s, ']');
        if (!end || parse_cidr(s + 1, (size_t)(end - s - 1), p) || p->family != AF_INET6)
            goto bad;
        if (end[1] == ':') {
            if (parse_uint(end + 2, strlen(end + 2), 65535, &port) || port == 0)
                goto bad_port;
        } else if (end[1]) {
            goto bad;
        }
    } else if ((colon = strchr(s, ':')) && !strchr(colon + 1, ':')) {
        /* exactly one colon: IPv4 ADDR[/PREFIX]:PORT */
        if (parse_cidr(s, (size_t)(colon - s), p) || p->family != AF_INET)
            goto bad;
        if (parse_uint(colon + 1, strlen(colon + 1), 65535, &port) || port == 0)
            goto bad_port;
    } else if (parse_cidr(s, strlen(s), p)) {
        goto bad;
    }
    p->port = (int)port;
    return 0;
bad_port:
    return fl_err_set(e, FL_EUSAGE, "'%s': the port must be a number from 1 to 65535", s);
bad:
    return fl_err_set(e, FL_EUSAGE,
                      "'%s' is not an address: use ADDR, ADDR/PREFIX or ADDR:PORT for "
                      "IPv4 (10.0.0.2, 10.0.0.0/24, 10.0.0.2:6379) and V6, V6/PREFIX or "
                      "[V6]:PORT for IPv6 (fd00::2, fd00::/64, [fd00::2]:6379); host names are "
                      "not resolved",
                      s);
}

void fl_net_peer_format(const struct fl_net_peer *p, bool with_port, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN], cidr[INET6_ADDRSTRLEN + 8];
    int full = p->family == AF_INET ? 32 : 128;

    if (!inet_ntop(p->family, p->addr, a, sizeof a))
        snprintf(a, sizeof a, "?");
    if (p->prefix != full)
        snprintf(cidr, sizeof cidr, "%s/%d", a, p->prefix);
    else
        snprintf(cidr, sizeof cidr, "%s", a);
    if (!with_port || !p->port)
        snprintf(buf, len, "%s", cidr);
    else if (p->family == AF_INET6)
        snprintf(buf, len, "[%s]:%d", cidr, p->port);
    else
        snprintf(buf, len, "%s:%d", cidr, p->port);
}

static const char *const port_protocols[] = {"tcp", "udp", "sctp", "udplite", "dccp", NULL};
static const char *const other_protocols[] = {"icmp", "icmpv6", "gre", "esp", "ah", NULL};

static bool in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (!strcmp(*l, s))
            return true;
    return false;
}

int fl_net_protocol_check(const char *proto, struct fl_err *e)
{
    long n;

    if (proto && (in_list(port_protocols, proto) || in_list(other_protocols, proto) ||
                  parse_uint(proto, strlen(proto), 255, &n) == 0))
        return 0;
    return fl_err_set(e, FL_EUSAGE,
                      "--protocol '%s' is not known: use tcp, udp, icmp, icmpv6, sctp, "
                      "udplite, dccp, gre, esp, ah or a protocol number 0-255",
                      proto ? proto : "");
}

bool fl_net_protocol_has_ports(const char *proto)
{
    return proto && in_list(port_protocols, proto);
}
