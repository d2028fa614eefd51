/* total-queue: Jepsen's total-queue analysis, for queues whose promise is
 * delivery rather than order (or where order is not the question). It
 * compares what went in with what came out, counting copies of each value:
 *   lost        acknowledged enqueues whose value never came out
 *   unexpected  values that came out although no enqueue of them was
 *               attempted (failed enqueues do not count: they did not happen)
 *   duplicated  values that came out more often than they were enqueued
 *   recovered   enqueues with unknown outcome whose value came out
 * Operations: enqueue v; dequeue -> v, or nil when the queue was empty;
 * drain -> [v ...] (what emptying the queue returned, usually at the end).
 * A dequeue or drain with unknown outcome may have taken values nobody saw:
 * a lost copy is excused when such an operation, still running after the
 * copy's enqueue began, can be matched to it (one copy per dequeue, any
 * number per drain). Lost copies left over, or any unexpected or duplicated
 * value, make the history invalid. O(n log n). */
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

struct copy {
    int64_t code;
    uint32_t call; /* the enqueue's invocation event */
    bool ok;       /* acknowledged (else unknown outcome) */
};

/* by value; within a value the acknowledged copies first, by invocation */
static int by_code(const void *a, const void *b)
{
    const struct copy *x = a, *y = b;
    if (x->code != y->code)
        return x->code < y->code ? -1 : 1;
    if (x->ok != y->ok)
        return x->ok ? -1 : 1;
    return x->call < y->call ? -1 : x->call > y->call;
}

