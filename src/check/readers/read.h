/* The history readers' shared part (private to src/check/readers/): events
 * are paired into operations here whatever the format, so the JSON Lines
 * and EDN readers only turn text into events.
 *
 *   read.c         pairing events into operations; fl_history_parse (format
 *                  detection, the header's model=, the per-operation bound)
 *   jsonl.c        faultline JSON Lines
 *   edn_history.c  Jepsen EDN histories (values through ../edn.c)
 *   file.c         fl_history_load: mapped files, pipes and stdin, bounds
 */
#ifndef FL_CHECK_READERS_READ_H
#define FL_CHECK_READERS_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/history.h"

/* An invocation waiting for its completion, by process: open addressing
 * process -> op index + 1. */
struct fl_read_pending {
    int64_t *proc; /* process ids */
    uint32_t *op;  /* op index + 1, 0 empty */
    size_t cap, n;
};

enum {
    FL_RK_PROCESS,
    FL_RK_TYPE,
    FL_RK_F,
    FL_RK_VALUE,
    FL_RK_KEY,
    FL_RK_ERROR,
    FL_RK_TIME,
    FL_RK_INVOKE,
    FL_RK_OK,
    FL_RK_FAIL,
    FL_RK_INFO,
    FL_RK_N
};

/* One reading in progress: the history being built and the invocations
 * still waiting for their completion. */
struct fl_read {
    struct fl_history *h;
    struct fl_read_pending pend;
    struct fl_err *e;
    int64_t id[FL_RK_N]; /* interned ids of the field and type names: compare ids, not text */
    /* JSON Lines: the text of each invocation's value, by op index, so a
     * completion that repeats it (a write, a transfer) shares the parsed
     * value instead of parsing and storing it again. */
    const char **inv_text;
    uint32_t *inv_len;
    size_t cap_text;
    const char *cur_text; /* the value text of the event being added, or NULL */
    uint32_t cur_len;
    size_t prefaulted_vals, prefaulted_ops; /* see fl_read_prefault() */
    size_t max_op;                          /* bytes of one operation's text */
};

/* The event's type: 3 for invoke, an enum fl_optype, or -1 when missing or
 * not one of those. */
int fl_read_type_of(const struct fl_read *b, const struct fl_val *t);
/* Add one event, given the values of its fields by FL_RK_* index (NULL:
 * absent) and its type (fl_read_type_of); 0 or a negative FL_E* code with
 * "file:line:col: what" in b->e. */
int fl_read_add_fields(struct fl_read *b, const struct fl_val *const *field, int t, uint32_t line,
                       uint32_t col);
/* The same for an event map (EDN, or a JSON line read by jansson). */
int fl_read_add_event(struct fl_read *b, const struct fl_val *m, uint32_t line, uint32_t col);
/* The op index + 1 pending for proc, 0 if none. */
uint32_t fl_read_pending_find(const struct fl_read_pending *p, int64_t proc);
/* Prefault the next stretch of a growing array (a hint; see read.c). */
void fl_read_prefault(void *base, size_t used, size_t cap, size_t *done);

/* The two formats: the whole of buf into b->h; 0 or a negative FL_E* code. */
int fl_read_jsonl(struct fl_read *b, const char *buf, size_t len);
int fl_read_edn(struct fl_read *b, const char *buf, size_t len);

#endif
