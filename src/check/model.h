/* Consistency models for the linearizability checker, Porcupine-style.
 *
 * A model is a handful of pure functions over a state kept as a short array
 * of 64-bit words (value codes, see FL_CODE_* in history.h):
 *   prepare  turn one recorded operation into a compact struct fl_mop
 *            (or reject it with a message naming the line);
 *   init     write the initial state;
 *   step     apply an operation to a state, writing the next state, or say
 *            the operation is impossible in that state;
 *   describe print an operation or a state for people.
 * equal/hash default to word-wise comparison when NULL. Adding a model is one
 * file in models/ plus one FL_CHECKER_LINEAR line in registry.c.
 */
#ifndef FL_CHECK_MODEL_H
#define FL_CHECK_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "check/history.h"

struct fl_lin_op;

/* A failed partition, for a model's anomaly hook: ops[0..n) over mops,
 * ops[stuck] the operation the search could not place. */
struct fl_anomaly_in {
    struct fl_history *h;
    const struct fl_model_cfg *cfg;
    const struct fl_mop *mops;
    const struct fl_lin_op *ops;
    size_t n, stuck;
};

/* A recorded operation as a model sees it. */
struct fl_mop {
    uint32_t id;  /* index into history ops */
    uint32_t f;   /* model-specific function number */
    int64_t key;  /* partition key (FL_CODE_NIL: the only partition) */
    int64_t a, b; /* arguments / results */
    uint32_t aux; /* extra words in the prep aux array (txn micro-ops, set contents) */
    uint32_t naux;
};

struct fl_model_cfg {
    int64_t initial; /* initial register value, FL_CODE_NIL by default */
};

/* Shared by prepare calls while a history is converted. */
struct fl_prep {
    struct fl_history *h;
    const struct fl_model_cfg *cfg;
    int64_t *aux; /* growing array of extra words */
    size_t naux, capaux;
    struct fl_err *e;
};

/* Append words to prep->aux; returns the offset or -1. */
int64_t fl_prep_aux(struct fl_prep *p, const int64_t *w, size_t n);
/* Error helper naming the op's line: "file:line:col: <op f>: msg". */
int fl_prep_fail(struct fl_prep *p, const struct fl_hop *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The code of the value that matters for an op: the completion's for ok
 * operations that carry one, else the invocation's. */
const struct fl_val *fl_prep_value(const struct fl_hop *op);

enum { FL_PREP_SKIP = 1 };

struct fl_model_ops {
    const char *name;
    const char *summary;
    bool per_key; /* independent keys: check each key's ops on its own (P-compositionality) */
    /* 0 keep, FL_PREP_SKIP drop (constrains nothing), <0 error */
    int (*prepare)(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out);
    /* writes the initial state, returns its length in words */
    int (*init)(const struct fl_model_cfg *cfg, int64_t *s);
    /* most words a state can have after one step from a state of n words */
    uint32_t (*max_words)(uint32_t n, const struct fl_mop *op);
    /* returns the next state's length, or -1 when op cannot happen in s */
    int (*step)(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux, int64_t *out);
    /* true when op never changes the state (a read): dropping it only removes a
     * constraint, which the counterexample search relies on. NULL: never. */
    bool (*readonly)(const struct fl_mop *op, const int64_t *aux);
    bool (*equal)(const int64_t *a, int na, const int64_t *b, int nb);
    uint64_t (*hash)(const int64_t *s, int n);
    void (*describe_op)(const struct fl_history *h, const struct fl_mop *op, const int64_t *aux,
                        FILE *out);
    void (*describe_state)(const struct fl_history *h, const int64_t *s, int n, FILE *out);
    /* A decision procedure tried on each partition before the search, with
     * the contract of fl_queue_fast_check (queue_fast.h): VALID, INVALID
     * with up to FL_QUEUE_FAST_MAX_WITNESS witness ops, or
     * FL_QUEUE_FAST_NA to leave it to the search. NULL: none. */
    int (*fast)(const struct fl_mop *mops, const struct fl_lin_op *ops, size_t n, size_t *witness,
                size_t *nwitness);
    /* The model's word for a value code, when it differs (kv keeps strings
     * as hashes of their text): applied to --initial. NULL: the code. */
    int64_t (*value)(struct fl_history *h, int64_t code);
    /* Name the failure when it is an anomaly people know ("lost write",
     * "stale read"): write a paragraph to out, set *kind (a static string)
     * and return 0; return 1 when it is none of them. NULL: never. */
    int (*anomaly)(const struct fl_anomaly_in *in, FILE *out, const char **kind);
};

/* The model of the checker named name (registry.c), NULL if none. */
const struct fl_model_ops *fl_check_model_find(const char *name);

/* Helpers shared by model files. */
uint64_t fl_check_hash_words(const int64_t *s, int n);
void fl_check_print_codes(const struct fl_history *h, const int64_t *s, int n, FILE *out);
/* f name of op is one of the names (NULL-terminated); returns index or -1 */
int fl_check_f_index(const struct fl_history *h, const struct fl_hop *op, const char *const *names);

#endif
