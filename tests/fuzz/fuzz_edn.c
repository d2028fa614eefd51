/* Fuzz the EDN history reader, the pairing of events, EDN export (which
 * must read back) and a short check: whatever the bytes, no crash, no leak,
 * no hang. */
#include "fuzz_history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const models[] = {"cas-register", "multi-register", "set", "bank", "queue"};
    static const struct fuzz_history f = {
        .fmt = FL_FMT_EDN,
        .reread_name = "re.edn",
        .write = fl_history_write_edn,
        .reread_must_succeed = true,
        .models = models,
        .nmodels = sizeof models / sizeof models[0],
    };
    struct fl_history *h = NULL;
    struct fl_err e;

    if (fl_history_parse((const char *)data, size, FL_FMT_EDN, "fuzz.edn", &h, &e) == 0)
        fuzz_history_exercise(&f, h, size);
    return 0;
}
