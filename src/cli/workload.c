/* faultline workload: drive a real system with concurrent clients and record
 * the history; optionally check it right away (--check).
 *
 * Exit codes follow `faultline check` so scripts can use either:
 * 0 clean run (and valid with --check), 1 invalid, 2 unknown, 3 usage,
 * 4 cannot connect or set up at start, 5 cannot write the history. */
#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "check/check.h"
#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/opts.h"
#include "workload/workload.h"

static volatile sig_atomic_t stop_requested; /* set by SIGINT/SIGTERM: finish early */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The options, their bounds and their help: one place for parsing and --help. */
static const struct fl_opt opts[] = {
    {"client", FL_OPT_STRING, 0, "CLIENT", "the client (see clients above)", NULL, 0, 0},
    {"workload", FL_OPT_STRING, 0, "KIND", "the workload (see workloads above)", NULL, 0, 0},
    {"target", FL_OPT_STRING, 0, "TARGET", "what the client connects to (see clients above)", NULL,
     0, 0},
    {"concurrency", FL_OPT_INT, 0, "N", "workers, each with its own connection (default 5)", NULL,
     1, 1024},
    {"rate", FL_OPT_REAL, 0, "R",
     "operations per second over all workers (default 0 = as fast as the system answers)", NULL, 0,
     10000000},
    {"duration", FL_OPT_DURATION, 0, "D", "how long to issue operations (default 10s)", NULL, 0, 0},
    {"timeout", FL_OPT_DURATION, 0, "D",
     "per operation and per connect (default 1s); a timeout is recorded as info (unknown "
     "outcome), never fail",
     NULL, 0, 0},
    {"keys", FL_OPT_INT, 0, "K", "register, list-append, rw-register: number of keys (default 10)",
     NULL, 1, 1000000},
    {"txn-length", FL_OPT_INT, 0, "N",
     "list-append, rw-register: 1..N micro-ops per transaction (default 4, at most 16)", NULL, 1,
     FL_WL_TXN_MAX},
    {"max-writes-per-key", FL_OPT_INT, 0, "N",
     "list-append, rw-register: move on to fresh keys after about N writes per key (default 32)",
     NULL, 1, 1000000},
    {"values", FL_OPT_INT, 0, "V", "register: written values are 0..V-1 (default 5)", NULL, 1,
     1000000000},
    {"accounts", FL_OPT_INT, 0, "A", "bank: number of accounts (default 5)", NULL, 2, 100000},
    {"total", FL_OPT_INT, 0, "T", "bank: money spread over the accounts at start (default 1000)",
     NULL, 0, 1LL << 50},
    {"max-transfer", FL_OPT_INT, 0, "N", "bank: transfers move 1..N (default 5)", NULL, 1,
     1LL << 40},
    {"mix", FL_OPT_STRING, 0, "NAME=W,...", "operation weights, e.g. read=1,write=2,cas=1", NULL, 0,
     0},
    {"seed", FL_OPT_INT, 0, "S",
     "seed for the operation choice, 0 to 2^53-1 like `faultline run --seed` (default random; "
     "printed)",
     NULL, 0, (1LL << 53) - 1},
    {"namespace", FL_OPT_STRING, 0, "NAME",
     "prefix of the keys/tables the workload owns and resets (default faultline)", NULL, 0, 0},
    {"isolation", FL_OPT_ENUM, 0, "LEVEL",
     "postgres: serializable (default), repeatable-read, read-committed",
     "serializable|repeatable-read|read-committed", 0, 0},
    {"postgres-mode", FL_OPT_ENUM, 0, "MODE",
     "postgres: transactional (default) or non-transactional (read-modify-write without a "
     "transaction: loses updates on purpose, for testing checkers)",
     "transactional|non-transactional", 0, 0},
    {"out", FL_OPT_STRING, 0, "FILE", "the history (default history.jsonl; - for stdout)", NULL, 0,
     0},
    {"check", FL_OPT_FLAG, 0, NULL, "check the history at the end with the workload's model", NULL,
     0, 0},
    {"check-timeout", FL_OPT_DURATION, 0, "D", "the checker's timeout (default 60s)", NULL, 0, 0},
    {"quiet", FL_OPT_FLAG, 0, NULL, "no summary on stderr", NULL, 0, 0},
    FL_OPT_END,
};

