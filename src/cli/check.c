/* faultline check: check a recorded history against a consistency model.
 *
 * Exit codes differ from the other subcommands on purpose, so scripts can
 * tell "the system is wrong" from "the check could not decide":
 * 0 valid, 1 invalid, 2 unknown (timeout), 3 usage or input error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/edn.h"
#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/opts.h"

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_UNKNOWN = 2, EXIT_INPUT = 3 };

/* The options, their bounds and their help: one place for parsing and --help. */
static const struct fl_opt opts[] = {
    {"model", FL_OPT_STRING, 0, "MODEL",
     "the checker (default: the model the history's header names, as `faultline workload` "
     "writes it); see the models below",
     NULL, 0, 0},
    {"format", FL_OPT_ENUM, 0, "FORMAT", "input format: edn or jsonl (default: detect)",
     "edn|jsonl|json", 0, 0},
    {"timeout", FL_OPT_DURATION, 0, "DURATION",
     "give up and answer unknown after this long (default 60s, 0 = never); e.g. 500ms, 30s, 2m",
     NULL, 0, 0},
    {"search-memory", FL_OPT_SIZE, 0, "SIZE",
     "memory the search may use per part before it answers unknown for that part (default "
     "1GiB; from 4KiB to 1TiB)",
     NULL, 4096, 1LL << 40},
    {"initial", FL_OPT_STRING, 0, "VALUE",
     "initial register value (EDN: 0, nil, :x, \"s\"; default nil; counter default 0)", NULL, 0, 0},
    {"accounts", FL_OPT_INT, 0, "N", "bank: number of accounts every read must show", NULL, 1,
     100000000},
    {"total", FL_OPT_INT, 0, "N", "bank: the conserved total (default: the first read's sum)", NULL,
     -(1LL << 62), 1LL << 62},
    {"allow-negative", FL_OPT_FLAG, 0, NULL, "bank: negative balances are allowed", NULL, 0, 0},
    {"consistency-models", FL_OPT_STRING, 0, "LIST",
     "list-append, rw-register: the models the history must satisfy, comma-separated: "
     "read-committed, repeatable-read, snapshot-isolation, serializable (default), "
     "strict-serializable (adds real-time order)",
     NULL, 0, 0},
    {"json", FL_OPT_FLAG, 0, NULL, "print the report as JSON instead of text", NULL, 0, 0},
    {"html", FL_OPT_STRING, 0, "FILE", "write a self-contained HTML timeline report", NULL, 0, 0},
    {"counterexample", FL_OPT_STRING, 0, "FILE",
     "write the smallest failing sub-history found (EDN, or JSON Lines when FILE ends in "
     ".jsonl)",
     NULL, 0, 0},
    {"no-minimize", FL_OPT_FLAG, 0, NULL, "skip the search for a smallest failing sub-history",
     NULL, 0, 0},
    {"minimize-budget", FL_OPT_DURATION, 0, "DURATION",
     "time for that search (default: twice the check's own time, from 50ms to 3s; 3s with "
     "--counterexample)",
     NULL, 1, 0},
    {"export-edn", FL_OPT_STRING, 0, "FILE", "write the history as Jepsen EDN", NULL, 0, 0},
    {"export-jsonl", FL_OPT_STRING, 0, "FILE",
     "write the history as faultline JSON Lines (without --model, only convert)", NULL, 0, 0},
    {"max-op-size", FL_OPT_SIZE, 0, "SIZE",
     "refuse an operation (a JSON line, an EDN event) longer than this (default 64MiB, from "
     "1KiB to 4GiB); pipes and stdin are read up to 4GiB, device files are refused",
     NULL, 1024, (long long)FL_HISTORY_MAX_STREAM_BYTES},
    FL_OPT_END,
};

