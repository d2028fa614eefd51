/* Fuzz the scheduler's cron parser and next-time search: any input is
 * refused with a message or gives a next time after the start (or -1). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    struct fl_cron c;
    struct fl_err e = {0};

    if (!spec)
        return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    if (fl_cron_parse(spec, &c, &e) == 0) {
        int64_t start = 1767225600000LL, t = fl_cron_next(&c, start);
        if (t != -1 && t <= start)
            abort();
    } else if (!e.msg[0]) {
        abort();
    }
    free(spec);
    return 0;
}
