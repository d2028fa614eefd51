/* The Jepsen EDN history reader: a vector or list of event maps (or maps
 * one after another), values read by edn.c. */
#include "check/edn.h"
#include "check/readers/read.h"

/* Read one event form, reading no further than b->max_op bytes: a form
 * that does not end by then is refused before it fills memory. */
static int read_bounded(struct fl_read *b, struct fl_edn *r, struct fl_val *v, uint32_t line,
                        uint32_t col)
{
    const char *end = r->end;
    bool capped = (size_t)(end - r->p) > b->max_op;
    int rc;

    if (capped)
        r->end = r->p + b->max_op;
    rc = fl_edn_read(r, v);
    if (capped && rc < 0 && r->p >= r->end)
        rc = fl_err_set(b->e, FL_EUSAGE,
                        "%s:%u:%u: the operation starting here is longer than the limit of %zu "
                        "bytes for one operation; is this a history? (raise it with "
                        "--max-op-size)",
                        b->h->name, line, col, b->max_op);
    r->end = end;
    return rc;
}

int fl_read_edn(struct fl_read *b, const char *buf, size_t len)
{
    struct fl_history *h = b->h;
    struct fl_edn r;
    int rc = 0;
    int close = -1;

    fl_edn_init(&r, h, buf, len, h->name, b->e);
    int c = fl_edn_peek(&r);
    if (c == '[' || c == '(') {
        close = c == '[' ? ']' : ')';
        fl_edn_advance(&r);
    }
    for (;;) {
        if ((rc = fl_edn_skip_discards(&r)) < 0)
            break;
        c = fl_edn_peek(&r);
        if (c < 0) {
            if (close >= 0)
                rc = fl_err_set(b->e, FL_EUSAGE, "%s:%u:%u: history ends without the closing '%c'",
                                h->name, fl_edn_line(&r), fl_edn_col(&r), close);
            break;
        }
        if (c == close) {
            fl_edn_advance(&r);
            if (fl_edn_peek(&r) >= 0)
                rc = fl_err_set(b->e, FL_EUSAGE,
                                "%s:%u:%u: unexpected text after the end of the history", h->name,
                                fl_edn_line(&r), fl_edn_col(&r));
            break;
        }
        uint32_t line = fl_edn_line(&r), col = fl_edn_col(&r);
        struct fl_val v;
        if ((rc = read_bounded(b, &r, &v, line, col)) < 0)
            break;
        if ((rc = fl_read_add_event(b, &v, line, col)) < 0)
            break;
        if (v.kind == FL_V_MAP && v.n && (size_t)v.x + 2 * v.n == h->nvals)
            h->nvals = (size_t)v.x;
    }
    fl_edn_fini(&r);
    return rc;
}
