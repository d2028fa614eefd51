/* Edit distance (optimal string alignment) and the closest known word, for
 * "did you mean" hints on misspelled keys, kinds and options. */
#include "util/suggest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SUGGEST_MAX_LEN 64 /* longer words are never close to a key */
#define SUGGEST_MAX_EDITS 2

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t fl_suggest_distance(const char *a, const char *b, size_t max)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

    if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
        return max + 1;
    if ((la > lb ? la - lb : lb - la) > max)
        return max + 1;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    }
    return d[la][lb] > max ? max + 1 : d[la][lb];
}

const char *fl_suggest(const char *word, const char *const *known)
{
    const char *best = NULL;
    size_t best_d = SUGGEST_MAX_EDITS + 1, len;

    if (!word || !known)
        return NULL;
    len = strlen(word);
    for (; *known; known++) {
        size_t d = fl_suggest_distance(word, *known, SUGGEST_MAX_EDITS);
        /* "ab" is 2 edits from nearly every short word: demand a real likeness */
        if (d < best_d && d * 2 < len + (len == 1)) {
            best = *known;
            best_d = d;
        }
    }
    return best;
}
