/* The consistency models the linearizability checker steps (model.h). */
#include "check/model.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int64_t fl_prep_aux(struct fl_prep *p, const int64_t *w, size_t n)
{
    if (p->naux + n > p->capaux) {
        size_t cap = p->capaux ? p->capaux : 256;
        while (cap < p->naux + n)
            cap *= 2;
        int64_t *a = realloc(p->aux, cap * sizeof *a);
        if (!a)
            return -1;
        p->aux = a;
        p->capaux = cap;
    }
    if (n)
        memcpy(p->aux + p->naux, w, n * sizeof *w);
    p->naux += n;
    return (int64_t)(p->naux - n);
}

int fl_prep_fail(struct fl_prep *p, const struct fl_hop *op, const char *fmt, ...)
{
    char msg[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fl_err_set(p->e, FL_EUSAGE, "%s:%u:%u: %s: %s", p->h->name, op->call_line, op->call_col,
                      fl_history_str(p->h, op->f, NULL), msg);
}

const struct fl_val *fl_prep_value(const struct fl_hop *op)
{
    if (op->type == FL_OP_OK && op->comp.kind != FL_V_NIL)
        return &op->comp;
    return &op->inv;
}

uint64_t fl_check_hash_words(const int64_t *s, int n)
{
    uint64_t h = 0x243F6A8885A308D3ULL ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)s[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

void fl_check_print_codes(const struct fl_history *h, const int64_t *s, int n, FILE *out)
{
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(' ', out);
        fl_history_print_code(h, s[i], out);
    }
}

int fl_check_f_index(const struct fl_history *h, const struct fl_hop *op, const char *const *names)
{
    const char *f = fl_history_str(h, op->f, NULL);
    for (int i = 0; names[i]; i++)
        if (!strcmp(f, names[i]))
            return i;
    return -1;
}
