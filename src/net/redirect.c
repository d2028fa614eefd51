/* Transparent interception (redirect.h): the nft rule set steering new TCP
 * connections into a local proxy listener. */
#include "net/redirect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/nft.h"

#define DSTNAT_PRIORITY (-100)

static void emit_redirects(FILE *f, const struct fl_redirect_spec *s)
{
    for (size_t i = 0; i < s->ntargets; i++) {
        const struct fl_net_peer *p = &s->targets[i];
        char a[80], port[32] = "";

        fl_net_peer_format(p, false, a, sizeof a);
        if (p->port)
            snprintf(port, sizeof port, "tcp dport %d ", p->port);
        /* Only a connection's opening SYN: a connection that existed before
         * the table (and before conntrack was on in this namespace) is
         * picked up mid-stream as "new", and redirecting its next segment
         * would make the proxy's stack answer it with a reset. */
        fprintf(f,
                "\t\t%s daddr %s meta l4proto tcp %stcp flags & (fin | syn | rst | ack) == syn "
                "redirect to :%d\n",
                p->family == AF_INET6 ? "ip6" : "ip", a, port, s->listen_port);
        /* UDP has no opening packet: conntrack NATs a flow's first datagram
         * and the rest of that flow follow it. */
        if (s->udp && p->port)
            fprintf(f, "\t\t%s daddr %s meta l4proto udp udp dport %d redirect to :%d\n",
                    p->family == AF_INET6 ? "ip6" : "ip", a, p->port, s->listen_port);
    }
}

int fl_redirect_render(const struct fl_redirect_spec *s, char **script, struct fl_err *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    *script = NULL;
    if ((r = fl_nft_check_table_name(s->table, e)))
        return r;
    if (!s->ntargets)
        return fl_err_set(e, FL_EUSAGE, "nothing to intercept: no target");
    if (s->listen_port < 1 || s->listen_port > 65535)
        return fl_err_set(e, FL_EFAIL, "invalid proxy port %d", s->listen_port);
    if (!s->mark)
        return fl_err_set(e, FL_EFAIL, "the proxy's firewall mark must not be 0");
    for (size_t i = 0; i < s->ntargets; i++)
        if (s->targets[i].family != AF_INET && s->targets[i].family != AF_INET6)
            return fl_err_set(e, FL_EUSAGE, "target %zu has no address family", i + 1);
    if (!(f = open_memstream(&buf, &len)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    fprintf(f, "table inet %s {\n", s->table);
    if (s->owner)
        fprintf(f, "\tflags owner\n");
    fprintf(f, "\tchain output {\n\t\ttype nat hook output priority %d; policy accept;\n",
            DSTNAT_PRIORITY);
    fprintf(f, "\t\tmeta mark 0x%08x return\n", (unsigned)s->mark);
    emit_redirects(f, s);
    fprintf(f, "\t}\n");
    if (s->prerouting) {
        fprintf(f,
                "\tchain prerouting {\n\t\ttype nat hook prerouting priority %d; policy "
                "accept;\n",
                DSTNAT_PRIORITY);
        emit_redirects(f, s);
        fprintf(f, "\t}\n");
    }
    fprintf(f, "}\n");
    if (fclose(f) || !buf) {
        free(buf);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    *script = buf;
    return 0;
}
