#include "net/nft.h"

#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/netns.h"
#include "util/log.h"

struct fl_nft {
    struct nft_ctx *ctx;
};

/* The protocol match of a rule, or "" for any protocol. */
static void proto_match(const char *proto, int port, char *buf, size_t len)
{
    if (!proto)
        snprintf(buf, len, "%s", port ? "meta l4proto { tcp, udp } " : "");
    else if (!strcmp(proto, "icmp"))
        snprintf(buf, len, "meta l4proto { icmp, ipv6-icmp } ");
    else if (!strcmp(proto, "icmpv6"))
        snprintf(buf, len, "meta l4proto ipv6-icmp ");
    else
        snprintf(buf, len, "meta l4proto %s ", proto);
}

static bool may_be_tcp(const char *proto)
{
    return !proto || !strcmp(proto, "tcp") || !strcmp(proto, "6");
}

static bool only_tcp(const char *proto)
{
    return proto && (!strcmp(proto, "tcp") || !strcmp(proto, "6"));
}

/* One match (address side + protocol + port side) with its verdict(s). */
static void emit(FILE *f, const struct fl_nft_spec *s, const char *addr, const char *proto,
                 int port, const char *port_side)
{
    char pm[64], portm[32] = "", loss[48] = "";

    proto_match(proto, port, pm, sizeof pm);
    if (port)
        snprintf(portm, sizeof portm, "th %s %d ", port_side, port);
    if (s->loss_per10k)
        snprintf(loss, sizeof loss, "numgen random mod 10000 < %u ", s->loss_per10k);
    if (s->verdict == FL_NFT_DROP) {
        fprintf(f, "\t\t%s%s%s%sdrop\n", addr, pm, portm, loss);
        return;
    }
    if (may_be_tcp(proto))
        fprintf(f, "\t\t%smeta l4proto tcp %s%sreject with tcp reset\n", addr, portm, loss);
    if (!only_tcp(proto))
        fprintf(f, "\t\t%s%s%s%sreject\n", addr, pm, portm, loss);
}

/* With both directions rejected, the answers the kernel makes for one
 * direction (a reset, an ICMP unreachable) travel the other one, as if to
 * or from the peer, and would be rejected in turn: the peer would see a
 * timeout instead of a refusal. Those answers only tear connections down,
 * so they pass. */
static void emit_let_answers_pass(FILE *f, const char *addr, int family)
{
    fprintf(f, "\t\t%smeta l4proto tcp tcp flags & rst == rst accept\n", addr);
    if (family != AF_INET6)
        fprintf(f, "\t\t%sicmp type destination-unreachable accept\n", addr);
    if (family != AF_INET)
        fprintf(f, "\t\t%sicmpv6 type destination-unreachable accept\n", addr);
}

/* Every rule of one chain. in_side/out_side: match peers as source
 * (incoming) and/or as destination (outgoing). */
static void emit_chain(FILE *f, const struct fl_nft_spec *s, const char *hook, bool in_side,
                       bool out_side)
{
    size_t np = s->npeers ? s->npeers : 1;

    fprintf(f, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy accept;\n", hook, hook,
            FL_NFT_PRIORITY);
    for (int side = 0; side < 2; side++) {
        if ((side == 0 && !in_side) || (side == 1 && !out_side))
            continue;
        for (size_t i = 0; i < np; i++) {
            const struct fl_net_peer *p = s->npeers ? &s->peers[i] : NULL;
            char addr[96] = "", a[80];
            int port = p && p->port ? p->port : s->port;

            if (p) {
                fl_net_peer_format(p, false, a, sizeof a);
                snprintf(addr, sizeof addr, "%s %s %s ", p->family == AF_INET ? "ip" : "ip6",
                         side == 0 ? "saddr" : "daddr", a);
            }
            if (s->verdict == FL_NFT_REJECT && s->in && s->out)
                emit_let_answers_pass(f, addr, p ? p->family : 0);
            emit(f, s, addr, s->protocol, port, "dport");
            if (port)
                emit(f, s, addr, s->protocol, port, "sport");
        }
    }
    fprintf(f, "\t}\n");
}