static int by_call(const void *a, const void *b)
{
    const struct copy *x = a, *y = b;
    return x->call < y->call ? -1 : x->call > y->call;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool is_enq(const struct fl_history *h, const struct fl_hop *op)
{
    return fl_history_fis(h, op, "enqueue") || fl_history_fis(h, op, "enq");
}

static bool is_deq(const struct fl_history *h, const struct fl_hop *op)
{
    return fl_history_fis(h, op, "dequeue") || fl_history_fis(h, op, "deq");
}

/* How many of the lost copies (sorted by enqueue call) the unknown dequeues
 * (their return events, sorted) can have taken: each takes one copy whose
 * enqueue began before the dequeue returned. The copies a dequeue may take
 * are a prefix of the list, and the prefixes grow with the return event, so
 * taking the earliest free copy in return order is a maximum matching. */
static size_t excused(size_t nlost, const struct copy *lost, const uint32_t *ret, size_t nret)
{
    size_t taken = 0;

    for (size_t d = 0; d < nret && taken < nlost; d++)
        if (lost[taken].call < ret[d])
            taken++;
    return taken;
}

static int explain(struct fl_check_report *r, size_t acked, size_t out, size_t nlost, size_t nexc,
                   struct fl_vlist *lost, struct fl_vlist *unexp, struct fl_vlist *dup,
                   struct fl_vlist *recov, bool drain_unknown)
{
    json_t *q = json_object();
    char *missing = NULL;

    if (nlost && drain_unknown &&
        asprintf(&missing,
                 "  not seen again (acknowledged; a drain with unknown outcome may have taken "
                 "them all):%s\n",
                 lost->buf) < 0)
        missing = NULL;
    else if (nlost && nexc && !drain_unknown &&
             asprintf(&missing,
                      "  not seen again (acknowledged; %zu of them may have been taken by "
                      "dequeues with unknown outcome):%s\n",
                      nexc, lost->buf) < 0)
        missing = NULL;
    else if (nlost && !nexc && !drain_unknown &&
             asprintf(&missing, "  lost (acknowledged, never came out):%s\n", lost->buf) < 0)
        missing = NULL;
    if (asprintf(&r->text,
                 "%stotal-queue analysis: %zu acknowledged enqueues, %zu values out; %zu lost, "
                 "%zu unexpected, %zu duplicated, %zu recovered.\n%s%s%s%s%s%s%s%s%s%s",
                 r->verdict == FL_CHECK_INVALID ? "INVALID: " : "", acked, out, nlost - nexc,
                 unexp->n, dup->n, recov->n, missing ? missing : "",
                 unexp->n ? "  unexpected (never enqueued):" : "", unexp->n ? unexp->buf : "",
                 unexp->n ? "\n" : "",
                 dup->n ? "  duplicated (came out more often than put in):" : "",
                 dup->n ? dup->buf : "", dup->n ? "\n" : "",
                 recov->n ? "  recovered (unknown outcome, but came out):" : "",
                 recov->n ? recov->buf : "", recov->n ? "\n" : "") < 0) {
        r->text = NULL;
        free(missing);
        json_decref(q);
        return -1;
    }
    free(missing);
    r->json = json_object();
    json_object_set_new(r->json, "total_queue", q);
    json_object_set_new(q, "acknowledged", json_integer((json_int_t)acked));
    json_object_set_new(q, "dequeued", json_integer((json_int_t)out));
    json_object_set_new(q, "lost_count", json_integer((json_int_t)(nlost - nexc)));
    json_object_set_new(q, "possibly_taken_count", json_integer((json_int_t)nexc));
    json_object_set_new(q, "unexpected_count", json_integer((json_int_t)unexp->n));
    json_object_set_new(q, "duplicated_count", json_integer((json_int_t)dup->n));
    json_object_set_new(q, "recovered_count", json_integer((json_int_t)recov->n));
    json_object_set(q, "not_seen", lost->j);
    json_object_set(q, "unexpected", unexp->j);
    json_object_set(q, "duplicated", dup->j);
    json_object_set(q, "recovered", recov->j);
    return 0;
}

/* What one check gathers and works out. */
struct tq {
    struct copy *in;    /* attempted enqueues (failed ones left out) */
    int64_t *outv;      /* values that came out; later the lost values */
    uint32_t *uret;     /* return events of dequeues/drains with unknown outcome */
    struct copy *lostc; /* lost copies */
    int64_t *bad;       /* values that came out unexpected or duplicated */
    size_t nin, nout, cap, nuret, nlost, nbad, acked, nexc;
    struct fl_vlist lost, unexp, dup, recov;
    bool drain_unknown;
};

/* Room in outv for `more` values. */
static int out_reserve(struct tq *t, size_t more)
{
    if (t->nout + more <= t->cap)
        return 0;
    int64_t *n = realloc(t->outv, (t->nout + more) * 2 * sizeof *n);
    if (!n)
        return -1;
    t->outv = n;
    t->cap = (t->nout + more) * 2;
    return 0;
}

/* One dequeue or drain (ok or unknown) into t. */
static int gather_out(struct tq *t, struct fl_history *h, const struct fl_hop *op, bool drain,
                      struct fl_err *e)
{
    if (op->type == FL_OP_INFO) {
        t->drain_unknown |= drain;
        t->uret[t->nuret++] = op->ret; /* FL_HOP_NORET: still running at the end */
        return 0;
    }
    if (op->type != FL_OP_OK)
        return 0;
    if (!drain) {
        if (op->comp.kind != FL_V_NIL)
            t->outv[t->nout++] = fl_history_code(h, &op->comp);
        return 0;
    }
    if (op->comp.kind != FL_V_VEC && op->comp.kind != FL_V_LIST && op->comp.kind != FL_V_SET)
        return fl_err_set(e, FL_EUSAGE, "%s:%u: a drain must return a collection of values",
                          h->name, op->ret_line);
    if (out_reserve(t, op->comp.n))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (uint32_t k = 0; k < op->comp.n; k++)
        t->outv[t->nout++] = fl_history_code(h, fl_history_child(h, &op->comp, k));
    return 0;
}

/* What went in and what came out, from every operation. */
static int gather(struct tq *t, struct fl_history *h, struct fl_err *e)
{
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        bool drain = fl_history_fis(h, op, "drain");
        int rc;
        if (is_enq(h, op)) {
            if (op->type != FL_OP_FAIL)
                t->in[t->nin++] =
                    (struct copy){fl_history_code(h, &op->inv), op->call, op->type == FL_OP_OK};
            t->acked += op->type == FL_OP_OK;
        } else if (is_deq(h, op) || drain) {
            if ((rc = gather_out(t, h, op, drain, e)))
                return rc;
        } else {
            return fl_err_set(e, FL_EUSAGE,
                              "%s:%u: total-queue operations are enqueue, dequeue and drain",
                              h->name, op->call_line);
        }
    }
    return 0;
}

/* Walk the distinct values: a attempted copies (k of them acknowledged), d
 * that came out. The copies that came out are taken to be the acknowledged
 * ones first; of those, the earliest enqueued count as lost (the easiest for
 * an unknown dequeue to have taken). in and outv must be sorted. */
