/* "Did you mean": the closest known word to a misspelled one. */
#ifndef FL_UTIL_SUGGEST_H
#define FL_UTIL_SUGGEST_H

/* The word of the NULL-terminated `list` closest to `word` by edit distance
 * (insert, delete, substitute, swap two neighbours), if it is at most 2 and
 * shorter than `word` itself; NULL otherwise. Ties go to the earlier entry.
 * Case-insensitive. Returns a pointer into `list`. */
const char *fl_suggest(const char *word, const char *const *list);

#endif
