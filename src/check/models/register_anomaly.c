/* Naming a register failure the way people describe it. When the search
 * finds a read it cannot place, look for the two shapes Jepsen users know:
 *   stale read   the read returned v although a write of another value had
 *                completed before the read began, after every write of v
 *                had completed (so v had certainly been overwritten);
 *   lost write   that overwriting write was acknowledged and no read begun
 *                after it ever returned its value;
 *   impossible read  no write of v could have taken effect before the read
 *                returned (and v is not the initial value).
 * Every claim is checked against the recorded order only, so a name is
 * given only when it is true of the history; anything else keeps the
 * generic explanation. Shared by register, cas-register and kv (whose
 * append histories are left to the generic explanation). */
#include <inttypes.h>
#include <stdlib.h>

#include "check/check.h"
#include "check/models/models.h"

enum { KV_GET = FL_REG_CAS + 1 }; /* kv.c: a read by another name */

static bool is_read(const struct fl_mop *m)
{
    return m->f == FL_REG_READ || m->f == KV_GET;
}

/* The value op i writes (a write's a, a cas's b); false for reads and ops
 * this analysis does not know (appends). */
static bool writes(const struct fl_anomaly_in *in, size_t i, int64_t *v)
{
    const struct fl_mop *m = &in->mops[in->ops[i].mop];
    if (m->f == FL_REG_WRITE)
        *v = m->a;
    else if (m->f == FL_REG_CAS)
        *v = m->b;
    else
        return false;
    return true;
}

static bool definite(const struct fl_anomaly_in *in, size_t i)
{
    return in->ops[i].ret != FL_LIN_NORET;
}

/* "of 42 (line 12, completed at t=3.204 s)" for write or cas op i: the
 * value as recorded (the new value of a cas, without a kv tuple's key). */
static void what_where(const struct fl_anomaly_in *in, size_t i, FILE *out)
{
    const struct fl_mop *m = &in->mops[in->ops[i].mop];
    const struct fl_hop *op = &in->h->ops[m->id];
    const struct fl_val *v = fl_prep_value(op);
    bool pair = v->kind == FL_V_VEC || v->kind == FL_V_LIST;

    if (m->key != FL_CODE_NIL && op->key.kind == FL_V_NIL && pair && v->n == 2)
        v = fl_history_child(in->h, v, 1); /* [k v] */
    pair = v->kind == FL_V_VEC || v->kind == FL_V_LIST;
    if (m->f == FL_REG_CAS && pair && v->n == 2)
        v = fl_history_child(in->h, v, 1); /* [old new] */
    fputs("of ", out);
    fl_history_print_val(in->h, v, false, out);
    fprintf(out, " (line %u", op->call_line);
    if (op->ret_time >= 0)
        fprintf(out, ", completed at t=%.3f s", (double)op->ret_time / 1e9);
    fputc(')', out);
}

static void describe(const struct fl_anomaly_in *in, size_t i, FILE *out)
{
    fputs("  ", out);
    fl_check_describe_op(in->h, in->mops[in->ops[i].mop].id, out);
    fputc('\n', out);
}

/* A value and the latest invocation of a read that returned it. */
struct seen {
    int64_t v;
    uint32_t last_call;
};

static int seen_cmp(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v;
}

/* Every value some definite read returned, sorted, each with the latest
 * call of such a read; NULL when out of memory. */
static struct seen *reads_by_value(const struct fl_anomaly_in *in, size_t *n)
{
    struct seen *s = malloc((in->n + 1) * sizeof *s);
    size_t k = 0, m = 0;

    if (!s)
        return NULL;
    for (size_t i = 0; i < in->n; i++)
        if (is_read(&in->mops[in->ops[i].mop]) && definite(in, i))
            s[k++] = (struct seen){in->mops[in->ops[i].mop].a, in->ops[i].call};
    qsort(s, k, sizeof *s, seen_cmp);
    for (size_t i = 0; i < k; i++) {
        if (m && s[m - 1].v == s[i].v) {
            if (s[i].last_call > s[m - 1].last_call)
                s[m - 1].last_call = s[i].last_call;
        } else {
            s[m++] = s[i];
        }
    }
    *n = m;
    return s;
}