static bool valid_table_name(const char *t)
{
    if (!t || !*t || strlen(t) > 64)
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '_'))
            return false;
    return true;
}

int fl_nft_render(const struct fl_nft_spec *s, char **script, struct fl_err *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    *script = NULL;
    if (!valid_table_name(s->table))
        return fl_err_set(e, FL_EFAIL, "invalid nft table name '%s'", s->table ? s->table : "");
    if (!s->in && !s->out)
        return fl_err_set(e, FL_EUSAGE, "the fault filters no direction");
    if (s->protocol && (r = fl_net_protocol_check(s->protocol, e)))
        return r;
    if (s->loss_per10k > 10000)
        return fl_err_set(e, FL_EUSAGE, "loss above 100%%");
    for (size_t i = 0; i < s->npeers; i++)
        if ((s->peers[i].port || s->port) && s->protocol && !fl_net_protocol_has_ports(s->protocol))
            return fl_err_set(e, FL_EUSAGE, "--protocol %s has no ports; drop the port",
                              s->protocol);
    if (s->port && s->protocol && !fl_net_protocol_has_ports(s->protocol))
        return fl_err_set(e, FL_EUSAGE, "--protocol %s has no ports; drop --port", s->protocol);
    if (!(f = open_memstream(&buf, &len)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    /* Fault ids are fresh, so the table is new; the block form creates it
     * and its chains and rules in one transaction. */
    fprintf(f, "table inet %s {\n", s->table);
    if (s->in)
        emit_chain(f, s, "input", true, false);
    if (s->out)
        emit_chain(f, s, "output", false, true);
    if (s->forward)
        emit_chain(f, s, "forward", s->in, s->out);
    fprintf(f, "}\n");
    if (fclose(f) || !buf) {
        free(buf);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    *script = buf;
    return 0;
}

struct fl_nft *fl_nft_new(struct fl_err *e)
{
    struct fl_nft *n = calloc(1, sizeof *n);

    if (!n || !(n->ctx = nft_ctx_new(NFT_CTX_DEFAULT))) {
        free(n);
        fl_err_set(e, FL_EFAIL, "cannot create a libnftables context");
        return NULL;
    }
    if (nft_ctx_buffer_output(n->ctx) || nft_ctx_buffer_error(n->ctx)) {
        fl_nft_free(n);
        fl_err_set(e, FL_EFAIL, "cannot buffer libnftables output");
        return NULL;
    }
    return n;
}

void fl_nft_free(struct fl_nft *n)
{
    if (!n)
        return;
    nft_ctx_free(n->ctx);
    free(n);
}

/* Per-thread cache of contexts, one per namespace (see fl_nft_shared). */
static _Thread_local struct {
    uint64_t dev, ino, used;
    struct fl_nft *n;
} shared[FL_NFT_SHARED_MAX];
static _Thread_local uint64_t shared_clock;

struct fl_nft *fl_nft_shared(struct fl_err *e)
{
    struct stat st;
    size_t victim = 0;

    if (stat("/proc/thread-self/ns/net", &st) < 0) {
        fl_err_set(e, fl_code_from_errno(errno), "cannot read this thread's network namespace: %s",
                   strerror(errno));
        return NULL;
    }
    for (size_t i = 0; i < FL_NFT_SHARED_MAX; i++) {
        if (shared[i].n && shared[i].dev == (uint64_t)st.st_dev &&
            shared[i].ino == (uint64_t)st.st_ino) {
            shared[i].used = ++shared_clock;
            return shared[i].n;
        }
        if (!shared[i].n || (shared[victim].n && shared[i].used < shared[victim].used))
            victim = i;
    }
    fl_nft_free(shared[victim].n);
    shared[victim].n = fl_nft_new(e);
    shared[victim].dev = (uint64_t)st.st_dev;
    shared[victim].ino = (uint64_t)st.st_ino;
    shared[victim].used = ++shared_clock;
    return shared[victim].n;
}

void fl_nft_shared_clear(void)
{
    for (size_t i = 0; i < FL_NFT_SHARED_MAX; i++) {
        fl_nft_free(shared[i].n);
        shared[i].n = NULL;
    }
}

/* nft's error text is a message line, the offending command and a caret
 * line; keep the first two, joined, for a one-line fl_err message. */
static void squash_error(const char *in, char *out, size_t len)
{
    size_t o = 0;
    int lines = 0;

    for (; in && *in && o + 1 < len && lines < 2; in++) {
        if (*in == '\n') {
            lines++;
            while (in[1] == ' ' || in[1] == '\t')
                in++;
            if (lines < 2 && in[1] && o + 3 < len) {
                out[o++] = ':';
                out[o++] = ' ';
            }
            continue;
        }
        out[o++] = *in == '\t' ? ' ' : *in;
    }
    out[o] = 0;
}

int fl_nft_run(struct fl_nft *n, const char *cmds, struct fl_err *e)
{
    char msg[700];

    if (nft_run_cmd_from_buffer(n->ctx, cmds) == 0) {
        nft_ctx_get_error_buffer(n->ctx); /* drop warnings */
        return 0;
    }
    squash_error(nft_ctx_get_error_buffer(n->ctx), msg, sizeof msg);
    return fl_err_set(e, strstr(msg, "Operation not permitted") ? FL_EPERM : FL_EFAIL, "nft: %s",
                      *msg ? msg : "the command failed");
}

const char *fl_nft_output(struct fl_nft *n)
{
    return nft_ctx_get_output_buffer(n->ctx);
}

int fl_nft_delete_table(struct fl_nft *n, const char *family, const char *table, struct fl_err *e)
{
    char cmd[160];
    struct fl_err e2 = {0};

    if (!valid_table_name(table) || !valid_table_name(family))
        return fl_err_set(e, FL_EFAIL, "invalid nft table name '%s %s'", family, table);
    snprintf(cmd, sizeof cmd, "delete table %s %s", family, table);
    if (fl_nft_run(n, cmd, &e2) == 0)
        return 1;
    if (strstr(e2.msg, "No such file or directory"))
        return 0;
    *e = e2;
    return -e->code;
}

/* Delete the faultline tables of the namespace this thread is in. */
static void sweep_here(const char *where, struct fl_sweep_report *r)
{
    struct fl_err e = {0};
    struct fl_nft *n = fl_nft_new(&e);
    char *list, *line, *save = NULL;
    const char *out;

    if (!n) {
        fl_warn("nft sweep: %s: %s", where, e.msg);
        return;
    }
    if (fl_nft_run(n, "list tables", &e)) {
        fl_warn("nft sweep: %s: %s", where, e.msg);
        fl_nft_free(n);
        return;
    }
    /* each call of nft_ctx_get_output_buffer starts a new buffer: once */
    out = fl_nft_output(n);
    list = strdup(out ? out : "");
    for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char family[32], name[128];
        if (sscanf(line, "table %31s %127s", family, name) != 2 ||
            strncmp(name, FL_NFT_TABLE_PREFIX, strlen(FL_NFT_TABLE_PREFIX)))
            continue;
        r->found++;
        fl_info("removing leftover nft table %s %s in %s", family, name, where);
        if (fl_nft_delete_table(n, family, name, &e) < 0) {
            fl_warn("cannot remove nft table %s %s in %s: %s", family, name, where, e.msg);
            r->failed++;
        } else {
            r->removed++;
        }
    }
    free(list);
    fl_nft_free(n);
}

int fl_nft_sweep(struct fl_sweep_report *r, struct fl_err *e)
{
    struct fl_netns_entry *ns = NULL;
    size_t n = 0;
    int rc;

    if ((rc = fl_netns_list(&ns, &n, e)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct fl_netns_guard g;
        struct fl_err e2 = {0};
        int fd = open(ns[i].path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
            continue; /* the process exited meanwhile */
        if (fl_netns_enter_fd(fd, &g, &e2) == 0) {
            sweep_here(ns[i].label, r);
            fl_netns_leave(&g);
        } else {
            fl_warn("nft sweep: %s: %s", ns[i].label, e2.msg);
        }
        close(fd);
    }
    free(ns);
    return 0;
}
