/* list-append inference: the longest read of each key is its version order
 * (every other read must be a prefix of it); from it come ww edges between
 * consecutive appends, wr edges from the append a read ended with, and rw
 * edges from a read to the append that came right after what it saw. Along
 * the way: aborted and intermediate reads (G1a, G1b), duplicate elements,
 * incompatible orders, values nobody appended, internal inconsistency and
 * lost updates. */
#include <stdlib.h>
#include <string.h>

#include "check/txn.h"

int fl_txn_infer_append(struct txn_ctx *c);

/* Same element? Scalars compare by kind and payload (strings are interned). */
static bool same_elem(const struct txn_ctx *c, uint32_t a, uint32_t b)
{
    const struct fl_val *x = &c->h->vals[a], *y = &c->h->vals[b];
    if (x->kind < FL_V_VEC || y->kind < FL_V_VEC)
        return x->kind == y->kind && x->x == y->x;
    return fl_txn_elem(c, a, 0) == fl_txn_elem(c, b, 0);
}

static int index_keys(struct txn_ctx *c)
{
    c->kcap = 16;
    while (c->kcap < 2 * c->nmops + 2)
        c->kcap *= 2;
    c->keys = calloc(c->kcap, sizeof *c->keys);
    if (!c->keys)
        return -1;
    for (uint32_t t = 0; t < c->ntx; t++) {
        for (uint32_t j = 0; j < c->tx[t].nmop; j++) {
            const struct txn_mop *mo = &c->mops[c->tx[t].mop0 + j];
            struct txn_key *k = fl_txn_key_add(c, mo->key);
            if (mo->f == MOP_READ && mo->n != UINT32_MAX &&
                (k->reader == UINT32_MAX || mo->n > k->n)) {
                k->first = (uint32_t)mo->val;
                k->n = mo->n;
                k->reader = t;
            }
        }
    }
    return 0;
}

/* Read j of t must show what t's earlier read of the key showed plus what t
 * appended since (or, with no earlier read, end with t's appends). */
static bool internal_ok(const struct txn_ctx *c, const struct txn *t, uint32_t j)
{
    const struct txn_mop *r = &c->mops[t->mop0 + j];
    const struct txn_mop *prior = NULL;
    uint32_t na = 0, i = j;
    while (i-- > 0) {
        const struct txn_mop *m = &c->mops[t->mop0 + i];
        if (m->key != r->key)
            continue;
        if (m->f == MOP_READ) {
            prior = m;
            break;
        }
        na++;
    }
    uint32_t base = prior ? prior->n : (r->n >= na ? r->n - na : 0);
    if (prior ? r->n != prior->n + na : r->n < na)
        return false;
    for (uint32_t k = 0; prior && k < prior->n; k++)
        if (!same_elem(c, (uint32_t)prior->val + k, (uint32_t)r->val + k))
            return false;
    uint32_t at = base;
    for (i = prior ? (uint32_t)(prior - &c->mops[t->mop0]) + 1 : 0; i < j; i++) {
        const struct txn_mop *m = &c->mops[t->mop0 + i];
        if (m->key == r->key && m->f == MOP_APPEND &&
            fl_txn_elem(c, (uint32_t)r->val, at++) != m->val)
            return false;
    }
    return true;
}

/* Walk each key's version order once: positions, ww edges, G1a, duplicates,
 * values nobody appended. */
