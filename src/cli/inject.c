/* faultline inject KIND [options]: apply one fault, hold it, revert it.
 *
 * Order matters for the recovery guarantee: plan (touch nothing) -> journal
 * record (durable) -> guardian watching -> inject -> hold (renewing the
 * lease) -> revert -> remove the record. Whatever kills this process after
 * the record is written, the guardian reverts the fault. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "agent/apply.h"
#include "agent/journal.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "faults/fault.h"
#include "util/log.h"
#include "util/opts.h"
#include "util/parse.h"
#include "util/suggest.h"
#include "util/time.h"

#define LEASE_FOREGROUND_MS 15000
#define LEASE_DETACHED_MS (INT64_C(5) * 60 * 1000)

/* The signal that asked us to stop; the command's only global state. */
static volatile sig_atomic_t inject_stop;

static void on_signal(int sig)
{
    inject_stop = sig;
}

static const struct fl_opt common_opts[] = {
    {"duration", FL_OPT_DURATION, 0, "DURATION",
     "how long to hold the fault (default: until Ctrl-C/SIGTERM, or the lease if detached)", NULL,
     1, 0},
    {"detach", FL_OPT_FLAG, 0, NULL,
     "apply, print the fault id and return; the guardian reverts at the end", NULL, 0, 0},
    {"lease", FL_OPT_DURATION, 0, "DURATION",
     "revert if not renewed by then (foreground: 15s, renewed while running; "
     "detached: the duration, else 5m; at least 1s)",
     NULL, 1000, 0},
    {"seed", FL_OPT_INT, 0, "N", "seed for random target picks (default: random, printed)", NULL, 0,
     0},
    {"dry-run", FL_OPT_FLAG, 0, NULL, "resolve targets and print the plan; touch nothing", NULL, 0,
     0},
    {"host", FL_OPT_STRING, 0, "LIST",
     "apply through the agents of these hosts, comma-separated: URL, HOST[:PORT] or LAB/hK "
     "(docs/agent.md); all hosts are checked before anything is injected",
     NULL, 0, 0},
    {"token", FL_OPT_STRING, 0, "TOKEN",
     "the agents' bearer token (default $FAULTLINE_AGENT_TOKEN, or a lab host's own)", NULL, 0, 0},
    {"state-dir", FL_OPT_STRING, 0, "DIR",
     "journal and guardian directory (default $FAULTLINE_STATE_DIR or the machine-wide "
     "/run/faultline, shared by every user)",
     NULL, 0, 0},
    FL_OPT_END,
};

/* The registered kind closest to a misspelled one, or NULL. */
static const char *suggest_kind(const char *kind)
{
    const struct fl_fault_ops *const *k = fl_fault_kinds();
    const char *names[64];
    size_t n = 0;

    for (; *k && n + 1 < sizeof names / sizeof *names; k++)
        names[n++] = (*k)->kind;
    names[n] = NULL;
    return fl_suggest(kind, names);
}

static void print_kinds(FILE *out)
{
    const struct fl_fault_ops *const *k = fl_fault_kinds();

    fprintf(out, "fault kinds:\n");
    for (; *k; k++)
        fprintf(out, "  %-20s %s\n", (*k)->kind, (*k)->summary);
}

static void usage(FILE *out, const struct fl_fault_ops *ops)
{
    if (ops) {
        fprintf(out, "usage: faultline inject %s [options]\n\n%s\n\n%s options:\n", ops->kind,
                ops->summary, ops->kind);
        fl_opts_print_help(out, ops->opts);
    } else {
        fprintf(out, "usage: faultline inject KIND [options]\n\n");
        print_kinds(out);
        fprintf(out, "\nRun `faultline inject KIND --help` for a kind's options.\n");
    }
    fprintf(out, "\ncommon options:\n");
    fl_opts_print_help(out, common_opts);
    fprintf(out, "\nA foreground inject holds the fault for --duration and reverts at the end or\n"
                 "on Ctrl-C/SIGTERM (exit 0 once reverted). If this process dies, the guardian\n"
                 "reverts the fault at once. Faults on one target compose (a process paused\n"
                 "twice runs again when the later pause ends) or are refused (exit 4) where\n"
                 "they cannot: see \"Overlapping faults\" in docs/faults-*.md. Exit codes:\n"
                 "docs/exit-codes.md.\n");
}

