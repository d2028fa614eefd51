/* The transaction dependency graph: edges collected during inference become
 * a compact adjacency (CSR) with one kind mask per pair; strongly connected
 * components (Tarjan's algorithm, iterative so a million transactions cannot
 * overflow the stack) restricted to chosen edge kinds bound each cycle
 * search, and a breadth-first search inside one component finds a shortest
 * cycle through a chosen edge. Each component is searched in passes, from
 * the strongest anomaly to the weakest:
 *   ww only                -> G0 (dirty write)
 *   ww + wr                -> G1c (circular information flow)
 *   ww + wr + one rw       -> G-single (read skew)
 *   ww + wr + rw, no two rw edges in a row -> G-nonadjacent (not snapshot
 *                             isolation, which allows only cycles with two
 *                             adjacent rw edges)
 *   ww + wr + rw           -> G2-item (write skew: two or more rw)
 *   everything + real time -> the same names with "-realtime"
 * Linear in the graph per pass, plus a bounded number of searches per
 * component. */
#include <stdlib.h>
#include <string.h>

#include "check/txn.h"
#include "util/cleanup.h"

/* searches per component and kind of cycle, and states all the searches
 * of one pass may visit (a broken database can make one component of a
 * million transactions: the search stays bounded, the report says so) */
#define TRIES 32
#define SHORTEST 4 /* cycles compared per component for the shortest */
#define WORK_BUDGET (UINT64_C(1) << 27)

int fl_txn_add_edge(struct txn_ctx *c, uint32_t src, uint32_t dst, uint8_t kind)
{
    if (c->nedges == c->capedges) {
        size_t cap = c->capedges ? 2 * c->capedges : 4096;
        uint32_t *s = realloc(c->esrc, cap * sizeof *s);
        if (s)
            c->esrc = s;
        uint32_t *d = realloc(c->edst, cap * sizeof *d);
        if (d)
            c->edst = d;
        uint8_t *k = realloc(c->ekind, cap);
        if (k)
            c->ekind = k;
        if (!s || !d || !k)
            return -1;
        c->capedges = cap;
    }
    c->esrc[c->nedges] = src;
    c->edst[c->nedges] = dst;
    c->ekind[c->nedges] = kind;
    c->nedges++;
    return 0;
}

/* Counting sort by source, then merge parallel edges into one kind mask. */
int fl_txn_graph_build(struct txn_ctx *c)
{
    size_t n = c->ntx, m = c->nedges;
    c->off = calloc(n + 2, sizeof *c->off);
    c->adj = malloc((m + 1) * sizeof *c->adj);
    c->akind = malloc(m + 1);
    if (!c->off || !c->adj || !c->akind)
        return -1;
    for (size_t i = 0; i < m; i++)
        c->off[c->esrc[i] + 1]++;
    for (size_t i = 0; i < n; i++)
        c->off[i + 1] += c->off[i];
    uint32_t *at = malloc((n + 1) * sizeof *at); /* next free slot per source, then per dst */
    if (!at)
        return -1;
    memcpy(at, c->off, n * sizeof *at);
    for (size_t i = 0; i < m; i++) {
        uint32_t p = at[c->esrc[i]]++;
        c->adj[p] = c->edst[i];
        c->akind[p] = c->ekind[i];
    }
    free(c->esrc);
    free(c->edst);
    free(c->ekind);
    c->esrc = c->edst = NULL;
    c->ekind = NULL;
    /* merge duplicates: a stamp per destination, per source */
    uint32_t *slot = at;
    for (size_t i = 0; i < n; i++)
        slot[i] = UINT32_MAX;
    uint32_t w = 0;
    for (size_t v = 0; v < n; v++) {
        uint32_t start = w, b = c->off[v], e = c->off[v + 1];
        for (uint32_t i = b; i < e; i++) {
            uint32_t d = c->adj[i];
            if (slot[d] != UINT32_MAX && slot[d] >= start) {
                c->akind[slot[d]] |= c->akind[i];
                continue;
            }
            slot[d] = w;
            c->adj[w] = d;
            c->akind[w++] = c->akind[i];
        }
        c->off[v] = start;
    }
    c->off[n] = w;
    c->nedges = w;
    free(at);
    return 0;
}

struct search {
    struct txn_ctx *c;
    uint32_t *comp; /* SCC id per node for the current pass */
    uint32_t *csize;
    uint32_t *seen; /* BFS stamp */
    uint32_t stamp;
    uint32_t *parent;
    uint8_t *pkind;
    uint32_t *queue;
    int comp_mask; /* the mask comp[] was computed for, -1 none */
    uint64_t work; /* states visited by this pass's searches */
};

/* Tarjan's SCC over edges whose kind meets mask; comp[v] gets the
 * component id, csize its size. */
