/* "Did you mean": pick the closest known word (kinds, option names) to one a
 * user misspelled, by optimal-string-alignment edit distance. */
#include "util/suggest.h"

#include <ctype.h>
#include <string.h>

#define MAX_DISTANCE 2
#define MAX_LEN 64

/* Edit distance of a and b, counting a swap of two neighbours as one edit;
 * anything above MAX_DISTANCE is reported as MAX_DISTANCE + 1. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int rows[3][MAX_LEN + 1]; /* i-2, i-1, i */

    if (la > MAX_LEN || lb > MAX_LEN || (la > lb ? la - lb : lb - la) > MAX_DISTANCE)
        return MAX_DISTANCE + 1;
    for (size_t j = 0; j <= lb; j++)
        rows[1][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        memcpy(rows[0], rows[1], sizeof rows[0]);
        memcpy(rows[1], rows[2], sizeof rows[1]);
    }
    return rows[1][lb] > MAX_DISTANCE ? MAX_DISTANCE + 1 : rows[1][lb];
}

const char *fl_suggest(const char *word, const char *const *list)
{
    const char *best = NULL;
    int best_d = MAX_DISTANCE + 1;

    if (!word || !*word || !list)
        return NULL;
    for (; *list; list++) {
        int d = distance(word, *list);
        if (d < best_d && d < (int)strlen(word)) {
            best = *list;
            best_d = d;
        }
    }
    return best;
}