/* Parse "--name value" / "--name=value" pairs into kind and common params. */
static int parse_args(int argc, char **argv, const struct fl_fault_ops *ops, json_t *params,
                      json_t *common, struct fl_err *e)
{
    const struct fl_opt *const kind_tables[] = {ops->opts, NULL};
    const struct fl_opt *const common_tables[] = {common_opts, NULL};

    for (int i = 0; i < argc; i++) {
        char name[64];
        const char *arg = argv[i], *value = NULL, *eq;
        const struct fl_opt *o;
        json_t *dest = params;
        int r;

        if (strncmp(arg, "--", 2) || !arg[2])
            return fl_err_set(e, FL_EUSAGE,
                              "unexpected argument '%s': options look like --name VALUE; run "
                              "`faultline inject %s --help`",
                              arg, ops->kind);
        eq = strchr(arg, '=');
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - arg - 2) : (int)strlen(arg + 2),
                 arg + 2);
        o = fl_opts_find(kind_tables, name);
        if (!o) {
            o = fl_opts_find(common_tables, name);
            dest = common;
        }
        if (!o) {
            const struct fl_opt *const all[] = {ops->opts, common_opts, NULL};
            const char *hint = fl_opts_suggest(all, name);
            return fl_err_set(e, FL_EUSAGE,
                              "%s does not take --%s%s%s%s; run `faultline inject %s --help` "
                              "for its options",
                              ops->kind, name, hint ? " (did you mean --" : "", hint ? hint : "",
                              hint ? "?)" : "", ops->kind);
        }
        if (o->type == FL_OPT_FLAG) {
            if (eq)
                return fl_err_set(e, FL_EUSAGE, "--%s takes no value", name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return fl_err_set(e, FL_EUSAGE, "--%s needs a value (%s)", name,
                              o->metavar ? o->metavar : "VALUE");
        }
        r = fl_opts_set(o, dest, value, e);
        if (r)
            return r;
    }
    return fl_opts_check_required(ops->opts, params, e);
}

static void install_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* Hold the fault until its duration ends, a signal arrives, or the record
 * disappears. Returns true if this process should still revert it. */
static bool hold(struct fl_journal *j, const char *id, int64_t end_at, int64_t lease_ms)
{
    int64_t renew_every = lease_ms / 3 > 0 ? lease_ms / 3 : 1;
    int64_t next_renew = fl_now_ms() + renew_every;

    while (!inject_stop) {
        int64_t now = fl_now_ms();
        int64_t wait = 100;

        if (end_at && now >= end_at)
            break;
        if (now >= next_renew) {
            if (!fl_fault_renew(j, id, lease_ms)) {
                char by[256];
                fl_journal_reverted_by(j, id, by, sizeof by);
                fl_info("fault %s was reverted by %s", id, by);
                return false;
            }
            next_renew = now + renew_every;
        }
        if (end_at && end_at - now < wait)
            wait = end_at - now;
        fl_sleep_ms(wait);
    }
    return true;
}

static int run_fault(struct fl_fault *f, json_t *common, struct fl_err *e)
{
    const char *state_dir = fl_cli_state_dir(fl_param_str(common, "state-dir", NULL));
    bool detach = fl_param_bool(common, "detach");
    int64_t lease_ms = fl_param_int(common, "lease", 0);
    int64_t end_at = 0, started;
    struct fl_journal j;
    char desc[512], dur[32], lease_s[32];
    bool found, mine;
    int r;

    if (!lease_ms)
        lease_ms = !detach          ? LEASE_FOREGROUND_MS
                   : f->duration_ms ? f->duration_ms
                                    : LEASE_DETACHED_MS;
    if (lease_ms < 1000)
        return fl_err_set(e, FL_EUSAGE, "--lease must be at least 1s");
    f->fixed_lease_ms = detach ? lease_ms : 0; /* a foreground inject renews it */
    r = f->ops->plan(f, e);
    if (r)
        return r;
    fl_fault_describe(f, desc, sizeof desc);
    if (fl_param_bool(common, "dry-run")) {
        printf("would inject %s: %s (seed %llu)\n", f->ops->kind, desc,
               (unsigned long long)f->seed);
        char *undo = json_dumps(f->undo, JSON_COMPACT | JSON_SORT_KEYS);
        printf("undo record: %s\n", undo ? undo : "{}");
        free(undo);
        return 0;
    }
    if ((r = fl_journal_open(&j, state_dir, e)))
        return r;
    install_signals();
    if (f->duration_ms)
        end_at = fl_now_ms() + f->duration_ms;
    started = fl_now_ms();
    r = fl_fault_apply(&j, f, detach ? 0 : getpid(), lease_ms, end_at, e);
    if (r) {
        fl_journal_close(&j);
        return r;
    }
    fl_fault_describe(f, desc, sizeof desc);
    /* A foreground inject holds the fault for its whole duration from the
     * moment it is applied: applying (the journal, starting a guardian) can
     * take a second on a loaded machine, and counting it left a --duration 1s
     * pause held for milliseconds. The record keeps the earlier end_at; the
     * guardian ends only detached faults at theirs (an owner ends its own). */
    if (!detach) {
        started = fl_now_ms();
        if (f->duration_ms)
            end_at = started + f->duration_ms;
    }

    if (f->ops->flags & FL_FAULT_INSTANT) {
        fl_journal_remove(&j, f->id);
        fl_info("%s %s: %s", f->ops->kind, f->id, desc);
        printf("%s\n", f->id);
        fl_journal_close(&j);
        return 0;
    }
    fl_format_duration(lease_ms, lease_s, sizeof lease_s);
    if (detach) {
        fl_format_duration(f->duration_ms, dur, sizeof dur);
        fl_info("fault %s applied: %s; the guardian reverts it %s%s (lease %s), or run "
                "`faultline recover %s`",
                f->id, desc, f->duration_ms ? "after " : "when the lease ends",
                f->duration_ms ? dur : "", lease_s, f->id);
        printf("%s\n", f->id);
        fl_journal_close(&j);
        return 0;
    }
    fl_format_duration(f->duration_ms, dur, sizeof dur);
    fl_info("fault %s applied: %s; %s%s (Ctrl-C reverts now)", f->id, desc,
            f->duration_ms ? "holding for " : "holding until interrupted",
            f->duration_ms ? dur : "");
    fflush(stderr);
    mine = hold(&j, f->id, end_at, lease_ms);
    if (mine) {
        if ((r = fl_journal_revert(&j, f->id, &found, e))) {
            fl_error("revert of %s failed; the guardian keeps retrying", f->id);
        } else {
            fl_format_duration(fl_now_ms() - started, dur, sizeof dur);
            fl_info("fault %s reverted after %s%s", f->id, dur,
                    inject_stop ? " (interrupted)" : "");
        }
    }
    fl_journal_close(&j);
    return r;
}

