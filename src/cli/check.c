/* faultline check: check a recorded history against a consistency model.
 *
 * Exit codes differ from the other subcommands on purpose, so scripts can
 * tell "the system is wrong" from "the check could not decide":
 * 0 valid, 1 invalid, 2 unknown (timeout), 3 usage or input error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/edn.h"
#include "cli/cli.h"
#include "util/err.h"
#include "util/parse.h"

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_UNKNOWN = 2, EXIT_INPUT = 3 };

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
                 "then input error, then unknown).\n\n"
                 "  --model MODEL         the checker (default: the model the history's header\n"
                 "                        names, as `faultline workload` writes it); linearizable\n"
                 "                        models search for an order of the operations that\n"
                 "                        explains every result:\n");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "                          %-15s %s%s\n", fl_checker_name(&c[i]),
                c[i].model ? "linearizable: " : "", fl_checker_summary(&c[i]));
    fprintf(out,
            "  --format edn|jsonl    input format (default: detect)\n"
            "  --timeout DURATION    give up and answer unknown after this long (default 60s,\n"
            "                        0 = never); e.g. 500ms, 30s, 2m\n"
            "  --search-memory SIZE  memory the search may use per part before it answers\n"
            "                        unknown for that part (default 1GiB)\n"
            "  --initial VALUE       initial register value (EDN: 0, nil, :x, \"s\"; default nil;\n"
            "                        counter default 0)\n"
            "  --accounts N          bank: number of accounts every read must show\n"
            "  --total N             bank: the conserved total (default: the first read's sum)\n"
            "  --allow-negative      bank: negative balances are allowed\n"
            "  --consistency-models LIST  list-append, rw-register: the models the history\n"
            "                        must satisfy, comma-separated: read-committed,\n"
            "                        repeatable-read, snapshot-isolation, serializable\n"
            "                        (default), strict-serializable (adds real-time order)\n"
            "  --json                print the report as JSON instead of text\n"
            "  --html FILE           write a self-contained HTML timeline report\n"
            "  --counterexample FILE write the smallest failing sub-history found (EDN, or\n"
            "                        JSON Lines when FILE ends in .jsonl)\n"
            "  --no-minimize         skip the search for a smallest failing sub-history\n"
            "  --minimize-budget DURATION  time for that search (default: twice the check's\n"
            "                        own time, from 50ms to 3s; 3s with --counterexample)\n"
            "  --export-edn FILE     write the history as Jepsen EDN\n"
            "  --export-jsonl FILE   write the history as faultline JSON Lines\n"
            "                        (without --model, only convert)\n"
            "  --max-op-size SIZE    refuse an operation (a JSON line, an EDN event) longer\n"
            "                        than this (default 64MiB, from 1KiB to 4GiB); pipes and\n"
            "                        stdin are read up to 4GiB, device files are refused\n\n"
            "Exit: 0 valid, 1 invalid, 2 unknown (timeout or not enough data), 3 usage or\n"
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

/* Parse the options into a; returns -1 (usage error, said), 0, or 1 (--help shown). */
static int parse_args(int argc, char **argv, struct check_args *a)
{
    enum {
        O_MODEL = 256,
        O_FORMAT,
        O_TIMEOUT,
        O_INITIAL,
        O_ACCOUNTS,
        O_TOTAL,
        O_ALLOWNEG,
        O_JSON,
        O_HTML,
        O_CX,
        O_NOMIN,
        O_XEDN,
        O_XJSONL,
        O_MAXOP,
        O_MINBUDGET,
        O_SEARCHMEM,
        O_CMODELS,
    };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, O_MODEL},
        {"format", required_argument, NULL, O_FORMAT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"initial", required_argument, NULL, O_INITIAL},
        {"accounts", required_argument, NULL, O_ACCOUNTS},
        {"total", required_argument, NULL, O_TOTAL},
        {"allow-negative", no_argument, NULL, O_ALLOWNEG},
        {"json", no_argument, NULL, O_JSON},
        {"html", required_argument, NULL, O_HTML},
        {"counterexample", required_argument, NULL, O_CX},
        {"no-minimize", no_argument, NULL, O_NOMIN},
        {"export-edn", required_argument, NULL, O_XEDN},
        {"export-jsonl", required_argument, NULL, O_XJSONL},
        {"max-op-size", required_argument, NULL, O_MAXOP},
        {"minimize-budget", required_argument, NULL, O_MINBUDGET},
        {"search-memory", required_argument, NULL, O_SEARCHMEM},
        {"consistency-models", required_argument, NULL, O_CMODELS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fl_err e = {0};
    long long ll;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_MODEL:
            a->model = optarg;
            break;
        case O_FORMAT:
            if (!strcmp(optarg, "edn"))
                a->fmt = FL_FMT_EDN;
            else if (!strcmp(optarg, "jsonl") || !strcmp(optarg, "json"))
                a->fmt = FL_FMT_JSONL;
            else {
                fprintf(stderr, "faultline check: --format must be edn or jsonl, not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case O_TIMEOUT:
            if (fl_parse_duration_ms(optarg, &a->o.timeout_ms, &e) < 0) {
                fprintf(stderr, "faultline check: --timeout: %s\n", e.msg);
                return -1;
            }
            break;
        case O_INITIAL:
            a->initial = optarg;
            break;
        case O_ACCOUNTS:
            if (fl_parse_int(optarg, 1, 100000000, &ll, &e) < 0) {
                fprintf(stderr, "faultline check: --accounts: %s\n", e.msg);
                return -1;
            }
            a->o.accounts = ll;
            break;
        case O_TOTAL:
            if (fl_parse_int(optarg, -(1LL << 62), 1LL << 62, &ll, &e) < 0) {
                fprintf(stderr, "faultline check: --total: %s\n", e.msg);
                return -1;
            }
            a->o.total = ll;
            a->o.have_total = true;
            break;
        case O_ALLOWNEG:
            a->o.allow_negative = true;
            break;
        case O_JSON:
            a->json = true;
            break;
        case O_HTML:
            a->html = optarg;
            break;
        case O_CX:
            a->cx = optarg;
            a->o.want_counterexample = true;
            break;
        case O_MINBUDGET:
            if (fl_parse_duration_ms(optarg, &a->o.minimize_budget_ms, &e) < 0 ||
                a->o.minimize_budget_ms < 1) {
                fprintf(stderr, "faultline check: --minimize-budget: %s\n",
                        e.msg[0] ? e.msg : "give a duration of at least 1ms, e.g. 500ms or 10s");
                return -1;
            }
            break;
        case O_NOMIN:
            a->o.no_minimize = true;
            break;
        case O_XEDN:
            a->xedn = optarg;
            break;
        case O_XJSONL:
            a->xjsonl = optarg;
            break;
        case O_MAXOP:
            if (fl_parse_size(optarg, &a->max_op, &e) < 0 || a->max_op < 1024 ||
                a->max_op > FL_HISTORY_MAX_STREAM_BYTES) {
                fprintf(stderr,
                        "faultline check: --max-op-size: %s; give a size from 1KiB to 4GiB, "
                        "e.g. 256MiB\n",
                        e.msg[0] ? e.msg : "out of range");
                return -1;
            }
            break;
        case O_SEARCHMEM: {
            uint64_t v;
            if (fl_parse_size(optarg, &v, &e) < 0 || v < 4096 || v > ((uint64_t)1 << 40)) {
                fprintf(stderr,
                        "faultline check: --search-memory: %s; give a size from 4KiB to 1TiB, "
                        "e.g. 4GiB\n",
                        e.msg[0] ? e.msg : "out of range");
                return -1;
            }
            a->o.search_memory = (size_t)v;
            break;
        }
        case O_CMODELS:
            a->o.consistency_models = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            fprintf(stderr,
                    "faultline check: unknown or incomplete option '%s'; see "
                    "`faultline check --help`\n",
                    argv[optind - 1]);
            return -1;
        }
    }
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
    struct check_args a = {.fmt = FL_FMT_AUTO, .max_op = FL_HISTORY_MAX_OP_BYTES};
    char names[512];
    size_t count[4] = {0};

    fl_check_opts_init(&a.o);
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc > 0 ? EXIT_VALID : EXIT_INPUT;
    int nfiles = argc - optind;
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
    for (int i = optind; i < argc; i++) {
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