/* Does some read begun after call position `after` return v? */
static bool seen_after(const struct seen *s, size_t n, int64_t v, uint32_t after)
{
    struct seen key = {.v = v};
    const struct seen *f = bsearch(&key, s, n, sizeof *s, seen_cmp);
    return f && f->last_call > after;
}

/* The definite write of another value that completed before read r began
 * and after every write of v that could precede r had completed; one whose
 * value no later read saw first, else the latest. SIZE_MAX when there is
 * none (or when out of memory: the generic explanation stands). Linear in
 * the part's size, plus a sort. */
static size_t overwriter(const struct fl_anomaly_in *in, size_t r, int64_t v, bool *lost)
{
    size_t best = SIZE_MAX, nseen = 0;
    uint32_t v_done = 0; /* every write of v that could precede r ended before this */
    struct seen *seen;

    *lost = false;
    for (size_t i = 0; i < in->n; i++) {
        int64_t y;
        if (writes(in, i, &y) && y == v && in->ops[i].call < in->ops[r].ret) {
            if (!definite(in, i))
                return SIZE_MAX; /* it may have taken effect at any later time */
            if (in->ops[i].ret > v_done)
                v_done = in->ops[i].ret;
        }
    }
    if (!(seen = reads_by_value(in, &nseen)))
        return SIZE_MAX;
    for (size_t w = 0; w < in->n; w++) {
        int64_t x;
        if (!writes(in, w, &x) || x == v || !definite(in, w) || in->ops[w].ret > in->ops[r].call ||
            (v_done && in->ops[w].call < v_done))
            continue;
        bool l = !seen_after(seen, nseen, x, in->ops[w].ret);
        if (best == SIZE_MAX || (l && !*lost) ||
            (l == *lost && in->ops[w].ret > in->ops[best].ret)) {
            best = w;
            *lost = l;
        }
    }
    free(seen);
    return best;
}

int fl_model_register_anomaly(const struct fl_anomaly_in *in, FILE *out, const char **kind)
{
    size_t r = in->stuck;
    const struct fl_mop *rm = &in->mops[in->ops[r].mop];
    int64_t v = rm->a;
    bool any = v == in->cfg->initial, lost;

    if (!is_read(rm) || !definite(in, r))
        return 1;
    if (rm->f == KV_GET && (v == FL_CODE_NIL || v == FL_CODE_INT_MAX + 1))
        return 1; /* a get of "": a missing key, which the analysis does not model */
    for (size_t i = 0; i < in->n; i++) {
        const struct fl_mop *m = &in->mops[in->ops[i].mop];
        int64_t x;
        if (!is_read(m) && !writes(in, i, &x))
            return 1; /* appends: not a register history this analysis knows */
        if (writes(in, i, &x) && x == v && in->ops[i].call < in->ops[r].ret)
            any = true;
    }
    if (!any) {
        *kind = "impossible-read";
        fputs("Anomaly: impossible read: this read returned a value that no write could "
              "have\nproduced before it returned (and it is not the initial value):\n",
              out);
        describe(in, r, out);
        return 0;
    }
    size_t w = overwriter(in, r, v, &lost);
    if (w == SIZE_MAX)
        return 1;
    if (lost) {
        *kind = "lost-write";
        fputs("Anomaly: lost write: the acknowledged write ", out);
        what_where(in, w, out);
        fputs("\nwas never visible to any later read; this read, begun after it completed,\n"
              "returned an older value (a stale read):\n",
              out);
    } else {
        *kind = "stale-read";
        fputs("Anomaly: stale read: this read returned a value that had been overwritten "
              "before it\nbegan, by the write ",
              out);
        what_where(in, w, out);
        fputs(", which completed after every\nwrite of the value read:\n", out);
    }
    describe(in, w, out);
    describe(in, r, out);
    return 0;
}
