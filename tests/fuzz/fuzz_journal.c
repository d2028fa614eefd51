/* Fuzz reading the fault journal: whatever bytes a record file holds
 * (truncated, forged, hostile), listing the journal sorts it into sound or
 * damaged without a crash, a leak or a hang, a sound record rebuilds into a
 * fault, and the lease check accepts it. Nothing is reverted (that would
 * act on the world). The first byte picks the file name: a fault id, or a
 * name that is not one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/journal.h"

static char dir[] = "/tmp/fl-fuzz-journal-XXXXXX";
static char faults[sizeof dir + 16];

static void cleanup(void)
{
    char path[sizeof dir + 32];

    snprintf(path, sizeof path, "%s/journal.lock", dir);
    unlink(path);
    rmdir(faults);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct fl_journal j;
    struct fl_err e = {0};
    char path[sizeof faults + 32];
    json_t *good, *bad, *rec;
    size_t i;
    FILE *f;

    if (!ready) {
        if (!mkdtemp(dir))
            abort();
        snprintf(faults, sizeof faults, "%s/faults", dir);
        atexit(cleanup);
        ready = 1;
    }
    if (fl_journal_open(&j, dir, &e))
        abort();
    snprintf(path, sizeof path, "%s/%s.json", faults,
             size && (data[0] & 1) ? "zz-not-an-id" : "0000000a");
    f = fopen(path, "w");
    if (!f)
        abort();
    if (size > 1)
        fwrite(data + 1, 1, size - 1, f);
    fclose(f);

    good = fl_journal_list(&j);
    bad = fl_journal_list_damaged(&j);
    if (json_array_size(good) + json_array_size(bad) != 1)
        abort(); /* every record file is either sound or damaged */
    json_array_foreach (good, i, rec) {
        struct fl_fault fault;
        struct fl_err fe = {0};
        if (fl_journal_to_fault(rec, &fault, &fe) == 0)
            fl_fault_fini(&fault);
        else
            abort(); /* sound means it can be rebuilt */
        (void)fl_lease_check(rec, 0, false);
    }
    json_decref(good);
    json_decref(bad);
    unlink(path);
    fl_journal_close(&j);
    return 0;
}
