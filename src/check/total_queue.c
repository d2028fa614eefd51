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

int fl_check_total_queue(const struct fl_checker *c, struct fl_history *h,
                         const struct fl_check_opts *o, struct fl_check_report *r, struct fl_err *e)
{
    (void)c;
    struct copy *in = calloc(h->nops + 1, sizeof *in), *lostc = NULL;
    int64_t *outv = NULL, *bad = NULL;
    uint32_t *uret = calloc(h->nops + 1, sizeof *uret);
    size_t nin = 0, nout = 0, cap = h->nops + 1, nuret = 0, nlost = 0, nbad = 0, acked = 0;
    size_t nexc = 0;
    struct fl_vlist lost = {0}, unexp = {0}, dup = {0}, recov = {0};
    bool drain_unknown = false;
    int rc = 0;

    outv = malloc(cap * sizeof *outv);
    if (!in || !uret || !outv || fl_vlist_open(&lost) || fl_vlist_open(&unexp) ||
        fl_vlist_open(&dup) || fl_vlist_open(&recov)) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        bool drain = fl_history_fis(h, op, "drain");
        if (is_enq(h, op)) {
            if (op->type != FL_OP_FAIL)
                in[nin++] =
                    (struct copy){fl_history_code(h, &op->inv), op->call, op->type == FL_OP_OK};
            acked += op->type == FL_OP_OK;
        } else if (is_deq(h, op) || drain) {
            if (op->type == FL_OP_INFO) {
                drain_unknown |= drain;
                uret[nuret++] = op->ret; /* FL_HOP_NORET: still running at the end */
                continue;
            }
            if (op->type != FL_OP_OK)
                continue;
            if (!drain) {
                if (op->comp.kind != FL_V_NIL)
                    outv[nout++] = fl_history_code(h, &op->comp);
                continue;
            }
            if (op->comp.kind != FL_V_VEC && op->comp.kind != FL_V_LIST &&
                op->comp.kind != FL_V_SET) {
                rc = fl_err_set(e, FL_EUSAGE, "%s:%u: a drain must return a collection of values",
                                h->name, op->ret_line);
                goto out;
            }
            if (nout + op->comp.n > cap) {
                int64_t *t = realloc(outv, (nout + op->comp.n) * 2 * sizeof *outv);
                if (!t) {
                    rc = fl_err_set(e, FL_EFAIL, "out of memory");
                    goto out;
                }
                outv = t;
                cap = (nout + op->comp.n) * 2;
            }
            for (uint32_t k = 0; k < op->comp.n; k++)
                outv[nout++] = fl_history_code(h, fl_history_child(h, &op->comp, k));
        } else {
            rc = fl_err_set(e, FL_EUSAGE,
                            "%s:%u: total-queue operations are enqueue, dequeue and drain", h->name,
                            op->call_line);
            goto out;
        }
    }
    qsort(in, nin, sizeof *in, by_code);
    qsort(outv, nout, sizeof *outv, fl_code_cmp);
    lostc = malloc((nin + 1) * sizeof *lostc);
    bad = malloc((nout + 1) * sizeof *bad);
    if (!lostc || !bad) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    /* Walk the distinct values: a attempted copies (k of them acknowledged),
     * d that came out. The copies that came out are taken to be the
     * acknowledged ones first; of those, the earliest enqueued count as lost
     * (the easiest for an unknown dequeue to have taken). */
    for (size_t i = 0, j = 0; i < nin || j < nout;) {
        int64_t v = i < nin && (j >= nout || in[i].code <= outv[j]) ? in[i].code : outv[j];
        size_t a = 0, k = 0, d = 0, i0 = i;

        for (; i < nin && in[i].code == v; i++, a++)
            k += in[i].ok;
        for (; j < nout && outv[j] == v; j++, d++)
            ;
        for (size_t c = 0; c + d < k; c++)
            lostc[nlost++] = in[i0 + c];
        for (size_t c = k; c < a && c < d; c++)
            fl_vlist_note(h, &recov, v);
        for (size_t c = a; c < d; c++)
            fl_vlist_note(h, a ? &dup : &unexp, v);
        if (d > a)
            bad[nbad++] = v;
    }
    qsort(lostc, nlost, sizeof *lostc, by_call);
    qsort(uret, nuret, sizeof *uret, cmp_u32);
    nexc = drain_unknown ? nlost : excused(nlost, lostc, uret, nuret);
    for (size_t c = 0; c < nlost; c++)
        fl_vlist_note(h, &lost, lostc[c].code);
    r->verdict = nlost > nexc || unexp.n || dup.n ? FL_CHECK_INVALID : FL_CHECK_VALID;
    /* mark the acknowledged enqueues of lost values and the dequeues and
     * drains that returned unexpected or duplicated ones */
    for (size_t c = 0; c < nlost; c++)
        outv[c] = lostc[c].code; /* outv is free again: the lost values, sorted */
    qsort(outv, nlost, sizeof *outv, fl_code_cmp);
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        if (op->type != FL_OP_OK)
            continue;
        if (is_enq(h, op)) {
            r->offending[i] =
                nlost > nexc && fl_code_has(outv, nlost, fl_history_code(h, &op->inv));
        } else if (op->comp.kind == FL_V_VEC || op->comp.kind == FL_V_LIST ||
                   op->comp.kind == FL_V_SET) {
            for (uint32_t k = 0; k < op->comp.n && !r->offending[i]; k++)
                r->offending[i] =
                    fl_code_has(bad, nbad, fl_history_code(h, fl_history_child(h, &op->comp, k)));
        } else if (op->comp.kind != FL_V_NIL) {
            r->offending[i] = fl_code_has(bad, nbad, fl_history_code(h, &op->comp));
        }
    }
    fl_vlist_close(&lost);
    fl_vlist_close(&unexp);
    fl_vlist_close(&dup);
    fl_vlist_close(&recov);
    if (explain(r, acked, nout, nlost, nexc, &lost, &unexp, &dup, &recov, drain_unknown))
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
out:
    fl_vlist_free(&lost);
    fl_vlist_free(&unexp);
    fl_vlist_free(&dup);
    fl_vlist_free(&recov);
    free(in);
    free(outv);
    free(uret);
    free(lostc);
    free(bad);
    r->checked_ops = h->nops;
    r->partitions = 1;
    return rc;
}
