/* "Did you mean ...?": the closest known word to a misspelled one. */
#ifndef FL_UTIL_SUGGEST_H
#define FL_UTIL_SUGGEST_H

#include <stddef.h>

/* The word of `known` (NULL-terminated) closest to `word` by edit distance
 * (insertions, deletions, substitutions and swaps of neighbours, ignoring
 * case), if it is within 2 edits and closer than half the word's length;
 * else NULL. On a tie the first such word wins. The result points into
 * `known`. */
const char *fl_suggest(const char *word, const char *const *known);

/* Edit distance as above, capped: returns max + 1 once it exceeds max. */
size_t fl_suggest_distance(const char *a, const char *b, size_t max);

#endif