static void usage(FILE *out)
{
    size_t n;
    const struct fl_checker *c = fl_check_checkers(&n);

    fprintf(out, "usage: faultline check [--model MODEL] [options] HISTORY...\n"
                 "       faultline check --export-edn OUT.edn|--export-jsonl OUT.jsonl HISTORY\n\n"
                 "Check recorded histories of operations against a consistency model.\n"
                 "HISTORY is faultline JSON Lines (docs/history-format.md) or a Jepsen EDN\n"
                 "history (- reads stdin); the format is detected from the content unless\n"
                 "--format is given. With several files, each gets its report under a\n"
                 "'== FILE' line, then a summary line; the exit status is the worst (invalid,\n"
                 "then input error, then unknown).\n\noptions:\n");
    fl_opts_print_help(out, opts);
    fprintf(out, "\nmodels (--model); linearizable models search for an order of the operations\n"
                 "that explains every result:");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "\n                          %-15s %s%s", fl_checker_name(&c[i]),
                c[i].model ? "linearizable: " : "", fl_checker_summary(&c[i]));
    fprintf(out,
            "\n\nExit: 0 valid, 1 invalid, 2 unknown (timeout or not enough data), 3 usage or\n"
            "input error (the message names file:line:col). See docs/check.md.\n");
}

static int write_file(const char *path, const struct fl_history *h, const bool *only, bool jsonl)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "faultline check: cannot write %s: %m\n", path);
        return -1;
    }
    int rc = jsonl ? fl_history_write_jsonl(h, only, f) : fl_history_write_edn(h, only, f);
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "faultline check: error writing %s\n", path);
        return -1;
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* --initial takes one EDN scalar, interned into the history's tables. */
static int parse_initial(struct fl_history *h, const char *text, int64_t *out)
{
    struct fl_err e = {0};
    struct fl_edn r;
    struct fl_val v;

    fl_edn_init(&r, h, text, strlen(text), "--initial", &e);
    int rc = fl_edn_read(&r, &v);
    if (rc == 0 && fl_edn_peek(&r) >= 0)
        rc = fl_err_set(&e, FL_EUSAGE, "--initial takes one value, e.g. 0, nil, :x or \"s\"");
    fl_edn_fini(&r);
    if (rc < 0) {
        fprintf(stderr, "faultline check: %s\n", e.msg);
        return rc;
    }
    *out = fl_history_code(h, &v);
    return 0;
}

/* Everything the command line asked for. */
struct check_args {
    struct fl_check_opts o;
    const char *model, *html, *cx, *xedn, *xjsonl, *initial;
    enum fl_hist_format fmt;
    bool json;
    uint64_t max_op;
};

/* The options into a (its strings point into params, which must outlive it);
 * returns -1 (usage error, said), 0 with *first the first history's index, or
 * 1 (--help shown). */
static int parse_args(int argc, char **argv, json_t *p, struct check_args *a, int *first)
{
    struct fl_err e = {0};
    int r = fl_opts_parse_argv(opts, "check", argc, argv, p, first, &e);

    if (r == 1) {
        usage(stdout);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "faultline check: %s\n", e.msg);
        return -1;
    }
    const char *fmt = fl_param_str(p, "format", NULL);
    if (fmt)
        a->fmt = !strcmp(fmt, "edn") ? FL_FMT_EDN : FL_FMT_JSONL;
    a->model = fl_param_str(p, "model", NULL);
    a->initial = fl_param_str(p, "initial", NULL);
    a->html = fl_param_str(p, "html", NULL);
    a->cx = fl_param_str(p, "counterexample", NULL);
    a->xedn = fl_param_str(p, "export-edn", NULL);
    a->xjsonl = fl_param_str(p, "export-jsonl", NULL);
    a->json = fl_param_bool(p, "json");
    a->max_op = (uint64_t)fl_param_int(p, "max-op-size", (long long)a->max_op);
    a->o.timeout_ms = fl_param_int(p, "timeout", a->o.timeout_ms);
    a->o.accounts = fl_param_int(p, "accounts", a->o.accounts);
    a->o.have_total = json_object_get(p, "total") != NULL;
    a->o.total = fl_param_int(p, "total", a->o.total);
    a->o.allow_negative = fl_param_bool(p, "allow-negative");
    a->o.want_counterexample = a->cx != NULL;
    a->o.minimize_budget_ms = fl_param_int(p, "minimize-budget", a->o.minimize_budget_ms);
    a->o.no_minimize = fl_param_bool(p, "no-minimize");
    a->o.search_memory = (size_t)fl_param_int(p, "search-memory", (long long)a->o.search_memory);
    a->o.consistency_models = fl_param_str(p, "consistency-models", NULL);
    return 0;
}

