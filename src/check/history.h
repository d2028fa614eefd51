/* Recorded operation histories: values, operations, parsers and writers.
 * The data model and the writers are history.c; the readers behind
 * fl_history_parse / fl_history_load are in readers/ (see readers/read.h),
 * over the EDN value reader edn.c.
 *
 * A history is read once (JSON Lines or Jepsen EDN) into compact arrays the
 * checkers walk many times:
 *   - every value (maps, vectors, strings, numbers) lives in one arena of
 *     struct fl_val nodes; compound nodes point at their contiguous children;
 *   - strings and keywords are interned, so equal text has equal ids;
 *   - each invocation is paired with its completion into one struct fl_hop.
 *
 * Real time is the order of events in the file: an operation A precedes B
 * when A's completion appears before B's invocation. The optional "time"
 * fields are kept for drawing only.
 */
#ifndef FL_CHECK_HISTORY_H
#define FL_CHECK_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

enum fl_vkind {
    FL_V_NIL,
    FL_V_BOOL,
    FL_V_INT,
    FL_V_NUM, /* a number that is not a 63-bit integer, kept as text (x = string id) */
    FL_V_STR, /* x = string id */
    FL_V_KW,  /* EDN keyword, x = string id of the name without ':' */
    FL_V_SYM, /* EDN symbol, x = string id */
    FL_V_VEC, /* x = arena index of the first of n children */
    FL_V_LIST,
    FL_V_SET,
    FL_V_MAP, /* 2n children: key, value, key, value... */
};

struct fl_val {
    uint32_t kind; /* enum fl_vkind */
    uint32_t n;    /* children (map: entries) */
    int64_t x;
};

/* A value reduced to one 64-bit code, for models to compare and store:
 * integers within +-2^62 are themselves; nil, "unknown" and every other value
 * (strings, keywords, big numbers, compound values) get codes below -2^62. */
#define FL_CODE_NIL INT64_MIN
#define FL_CODE_UNKNOWN (INT64_MIN + 1)
#define FL_CODE_ATOM0 (INT64_MIN + 16)
#define FL_CODE_INT_MIN (-(INT64_C(1) << 62))
#define FL_CODE_INT_MAX (INT64_C(1) << 62)

static inline bool fl_code_is_int(int64_t c)
{
    return c >= FL_CODE_INT_MIN && c <= FL_CODE_INT_MAX;
}

enum fl_optype { FL_OP_OK, FL_OP_FAIL, FL_OP_INFO };

/* One operation: an invocation paired with its completion. An invocation with
 * no completion is FL_OP_INFO with ret == FL_HOP_NORET. */
#define FL_HOP_NORET UINT32_MAX
struct fl_hop {
    int64_t process;
    uint32_t f;    /* string id of the function name ("read", "write", ...) */
    uint32_t type; /* enum fl_optype */
    uint32_t call; /* event index of the invocation */
    uint32_t ret;  /* event index of the completion, FL_HOP_NORET if none */
    uint32_t call_line, call_col, ret_line;
    int32_t error;               /* string id of the completion's error text, -1 if none */
    struct fl_val inv, comp;     /* values of invocation and completion (FL_V_NIL if absent) */
    struct fl_val key;           /* optional "key" field */
    int64_t call_time, ret_time; /* -1 when absent */
};

struct fl_history {
    char *name; /* file name for messages */
    struct fl_hop *ops;
    size_t nops, capops;
    uint32_t nevents;    /* client events (invocations + completions) */
    struct fl_val *vals; /* value arena */
    size_t nvals, capvals;
    /* interned strings */
    char *strbuf;
    size_t strlen_, strcap;
    uint32_t *stroff; /* id -> offset in strbuf */
    uint32_t *strlen_of;
    uint8_t *strkind; /* id -> FL_V_STR / FL_V_KW / FL_V_SYM first seen */
    size_t nstr, capstr;
    uint32_t *strhash; /* open addressing: slot -> id + 1 (0 empty) */
    size_t hashcap;
    bool have_time; /* every op has call time (and ret time when completed) */
    /* the model a leading comment names ("# faultline workload: ... model=kv"),
     * "" if none: `check` uses it when --model is not given */
    char model[64];
};

