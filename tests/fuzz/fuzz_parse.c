/* Fuzz the unit parsers every command line and experiment file goes through,
 * and the "did you mean" matcher their error messages use. */
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
        /* the input's lines: the first is the word, the rest the known list */
        const char *known[9] = {0};
        char *save = NULL, *word = strtok_r(s, "\n", &save);
        for (size_t k = 0; k < 8 && (known[k] = strtok_r(NULL, "\n", &save)); k++)
            ;
        fl_suggest(word, known);
    }
    free(s);
    return 0;
}
