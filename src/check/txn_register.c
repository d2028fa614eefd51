/* rw-register inference: a read names the one transaction that wrote what it
 * saw (wr); a transaction that read version v of a key and then wrote it puts
 * its write right after v (ww from v's writer, and rw from every other reader
 * of v); the initial nil precedes every write, so a reader of nil
 * anti-depends on every writer of the key. Also G1a, G1b, values nobody
 * wrote, internal inconsistency and lost updates (two transactions read the
 * same version and both overwrote it). */
#include <stdlib.h>
#include <string.h>

#include "check/txn.h"

int fl_txn_infer_register(struct txn_ctx *c);

/* rw edges from readers of nil to writers are at most this many; beyond
 * it the report says the search was capped. */
#define NIL_EDGE_BUDGET (8u << 20)

struct rd {
    int64_t key, val;
    uint32_t t;
    bool wrote;
};

static int rd_cmp(const void *a, const void *b)
{
    const struct rd *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->val != y->val)
        return x->val < y->val ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

static bool writes_key(const struct txn_ctx *c, const struct txn *t, int64_t key)
{
    for (uint32_t i = 0; i < t->nmop; i++)
        if (c->mops[t->mop0 + i].key == key && c->mops[t->mop0 + i].f == MOP_WRITE)
            return true;
    return false;
}

static bool writes_after(const struct txn_ctx *c, const struct txn *w, int64_t key, int64_t v)
{
    bool seen = false;
    for (uint32_t i = 0; i < w->nmop; i++) {
        const struct txn_mop *m = &c->mops[w->mop0 + i];
        if (m->key != key || m->f != MOP_WRITE)
            continue;
        if (seen)
            return true;
        seen = m->val == v;
    }
    return false;
}

/* A read after t's own write or read of the key must show that value. */
static bool internal_ok(const struct txn_ctx *c, const struct txn *t, uint32_t j)
{
    const struct txn_mop *r = &c->mops[t->mop0 + j];
    for (uint32_t i = j; i-- > 0;) {
        const struct txn_mop *m = &c->mops[t->mop0 + i];
        if (m->key == r->key)
            return m->val == r->val;
    }
    return true;
}

/* The external read (k, v) of committed t: wr (and ww when t then wrote k)
 * from v's writer, G1a, G1b, unwritten values. */
static int one_read(struct txn_ctx *c, uint32_t t, const struct txn_mop *r)
{
    if (r->val == FL_CODE_NIL)
        return 0;
    struct txn_wslot *s = fl_txn_writer(c, r->key, r->val);
    if (!s)
        return fl_txn_note1(c, AN_UNWRITTEN, t, UINT32_MAX, r->key, r->val);
    uint32_t w = s->txn;
    if (c->tx[w].type == FL_OP_FAIL)
        return fl_txn_note1(c, AN_G1A, w, t, r->key, r->val);
    if (w == t)
        return 0;
    if (writes_after(c, &c->tx[w], r->key, r->val) &&
        fl_txn_note1(c, AN_G1B, w, t, r->key, r->val) < 0)
        return -1;
    if (fl_txn_add_edge(c, w, t, DEP_WR) < 0)
        return -1;
    if (writes_key(c, &c->tx[t], r->key) && fl_txn_add_edge(c, w, t, DEP_WW) < 0)
        return -1;
    return 0;
}

/* Readers of one version (k, v) before every transaction that read v and
 * then wrote k; two such writers lost an update. */
static int one_version(struct txn_ctx *c, const struct rd *g, size_t n)
{
    size_t nw = 0;
    uint32_t lost[8];
    for (size_t i = 0; i < n; i++) {
        if (!g[i].wrote)
            continue;
        if (nw < 8)
            lost[nw] = g[i].t;
        nw++;
        for (size_t j = 0; j < n; j++)
            if (j != i && fl_txn_add_edge(c, g[j].t, g[i].t, DEP_RW) < 0)
                return -1;
    }
    if (nw >= 2) {
        uint32_t len = nw > 8 ? 8 : (uint32_t)nw;
        uint32_t *t = malloc(len * sizeof *t);
        if (!t)
            return -1;
        memcpy(t, lost, len * sizeof *t);
        return fl_txn_note(c, AN_LOST_UPDATE, t, NULL, len, g[0].key, g[0].val);
    }
    return 0;
}

/* Writers of each key (committed or unknown outcome), sorted by key. */
static struct rd *collect_writers(const struct txn_ctx *c, size_t *n)
{
    struct rd *w = malloc((c->nmops + 1) * sizeof *w);
    *n = 0;
    if (!w)
        return NULL;
    for (uint32_t t = 0; t < c->ntx; t++) {
        if (c->tx[t].type == FL_OP_FAIL)
            continue;
        for (uint32_t j = 0; j < c->tx[t].nmop; j++) {
            const struct txn_mop *m = &c->mops[c->tx[t].mop0 + j];
            if (m->f == MOP_WRITE)
                w[(*n)++] = (struct rd){m->key, 0, t, true};
        }
    }
    qsort(w, *n, sizeof *w, rd_cmp);
    return w;
}

/* The initial state precedes every write: readers of nil -> writers of k. */
static int nil_readers(struct txn_ctx *c, const struct rd *g, size_t n, const struct rd *w,
                       size_t nw, size_t *budget)
{
    size_t lo = 0, hi = nw;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w[mid].key < g[0].key)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = lo; j < nw && w[j].key == g[0].key; j++) {
            if (w[j].t == g[i].t)
                continue;
            if (*budget == 0) {
                c->capped = true;
                return 0;
            }
            (*budget)--;
            if (fl_txn_add_edge(c, g[i].t, w[j].t, DEP_RW) < 0)
                return -1;
        }
    return 0;
}

static int versions(struct txn_ctx *c, struct rd *rds, size_t n)
{
    size_t nw, budget = NIL_EDGE_BUDGET;
    struct rd *w = collect_writers(c, &nw);
    int rc = w ? 0 : -1;

    qsort(rds, n, sizeof *rds, rd_cmp);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i + 1;
        while (j < n && rds[j].key == rds[i].key && rds[j].val == rds[i].val)
            j++;
        rc = one_version(c, rds + i, j - i);
        if (rc == 0 && rds[i].val == FL_CODE_NIL)
            rc = nil_readers(c, rds + i, j - i, w, nw, &budget);
        i = j;
    }
    free(w);
    return rc;
}

int fl_txn_infer_register(struct txn_ctx *c)
{
    struct rd *rds = malloc((c->nmops + 1) * sizeof *rds);
    size_t n = 0;
    int rc = rds ? 0 : -1;

    for (uint32_t t = 0; rc == 0 && t < c->ntx; t++) {
        const struct txn *tx = &c->tx[t];
        if (tx->type != FL_OP_OK)
            continue;
        for (uint32_t j = 0; rc == 0 && j < tx->nmop; j++) {
            const struct txn_mop *m = &c->mops[tx->mop0 + j];
            if (m->f != MOP_READ)
                continue;
            if (!internal_ok(c, tx, j))
                rc = fl_txn_note1(c, AN_INTERNAL, t, UINT32_MAX, m->key, m->val);
            if (rc == 0 && fl_txn_ext_read(c, tx, m->key) == m) {
                rc = one_read(c, t, m);
                rds[n++] = (struct rd){m->key, m->val, t, writes_key(c, tx, m->key)};
            }
        }
    }
    if (rc == 0)
        rc = versions(c, rds, n);
    free(rds);
    return rc;
}