/* The model to check path's history with: --model, or else the one its
 * header names. NULL (said on stderr) when neither gives a known model. */
static const char *pick_model(const struct check_args *a, const struct fl_history *h,
                              struct fl_err *e)
{
    char names[512];

    if (a->model)
        return a->model;
    if (!h->model[0]) {
        fl_err_set(e, FL_EUSAGE,
                   "%s: --model is required: the history does not name its model (a header "
                   "comment with model=NAME); models: %s",
                   h->name, fl_check_checker_names(names, sizeof names));
        return NULL;
    }
    if (!fl_check_model_known(h->model)) {
        fl_err_set(e, FL_EUSAGE,
                   "%s: the history's header names model '%s', which check does not know; give "
                   "--model (%s)",
                   h->name, h->model, fl_check_checker_names(names, sizeof names));
        return NULL;
    }
    return h->model;
}

/* An input error: said on stderr, and with several files and --json also
 * as that file's JSON line, so the output still has one line per file. */
static int input_error(const struct check_args *a, const char *path, bool multi,
                       const struct fl_err *e)
{
    if (e->msg[0])
        fprintf(stderr, "faultline check: %s\n", e->msg);
    if (multi && a->json) {
        json_t *j = json_pack("{s:s,s:s,s:s}", "file", path, "verdict", "input-error", "error",
                              e->msg[0] ? e->msg : "see the message on stderr");
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(j);
    }
    return EXIT_INPUT;
}

static int exit_of(int verdict)
{
    return verdict == FL_CHECK_VALID     ? EXIT_VALID
           : verdict == FL_CHECK_INVALID ? EXIT_INVALID
                                         : EXIT_UNKNOWN;
}

/* Write the outputs a check asked for beside the report; the status, made
 * EXIT_INPUT when one cannot be written. */
static int write_outputs(const struct check_args *a, const struct fl_history *h,
                         const struct fl_check_report *r, const char *model, int status)
{
    if (a->html) {
        FILE *f = fopen(a->html, "w");
        if (!f || fl_check_write_html(h, r, model, f) < 0) {
            fprintf(stderr, "faultline check: cannot write %s: %m\n", a->html);
            status = EXIT_INPUT;
        }
        if (f && fclose(f) != 0)
            status = EXIT_INPUT;
    }
    if (a->cx) {
        if (!r->counterexample)
            fprintf(stderr, "faultline check: no counterexample to write to %s (verdict %s)\n",
                    a->cx, fl_check_verdict_name(r->verdict));
        else if (write_file(a->cx, h, r->counterexample, ends_with(a->cx, ".jsonl")) < 0)
            status = EXIT_INPUT;
    }
    return status;
}

/* Check one history file and print its report; returns its exit status.
 * With several files (multi) each report is headed by the file's name and
 * JSON reports carry a "file" member. */
