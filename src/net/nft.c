/* nftables through libnftables (nft.h): one fault's rule set, applied
 * atomically, deleted, and leftovers swept. */
#include "net/nft.h"

#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <pthread.h>
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

/* The protocol match of a rule, or "" for any protocol. With a port and no
 * protocol the caller emits one rule for tcp and one for udp instead of a
 * `{ tcp, udp }` set: an anonymous set costs the kernel a set object per
 * rule, which made applying a partition ~40% slower (bench/inject-latency),
 * and a packet is never both, so each packet still meets one rule (and one
 * `numgen` draw). */
static void proto_match(const char *proto, char *buf, size_t len)
{
    if (!proto)
        snprintf(buf, len, "%s", "");
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

    if (port && !proto) {
        /* tcp first: with reject it gets its reset there; udp the icmp answer */
        emit(f, s, addr, "tcp", port, port_side);
        emit(f, s, addr, "udp", port, port_side);
        return;
    }
    proto_match(proto, pm, sizeof pm);
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

static bool body_per_family(const struct fl_nft_spec *s)
{
    return s->verdict == FL_NFT_REJECT && s->in && s->out;
}

/* What happens to a packet once its address matched (or, without peers,
 * to every packet): the rules of one peer, each prefixed with addr. It
 * depends on the peer only through its family and its port. */
static void emit_body(FILE *f, const struct fl_nft_spec *s, const char *addr, int family, int port)
{
    if (body_per_family(s))
        emit_let_answers_pass(f, addr, family);
    emit(f, s, addr, s->protocol, port, "dport");
    if (port)
        emit(f, s, addr, s->protocol, port, "sport");
}

/* The body as text and its number of rules. */
static char *body_text(const struct fl_nft_spec *s, const char *addr, int family, int port,
                       int *nrules)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    *nrules = 0;
    if (!f)
        return NULL;
    emit_body(f, s, addr, family, port);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    for (const char *c = buf; c && *c; c++)
        *nrules += *c == '\n';
    return buf;
}

static int peer_port(const struct fl_nft_spec *s, const struct fl_net_peer *p)
{
    return p->port ? p->port : s->port;
}

/* The chain holding a multi-rule body, shared by every peer with the same
 * port (and family, when the body lets answers pass: those rules differ
 * per family): "match_6379", "match_any", "match4_any". */
static void body_chain_name(const struct fl_nft_spec *s, const struct fl_net_peer *p, char *buf,
                            size_t len)
{
    int port = peer_port(s, p);
    char fam[4] = "";

    if (body_per_family(s))
        snprintf(fam, sizeof fam, "%d", p->family == AF_INET ? 4 : 6);
    if (port)
        snprintf(buf, len, "match%s_%d", fam, port);
    else
        snprintf(buf, len, "match%s_any", fam);
}

/* The rules matching each peer on one side (side 0: peers as source,
 * incoming; 1: as destination, outgoing). A one-rule body is written out
 * after the address; a longer one is a jump to its shared chain, so the
 * kernel parses each body once instead of once per peer and hook. */
static int emit_peer_rules(FILE *f, const struct fl_nft_spec *s, int side)
{
    for (size_t i = 0; i < s->npeers; i++) {
        const struct fl_net_peer *p = &s->peers[i];
        int port = peer_port(s, p), n;
        char addr[96], a[80], *body;

        fl_net_peer_format(p, false, a, sizeof a);
        snprintf(addr, sizeof addr, "%s %s %s ", p->family == AF_INET ? "ip" : "ip6",
                 side == 0 ? "saddr" : "daddr", a);
        if (!(body = body_text(s, addr, p->family, port, &n)))
            return -1;
        if (n == 1) {
            fputs(body, f);
        } else {
            char name[32];
            body_chain_name(s, p, name, sizeof name);
            fprintf(f, "\t\t%sjump %s\n", addr, name);
        }
        free(body);
    }
    return 0;
}

/* The shared body chains, each once. */
static int emit_body_chains(FILE *f, const struct fl_nft_spec *s)
{
    for (size_t i = 0; i < s->npeers; i++) {
        const struct fl_net_peer *p = &s->peers[i];
        int port = peer_port(s, p), n;
        char name[32], *body;
        bool seen = false;

        body_chain_name(s, p, name, sizeof name);
        for (size_t j = 0; j < i && !seen; j++) {
            char other[32];
            body_chain_name(s, &s->peers[j], other, sizeof other);
            seen = !strcmp(name, other);
        }
        if (seen)
            continue;
        if (!(body = body_text(s, "", p->family, port, &n)))
            return -1;
        if (n > 1)
            fprintf(f, "\tchain %s {\n%s\t}\n", name, body);
        free(body);
    }
    return 0;
}

/* With a forward chain and several peers, the per-peer rules of each side
 * live once in a regular chain (from_peers, to_peers) that the base chains
 * jump to, instead of twice (input or output, and forward): fewer rules for
 * the kernel to parse from three peers on. */
static bool shared_peer_chains(const struct fl_nft_spec *s)
{
    return s->forward && s->npeers >= 3;
}

/* Every rule of one base chain. in_side/out_side: match peers as source
 * (incoming) and/or as destination (outgoing). */
static int emit_chain(FILE *f, const struct fl_nft_spec *s, const char *hook, bool in_side,
                      bool out_side)
{
    fprintf(f, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy accept;\n", hook, hook,
            FL_NFT_PRIORITY);
    if (!s->npeers) {
        emit_body(f, s, "", 0, s->port);
    } else {
        for (int side = 0; side < 2; side++) {
            if ((side == 0 && !in_side) || (side == 1 && !out_side))
                continue;
            if (shared_peer_chains(s))
                fprintf(f, "\t\tjump %s\n", side == 0 ? "from_peers" : "to_peers");
            else if (emit_peer_rules(f, s, side))
                return -1;
        }
    }
    fprintf(f, "\t}\n");
    return 0;
}

