/* faultline workload: drive a real system with concurrent clients and record
 * the history; optionally check it right away (--check).
 *
 * Exit codes follow `faultline check` so scripts can use either:
 * 0 clean run (and valid with --check), 1 invalid, 2 unknown, 3 usage,
 * 4 cannot connect or set up at start, 5 cannot write the history. */
#include <assert.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "check/check.h"
#include "cli/cli.h"
#include "util/parse.h"
#include "workload/workload.h"

static volatile sig_atomic_t stop_requested; /* set by SIGINT/SIGTERM: finish early */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

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
    fprintf(out,
            "\noptions:\n"
            "  --concurrency N       workers, each with its own connection (default 5)\n"
            "  --rate R              operations per second over all workers (default 0 =\n"
            "                        as fast as the system answers)\n"
            "  --duration D          how long to issue operations (default 10s)\n"
            "  --timeout D           per operation and per connect (default 1s); a timeout is\n"
            "                        recorded as info (unknown outcome), never fail\n"
            "  --keys K              register, list-append, rw-register: number of keys\n"
            "                        (default 10)\n"
            "  --txn-length N        list-append, rw-register: 1..N micro-ops per\n"
            "                        transaction (default 4, at most 16)\n"
            "  --max-writes-per-key N  list-append, rw-register: move on to fresh keys after\n"
            "                        about N writes per key (default 32)\n"
            "  --values V            register: written values are 0..V-1 (default 5)\n"
            "  --accounts A          bank: number of accounts (default 5)\n"
            "  --total T             bank: money spread over the accounts at start (default 1000)\n"
            "  --max-transfer N      bank: transfers move 1..N (default 5)\n"
            "  --mix NAME=W,...      operation weights, e.g. read=1,write=2,cas=1\n"
            "  --seed S              seed for the operation choice (default random; printed)\n"
            "  --namespace NAME      prefix of the keys/tables the workload owns and resets\n"
            "                        (default faultline)\n"
            "  --isolation LEVEL     postgres: serializable (default), repeatable-read,\n"
            "                        read-committed\n"
            "  --postgres-mode MODE  postgres: transactional (default) or non-transactional\n"
            "                        (read-modify-write without a transaction: loses updates on\n"
            "                        purpose, for testing checkers)\n"
            "  --out FILE            the history (default history.jsonl; - for stdout)\n"
            "  --check               check the history at the end with the workload's model\n"
            "  --check-timeout D     the checker's timeout (default 60s)\n"
            "  --quiet               no summary on stderr\n\n"
            "Exit: 0 clean run (with --check: valid), 1 invalid, 2 unknown (--check), 3 usage,\n"
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

static int bad(const char *flag, const struct fl_err *e)
{
    fprintf(stderr, "faultline workload: %s: %s\n", flag, e->msg);
    return FL_WL_EXIT_USAGE;
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

int fl_cli_workload(int argc, char **argv)
{
    enum {
        O_CLIENT = 256,
        O_WORKLOAD,
        O_TARGET,
        O_CONC,
        O_RATE,
        O_DURATION,
        O_TIMEOUT,
        O_KEYS,
        O_VALUES,
        O_ACCOUNTS,
        O_TOTAL,
        O_MAXTR,
        O_MIX,
        O_SEED,
        O_NS,
        O_ISO,
        O_PGMODE,
        O_OUT,
        O_CHECK,
        O_CHECKTO,
        O_QUIET,
        O_TXNLEN,
        O_MAXW,
    };
    static const struct option longopts[] = {
        {"client", required_argument, NULL, O_CLIENT},
        {"workload", required_argument, NULL, O_WORKLOAD},
        {"target", required_argument, NULL, O_TARGET},
        {"concurrency", required_argument, NULL, O_CONC},
        {"rate", required_argument, NULL, O_RATE},
        {"duration", required_argument, NULL, O_DURATION},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"keys", required_argument, NULL, O_KEYS},
        {"values", required_argument, NULL, O_VALUES},
        {"accounts", required_argument, NULL, O_ACCOUNTS},
        {"total", required_argument, NULL, O_TOTAL},
        {"max-transfer", required_argument, NULL, O_MAXTR},
        {"mix", required_argument, NULL, O_MIX},
        {"seed", required_argument, NULL, O_SEED},
        {"namespace", required_argument, NULL, O_NS},
        {"isolation", required_argument, NULL, O_ISO},
        {"postgres-mode", required_argument, NULL, O_PGMODE},
        {"out", required_argument, NULL, O_OUT},
        {"check", no_argument, NULL, O_CHECK},
        {"check-timeout", required_argument, NULL, O_CHECKTO},
        {"quiet", no_argument, NULL, O_QUIET},
        {"txn-length", required_argument, NULL, O_TXNLEN},
        {"max-writes-per-key", required_argument, NULL, O_MAXW},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fl_wl_cfg c;
    struct fl_err e = {0};
    const char *mix = NULL, *client = NULL, *workload = NULL;
    bool check = false, have_seed = false;
    int64_t check_timeout = 60000;
    long long ll;
    int opt;

    fl_wl_cfg_init(&c);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_CLIENT:
            client = optarg;
            break;
        case O_WORKLOAD:
            workload = optarg;
            break;
        case O_TARGET:
            c.target = optarg;
            break;
        case O_CONC:
            if (fl_parse_int(optarg, 1, 1024, &ll, &e) < 0)
                return bad("--concurrency", &e);
            c.concurrency = (int)ll;
            break;
        case O_RATE: {
            char *end;
            double r = strtod(optarg, &end);
            if (!*optarg || *end || r < 0 || r != r || r > 1e7) {
                fprintf(stderr,
                        "faultline workload: --rate: '%s' is not a rate in operations per "
                        "second (0..10000000; 0 = unlimited)\n",
                        optarg);
                return FL_WL_EXIT_USAGE;
            }
            c.rate = r;
            break;
        }
        case O_DURATION:
            if (fl_parse_duration_ms(optarg, &c.duration_ms, &e) < 0)
                return bad("--duration", &e);
            break;
        case O_TIMEOUT:
            if (fl_parse_duration_ms(optarg, &c.timeout_ms, &e) < 0)
                return bad("--timeout", &e);
            break;
        case O_KEYS:
            if (fl_parse_int(optarg, 1, 1000000, &ll, &e) < 0)
                return bad("--keys", &e);
            c.keys = (int)ll;
            break;
        case O_TXNLEN:
            if (fl_parse_int(optarg, 1, FL_WL_TXN_MAX, &ll, &e) < 0)
                return bad("--txn-length", &e);
            c.txn_len = (int)ll;
            break;
        case O_MAXW:
            if (fl_parse_int(optarg, 1, 1000000, &ll, &e) < 0)
                return bad("--max-writes-per-key", &e);
            c.max_writes_per_key = (int)ll;
            break;
        case O_VALUES:
            if (fl_parse_int(optarg, 1, 1000000000, &ll, &e) < 0)
                return bad("--values", &e);
            c.values = (int)ll;
            break;
        case O_ACCOUNTS:
            if (fl_parse_int(optarg, 2, 100000, &ll, &e) < 0)
                return bad("--accounts", &e);
            c.accounts = (int)ll;
            break;
        case O_TOTAL:
            if (fl_parse_int(optarg, 0, 1LL << 50, &ll, &e) < 0)
                return bad("--total", &e);
            c.total = ll;
            break;
        case O_MAXTR:
            if (fl_parse_int(optarg, 1, 1LL << 40, &ll, &e) < 0)
                return bad("--max-transfer", &e);
            c.max_transfer = ll;
            break;
        case O_MIX:
            mix = optarg;
            break;
        case O_SEED: {
            char *end;
            unsigned long long s = strtoull(optarg, &end, 0);
            if (!*optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "faultline workload: --seed: '%s' is not a whole number\n", optarg);
                return FL_WL_EXIT_USAGE;
            }
            c.seed = s;
            have_seed = true;
            break;
        }
        case O_NS:
            c.ns = optarg;
            break;
        case O_ISO:
            if (!strcmp(optarg, "serializable"))
                c.isolation = FL_WL_SERIALIZABLE;
            else if (!strcmp(optarg, "repeatable-read"))
                c.isolation = FL_WL_REPEATABLE_READ;
            else if (!strcmp(optarg, "read-committed"))
                c.isolation = FL_WL_READ_COMMITTED;
            else {
                fprintf(stderr,
                        "faultline workload: --isolation must be serializable, repeatable-read "
                        "or read-committed, not '%s'\n",
                        optarg);
                return FL_WL_EXIT_USAGE;
            }
            break;
        case O_PGMODE:
            if (!strcmp(optarg, "non-transactional"))
                c.non_transactional = true;
            else if (!strcmp(optarg, "transactional"))
                c.non_transactional = false;
            else {
                fprintf(stderr,
                        "faultline workload: --postgres-mode must be transactional or "
                        "non-transactional, not '%s'\n",
                        optarg);
                return FL_WL_EXIT_USAGE;
            }
            break;
        case O_OUT:
            c.out = optarg;
            break;
        case O_CHECK:
            check = true;
            break;
        case O_CHECKTO:
            if (fl_parse_duration_ms(optarg, &check_timeout, &e) < 0)
                return bad("--check-timeout", &e);
            break;
        case O_QUIET:
            c.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return FL_WL_EXIT_OK;
        default:
            fprintf(stderr,
                    "faultline workload: unknown or incomplete option '%s'; see "
                    "`faultline workload --help`\n",
                    argv[optind - 1]);
            return FL_WL_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr,
                "faultline workload: unexpected argument '%s'; see `faultline workload "
                "--help`\n",
                argv[optind]);
        return FL_WL_EXIT_USAGE;
    }
    if (resolve(&c, client, workload) < 0)
        return FL_WL_EXIT_USAGE;
    if (c.workload) {
        memcpy(c.mix, c.workload->mix, sizeof c.mix);
        if (mix && fl_wl_parse_mix(c.workload, mix, c.mix, &e) < 0) {
            fprintf(stderr, "faultline workload: %s\n", e.msg);
            return FL_WL_EXIT_USAGE;
        }
    }
    if (fl_wl_cfg_validate(&c, &e) < 0) {
        fprintf(stderr, "faultline workload: %s\n", e.msg);
        return FL_WL_EXIT_USAGE;
    }
    if (check && !strcmp(c.out, "-")) {
        fprintf(stderr, "faultline workload: --check needs a history file (--out FILE), not "
                        "stdout\n");
        return FL_WL_EXIT_USAGE;
    }
    if (!have_seed) {
        if (getrandom(&c.seed, sizeof c.seed, 0) != (ssize_t)sizeof c.seed)
            c.seed = (uint64_t)time(NULL);
        c.seed &= (UINT64_C(1) << 53) - 1; /* exact in any JSON reader */
    }

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
    if (!c.quiet) {
        uint64_t t[3] = {0};
        for (int f = 0; f < FL_WL_NF; f++)
            for (int k = 0; k < 3; k++)
                t[k] += st.n[f][k];
        fprintf(stderr,
                "faultline workload: %s %s: %llu operations in %.1fs (ok %llu, fail %llu, "
                "info %llu; %llu reconnects), seed %llu%s; history %s (%llu events)\n",
                c.client->name, c.workload->name, (unsigned long long)t[0] + t[1] + t[2],
                st.seconds, (unsigned long long)t[0], (unsigned long long)t[1],
                (unsigned long long)t[2], (unsigned long long)st.reconnects,
                (unsigned long long)c.seed, stop_requested ? ", stopped early by a signal" : "",
                c.out, (unsigned long long)st.events);
    }
    if (!check)
        return FL_WL_EXIT_OK;
    return run_check(&c, check_timeout);
}