static int walk_orders(struct txn_ctx *c)
{
    for (size_t ki = 0; ki < c->kcap; ki++) {
        const struct txn_key *k = &c->keys[ki];
        if (!k->used || k->reader == UINT32_MAX)
            continue;
        uint32_t prev = UINT32_MAX;
        for (uint32_t i = 0; i < k->n; i++) {
            int64_t v = fl_txn_elem(c, k->first, i);
            struct txn_wslot *s = fl_txn_writer(c, k->key, v);
            int rc = 0;
            if (!s)
                rc = fl_txn_note1(c, AN_UNWRITTEN, k->reader, UINT32_MAX, k->key, v);
            else if (s->pos != UINT32_MAX)
                rc = fl_txn_note1(c, AN_DUPLICATE, k->reader, UINT32_MAX, k->key, v);
            else {
                s->pos = i;
                if (c->tx[s->txn].type == FL_OP_FAIL)
                    rc = fl_txn_note1(c, AN_G1A, s->txn, k->reader, k->key, v);
                else {
                    if (prev != UINT32_MAX && prev != s->txn)
                        rc = fl_txn_add_edge(c, prev, s->txn, DEP_WW);
                    prev = s->txn;
                }
            }
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

/* Does w append to key after appending v? (then a read ending in v saw an
 * intermediate state of w: G1b) */
static bool appends_after(const struct txn_ctx *c, const struct txn *w, int64_t key, int64_t v)
{
    bool seen = false;
    for (uint32_t i = 0; i < w->nmop; i++) {
        const struct txn_mop *m = &c->mops[w->mop0 + i];
        if (m->key != key || m->f != MOP_APPEND)
            continue;
        if (seen)
            return true;
        seen = m->val == v;
    }
    return false;
}

struct lu {
    int64_t key;
    int64_t pos;
    uint32_t t;
};

static int lu_cmp(const void *a, const void *b)
{
    const struct lu *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

static bool appends_key(const struct txn_ctx *c, const struct txn *t, int64_t key)
{
    for (uint32_t i = 0; i < t->nmop; i++)
        if (c->mops[t->mop0 + i].key == key && c->mops[t->mop0 + i].f == MOP_APPEND)
            return true;
    return false;
}

/* One committed read: prefix check, G1b, and for the external read the wr
 * and rw edges and the lost-update record. */
static int one_read(struct txn_ctx *c, uint32_t t, uint32_t j, struct lu *lus, size_t *nlu)
{
    const struct txn *tx = &c->tx[t];
    const struct txn_mop *r = &c->mops[tx->mop0 + j];
    const struct txn_key *k = fl_txn_key(c, r->key);
    int rc = 0;

    if (!internal_ok(c, tx, j) && (rc = fl_txn_note1(c, AN_INTERNAL, t, UINT32_MAX, r->key, 0)) < 0)
        return rc;
    bool prefix = r->n <= k->n;
    for (uint32_t i = 0; prefix && i < r->n; i++)
        prefix = same_elem(c, (uint32_t)r->val + i, k->first + i);
    if (!prefix && (rc = fl_txn_note1(c, AN_INCOMPATIBLE, t, k->reader, r->key, 0)) < 0)
        return rc;
    struct txn_wslot *s = NULL;
    if (r->n > 0) {
        int64_t last = fl_txn_elem(c, (uint32_t)r->val, r->n - 1);
        s = fl_txn_writer(c, r->key, last);
        if (s && s->txn != t && c->tx[s->txn].type != FL_OP_FAIL &&
            appends_after(c, &c->tx[s->txn], r->key, last) &&
            (rc = fl_txn_note1(c, AN_G1B, s->txn, t, r->key, last)) < 0)
            return rc;
    }
    if (fl_txn_ext_read(c, tx, r->key) != r)
        return 0;
    if (s && s->txn != t && c->tx[s->txn].type != FL_OP_FAIL &&
        fl_txn_add_edge(c, s->txn, t, DEP_WR) < 0)
        return -1;
    int64_t pos = r->n == 0 ? -1 : s && s->pos != UINT32_MAX ? (int64_t)s->pos : -2;
    if (pos >= -1 && pos + 1 < (int64_t)k->n) {
        struct txn_wslot *nx =
            fl_txn_writer(c, r->key, fl_txn_elem(c, k->first, (uint32_t)(pos + 1)));
        /* the next append by the writer of what was seen is a G1b, not an rw */
        if (nx && nx->txn != t && c->tx[nx->txn].type != FL_OP_FAIL && (!s || nx->txn != s->txn) &&
            fl_txn_add_edge(c, t, nx->txn, DEP_RW) < 0)
            return -1;
    }
    if (pos >= -1 && appends_key(c, tx, r->key))
        lus[(*nlu)++] = (struct lu){r->key, pos, t};
    return 0;
}

/* Two committed transactions that read the same version of a key and both
 * appended to it: each overwrote what the other read (lost update). */
static int lost_updates(struct txn_ctx *c, struct lu *lus, size_t n)
{
    qsort(lus, n, sizeof *lus, lu_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && lus[j].key == lus[i].key && lus[j].pos == lus[i].pos)
            j++;
        if (j - i >= 2) {
            uint32_t len = (uint32_t)(j - i > 8 ? 8 : j - i);
            uint32_t *t = malloc(len * sizeof *t);
            if (!t)
                return -1;
            for (uint32_t x = 0; x < len; x++)
                t[x] = lus[i + x].t;
            if (fl_txn_note(c, AN_LOST_UPDATE, t, NULL, len, lus[i].key, lus[i].pos) < 0)
                return -1;
        }
        i = j;
    }
    return 0;
}

/* Appends nobody read came after every append someone read: ww from the
 * writer of the last element of the key's longest read, and rw from every
 * read that saw that whole version. rw edges: at most this many. */
#define TAIL_EDGE_BUDGET (8u << 20)

struct tail {
    int64_t key;
    uint32_t t;
};

static int tail_cmp(const void *a, const void *b)
{
    const struct tail *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : (x->t > y->t) - (x->t < y->t);
}

static int unread_appends(struct txn_ctx *c)
{
    size_t n = 0, budget = TAIL_EDGE_BUDGET;
    struct tail *a = malloc((c->nmops + 1) * sizeof *a);
    if (!a)
        return -1;
    for (uint32_t t = 0; t < c->ntx; t++) {
        for (uint32_t j = 0; c->tx[t].type != FL_OP_FAIL && j < c->tx[t].nmop; j++) {
            const struct txn_mop *m = &c->mops[c->tx[t].mop0 + j];
            if (m->f == MOP_APPEND && fl_txn_writer(c, m->key, m->val)->pos == UINT32_MAX)
                a[n++] = (struct tail){m->key, t};
        }
    }
    qsort(a, n, sizeof *a, tail_cmp);
    int rc = 0;
    /* ww: the last append anyone read -> each append nobody read */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct txn_key *k = fl_txn_key(c, a[i].key);
        if (!k->n)
            continue;
        struct txn_wslot *s = fl_txn_writer(c, k->key, fl_txn_elem(c, k->first, k->n - 1));
        if (s && s->txn != a[i].t && c->tx[s->txn].type != FL_OP_FAIL)
            rc = fl_txn_add_edge(c, s->txn, a[i].t, DEP_WW);
    }
    for (uint32_t t = 0; rc == 0 && n && t < c->ntx; t++) {
        const struct txn *tx = &c->tx[t];
        for (uint32_t j = 0; rc == 0 && tx->type == FL_OP_OK && j < tx->nmop; j++) {
            const struct txn_mop *r = &c->mops[tx->mop0 + j];
            if (r->f != MOP_READ || fl_txn_ext_read(c, tx, r->key) != r ||
                r->n != fl_txn_key(c, r->key)->n)
                continue;
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (a[mid].key < r->key)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (size_t i = lo; rc == 0 && i < n && a[i].key == r->key; i++) {
                if (a[i].t == t || (i > lo && a[i].t == a[i - 1].t))
                    continue;
                if (budget == 0) {
                    c->capped = true;
                    break;
                }
                budget--;
                rc = fl_txn_add_edge(c, t, a[i].t, DEP_RW);
            }
        }
    }
    free(a);
    return rc;
}

int fl_txn_infer_append(struct txn_ctx *c)
{
    if (index_keys(c) < 0 || walk_orders(c) < 0)
        return -1;
    size_t nlu = 0;
    struct lu *lus = malloc((c->nmops + 1) * sizeof *lus);
    if (!lus)
        return -1;
    int rc = 0;
    for (uint32_t t = 0; rc == 0 && t < c->ntx; t++) {
        if (c->tx[t].type != FL_OP_OK)
            continue;
        for (uint32_t j = 0; rc == 0 && j < c->tx[t].nmop; j++)
            if (c->mops[c->tx[t].mop0 + j].f == MOP_READ)
                rc = one_read(c, t, j, lus, &nlu);
    }
    if (rc == 0)
        rc = lost_updates(c, lus, nlu);
    if (rc == 0)
        rc = unread_appends(c);
    free(lus);
    return rc;
}
