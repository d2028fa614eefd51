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

/* Does some read begun after op w completed return w's value? */
static bool seen_later(const struct fl_anomaly_in *in, size_t w, int64_t v)
{
    for (size_t i = 0; i < in->n; i++)
        if (is_read(&in->mops[in->ops[i].mop]) && definite(in, i) &&
            in->ops[i].call > in->ops[w].ret && in->mops[in->ops[i].mop].a == v)
            return true;
    return false;
}

/* The definite write of another value that completed before read r began
 * and after every write of v that could precede r had completed; one whose
 * value no later read saw first. SIZE_MAX when there is none. */
static size_t overwriter(const struct fl_anomaly_in *in, size_t r, int64_t v, bool *lost)
{
    size_t best = SIZE_MAX;

    *lost = false;
    for (size_t w = 0; w < in->n; w++) {
        int64_t x;
        if (!writes(in, w, &x) || x == v || !definite(in, w) || in->ops[w].ret > in->ops[r].call)
            continue;
        bool after_all = true;
        for (size_t i = 0; i < in->n && after_all; i++) {
            int64_t y;
            if (writes(in, i, &y) && y == v && in->ops[i].call < in->ops[r].ret)
                after_all = definite(in, i) && in->ops[i].ret < in->ops[w].call;
        }
        if (!after_all)
            continue;
        bool l = !seen_later(in, w, x);
        if (best == SIZE_MAX || (l && !*lost) ||
            (l == *lost && in->ops[w].ret > in->ops[best].ret)) {
            best = w;
            *lost = l;
        }
    }
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