struct tarjan_scratch {
    uint32_t *index, *low, *stack;
    uint32_t *call; /* the DFS path: node */
    uint32_t *next; /* per node: the next edge to look at */
    uint8_t *on;    /* on the stack */
};

static void tarjan_run(struct search *s, uint8_t mask, const struct tarjan_scratch *x)
{
    struct txn_ctx *c = s->c;
    size_t n = c->ntx;
    uint32_t *index = x->index, *low = x->low, *stack = x->stack, *call = x->call;
    uint32_t *next = x->next;
    uint8_t *on = x->on;
    uint32_t idx = 0, sp = 0, ncomp = 0;
    for (size_t v = 0; v < n; v++)
        index[v] = UINT32_MAX;
    for (uint32_t root = 0; root < n; root++) {
        if (index[root] != UINT32_MAX)
            continue;
        uint32_t depth = 0;
        call[depth++] = root;
        index[root] = low[root] = idx++;
        next[root] = c->off[root];
        stack[sp++] = root;
        on[root] = 1;
        while (depth) {
            uint32_t v = call[depth - 1];
            if (next[v] < c->off[v + 1]) {
                uint32_t e = next[v]++;
                if (!(c->akind[e] & mask))
                    continue;
                uint32_t w = c->adj[e];
                if (index[w] == UINT32_MAX) {
                    index[w] = low[w] = idx++;
                    next[w] = c->off[w];
                    stack[sp++] = w;
                    on[w] = 1;
                    call[depth++] = w;
                } else if (on[w] && index[w] < low[v]) {
                    low[v] = index[w];
                }
                continue;
            }
            depth--;
            if (depth && low[v] < low[call[depth - 1]])
                low[call[depth - 1]] = low[v];
            if (low[v] != index[v])
                continue;
            uint32_t size = 0, w;
            do {
                w = stack[--sp];
                on[w] = 0;
                s->comp[w] = ncomp;
                size++;
            } while (w != v);
            s->csize[ncomp++] = size;
        }
    }
}

static int tarjan(struct search *s, uint8_t mask)
{
    size_t n = s->c->ntx + 1;
    struct tarjan_scratch x = {
        .index = malloc(n * sizeof *x.index),
        .low = malloc(n * sizeof *x.low),
        .stack = malloc(n * sizeof *x.stack),
        .call = malloc(n * sizeof *x.call),
        .next = malloc(n * sizeof *x.next),
        .on = calloc(n, 1),
    };
    int rc = x.index && x.low && x.stack && x.call && x.next && x.on ? 0 : -1;
    if (rc == 0)
        tarjan_run(s, mask, &x);
    free(x.index);
    free(x.low);
    free(x.stack);
    free(x.call);
    free(x.next);
    free(x.on);
    return rc;
}

/* The edge kind a cycle's edge is named by: the weakest dependency present. */
static uint8_t pick(uint8_t k)
{
    return k & DEP_WW ? DEP_WW : k & DEP_WR ? DEP_WR : k & DEP_RW ? DEP_RW : DEP_RT;
}

/* How a search constrains the kinds of edges on its path. */
enum { PATH_ANY, PATH_NEED_RW, PATH_NONADJ };

/* Shortest path from a to b inside a's component over edges of mask. The
 * search runs over states (node, flags): bit 0 = the last edge was a pure rw
 * edge, bit 1 = the path has the rw edge the mode needs. PATH_NEED_RW: the
 * path contains a pure rw edge (so with the rw edge that closes the cycle,
 * two or more: G2-item even in a component that also has a G-single).
 * PATH_NONADJ: the cycle closed by the rw edge a -> ... (start flags 1)
 * gets another rw edge, and no two rw edges follow each other, not even
 * around the end (G-nonadjacent). Fills parent/pkind per state; returns
 * the final state at b, or UINT32_MAX. */
static uint32_t bfs(struct search *s, uint32_t a, uint32_t b, uint8_t mask, int mode)
{
    struct txn_ctx *c = s->c;
    uint32_t head = 0, tail = 0, cid = s->comp[a];
    uint32_t start = 4 * a + (mode == PATH_NONADJ);
    s->stamp++;
    s->seen[start] = s->stamp;
    s->queue[tail++] = start;
    while (head < tail) {
        uint32_t st = s->queue[head++], v = st / 4, fl = st & 3;
        for (uint32_t e = c->off[v]; e < c->off[v + 1]; e++) {
            uint32_t w = c->adj[e];
            uint8_t k = c->akind[e] & mask;
            if (!k || s->comp[w] != cid)
                continue;
            bool rw = pick(k) == DEP_RW;
            uint32_t nf = 0;
            if (mode == PATH_NEED_RW)
                nf = (fl & 2) | (rw ? 2 : 0);
            else if (mode == PATH_NONADJ) {
                if (rw && (fl & 1))
                    continue;
                nf = (fl & 2) | (rw ? 3 : 0);
            }
            uint32_t ws = 4 * w + nf;
            if (s->seen[ws] == s->stamp)
                continue;
            s->seen[ws] = s->stamp;
            s->parent[ws] = st;
            s->pkind[ws] = k;
            if (w == b && (mode == PATH_ANY || (mode == PATH_NEED_RW && (nf & 2)) ||
                           (mode == PATH_NONADJ && nf == 2))) {
                s->work += tail;
                return ws;
            }
            s->queue[tail++] = ws;
        }
    }
    s->work += tail;
    return UINT32_MAX;
}

