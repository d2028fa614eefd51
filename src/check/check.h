/* Checking a history against a consistency model: the public surface.
 *
 *   struct fl_check_opts o;  fl_check_opts_init(&o);  o.model = "cas-register";
 *   struct fl_check_report r;
 *   if (fl_check_run(h, &o, &r, &e) < 0) ...;      // bad input: e says where
 *   r.verdict is FL_CHECK_VALID / INVALID / UNKNOWN, r.text explains it;
 *   fl_check_report_fini(&r);
 *
 * o.model names a checker (the table in registry.c): linearizable models
 * (register, cas-register, multi-register, kv, set, counter, queue, mutex)
 * go through linear.c; "bank", "total-queue" and the set anomaly analysis
 * are direct scans of the history.
 */
#ifndef FL_CHECK_CHECK_H
#define FL_CHECK_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "check/history.h"
#include "check/linear.h"
#include "check/model.h"

struct fl_check_opts {
    const char *model;
    struct fl_model_cfg cfg;
    int64_t timeout_ms;         /* 0: no limit */
    bool no_memo;               /* naive search (benchmarks) */
    bool no_split;              /* do not split by key (benchmarks) */
    bool no_minimize;           /* skip the smallest-counterexample search */
    int64_t minimize_budget_ms; /* its time budget; 0: in proportion to the check */
    bool want_counterexample;   /* one will be written out: spend the full default budget */
    bool no_fast;         /* skip model shortcuts (the queue order check): tests, benchmarks */
    size_t search_memory; /* memo bytes one part's search may use; 0: 1 GiB */
    /* bank */
    long long accounts; /* 0: take the accounts from the first read */
    long long total;
    bool have_total;
    bool allow_negative;
    /* list-append, rw-register: comma-separated models to hold the history
     * to (NULL: serializable) */
    const char *consistency_models;
};

void fl_check_opts_init(struct fl_check_opts *o);

struct fl_check_report {
    int verdict;          /* enum fl_check_verdict */
    char *text;           /* human explanation, always set */
    json_t *json;         /* the same as a JSON object */
    bool *offending;      /* per history op: marked in reports */
    bool *counterexample; /* per history op: the smallest failing sub-history, NULL if none */
    size_t nops;
    /* statistics */
    size_t checked_ops, partitions;
    uint64_t steps;
    size_t memo_entries, memo_bytes;
    double seconds;
};

/* A checker: what `faultline check --model NAME` runs. Every checker is one
 * line in the table in registry.c; --help, the "unknown model" message and
 * validation all read that table.
 *   name, summary  for people (NULL: taken from model)
 *   model          the linearizability model the checker searches with, or
 *                  NULL for a direct analysis of the history (bank, ...)
 *   one_object     the history is of one object: operations with a "key"
 *                  field are refused (a linearizable model without per_key
 *                  instead checks each key as its own object)
 *   run            the check itself; same contract as fl_check_run (r arrives
 *                  zeroed with r->nops and r->offending set; r->text must
 *                  start with "VALID: ", "INVALID: " or "UNKNOWN: ", which
 *                  fl_check_run adds when a checker leaves it out)
 * A checker over one linearizable model is FL_CHECKER_LINEAR(model). */
struct fl_checker {
    const char *name;
    const char *summary;
    const struct fl_model_ops *model;
    bool one_object;
    int (*run)(const struct fl_checker *c, struct fl_history *h, const struct fl_check_opts *o,
               struct fl_check_report *r, struct fl_err *e);
};
#define FL_CHECKER_LINEAR(m)                                                                       \
    {                                                                                              \
        .model = &(m), .run = fl_check_linear                                                      \
    }

/* The checker named name, or NULL. */
const struct fl_checker *fl_check_checker_find(const char *name);
/* Every checker, in help order; *n of them. */
const struct fl_checker *fl_check_checkers(size_t *n);
const char *fl_checker_name(const struct fl_checker *c);
const char *fl_checker_summary(const struct fl_checker *c);
/* "bank, register, ..." for messages, written into buf (truncated to size). */
char *fl_check_checker_names(char *buf, size_t size);
/* A model `faultline check --model` knows (a checker of that name). */
bool fl_check_model_known(const char *name);

/* Check h. Returns 0 with a report (whatever the verdict), or a negative
 * FL_E* code when the history does not fit the model (e names the line). */
int fl_check_run(struct fl_history *h, const struct fl_check_opts *o, struct fl_check_report *r,
                 struct fl_err *e);
void fl_check_report_fini(struct fl_check_report *r);

const char *fl_check_verdict_name(int verdict);

/* A self-contained HTML timeline of the history with offending ops marked. */
int fl_check_write_html(const struct fl_history *h, const struct fl_check_report *r,
                        const char *model, FILE *out);

/* The checkers' run functions (struct fl_checker): the linearizability
 * search over c->model (check.c), the set checker (set anomalies, then the
 * search when one read is not enough: set_anomalies.c), bank (bank.c),
 * total-queue (total_queue.c). */
int fl_check_linear(const struct fl_checker *c, struct fl_history *h, const struct fl_check_opts *o,
                    struct fl_check_report *r, struct fl_err *e);
int fl_check_set(const struct fl_checker *c, struct fl_history *h, const struct fl_check_opts *o,
                 struct fl_check_report *r, struct fl_err *e);
int fl_check_bank(const struct fl_checker *c, struct fl_history *h, const struct fl_check_opts *o,
                  struct fl_check_report *r, struct fl_err *e);
int fl_check_total_queue(const struct fl_checker *c, struct fl_history *h,
                         const struct fl_check_opts *o, struct fl_check_report *r,
                         struct fl_err *e);
/* Transactional isolation, Elle-style (txn.c): list-append, rw-register. */
int fl_check_txn(const struct fl_checker *c, struct fl_history *h, const struct fl_check_opts *o,
                 struct fl_check_report *r, struct fl_err *e);
bool fl_check_txn_model(const char *name);
/* The set anomaly analysis on its own (used by fl_check_set). */
int fl_check_set_anomalies(struct fl_history *h, const struct fl_check_opts *o,
                           struct fl_check_report *r, struct fl_err *e);

/* The values an analysis reports in one category (lost, unexpected, ...):
 * the first 20 as text for the explanation, all of them in a JSON array
 * (integers as numbers, other values as their text), and the count. */
struct fl_vlist {
    json_t *j;
    FILE *f;
    char *buf;
    size_t len, n;
};
int fl_vlist_open(struct fl_vlist *l); /* 0, or -1 when out of memory */
void fl_vlist_note(const struct fl_history *h, struct fl_vlist *l, int64_t code);
void fl_vlist_close(struct fl_vlist *l); /* the text is in l->buf from here on */
void fl_vlist_free(struct fl_vlist *l);

/* Sorted value codes: qsort comparator and membership. */
int fl_code_cmp(const void *a, const void *b);
bool fl_code_has(const int64_t *sorted, size_t n, int64_t code);

/* Describe op i of h on one line: "line 12 process 3 cas [1 2] -> fail". */
void fl_check_describe_op(const struct fl_history *h, size_t i, FILE *out);

#endif
