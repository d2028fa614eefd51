/* Fuzz the transactional checker (list-append, rw-register): micro-op
 * reading, write indexing, inference, the graph and the explanations, over
 * any history the EDN or JSON Lines readers accept. No crash, no leak, no
 * hang; every report has a verdict and a text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_history *h = NULL;
    struct fl_err e;

    if (fl_history_parse((const char *)data, size, FL_FMT_AUTO, "fuzz", &h, &e) < 0)
        return 0;
    static const char *const cms[] = {"serializable", "strict-serializable",
                                      "read-committed,snapshot-isolation"};
    for (int i = 0; i < 2; i++) {
        struct fl_check_opts o;
        struct fl_check_report r;
        fl_check_opts_init(&o);
        o.model = i ? "rw-register" : "list-append";
        o.consistency_models = cms[size % 3];
        if (fl_check_run(h, &o, &r, &e) == 0) {
            if (!r.text || !r.json)
                abort();
            fl_check_report_fini(&r);
        }
    }
    fl_history_free(h);
    return 0;
}