const char *fl_nft_family(const struct fl_nft_spec *s)
{
    size_t v4 = 0;

    for (size_t i = 0; i < s->npeers; i++)
        v4 += s->peers[i].family == AF_INET;
    if (!s->npeers || (v4 && v4 < s->npeers))
        return "inet";
    return v4 ? "ip" : "ip6";
}

/* The whole table: shared chains first, then the base chains. */
static int emit_table(FILE *f, const struct fl_nft_spec *s)
{
    fprintf(f, "table %s %s {\n", fl_nft_family(s), s->table);
    if (s->npeers && emit_body_chains(f, s))
        return -1;
    if (shared_peer_chains(s)) {
        for (int side = 0; side < 2; side++) {
            if ((side == 0 && !s->in) || (side == 1 && !s->out))
                continue;
            fprintf(f, "\tchain %s {\n", side == 0 ? "from_peers" : "to_peers");
            if (emit_peer_rules(f, s, side))
                return -1;
            fprintf(f, "\t}\n");
        }
    }
    if ((s->in && emit_chain(f, s, "input", true, false)) ||
        (s->out && emit_chain(f, s, "output", false, true)) ||
        (s->forward && emit_chain(f, s, "forward", s->in, s->out)))
        return -1;
    fprintf(f, "}\n");
    return 0;
}

static bool name_ok(const char *t)
{
    if (!t || !*t || strlen(t) > 64)
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '_'))
            return false;
    return true;
}

int fl_nft_check_table_name(const char *t, struct fl_err *e)
{
    if (name_ok(t))
        return 0;
    return fl_err_set(e, FL_EFAIL, "invalid nft table name '%s'", t ? t : "");
}

int fl_nft_render(const struct fl_nft_spec *s, char **script, struct fl_err *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    *script = NULL;
    if ((r = fl_nft_check_table_name(s->table, e)))
        return r;
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
    r = emit_table(f, s);
    if (fclose(f) || !buf || r) {
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

/* Contexts of threads that ended, for the next thread that needs one for
 * the same namespace: the agent serves each connection on its own thread,
 * and a context made anew costs milliseconds (reading nft's configuration
 * and cache), a context freed an RCU grace period. A context is used by one
 * thread at a time: it is either in one thread's cache or here. */
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t dev, ino;
    struct fl_nft *n;
} spare[FL_NFT_SHARED_MAX];
static pthread_key_t shared_key;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void thread_clear(void)
{
    for (size_t i = 0; i < FL_NFT_SHARED_MAX; i++) {
        fl_nft_free(shared[i].n);
        shared[i].n = NULL;
    }
}

/* A thread ends: its contexts become spares (those that do not fit are freed). */
static void shared_at_exit(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&spare_lock);
    for (size_t i = 0; i < FL_NFT_SHARED_MAX; i++)
        for (size_t k = 0; shared[i].n && k < FL_NFT_SHARED_MAX; k++)
            if (!spare[k].n) {
                spare[k].dev = shared[i].dev;
                spare[k].ino = shared[i].ino;
                spare[k].n = shared[i].n;
                shared[i].n = NULL;
            }
    pthread_mutex_unlock(&spare_lock);
    thread_clear();
}

static void shared_key_make(void)
{
    pthread_key_create(&shared_key, shared_at_exit);
}

/* A spare context for namespace dev:ino, or a new one. */
static struct fl_nft *spare_take(uint64_t dev, uint64_t ino, struct fl_err *e)
{
    struct fl_nft *n = NULL;

    pthread_mutex_lock(&spare_lock);
    for (size_t k = 0; k < FL_NFT_SHARED_MAX && !n; k++)
        if (spare[k].n && spare[k].dev == dev && spare[k].ino == ino) {
            n = spare[k].n;
            spare[k].n = NULL;
        }
    pthread_mutex_unlock(&spare_lock);
    return n ? n : fl_nft_new(e);
}

struct fl_nft *fl_nft_shared(struct fl_err *e)
{
    struct stat st;
    size_t victim = 0;

    pthread_once(&shared_once, shared_key_make);
    pthread_setspecific(shared_key, &shared_once); /* any non-NULL value: run at exit */
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
    shared[victim].n = spare_take((uint64_t)st.st_dev, (uint64_t)st.st_ino, e);
    shared[victim].dev = (uint64_t)st.st_dev;
    shared[victim].ino = (uint64_t)st.st_ino;
    shared[victim].used = ++shared_clock;
    return shared[victim].n;
}

void fl_nft_shared_clear(void)
{
    struct fl_nft *n[FL_NFT_SHARED_MAX];

    thread_clear();
    pthread_mutex_lock(&spare_lock);
    for (size_t k = 0; k < FL_NFT_SHARED_MAX; k++) {
        n[k] = spare[k].n;
        spare[k].n = NULL;
    }
    pthread_mutex_unlock(&spare_lock);
    for (size_t k = 0; k < FL_NFT_SHARED_MAX; k++)
        fl_nft_free(n[k]);
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
        out[o++] = *in;
        if (*in == '\t')
            out[o - 1] = ' ';
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

    if (!name_ok(table) || !name_ok(family))
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
static void sweep_here(const char *where, void *arg)
{
    struct fl_sweep_report *r = arg;
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
        if (fl_sweep_spared(r, name + strlen(FL_NFT_TABLE_PREFIX), name))
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
    return fl_netns_each("nft sweep", sweep_here, r, e);
}