static void usage(FILE *out)
{
    const struct fl_wl_ops *const *w = fl_wl_workloads();
    const struct fl_wl_client_ops *const *cl = fl_wl_clients();

    fprintf(out, "usage: faultline workload --client CLIENT --workload KIND --target TARGET\n"
                 "                          [options] --out HISTORY.jsonl [--check]\n\n"
                 "Run concurrent clients against a real system and record every operation's\n"
                 "invocation and outcome as a JSON Lines history (docs/history-format.md).\n\n"
                 "clients:\n");
    for (size_t i = 0; cl[i]; i++) {
        char list[256];
        fl_wl_client_workload_names(cl[i], list, sizeof list);
        fprintf(out, "  %-10s %s\n             target: %s\n             workloads: %s\n",
                cl[i]->name, cl[i]->summary, cl[i]->target_help, list);
    }
    fprintf(out, "workloads:\n");
    for (size_t i = 0; w[i]; i++) {
        fprintf(out, "  %-10s %s; mix", w[i]->name, w[i]->summary);
        for (int f = 0; f < FL_WL_NF; f++)
            if (w[i]->allowed & (1u << f))
                fprintf(out, " %s=%u", fl_wl_f_name(f), w[i]->mix[f]);
        fputc('\n', out);
    }
    fprintf(out, "\noptions:\n");
    fl_opts_print_help(out, opts);
    fprintf(out,
            "\nExit: 0 clean run (with --check: valid), 1 invalid, 2 unknown (--check), 3 usage,\n"
            "4 cannot connect or set up at start, 5 cannot write the history.\n"
            "See docs/workload.md.\n");
}

static int run_check(const struct fl_wl_cfg *c, int64_t timeout_ms)
{
    struct fl_err e = {0};
    struct fl_history *h = NULL;
    struct fl_check_opts o;
    struct fl_check_report r;

    if (fl_history_load(c->out, FL_FMT_JSONL, &h, &e) < 0) {
        fprintf(stderr, "faultline workload: --check: %s\n", e.msg);
        return FL_WL_EXIT_IO;
    }
    assert(c->workload); /* validated before the run */
    fl_check_opts_init(&o);
    o.model = c->workload->model;
    o.timeout_ms = timeout_ms;
    if (fl_check_txn_model(o.model)) /* hold the history to what --isolation promises */
        o.consistency_models = c->isolation == FL_WL_SERIALIZABLE      ? "serializable"
                               : c->isolation == FL_WL_REPEATABLE_READ ? "snapshot-isolation"
                                                                       : "read-committed";
    if (!strcmp(o.model, "bank")) {
        o.accounts = c->accounts;
        o.total = c->total;
        o.have_total = true;
    }
    if (fl_check_run(h, &o, &r, &e) < 0) {
        fprintf(stderr, "faultline workload: --check: %s\n", e.msg);
        fl_history_free(h);
        return FL_WL_EXIT_USAGE;
    }
    fputs(r.text, stdout);
    printf("(%zu operations, checked as %s in %.3f s)\n", h->nops, o.model, r.seconds);
    int status = r.verdict == FL_CHECK_VALID     ? FL_WL_EXIT_OK
                 : r.verdict == FL_CHECK_INVALID ? FL_WL_EXIT_INVALID
                                                 : FL_WL_EXIT_UNKNOWN;
    fl_check_report_fini(&r);
    fl_history_free(h);
    return status;
}

/* --client and --workload by name, from the registries; the error lists
 * what there is. */
static int resolve(struct fl_wl_cfg *c, const char *client, const char *workload)
{
    char list[256];

    if (client && !(c->client = fl_wl_client_find(client))) {
        fl_wl_client_names(list, sizeof list);
        fprintf(stderr,
                "faultline workload: unknown client '%s' (%s); see `faultline workload --help`\n",
                client, list);
        return -1;
    }
    if (workload && !(c->workload = fl_wl_find(workload))) {
        fl_wl_workload_names(list, sizeof list);
        fprintf(stderr,
                "faultline workload: unknown workload '%s' (%s); see `faultline workload "
                "--help`\n",
                workload, list);
        return -1;
    }
    return 0;
}

/* The configuration from the parsed options; the same checks as before the
 * table: the workload's own mix, then fl_wl_cfg_validate. */