static int check_file(const struct check_args *a, const char *path, bool multi)
{
    struct fl_check_opts o = a->o;
    struct fl_history *h = NULL;
    struct fl_check_report r;
    struct fl_err e = {0};
    int status = EXIT_INPUT;

    if (multi && !a->json)
        printf("== %s\n", path);
    if (fl_history_load_max(path, a->fmt, (size_t)a->max_op, &h, &e) < 0)
        return input_error(a, path, multi, &e);
    if ((a->initial && parse_initial(h, a->initial, &o.cfg.initial) < 0) ||
        (a->xedn && write_file(a->xedn, h, NULL, false) < 0) ||
        (a->xjsonl && write_file(a->xjsonl, h, NULL, true) < 0)) {
        status = input_error(a, path, multi, &e); /* already said on stderr */
        goto out;
    }
    if (!a->model && (a->xedn || a->xjsonl)) {
        status = EXIT_VALID; /* only convert */
        goto out;
    }
    if (!(o.model = pick_model(a, h, &e)) || fl_check_run(h, &o, &r, &e) < 0) {
        status = input_error(a, path, multi, &e);
        goto out;
    }
    if (a->json) {
        if (multi)
            json_object_set_new(r.json, "file", json_string(path));
        char *s = json_dumps(r.json, multi ? JSON_COMPACT : JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    } else {
        fputs(r.text, stdout);
        printf("(%zu operations, %zu checked in %zu part(s), %.3f s)\n", h->nops, r.checked_ops,
               r.partitions, r.seconds);
    }
    status = write_outputs(a, h, &r, o.model, exit_of(r.verdict));
    fl_check_report_fini(&r);
out:
    fl_history_free(h);
    return status;
}

/* Several files: the worst status wins, invalid first (the system is
 * wrong), then an input error, then unknown. */
static int worse(int a, int b)
{
    static const int rank[] = {
        [EXIT_VALID] = 0, [EXIT_UNKNOWN] = 1, [EXIT_INPUT] = 2, [EXIT_INVALID] = 3};
    return rank[b] > rank[a] ? b : a;
}

int fl_cli_check(int argc, char **argv)
{
    _cleanup_json_ json_t *params = json_object();
    struct check_args a = {.fmt = FL_FMT_AUTO, .max_op = FL_HISTORY_MAX_OP_BYTES};
    char names[512];
    size_t count[4] = {0};
    int first;

    fl_check_opts_init(&a.o);
    int rc = parse_args(argc, argv, params, &a, &first);
    if (rc != 0)
        return rc > 0 ? EXIT_VALID : EXIT_INPUT;
    int nfiles = argc - first;
    if (nfiles < 1) {
        fprintf(stderr, "faultline check: give a history file (or several); see "
                        "`faultline check --help`\n");
        return EXIT_INPUT;
    }
    if (nfiles > 1 && (a.html || a.cx || a.xedn || a.xjsonl)) {
        fprintf(stderr, "faultline check: --html, --counterexample and --export-* write one "
                        "file: give them with a single history\n");
        return EXIT_INPUT;
    }
    if (a.model && !fl_check_model_known(a.model)) {
        fprintf(stderr,
                "faultline check: unknown model '%s'; models: %s (see `faultline check --help`)\n",
                a.model, fl_check_checker_names(names, sizeof names));
        return EXIT_INPUT;
    }
    if (a.o.consistency_models && a.model && !fl_check_txn_model(a.model)) {
        fprintf(stderr, "faultline check: --consistency-models applies to --model list-append "
                        "and rw-register only\n");
        return EXIT_INPUT;
    }
    int status = EXIT_VALID;
    for (int i = first; i < argc; i++) {
        int st = check_file(&a, argv[i], nfiles > 1);
        count[st]++;
        status = worse(status, st);
        fflush(stdout);
    }
    if (nfiles > 1 && a.json)
        printf("{\"histories\":%d,\"valid\":%zu,\"invalid\":%zu,\"unknown\":%zu,"
               "\"input_error\":%zu}\n",
               nfiles, count[EXIT_VALID], count[EXIT_INVALID], count[EXIT_UNKNOWN],
               count[EXIT_INPUT]);
    else if (nfiles > 1)
        printf("== %d histories: %zu valid, %zu invalid, %zu unknown, %zu not checked (input "
               "error)\n",
               nfiles, count[EXIT_VALID], count[EXIT_INVALID], count[EXIT_UNKNOWN],
               count[EXIT_INPUT]);
    return status;
}
