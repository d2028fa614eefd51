/* faultline run FILE.yaml: one experiment run (engine/engine.h), recorded
 * in the history store; exit code from the verdict (docs/exit-codes.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "spec/spec.h"
#include "store/store.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/parse.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: faultline run FILE.yaml [options]\n\n"
            "Run an experiment: check the steady state, inject the method's faults (each\n"
            "journaled, leased and watched by the guardian), judge the hypothesis and the\n"
            "guardrails, revert, measure recovery, and record everything. An experiment\n"
            "with hosts: runs its setup: commands on those hosts first (a failure ends\n"
            "the run as error, nothing injected) and its teardown: commands last, always.\n\n"
            "options:\n"
            "  --dry-run           print the resolved plan (concrete pids, namespaces, when);\n"
            "                      touch nothing\n"
            "  --seed N            seed for random target picks (overrides the file's seed)\n"
            "  --junit PATH        write a JUnit XML report\n"
            "  --json PATH         write the run as `faultline show --json` prints it\n"
            "  --db PATH|URL       history store: a SQLite file or postgresql://USER@HOST/DB\n"
            "                      (default $FAULTLINE_DB or %s; $FAULTLINE_DB_WAIT seconds,\n"
            "                      default 60, to wait for a PostgreSQL store that went away)\n"
            "  --state-dir DIR     journal and guardian directory (default $FAULTLINE_STATE_DIR\n"
            "                      or the machine-wide /run/faultline)\n\n"
            "Exit codes: 0 passed, 1 failed, 2 invalid file, 8 aborted (guardrail or signal),\n"
            "9 not started (system not steady), 3-7 a fault could not be applied (as for\n"
            "inject), 10 other errors. See docs/experiments.md.\n",
            FL_STORE_DEFAULT_PATH);
}

int fl_cli_run(int argc, char **argv)
{
    const char *file = NULL, *junit = NULL, *json = NULL, *db = NULL, *state = NULL;
    struct fl_engine_opts o = {.out = stdout};
    struct fl_spec_errors errs = {0};
    struct fl_run_result res;
    struct fl_err e = {0};
    struct fl_spec *spec;
    bool dry = false;
    int r;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dest = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--dry-run")) {
            dry = true;
            continue;
        } else if (!strcmp(a, "--junit")) {
            dest = &junit;
        } else if (!strcmp(a, "--json")) {
            dest = &json;
        } else if (!strcmp(a, "--db")) {
            dest = &db;
        } else if (!strcmp(a, "--state-dir")) {
            dest = &state;
        } else if (!strcmp(a, "--seed")) {
            long long ll;
            if (i + 1 >= argc || fl_parse_int(argv[++i], 0, (1LL << 53) - 1, &ll, &e)) {
                if (!e.msg[0])
                    fl_err_set(&e, FL_EUSAGE, "--seed needs a value");
                fl_err_prefix(&e, "--seed");
                return fl_cli_fail(&e);
            }
            o.has_seed = true;
            o.seed = (uint64_t)ll;
            continue;
        } else if (a[0] == '-') {
            fl_err_set(&e, FL_EUSAGE, "unknown option %s; run `faultline run --help`", a);
            return fl_cli_fail(&e);
        } else if (!file) {
            file = a;
            continue;
        } else {
            fl_err_set(&e, FL_EUSAGE, "one experiment file at a time (got %s and %s)", file, a);
            return fl_cli_fail(&e);
        }
        if (i + 1 >= argc) {
            fl_err_set(&e, FL_EUSAGE, "%s needs a value", a);
            return fl_cli_fail(&e);
        }
        *dest = argv[++i];
    }
    if (!file) {
        usage(stderr);
        return FL_EUSAGE;
    }
    spec = fl_spec_load_file(file, &errs);
    if (!spec) {
        for (size_t k = 0; k < errs.n; k++)
            fprintf(stderr, "%s\n", errs.msg[k]);
        fl_spec_errors_fini(&errs);
        return FL_EXIT_INVALID;
    }
    for (size_t k = 0; k < spec->nwarnings; k++)
        fprintf(stderr, "%s\n", spec->warnings[k]);
    o.state_dir = fl_cli_state_dir(state);
    o.tty = isatty(STDERR_FILENO) && isatty(STDOUT_FILENO);
    if (dry) {
        r = fl_engine_dry_run(spec, &o, stdout, &e);
        fl_spec_free(spec);
        return r ? fl_cli_fail(&e) : 0;
    }
    if ((r = fl_store_open(fl_store_path(db), &o.store, &e))) {
        fl_spec_free(spec);
        return fl_cli_fail(&e);
    }
    r = fl_engine_run(spec, &o, &res, &e);
    if (r == 0 && (json || junit)) {
        json_t *run = fl_store_show_run(o.store, res.run_id, 0, &e);
        if (run && json && json_dump_file(run, json, JSON_INDENT(2) | JSON_SORT_KEYS)) {
            fprintf(stderr, "faultline: error: cannot write %s\n", json);
            r = -FL_EFAIL;
        }
        if (run && junit && fl_engine_write_junit(run, junit, &e)) {
            fl_cli_fail(&e);
            r = -FL_EFAIL;
        }
        json_decref(run);
    }
    fl_store_close(o.store);
    fl_spec_free(spec);
    if (r == 0)
        return res.exit_code;
    if (e.msg[0])
        return fl_cli_fail(&e) == FL_EFAIL ? FL_EXIT_ERROR : e.code;
    return FL_EXIT_ERROR;
}