static int configure(struct fl_wl_cfg *c, const json_t *p, bool *check, int64_t *check_timeout)
{
    struct fl_err e = {0};
    const char *mix = fl_param_str(p, "mix", NULL);
    const char *iso = fl_param_str(p, "isolation", "serializable");

    c->target = fl_param_str(p, "target", c->target);
    c->concurrency = (int)fl_param_int(p, "concurrency", c->concurrency);
    c->rate = fl_param_real(p, "rate", c->rate);
    c->duration_ms = fl_param_int(p, "duration", c->duration_ms);
    c->timeout_ms = fl_param_int(p, "timeout", c->timeout_ms);
    c->keys = (int)fl_param_int(p, "keys", c->keys);
    c->txn_len = (int)fl_param_int(p, "txn-length", c->txn_len);
    c->max_writes_per_key = (int)fl_param_int(p, "max-writes-per-key", c->max_writes_per_key);
    c->values = (int)fl_param_int(p, "values", c->values);
    c->accounts = (int)fl_param_int(p, "accounts", c->accounts);
    c->total = fl_param_int(p, "total", c->total);
    c->max_transfer = fl_param_int(p, "max-transfer", c->max_transfer);
    c->ns = fl_param_str(p, "namespace", c->ns);
    c->isolation = !strcmp(iso, "repeatable-read")  ? FL_WL_REPEATABLE_READ
                   : !strcmp(iso, "read-committed") ? FL_WL_READ_COMMITTED
                                                    : FL_WL_SERIALIZABLE;
    c->non_transactional =
        !strcmp(fl_param_str(p, "postgres-mode", "transactional"), "non-transactional");
    c->out = fl_param_str(p, "out", c->out);
    c->quiet = fl_param_bool(p, "quiet");
    *check = fl_param_bool(p, "check");
    *check_timeout = fl_param_int(p, "check-timeout", 60000);
    if (resolve(c, fl_param_str(p, "client", NULL), fl_param_str(p, "workload", NULL)) < 0)
        return -1;
    if (c->workload) {
        memcpy(c->mix, c->workload->mix, sizeof c->mix);
        if (mix && fl_wl_parse_mix(c->workload, mix, c->mix, &e) < 0)
            goto bad;
    }
    if (fl_wl_cfg_validate(c, &e) < 0)
        goto bad;
    if (*check && !strcmp(c->out, "-")) {
        fprintf(stderr, "faultline workload: --check needs a history file (--out FILE), not "
                        "stdout\n");
        return -1;
    }
    if (json_object_get(p, "seed")) {
        c->seed = (uint64_t)fl_param_int(p, "seed", 0);
    } else {
        if (getrandom(&c->seed, sizeof c->seed, 0) != (ssize_t)sizeof c->seed)
            c->seed = (uint64_t)time(NULL);
        c->seed &= (UINT64_C(1) << 53) - 1; /* exact in any JSON reader */
    }
    return 0;
bad:
    fprintf(stderr, "faultline workload: %s\n", e.msg);
    return -1;
}

static void print_summary(const struct fl_wl_cfg *c, const struct fl_wl_stats *st)
{
    uint64_t t[3] = {0};

    for (int f = 0; f < FL_WL_NF; f++)
        for (int k = 0; k < 3; k++)
            t[k] += st->n[f][k];
    fprintf(stderr,
            "faultline workload: %s %s: %llu operations in %.1fs (ok %llu, fail %llu, "
            "info %llu; %llu reconnects), seed %llu%s; history %s (%llu events)\n",
            c->client->name, c->workload->name, (unsigned long long)t[0] + t[1] + t[2], st->seconds,
            (unsigned long long)t[0], (unsigned long long)t[1], (unsigned long long)t[2],
            (unsigned long long)st->reconnects, (unsigned long long)c->seed,
            stop_requested ? ", stopped early by a signal" : "", c->out,
            (unsigned long long)st->events);
}

int fl_cli_workload(int argc, char **argv)
{
    _cleanup_json_ json_t *params = json_object();
    struct fl_wl_cfg c;
    struct fl_err e = {0};
    bool check = false;
    int64_t check_timeout = 60000;
    int first, r;

    fl_wl_cfg_init(&c);
    r = fl_opts_parse_argv(opts, "workload", argc, argv, params, &first, &e);
    if (r == 1) {
        usage(stdout);
        return FL_WL_EXIT_OK;
    }
    if (r < 0) {
        fprintf(stderr, "faultline workload: %s\n", e.msg);
        return FL_WL_EXIT_USAGE;
    }
    if (first != argc) {
        fprintf(stderr,
                "faultline workload: unexpected argument '%s'; see `faultline workload "
                "--help`\n",
                argv[first]);
        return FL_WL_EXIT_USAGE;
    }
    if (configure(&c, params, &check, &check_timeout) < 0)
        return FL_WL_EXIT_USAGE;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    c.stop = &stop_requested;

    struct fl_wl_stats st;
    if (fl_wl_run(&c, &st, &e) < 0) {
        fprintf(stderr, "faultline workload: %s\n", e.msg);
        return e.code ? e.code : FL_WL_EXIT_IO;
    }
    if (!c.quiet)
        print_summary(&c, &st);
    if (!check)
        return FL_WL_EXIT_OK;
    return run_check(&c, check_timeout);
}