/* Start a cycle at its earliest transaction, so T1 is the first in the
 * file: reverse both halves, then the whole (in place, linear). */
static void reverse(uint32_t *t, uint8_t *k, uint32_t lo, uint32_t hi)
{
    while (lo < hi) {
        uint32_t tt = t[lo];
        uint8_t kk = k[lo];
        t[lo] = t[hi];
        k[lo] = k[hi];
        t[hi] = tt;
        k[hi] = kk;
        lo++;
        hi--;
    }
}

static void rotate(uint32_t *t, uint8_t *k, uint32_t len)
{
    uint32_t m = 0;
    for (uint32_t i = 1; i < len; i++)
        if (t[i] < t[m])
            m = i;
    if (m == 0)
        return;
    reverse(t, k, 0, m - 1);
    reverse(t, k, m, len - 1);
    reverse(t, k, 0, len - 1);
}

/* A cycle found in one component: transactions, edge kinds, class. */
struct cycle {
    uint32_t *t;
    uint8_t *k;
    uint32_t len, hits;
    int an;
};

/* The class of a cycle by its edge kinds. */
static int classify(const uint8_t *k, uint32_t len)
{
    int nrw = 0, nwr = 0, nrt = 0, adjacent = 0;
    for (uint32_t i = 0; i < len; i++) {
        nrw += k[i] == DEP_RW;
        nwr += k[i] == DEP_WR;
        nrt += k[i] == DEP_RT;
        adjacent += k[i] == DEP_RW && k[(i + 1) % len] == DEP_RW;
    }
    int an = nrw == 0   ? (nwr ? AN_G1C : AN_G0)
             : nrw == 1 ? AN_GSINGLE
                        : (adjacent ? AN_G2ITEM : AN_GNONADJ);
    if (!nrt)
        return an;
    return an == AN_G0        ? AN_G0_RT
           : an == AN_G1C     ? AN_G1C_RT
           : an == AN_GSINGLE ? AN_GSINGLE_RT
                              : AN_G2ITEM_RT; /* also G-nonadjacent */
}

/* The cycle a -(kind)-> b ~~> a ending in state end of bfs(b, a) into cy
 * when it is of class want (-1: any cycle through a real-time edge).
 * 1 built, 0 not wanted, -1 ENOMEM. */
static int build(struct search *s, uint32_t a, uint32_t b, uint8_t kind, uint32_t start,
                 uint32_t end, int want, struct cycle *cy)
{
    uint32_t len = 1;
    for (uint32_t st = end; st != start; st = s->parent[st])
        len++;
    uint32_t *t = malloc(len * sizeof *t);
    uint8_t *k = malloc(len);
    if (!t || !k) {
        free(t);
        free(k);
        return -1;
    }
    /* walk back from a to b, then b comes first */
    uint32_t i = len;
    t[--i] = a;
    k[i] = pick(kind);
    for (uint32_t st = end; st != start; st = s->parent[st]) {
        t[--i] = s->parent[st] / 4;
        k[i] = pick(s->pkind[st]);
    }
    /* a walk through a node twice is not a cycle to report */
    bool twice = false;
    s->stamp++;
    for (i = 0; i < len && !twice; i++) {
        twice = s->seen[(size_t)4 * t[i]] == s->stamp;
        s->seen[(size_t)4 * t[i]] = s->stamp;
    }
    int an = classify(k, len);
    if (twice || (want >= 0 ? an != want : an < AN_G0_RT)) {
        free(t);
        free(k);
        return 0;
    }
    *cy = (struct cycle){t, k, len, 0, an};
    return 1;
}

/* Keep the shorter of two cycles of one component. */
static void keep_shorter(struct cycle *best, struct cycle *cy)
{
    uint32_t hits = best->hits + 1;
    if (best->t && best->len <= cy->len) {
        free(cy->t);
        free(cy->k);
    } else {
        free(best->t);
        free(best->k);
        *best = *cy;
    }
    best->hits = hits;
}

