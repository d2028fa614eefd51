/* set: add v, and read returning the whole set (Jepsen's set workload).
 * For linearizability the state is the sorted set of elements. `faultline
 * check --model set` also runs the lost/unexpected/recovered analysis in
 * set_anomalies.c. */
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/models/models.h"

enum { S_ADD, S_READ };
static const char *const fs[] = {"add", "read", NULL};

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    int f = fl_check_f_index(p->h, op, fs);
    const struct fl_val *v = fl_prep_value(op);

    if (f < 0)
        return fl_prep_fail(p, op, "set operations are add or read");
    out->f = (uint32_t)f;
    if (f == S_ADD) {
        out->a = fl_history_code(p->h, v);
        return 0;
    }
    if (op->type != FL_OP_OK)
        return FL_PREP_SKIP;
    if (v->kind != FL_V_VEC && v->kind != FL_V_LIST && v->kind != FL_V_SET)
        return fl_prep_fail(p, op, "a read must return a collection of elements");
    int64_t at = (int64_t)p->naux;
    for (uint32_t i = 0; i < v->n; i++) {
        int64_t c = fl_history_code(p->h, fl_history_child(p->h, v, i));
        if (fl_prep_aux(p, &c, 1) < 0)
            return fl_err_set(p->e, FL_EFAIL, "out of memory");
    }
    int64_t *els = p->aux + at;
    if (v->n)
        qsort(els, v->n, sizeof *els, fl_code_cmp);
    uint32_t n = 0;
    for (uint32_t i = 0; i < v->n; i++)
        if (n == 0 || els[n - 1] != els[i])
            els[n++] = els[i];
    p->naux = (size_t)at + n;
    out->aux = (uint32_t)at;
    out->naux = n;
    return 0;
}

static int init(const struct fl_model_cfg *cfg, int64_t *s)
{
    return 0;
}

static uint32_t max_words(uint32_t n, const struct fl_mop *op)
{
    return n + 1;
}

static int step(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux, int64_t *out)
{
    if (op->f == S_READ) {
        if ((uint32_t)n != op->naux || (n && memcmp(s, aux + op->aux, (size_t)n * sizeof *s)))
            return -1;
        if (n)
            memcpy(out, s, (size_t)n * sizeof *s);
        return n;
    }
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s[mid] < op->a)
            lo = mid + 1;
        else
            hi = mid;
    }
    memcpy(out, s, (size_t)lo * sizeof *s);
    if (lo < n && s[lo] == op->a) {
        memcpy(out + lo, s + lo, (size_t)(n - lo) * sizeof *s);
        return n;
    }
    out[lo] = op->a;
    memcpy(out + lo + 1, s + lo, (size_t)(n - lo) * sizeof *s);
    return n + 1;
}

static bool readonly(const struct fl_mop *op, const int64_t *aux)
{
    return op->f == S_READ;
}

static void describe(const struct fl_history *h, const int64_t *s, int n, FILE *out)
{
    fputs("set #{", out);
    fl_check_print_codes(h, s, n, out);
    fputc('}', out);
}

const struct fl_model_ops fl_model_set = {
    .name = "set",
    .summary = "a grow-only set: add v, read -> all elements (plus lost/unexpected analysis)",
    .prepare = prepare,
    .init = init,
    .max_words = max_words,
    .step = step,
    .readonly = readonly,
    .describe_state = describe,
};