int fl_cli_inject(int argc, char **argv)
{
    const struct fl_fault_ops *ops;
    const char *why, *hint;
    struct fl_err e = {0};
    struct fl_fault f;
    json_t *params, *common;
    uint64_t seed;
    int r;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? FL_EUSAGE : 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (!(ops = fl_fault_lookup(argv[1])))
                break;
            usage(stdout, ops);
            return 0;
        }
    ops = fl_fault_lookup(argv[1]);
    if (!ops) {
        why = fl_fault_unavailable_reason(argv[1]);
        if (why) {
            fl_err_set(&e, FL_EUNSUPPORTED, "%s is not available: %s", argv[1], why);
            return fl_cli_fail(&e);
        }
        hint = suggest_kind(argv[1]);
        fl_err_set(&e, FL_EUSAGE,
                   "unknown fault kind '%s'%s%s%s; run `faultline inject --help` for the list",
                   argv[1], hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
        return fl_cli_fail(&e);
    }
    params = json_object();
    common = json_object();
    r = parse_args(argc - 2, argv + 2, ops, params, common, &e);
    if (r == 0 && (ops->flags & FL_FAULT_INSTANT) &&
        (json_object_get(common, "duration") || json_object_get(common, "detach")))
        r = fl_err_set(&e, FL_EUSAGE,
                       "%s happens at once and cannot be held: drop --duration "
                       "and --detach",
                       ops->kind);
    if (r == 0 && ops->validate)
        r = ops->validate(ops, params, &e);
    if (r) {
        json_decref(params);
        json_decref(common);
        return fl_cli_fail(&e);
    }
    if (json_object_get(common, "seed")) {
        seed = (uint64_t)fl_param_int(common, "seed", 0);
    } else if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
        seed = (uint64_t)fl_wall_ms() ^ (uint64_t)getpid();
    }
    seed &= (1ULL << 53) - 1; /* exact in JSON */
    if (json_object_get(common, "host")) {
        int rc;
        if (fl_param_bool(common, "dry-run")) {
            json_decref(params);
            json_decref(common);
            fl_err_set(&e, FL_EUSAGE, "--dry-run plans on this host; it cannot go with --host");
            return fl_cli_fail(&e);
        }
        rc = fl_cli_inject_remote(
            ops, params, fl_param_str(common, "host", NULL), fl_param_str(common, "token", NULL),
            fl_cli_state_dir(fl_param_str(common, "state-dir", NULL)),
            fl_param_int(common, "duration", 0), fl_param_int(common, "lease", 0),
            fl_param_bool(common, "detach"), seed);
        json_decref(params);
        json_decref(common);
        return rc;
    }
    fl_fault_init(&f, ops, params);
    f.seed = seed;
    f.duration_ms = fl_param_int(common, "duration", 0);
    r = run_fault(&f, common, &e);
    fl_fault_fini(&f);
    json_decref(common);
    return r ? fl_cli_fail(&e) : 0;
}
