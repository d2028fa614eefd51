/* A small EDN reader: the subset Jepsen histories use.
 *
 * Vectors, lists, maps, sets (#{}), keywords, symbols, integers (other
 * numbers are kept as text), strings, characters, nil, true/false, comments
 * (;), commas as whitespace, #_ discard and tagged literals (#inst "..."; the
 * tag is dropped). Values are appended to a history's value arena, so a
 * reader is always tied to one struct fl_history.
 */
#ifndef FL_CHECK_EDN_H
#define FL_CHECK_EDN_H

#include <stdbool.h>
#include <stddef.h>

#include "check/history.h"

#define FL_EDN_MAX_DEPTH 200

struct fl_edn {
    struct fl_history *h;
    const char *name; /* file name for messages */
    const char *p, *end;
    const char *line_start;
    uint32_t line;
    struct fl_val *stack; /* children of open compound values */
    size_t nstack, capstack;
    char *sbuf; /* decoded string scratch */
    size_t sbufcap;
    struct fl_err *e;
    bool json; /* JSON mode: ':' separates, null is nil (the JSON Lines fast path) */
    /* Recently interned short strings (up to 7 bytes: map keys, function
     * names), so the same few strings are not hashed and looked up again
     * millions of times. Key: the bytes, and length + 1 in the top byte
     * (0 = empty slot). */
    uint64_t short_key[64];
    int64_t short_id[64];
};

void fl_edn_init(struct fl_edn *r, struct fl_history *h, const char *buf, size_t len,
                 const char *name, struct fl_err *e);
void fl_edn_fini(struct fl_edn *r);

/* Skip whitespace, commas and comments; returns the next byte or -1 at end. */
int fl_edn_peek(struct fl_edn *r);
/* Current position, 1-based. */
uint32_t fl_edn_line(const struct fl_edn *r);
uint32_t fl_edn_col(const struct fl_edn *r);
/* Consume one byte (after fl_edn_peek). */
void fl_edn_advance(struct fl_edn *r);
/* Skip any "#_ form" discards ahead; 0 or a negative FL_E* code. */
int fl_edn_skip_discards(struct fl_edn *r);
/* Read one value. Compound children go to the arena; returns 0 or a negative
 * FL_E* code with "name:line:col: what" in e. */
int fl_edn_read(struct fl_edn *r, struct fl_val *out);

/* JSON mode only: read a flat JSON object or array of scalars (numbers,
 * plain strings, null, true, false; at most FL_EDN_FLAT_MAX entries) with
 * the same sub-readers fl_edn_read uses, so the value is the one it would
 * give, minus its general machinery. Returns 0, or 1 when the text at the
 * position is anything else (nothing consumed, nothing added to the arena;
 * read it with fl_edn_read). */
#define FL_EDN_FLAT_MAX 32
int fl_edn_read_flat(struct fl_edn *r, struct fl_val *out);

#endif