/* Report each component's cycle, first transaction first. */
static int note_cycles(struct txn_ctx *c, struct cycle *best, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!best[i].t)
            continue;
        rotate(best[i].t, best[i].k, best[i].len);
        if (rc == 0)
            rc = fl_txn_note(c, best[i].an, best[i].t, best[i].k, best[i].len, 0, 0);
        else {
            free(best[i].t);
            free(best[i].k);
        }
    }
    return rc;
}

/* In every non-trivial component of the mask graph, look for a cycle
 * through an edge of kind `through`, the rest over `rest`, of class want;
 * the shortest of the first SHORTEST found is reported. */
static int pass(struct search *s, uint8_t mask, uint8_t through, uint8_t rest, int want)
{
    struct txn_ctx *c = s->c;
    if (s->comp_mask != mask && tarjan(s, mask) < 0)
        return -1;
    s->comp_mask = mask;
    s->work = 0;
    uint32_t *tries = calloc(c->ntx + 1, sizeof *tries);
    struct cycle *best = calloc(c->ntx + 1, sizeof *best);
    int mode = want == AN_G2ITEM ? PATH_NEED_RW : want == AN_GNONADJ ? PATH_NONADJ : PATH_ANY;
    int rc = tries && best ? 0 : -1;
    for (uint32_t a = 0; rc == 0 && a < c->ntx; a++) {
        uint32_t cid = s->comp[a];
        for (uint32_t e = c->off[a]; rc == 0 && s->csize[cid] > 1 && e < c->off[a + 1]; e++) {
            uint32_t b = c->adj[e];
            if (!(c->akind[e] & through) || s->comp[b] != cid || best[cid].hits >= SHORTEST)
                continue;
            if (tries[cid] >= TRIES || s->work > WORK_BUDGET) {
                c->capped |= !best[cid].hits;
                break;
            }
            tries[cid]++;
            uint32_t end = bfs(s, b, a, rest, mode);
            struct cycle cy;
            if (end != UINT32_MAX &&
                (rc = build(s, a, b, c->akind[e] & mask, 4 * b + (mode == PATH_NONADJ), end, want,
                            &cy)) > 0) {
                keep_shorter(&best[cid], &cy);
                rc = 0;
            }
        }
    }
    if (best && note_cycles(c, best, c->ntx + 1) < 0)
        rc = -1;
    free(best);
    free(tries);
    return rc;
}

/* 1 when the graph over mask has no cycle (every component is one
 * transaction), 0 when it has, -1 ENOMEM. Every anomaly's cycle lies in
 * this graph, so a valid history needs this one pass only. */
static int acyclic(struct search *s, uint8_t mask)
{
    if (tarjan(s, mask) < 0)
        return -1;
    s->comp_mask = mask;
    for (uint32_t v = 0; v < s->c->ntx; v++)
        if (s->csize[s->comp[v]] > 1)
            return 0;
    return 1;
}

int fl_txn_find_cycles(struct txn_ctx *c)
{
    size_t n = c->ntx + 1;
    struct search s = {.c = c, .comp_mask = -1};
    int rc = -1;

    s.comp = calloc(n, sizeof *s.comp);
    s.csize = calloc(n, sizeof *s.csize);
    s.seen = calloc(4 * n, sizeof *s.seen);
    s.parent = malloc(4 * n * sizeof *s.parent);
    s.pkind = malloc(4 * n);
    s.queue = malloc(4 * n * sizeof *s.queue);
    if (s.comp && s.csize && s.seen && s.parent && s.pkind && s.queue) {
        uint8_t dep = DEP_WW | DEP_WR | DEP_RW;
        rc = acyclic(&s, (c->models & CM_STRICT_SERIALIZABLE) ? dep | DEP_RT : dep);
        if (rc != 0) /* 1: no cycle at all (a valid history): nothing to search */
            goto out;
        rc = pass(&s, DEP_WW, DEP_WW, DEP_WW, AN_G0);
        if (rc == 0)
            rc = pass(&s, DEP_WW | DEP_WR, DEP_WR, DEP_WW | DEP_WR, AN_G1C);
        if (rc == 0)
            rc = pass(&s, dep, DEP_RW, DEP_WW | DEP_WR, AN_GSINGLE);
        if (rc == 0)
            rc = pass(&s, dep, DEP_RW, dep, AN_GNONADJ);
        if (rc == 0)
            rc = pass(&s, dep, DEP_RW, dep, AN_G2ITEM);
        if (rc == 0 && (c->models & CM_STRICT_SERIALIZABLE))
            rc = pass(&s, dep | DEP_RT, DEP_RT, dep | DEP_RT, -1);
    }
out:
    free(s.comp);
    free(s.csize);
    free(s.seen);
    free(s.parent);
    free(s.pkind);
    free(s.queue);
    return rc < 0 ? -1 : 0;
}
