/* The experiment engine: one run of a loaded spec, as a state machine
 *
 *   preflight -> inject -> observe -> revert -> recover -> rollback -> verdict
 *
 * preflight samples every probe and refuses to inject anything unless the
 * steady state holds; inject applies each fault of the method at its start
 * offset through fl_fault_apply (journal first, guardian watching, this
 * process as owner, lease renewed), so a killed run is reverted by the
 * guardian like any `faultline inject`; guardrails are judged on every tick
 * and revert everything at once when one trips; after the last revert the
 * engine measures how long each probe takes to be healthy again. Every
 * event and every sample goes to the history store. */
#ifndef FL_ENGINE_ENGINE_H
#define FL_ENGINE_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "spec/spec.h"
#include "store/store.h"
#include "util/err.h"

enum fl_verdict {
    FL_VERDICT_PASSED,
    FL_VERDICT_FAILED,     /* the hypothesis or recovery did not hold */
    FL_VERDICT_ABORTED,    /* a guardrail tripped, or SIGINT/SIGTERM */
    FL_VERDICT_NOT_STEADY, /* steady state did not hold before injecting: nothing injected */
    FL_VERDICT_ERROR,      /* faultline could not do its job (a fault failed to apply...) */
};

/* Exit codes of `faultline run` (docs/exit-codes.md). */
enum {
    FL_EXIT_PASSED = 0,
    FL_EXIT_FAILED = 1,
    FL_EXIT_INVALID = 2,
    FL_EXIT_ABORTED = 8,
    FL_EXIT_NOT_STEADY = 9,
    FL_EXIT_ERROR = 10,
};

const char *fl_verdict_str(enum fl_verdict v);

struct fl_engine_opts {
    const char *state_dir;  /* journal + guardian */
    struct fl_store *store; /* required for a real run */
    bool has_seed;          /* --seed overrides the file's seed */
    uint64_t seed;
    bool tty;  /* draw a live status line on stderr */
    FILE *out; /* plain event lines (stdout) */
};

/* The line a run prints on stderr when its verdict reached no store. */
#define FL_ENGINE_NOT_STORED "faultline: NOT STORED:"

struct fl_run_result {
    enum fl_verdict verdict;
    int exit_code;
    int64_t run_id;
    char explanation[2048];
};

/* Run the experiment. Returns 0 when a verdict was reached (whatever it
 * is) and recorded; negative with e filled when the run could not even be
 * recorded. SIGINT/SIGTERM during the run revert and yield "aborted". */
int fl_engine_run(const struct fl_spec *spec, const struct fl_engine_opts *o,
                  struct fl_run_result *res, struct fl_err *e);

/* The seed of a run: --seed, else the file's, else random (53 bits). */
uint64_t fl_engine_seed(const struct fl_spec *spec, const struct fl_engine_opts *o);

/* Print the resolved plan: each fault's concrete targets from its plan()
 * and when it would start and stop; touches nothing. Returns 0 or the
 * negative code of the first fault that cannot be planned. */
int fl_engine_dry_run(const struct fl_spec *spec, const struct fl_engine_opts *o, FILE *out,
                      struct fl_err *e);

/* Write a JUnit XML report of a run as `faultline show --json` returns it. */
int fl_engine_write_junit(const json_t *run, const char *path, struct fl_err *e);

#endif