enum fl_hist_format { FL_FMT_AUTO, FL_FMT_JSONL, FL_FMT_EDN };

struct fl_history *fl_history_new(const char *name);
void fl_history_free(struct fl_history *h);

/* Limits on what a history may hold, so a wrong or hostile input ends with
 * an error instead of exhausting memory (docs/history-format.md, "Limits"):
 * one operation's text (a JSON line, an EDN event form; also every line of
 * input that is not a regular file) and the whole of such input (a pipe,
 * stdin). A regular file is mapped and needs no total bound. */
#define FL_HISTORY_MAX_OP_BYTES ((size_t)64 << 20)
#define FL_HISTORY_MAX_STREAM_BYTES ((size_t)4 << 30)

/* Parse a whole history from memory. `name` is used in messages
 * ("history.edn:12:5: ..."). On failure returns a negative FL_E* code and
 * fills e. FL_FMT_AUTO picks EDN when the first non-blank byte is '[', '(',
 * '{:' or ';', else JSON Lines. */
int fl_history_parse(const char *buf, size_t len, enum fl_hist_format fmt, const char *name,
                     struct fl_history **out, struct fl_err *e);
/* Read a file and parse it ("-" is stdin). A regular file is memory-mapped:
 * if another program truncates it meanwhile, the process exits with status
 * 3 and a message on stderr (the input error of `check` and `workload`). */
int fl_history_load(const char *path, enum fl_hist_format fmt, struct fl_history **out,
                    struct fl_err *e);
/* The same with another bound on one operation's text than
 * FL_HISTORY_MAX_OP_BYTES (check --max-op-size). Device files (/dev/zero)
 * are refused; pipes and stdin are read up to FL_HISTORY_MAX_STREAM_BYTES. */
int fl_history_parse_max(const char *buf, size_t len, enum fl_hist_format fmt, const char *name,
                         size_t max_op, struct fl_history **out, struct fl_err *e);
int fl_history_load_max(const char *path, enum fl_hist_format fmt, size_t max_op,
                        struct fl_history **out, struct fl_err *e);

/* Interning and value helpers. */
int64_t fl_history_intern(struct fl_history *h, const char *s, size_t n, int kind);
const char *fl_history_str(const struct fl_history *h, int64_t id, size_t *len);
bool fl_history_fis(const struct fl_history *h, const struct fl_hop *op, const char *name);
/* Append nodes to the arena; returns index of the first or -1 on ENOMEM. */
int64_t fl_history_push_vals(struct fl_history *h, const struct fl_val *v, size_t n);
/* Child i of a compound value (maps: key at 2i, value at 2i+1). */
static inline const struct fl_val *fl_history_child(const struct fl_history *h,
                                                    const struct fl_val *v, size_t i)
{
    return &h->vals[v->x + (int64_t)i];
}
/* Lookup "name" (string or keyword key) in a map value; NULL if absent. */
const struct fl_val *fl_history_map_get(const struct fl_history *h, const struct fl_val *map,
                                        const char *name);
/* The code of a value (see FL_CODE_*); compound values are interned as text. */
int64_t fl_history_code(struct fl_history *h, const struct fl_val *v);
/* Write a code or a value as EDN text. */
void fl_history_print_code(const struct fl_history *h, int64_t code, FILE *out);
void fl_history_print_val(const struct fl_history *h, const struct fl_val *v, bool json, FILE *out);

/* Write ops back out (sorted into event order), for --export-edn / --export-jsonl.
 * `only` (length h->nops, may be NULL) selects a subset. */
int fl_history_write_edn(const struct fl_history *h, const bool *only, FILE *out);
int fl_history_write_jsonl(const struct fl_history *h, const bool *only, FILE *out);

#endif
