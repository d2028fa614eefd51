/* Fuzz the unit parsers every command line and experiment file goes through,
 * and the "did you mean" search over words of any length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse.h"
#include "util/suggest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct fl_err e;
    int64_t ms;
    uint64_t u;
    double d;
    long long ll;

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    fl_parse_duration_ms(s, &ms, &e);
    fl_parse_size(s, &u, &e);
    fl_parse_rate_bps(s, &u, &e);
    fl_parse_percent(s, &d, &e);
    fl_parse_int(s, -5, 5, &ll, &e);
    {
        static const char *const words[] = {"network.partition", "pid", "", "duration", NULL};
        const char *const one[] = {s, NULL};
        fl_suggest(s, words);
        fl_suggest("duraton", one);
    }
    free(s);
    return 0;
}