static void tally(struct tq *t, struct fl_history *h)
{
    for (size_t i = 0, j = 0; i < t->nin || j < t->nout;) {
        int64_t v = i < t->nin && (j >= t->nout || t->in[i].code <= t->outv[j]) ? t->in[i].code
                                                                                : t->outv[j];
        size_t a = 0, k = 0, d = 0, i0 = i;

        for (; i < t->nin && t->in[i].code == v; i++, a++)
            k += t->in[i].ok;
        for (; j < t->nout && t->outv[j] == v; j++, d++)
            ;
        for (size_t c = 0; c + d < k; c++)
            t->lostc[t->nlost++] = t->in[i0 + c];
        for (size_t c = k; c < a && c < d; c++)
            fl_vlist_note(h, &t->recov, v);
        for (size_t c = a; c < d; c++)
            fl_vlist_note(h, a ? &t->dup : &t->unexp, v);
        if (d > a)
            t->bad[t->nbad++] = v;
    }
}

/* Mark the acknowledged enqueues of lost values and the dequeues and drains
 * that returned unexpected or duplicated ones. outv holds the lost values,
 * sorted. */
static void mark(const struct tq *t, struct fl_history *h, struct fl_check_report *r)
{
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        if (op->type != FL_OP_OK)
            continue;
        if (is_enq(h, op)) {
            r->offending[i] =
                t->nlost > t->nexc && fl_code_has(t->outv, t->nlost, fl_history_code(h, &op->inv));
        } else if (op->comp.kind == FL_V_VEC || op->comp.kind == FL_V_LIST ||
                   op->comp.kind == FL_V_SET) {
            for (uint32_t k = 0; k < op->comp.n && !r->offending[i]; k++)
                r->offending[i] = fl_code_has(
                    t->bad, t->nbad, fl_history_code(h, fl_history_child(h, &op->comp, k)));
        } else if (op->comp.kind != FL_V_NIL) {
            r->offending[i] = fl_code_has(t->bad, t->nbad, fl_history_code(h, &op->comp));
        }
    }
}

/* The verdict and report from what gather() found. */
static int judge(struct tq *t, struct fl_history *h, struct fl_check_report *r, struct fl_err *e)
{
    qsort(t->in, t->nin, sizeof *t->in, by_code);
    qsort(t->outv, t->nout, sizeof *t->outv, fl_code_cmp);
    t->lostc = malloc((t->nin + 1) * sizeof *t->lostc);
    t->bad = malloc((t->nout + 1) * sizeof *t->bad);
    if (!t->lostc || !t->bad)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    tally(t, h);
    qsort(t->lostc, t->nlost, sizeof *t->lostc, by_call);
    qsort(t->uret, t->nuret, sizeof *t->uret, cmp_u32);
    t->nexc = t->drain_unknown ? t->nlost : excused(t->nlost, t->lostc, t->uret, t->nuret);
    for (size_t c = 0; c < t->nlost; c++)
        fl_vlist_note(h, &t->lost, t->lostc[c].code);
    r->verdict = t->nlost > t->nexc || t->unexp.n || t->dup.n ? FL_CHECK_INVALID : FL_CHECK_VALID;
    for (size_t c = 0; c < t->nlost; c++)
        t->outv[c] = t->lostc[c].code; /* outv is free again: the lost values, sorted */
    qsort(t->outv, t->nlost, sizeof *t->outv, fl_code_cmp);
    mark(t, h, r);
    fl_vlist_close(&t->lost);
    fl_vlist_close(&t->unexp);
    fl_vlist_close(&t->dup);
    fl_vlist_close(&t->recov);
    if (explain(r, t->acked, t->nout, t->nlost, t->nexc, &t->lost, &t->unexp, &t->dup, &t->recov,
                t->drain_unknown))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    return 0;
}

int fl_check_total_queue(const struct fl_checker *c, struct fl_history *h,
                         const struct fl_check_opts *o, struct fl_check_report *r, struct fl_err *e)
{
    struct tq t = {.cap = h->nops + 1};
    int rc;

    (void)c;
    t.in = calloc(h->nops + 1, sizeof *t.in);
    t.uret = calloc(h->nops + 1, sizeof *t.uret);
    t.outv = malloc(t.cap * sizeof *t.outv);
    if (!t.in || !t.uret || !t.outv || fl_vlist_open(&t.lost) || fl_vlist_open(&t.unexp) ||
        fl_vlist_open(&t.dup) || fl_vlist_open(&t.recov))
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
    else if (!(rc = gather(&t, h, e)))
        rc = judge(&t, h, r, e);
    fl_vlist_free(&t.lost);
    fl_vlist_free(&t.unexp);
    fl_vlist_free(&t.dup);
    fl_vlist_free(&t.recov);
    free(t.in);
    free(t.outv);
    free(t.uret);
    free(t.lostc);
    free(t.bad);
    r->checked_ops = h->nops;
    r->partitions = 1;
    return rc;
}
