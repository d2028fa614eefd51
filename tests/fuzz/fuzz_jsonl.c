/* Fuzz the JSON Lines history reader, JSON Lines export and a short check:
 * whatever the bytes, no crash, no leak, no hang. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_history *h = NULL;
    struct fl_err e;

    if (fl_history_parse((const char *)data, size, FL_FMT_JSONL, "fuzz.jsonl", &h, &e) < 0)
        return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m) {
        fl_history_write_jsonl(h, NULL, m);
        fclose(m);
        struct fl_history *h2 = NULL;
        if (fl_history_parse(buf, len, FL_FMT_JSONL, "re.jsonl", &h2, &e) == 0)
            fl_history_free(h2);
    }
    free(buf);
    static const char *const models[] = {"register", "kv", "counter", "mutex", "bank"};
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
