/* The part the history fuzz targets (fuzz_edn.c, fuzz_jsonl.c) share: after
 * a successful parse, export the history, read the export back, and run a
 * short check with a model picked by the input's size. Whatever the bytes:
 * no crash, no leak, no hang. */
#ifndef FL_FUZZ_HISTORY_H
#define FL_FUZZ_HISTORY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check/check.h"

struct fuzz_history {
    enum fl_hist_format fmt;
    const char *reread_name;
    int (*write)(const struct fl_history *h, const bool *only, FILE *out);
    bool reread_must_succeed; /* the export must read back, with as many ops */
    const char *const *models;
    size_t nmodels;
};

/* Takes ownership of h. */
static inline void fuzz_history_exercise(const struct fuzz_history *f, struct fl_history *h,
                                         size_t size)
{
    struct fl_check_opts o;
    struct fl_check_report r;
    struct fl_err e;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    if (m) {
        f->write(h, NULL, m);
        fclose(m);
        struct fl_history *h2 = NULL;
        int rc = fl_history_parse(buf, len, f->fmt, f->reread_name, &h2, &e);
        if (f->reread_must_succeed && (rc < 0 || h2->nops != h->nops))
            abort();
        fl_history_free(h2);
    }
    free(buf);
    fl_check_opts_init(&o);
    o.model = f->models[size % f->nmodels];
    o.timeout_ms = 50;
    if (fl_check_run(h, &o, &r, &e) == 0)
        fl_check_report_fini(&r);
    fl_history_free(h);
}

#endif
