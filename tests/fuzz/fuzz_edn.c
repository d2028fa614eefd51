/* Fuzz the EDN history reader, the pairing of events, EDN export and a
 * short check: whatever the bytes, no crash, no leak, no hang. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_history *h = NULL;
    struct fl_err e;

    if (fl_history_parse((const char *)data, size, FL_FMT_EDN, "fuzz.edn", &h, &e) < 0)
        return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m) {
        fl_history_write_edn(h, NULL, m);
        fclose(m);
        /* what we write must read back */
        struct fl_history *h2 = NULL;
        if (fl_history_parse(buf, len, FL_FMT_EDN, "re.edn", &h2, &e) < 0)
            abort();
        if (h2->nops != h->nops)
            abort();
        fl_history_free(h2);
    }
    free(buf);
    static const char *const models[] = {"cas-register", "multi-register", "set", "bank", "queue"};
    struct fl_check_opts o;
    struct fl_check_report r;
    fl_check_opts_init(&o);
    o.model = models[size % 5];
    o.timeout_ms = 50;
    if (fl_check_run(h, &o, &r, &e) == 0)
        fl_check_report_fini(&r);
    fl_history_free(h);
    return 0;
}
