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
    const struct fl_model_ops *const *m = fl_check_models();

    fprintf(out, "usage: faultline check --model MODEL [options] HISTORY\n"
                 "       faultline check --export-edn OUT.edn|--export-jsonl OUT.jsonl HISTORY\n\n"
                 "Check a recorded history of operations against a consistency model.\n"
                 "HISTORY is faultline JSON Lines (docs/history-format.md) or a Jepsen EDN\n"
                 "history; the format is detected from the content unless --format is given.\n\n"
                 "  --model MODEL         bank (money conserved, see --accounts), total-queue\n"
                 "                        (every acknowledged enqueue comes out once, in any\n"
                 "                        order), list-append or rw-register (transactional\n"
                 "                        isolation, see --consistency-models), or one of the\n"
                 "                        linearizable models:\n");
    for (size_t i = 0; m[i]; i++)
        fprintf(out, "                          %-15s %s\n", m[i]->name, m[i]->summary);
    fprintf(out,
            "  --format edn|jsonl    input format (default: detect)\n"
            "  --timeout DURATION    give up and answer unknown after this long (default 60s,\n"
            "                        0 = never); e.g. 500ms, 30s, 2m\n"
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
            "  --export-edn FILE     write the history as Jepsen EDN\n"
            "  --export-jsonl FILE   write the history as faultline JSON Lines\n"
            "                        (without --model, only convert)\n\n"
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

int fl_cli_check(int argc, char **argv)
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
        {"consistency-models", required_argument, NULL, O_CMODELS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fl_check_opts o;
    struct fl_err e = {0};
    const char *model = NULL, *html = NULL, *cx = NULL, *xedn = NULL, *xjsonl = NULL;
    const char *initial = NULL;
    enum fl_hist_format fmt = FL_FMT_AUTO;
    bool json = false;
    long long ll;
    int c;

    fl_check_opts_init(&o);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_MODEL:
            model = optarg;
            break;
        case O_FORMAT:
            if (!strcmp(optarg, "edn"))
                fmt = FL_FMT_EDN;
            else if (!strcmp(optarg, "jsonl") || !strcmp(optarg, "json"))
                fmt = FL_FMT_JSONL;
            else {
                fprintf(stderr, "faultline check: --format must be edn or jsonl, not '%s'\n",
                        optarg);
                return EXIT_INPUT;
            }
            break;
        case O_TIMEOUT:
            if (fl_parse_duration_ms(optarg, &o.timeout_ms, &e) < 0) {
                fprintf(stderr, "faultline check: --timeout: %s\n", e.msg);
                return EXIT_INPUT;
            }
            break;
        case O_INITIAL:
            initial = optarg;
            break;
        case O_ACCOUNTS:
            if (fl_parse_int(optarg, 1, 100000000, &ll, &e) < 0) {
                fprintf(stderr, "faultline check: --accounts: %s\n", e.msg);
                return EXIT_INPUT;
            }
            o.accounts = ll;
            break;
        case O_TOTAL:
            if (fl_parse_int(optarg, -(1LL << 62), 1LL << 62, &ll, &e) < 0) {
                fprintf(stderr, "faultline check: --total: %s\n", e.msg);
                return EXIT_INPUT;
            }
            o.total = ll;
            o.have_total = true;
            break;
        case O_ALLOWNEG:
            o.allow_negative = true;
            break;
        case O_JSON:
            json = true;
            break;
        case O_HTML:
            html = optarg;
            break;
        case O_CX:
            cx = optarg;
            break;
        case O_NOMIN:
            o.no_minimize = true;
            break;
        case O_XEDN:
            xedn = optarg;
            break;
        case O_XJSONL:
            xjsonl = optarg;
            break;
        case O_CMODELS:
            o.consistency_models = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_VALID;
        default:
            fprintf(stderr,
                    "faultline check: unknown or incomplete option '%s'; see "
                    "`faultline check --help`\n",
                    argv[optind - 1]);
            return EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr,
                "faultline check: give exactly one history file (got %d); see "
                "`faultline check --help`\n",
                argc - optind);
        return EXIT_INPUT;
    }
    if (!model && !xedn && !xjsonl) {
        fprintf(stderr, "faultline check: --model is required (bank, register, cas-register, "
                        "multi-register, kv, set, counter, queue, total-queue, mutex, "
                        "list-append, rw-register)\n");
        return EXIT_INPUT;
    }
    if (model && !fl_check_model_known(model)) {
        fprintf(stderr,
                "faultline check: unknown model '%s'; run `faultline check --help` for "
                "the list\n",
                model);
        return EXIT_INPUT;
    }
    if (o.consistency_models && (!model || !fl_check_txn_model(model))) {
        fprintf(stderr, "faultline check: --consistency-models applies to --model list-append "
                        "and rw-register only\n");
        return EXIT_INPUT;
    }

    struct fl_history *h = NULL;
    if (fl_history_load(argv[optind], fmt, &h, &e) < 0) {
        fprintf(stderr, "faultline check: %s\n", e.msg);
        return EXIT_INPUT;
    }
    int status = EXIT_INPUT;
    if (initial && parse_initial(h, initial, &o.cfg.initial) < 0)
        goto out;
    if ((xedn && write_file(xedn, h, NULL, false) < 0) ||
        (xjsonl && write_file(xjsonl, h, NULL, true) < 0))
        goto out;
    if (!model) {
        status = EXIT_VALID;
        goto out;
    }
    o.model = model;
    struct fl_check_report r;
    if (fl_check_run(h, &o, &r, &e) < 0) {
        fprintf(stderr, "faultline check: %s\n", e.msg);
        goto out;
    }
    if (json) {
        char *s = json_dumps(r.json, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    } else {
        fputs(r.text, stdout);
        printf("(%zu operations, %zu checked in %zu part(s), %.3f s)\n", h->nops, r.checked_ops,
               r.partitions, r.seconds);
    }
    status = r.verdict == FL_CHECK_VALID     ? EXIT_VALID
             : r.verdict == FL_CHECK_INVALID ? EXIT_INVALID
                                             : EXIT_UNKNOWN;
    if (html) {
        FILE *f = fopen(html, "w");
        if (!f || fl_check_write_html(h, &r, model, f) < 0) {
            fprintf(stderr, "faultline check: cannot write %s: %m\n", html);
            status = EXIT_INPUT;
        }
        if (f && fclose(f) != 0)
            status = EXIT_INPUT;
    }
    if (cx) {
        if (!r.counterexample)
            fprintf(stderr, "faultline check: no counterexample to write to %s (verdict %s)\n", cx,
                    fl_check_verdict_name(r.verdict));
        else if (write_file(cx, h, r.counterexample, ends_with(cx, ".jsonl")) < 0)
            status = EXIT_INPUT;
    }
    fl_check_report_fini(&r);
out:
    fl_history_free(h);
    return status;
}
