/* Linearizability search for one partition of a history.
 *
 * Wing & Gong's search with Lowe's memoization, as in Porcupine: the
 * history is a doubly linked list of call and return entries in real-time
 * order; the search linearizes a pending call whenever the model allows it,
 * backtracks when it reaches a return it could not satisfy, and remembers
 * every (set of linearized ops, model state) it has seen so no configuration
 * is explored twice. Operations with unknown outcome have their return at
 * the end of time: they may take effect at any point after their call, or
 * never.
 */
#ifndef FL_CHECK_LINEAR_H
#define FL_CHECK_LINEAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/model.h"

enum fl_check_verdict { FL_CHECK_VALID = 0, FL_CHECK_INVALID = 1, FL_CHECK_UNKNOWN = 2 };

#define FL_LIN_NORET UINT32_MAX

struct fl_lin_op {
    uint32_t mop;  /* index into the mops array */
    uint32_t call; /* event positions; ret FL_LIN_NORET for unknown outcome */
    uint32_t ret;
};

struct fl_lin_input {
    const struct fl_model_ops *model;
    const struct fl_model_cfg *cfg;
    const struct fl_mop *mops;
    const int64_t *aux;
    const struct fl_lin_op *ops;
    size_t n;
    bool no_memo;          /* the naive search, for benchmarks */
    int64_t deadline_ns;   /* CLOCK_MONOTONIC; 0 = none */
    size_t max_memo_bytes; /* 0 = 1 GiB */
};

#define FL_LIN_MAX_STATES 4
#define FL_LIN_MAX_PATH 8

struct fl_lin_result {
    int verdict;             /* enum fl_check_verdict */
    const char *why_unknown; /* static text when verdict is unknown */
    uint64_t steps;          /* model steps taken */
    size_t memo_entries;
    size_t memo_bytes;
    /* invalid: the operation (index into ops) the search could never get past,
     * the depth reached, the states it was tried in, and the tail of the
     * longest linearized path (indexes into ops, oldest first) */
    size_t stuck, depth;
    int64_t *states[FL_LIN_MAX_STATES];
    int nstate[FL_LIN_MAX_STATES];
    int nstates;
    size_t path[FL_LIN_MAX_PATH];
    int npath;
};

/* Returns 0 and fills res (verdict included), or -FL_EFAIL when out of memory. */
int fl_check_linearizable(const struct fl_lin_input *in, struct fl_lin_result *res);
void fl_lin_result_fini(struct fl_lin_result *res);

int64_t fl_check_now_ns(void);

#endif
