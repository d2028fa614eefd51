/* The queue order check (see queue_fast.h): sort the enqueues and
 * dequeues by value to pair them, then one pass over the enqueues sorted by
 * return, with prefix summaries, finds the order pattern in O(n log n). */
#include "check/queue_fast.h"

#include <stdlib.h>

#include "util/err.h"

enum { Q_ENQ, Q_DEQ };

#define NONE SIZE_MAX
#define END_OF_TIME UINT32_MAX

struct entry {
    int64_t value;
    uint32_t kind; /* Q_ENQ before Q_DEQ for the same value */
    size_t op;     /* index into ops */
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->op < y->op ? -1 : x->op > y->op;
}

/* An enqueue that took effect, with its dequeue if any. */
struct enq {
    uint32_t call, ret; /* ret END_OF_TIME: unknown outcome, but dequeued */
    size_t op, deq;     /* deq: index into ops, NONE if never dequeued */
};

static int enq_cmp_ret(const void *a, const void *b)
{
    const struct enq *x = a, *y = b;
    return x->ret < y->ret ? -1 : x->ret > y->ret;
}

static void put(size_t *w, size_t *nw, size_t a, size_t b, size_t c, size_t d)
{
    size_t v[4] = {a, b, c, d};
    *nw = 0;
    for (int i = 0; i < 4; i++)
        if (v[i] != NONE)
            w[(*nw)++] = v[i];
}

/* Group the sorted entries by value: each value's enqueue and dequeues.
 * A value enqueued twice makes the check not apply; a value dequeued twice,
 * or dequeued before it could have been enqueued, is a witness (w, *nw).
 * The rest become enq[] (*nq of them). Returns FL_CHECK_VALID,
 * FL_CHECK_INVALID or FL_QUEUE_FAST_NA. */
static int pair_values(const struct entry *ent, size_t ne, const struct fl_lin_op *ops,
                       struct enq *enq, size_t *nq, size_t *w, size_t *nw)
{
    for (size_t i = 0; i < ne;) {
        size_t j = i, e = NONE, d1 = NONE, d2 = NONE;
        for (; j < ne && ent[j].value == ent[i].value; j++) {
            if (ent[j].kind == Q_ENQ) {
                if (e != NONE)
                    return FL_QUEUE_FAST_NA; /* the same value enqueued twice */
                e = ent[j].op;
            } else if (d1 == NONE) {
                d1 = ent[j].op;
            } else if (d2 == NONE) {
                d2 = ent[j].op;
            }
        }
        i = j;
        if (d2 != NONE) {
            if (*nw == 0)
                put(w, nw, e, d1, d2, NONE);
            continue; /* decided, but keep looking for repeated enqueues */
        }
        if (d1 != NONE && (e == NONE || ops[d1].ret < ops[e].call)) {
            if (*nw == 0)
                put(w, nw, e, d1, NONE, NONE);
            continue;
        }
        if (e == NONE || (ops[e].ret == FL_LIN_NORET && d1 == NONE))
            continue; /* an enqueue of unknown outcome that never came out: left out */
        enq[(*nq)++] =
            (struct enq){ops[e].call, ops[e].ret == FL_LIN_NORET ? END_OF_TIME : ops[e].ret, e, d1};
    }
    return *nw ? FL_CHECK_INVALID : FL_CHECK_VALID;
}

/* The order rule over enq[] (sorted here by return): a dequeued value must
 * not overtake one enqueued before it that stayed in, or whose dequeue came
 * after. undeq and maxop have room for nq + 1. */
static int check_order(struct enq *enq, size_t nq, const struct fl_lin_op *ops, size_t *undeq,
                       size_t *maxop, size_t *w, size_t *nw)
{
    /* order: prefixes of the enqueues by return time; undeq[k]: an enqueue
     * among the first k that was never dequeued (NONE if all were);
     * maxop[k]: the one among them whose dequeue was invoked last. */
    qsort(enq, nq, sizeof *enq, enq_cmp_ret);
    undeq[0] = NONE;
    maxop[0] = NONE;
    for (size_t k = 0; k < nq; k++) {
        undeq[k + 1] = undeq[k] != NONE ? undeq[k] : enq[k].deq == NONE ? k : NONE;
        maxop[k + 1] = maxop[k];
        if (enq[k].deq != NONE &&
            (maxop[k] == NONE || ops[enq[k].deq].call > ops[enq[maxop[k]].deq].call))
            maxop[k + 1] = k;
    }
    for (size_t b = 0; b < nq; b++) {
        if (enq[b].deq == NONE)
            continue;
        /* k: how many enqueues returned before b was invoked */
        size_t lo = 0, hi = nq;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (enq[mid].ret < enq[b].call)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (undeq[lo] != NONE) {
            put(w, nw, enq[undeq[lo]].op, enq[b].op, enq[b].deq, NONE);
            return FL_CHECK_INVALID;
        }
        size_t a = maxop[lo];
        if (a != NONE && ops[enq[a].deq].call > ops[enq[b].deq].ret) {
            put(w, nw, enq[a].op, enq[a].deq, enq[b].op, enq[b].deq);
            return FL_CHECK_INVALID;
        }
    }
    return FL_CHECK_VALID;
}

int fl_queue_fast_check(const struct fl_mop *mops, const struct fl_lin_op *ops, size_t n,
                        size_t *witness, size_t *nwitness)
{
    struct entry *ent = malloc((n + 1) * sizeof *ent);
    struct enq *enq = malloc((n + 1) * sizeof *enq);
    size_t *undeq = malloc((n + 1) * sizeof *undeq), *maxop = malloc((n + 1) * sizeof *maxop);
    size_t ne = 0, nq = 0, nw = 0;
    size_t w[4] = {NONE, NONE, NONE, NONE};
    int verdict = FL_CHECK_VALID;

    *nwitness = 0;
    if (!ent || !enq || !undeq || !maxop) {
        verdict = -FL_EFAIL;
        goto out;
    }
    /* What the check decides: distinct values, no dequeue of nil and no
     * dequeue with unknown outcome. */
    for (size_t i = 0; i < n; i++) {
        const struct fl_mop *m = &mops[ops[i].mop];
        if (m->a == FL_CODE_NIL || m->a == FL_CODE_UNKNOWN || m->f > Q_DEQ ||
            (m->f == Q_DEQ && ops[i].ret == FL_LIN_NORET)) {
            verdict = FL_QUEUE_FAST_NA;
            goto out;
        }
        ent[ne++] = (struct entry){m->a, m->f, i};
    }
    qsort(ent, ne, sizeof *ent, entry_cmp);
    verdict = pair_values(ent, ne, ops, enq, &nq, w, &nw);
    if (verdict == FL_CHECK_VALID)
        verdict = check_order(enq, nq, ops, undeq, maxop, w, &nw);
out:
    if (verdict == FL_CHECK_INVALID) {
        for (size_t i = 0; i < nw; i++)
            witness[i] = w[i];
        *nwitness = nw;
    }
    free(ent);
    free(enq);
    free(undeq);
    free(maxop);
    return verdict;
}
