/* multi-register: several named registers read and written together in
 * transactions, Knossos' multi-register. An op is f "txn" with a value of
 * micro-ops [[:read :x 1] [:write :y 2]]. The state is the sorted list of
 * (key, value) pairs written so far; unwritten keys hold --initial. Reads in
 * an op whose outcome is unknown constrain nothing. */
#include <stdlib.h>
#include <string.h>

#include "check/models/models.h"

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    const struct fl_val *v = fl_prep_value(op);
    int64_t trip[3];
    bool known = op->type == FL_OP_OK;

    if (!fl_history_fis(p->h, op, "txn"))
        return fl_prep_fail(p, op, "multi-register operations are f txn");
    if (v->kind != FL_V_VEC && v->kind != FL_V_LIST)
        return fl_prep_fail(p, op, "txn value must be a vector of [f key value] micro-ops");
    out->aux = (uint32_t)p->naux;
    out->naux = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        const struct fl_val *m = fl_history_child(p->h, v, i);
        if ((m->kind != FL_V_VEC && m->kind != FL_V_LIST) || m->n != 3)
            return fl_prep_fail(p, op, "micro-op %u is not [f key value]", i + 1);
        const struct fl_val *mf = fl_history_child(p->h, m, 0);
        const char *fs = mf->kind == FL_V_KW || mf->kind == FL_V_STR || mf->kind == FL_V_SYM
                             ? fl_history_str(p->h, mf->x, NULL)
                             : "";
        bool w = !strcmp(fs, "write");
        if (!w && strcmp(fs, "read"))
            return fl_prep_fail(p, op, "micro-op %u: f must be read or write", i + 1);
        trip[0] = w;
        trip[1] = fl_history_code(p->h, fl_history_child(p->h, m, 1));
        trip[2] =
            w || known ? fl_history_code(p->h, fl_history_child(p->h, m, 2)) : FL_CODE_UNKNOWN;
        if (fl_prep_aux(p, trip, 3) < 0)
            return fl_err_set(p->e, FL_EFAIL, "out of memory");
        out->naux += 3;
    }
    return 0;
}

static uint32_t max_words(uint32_t n, const struct fl_mop *op)
{
    return n + 2 * (op->naux / 3);
}

static int find(const int64_t *s, int n, int64_t k)
{
    int lo = 0, hi = n / 2;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s[2 * mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* States that start from a non-nil --initial carry the pair
 * (FL_CODE_UNKNOWN, initial) first, so step can see the value of unwritten
 * keys without access to the configuration. */
static int step(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux, int64_t *out)
{
    memcpy(out, s, (size_t)n * sizeof *s);
    int64_t initial = n >= 2 && out[0] == FL_CODE_UNKNOWN ? out[1] : FL_CODE_NIL;
    for (uint32_t i = 0; i < op->naux; i += 3) {
        const int64_t *m = aux + op->aux + i;
        int at = find(out, n, m[1]);
        bool have = at < n / 2 && out[2 * at] == m[1];
        if (m[0]) {
            if (have) {
                out[2 * at + 1] = m[2];
            } else {
                memmove(out + 2 * at + 2, out + 2 * at, (size_t)(n - 2 * at) * sizeof *out);
                out[2 * at] = m[1];
                out[2 * at + 1] = m[2];
                n += 2;
            }
        } else if (m[2] != FL_CODE_UNKNOWN) {
            int64_t cur = have ? out[2 * at + 1] : initial;
            if (cur != m[2])
                return -1;
        }
    }
    return n;
}

static bool readonly(const struct fl_mop *op, const int64_t *aux)
{
    for (uint32_t i = 0; i < op->naux; i += 3)
        if (aux[op->aux + i])
            return false;
    return true;
}

static void describe(const struct fl_history *h, const int64_t *s, int n, FILE *out)
{
    int64_t initial = n >= 2 && s[0] == FL_CODE_UNKNOWN ? s[1] : FL_CODE_NIL;
    bool first = true;
    fputc('{', out);
    for (int i = 0; i < n; i += 2) {
        if (s[i] == FL_CODE_UNKNOWN)
            continue;
        if (!first)
            fputs(", ", out);
        first = false;
        fl_history_print_code(h, s[i], out);
        fputc(' ', out);
        fl_history_print_code(h, s[i + 1], out);
    }
    fputs("} (other keys ", out);
    fl_history_print_code(h, initial, out);
    fputc(')', out);
}

static int init_with(const struct fl_model_cfg *cfg, int64_t *s)
{
    if (cfg->initial == FL_CODE_NIL)
        return 0;
    s[0] = FL_CODE_UNKNOWN; /* sorts before every real key */
    s[1] = cfg->initial;
    return 2;
}

const struct fl_model_ops fl_model_multi_register = {
    .name = "multi-register",
    .summary = "named registers in txns: [[:read :x 1] [:write :y 2]]",
    .prepare = prepare,
    .init = init_with,
    .max_words = max_words,
    .step = step,
    .readonly = readonly,
    .describe_state = describe,
};
