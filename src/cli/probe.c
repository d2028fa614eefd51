/* faultline probe: run one probe (any kind an experiment's probes take, with
 * the same options) every --interval and print one JSON line per sample.
 * "Does this probe work from here?" on its own; on an agent host it is the
 * job the agent runs for a probe of an experiment (src/engine/remote_probe.c
 * reads the lines back). Samples are scheduled like the engine's: one due at
 * every multiple of the interval, and a tick that comes due while a slow
 * sample still runs is printed as "missed" with that sample's outcome. */
#include <assert.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "probes/probe.h"
#include "util/cleanup.h"
#include "util/opts.h"
#include "util/proc.h"
#include "util/time.h"

#define DEFAULT_INTERVAL_MS 1000
#define DEFAULT_TIMEOUT_MS 2000

static volatile sig_atomic_t stop_requested; /* SIGINT/SIGTERM: stop after this sample */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const struct fl_opt opts[] = {
    {"kind", FL_OPT_STRING, FL_OPT_REQUIRED, "KIND", "the probe kind (see kinds below)", NULL, 0,
     0},
    {"params", FL_OPT_STRING, 0, "JSON",
     "the kind's options as a JSON object, as in an experiment file: "
     "'{\"address\": \"127.0.0.1:6379\"}' (default {})",
     NULL, 0, 0},
    {"interval", FL_OPT_DURATION, 0, "D", "time between samples (default 1s)", NULL, 10, 0},
    {"timeout", FL_OPT_DURATION, 0, "D", "each sample's timeout (default 2s)", NULL, 1, 0},
    {"count", FL_OPT_INT, 0, "N", "stop after N samples (default: until --duration or a signal)",
     NULL, 1, 1000000000},
    {"duration", FL_OPT_DURATION, 0, "D", "stop after the ticks within D", NULL, 1, 0},
    FL_OPT_END,
};

static void usage(FILE *out)
{
    fprintf(out, "usage: faultline probe --kind KIND [--params JSON] [--interval D] [--timeout D]\n"
                 "                       [--count N | --duration D]\n\n"
                 "Run one probe every interval and print one JSON line per sample:\n"
                 "  {\"t_ms\": ms since start, \"ok\": bool, \"value\": number|null, "
                 "\"latency_ms\": number,\n"
                 "   \"error\": \"...\"|null, \"missed\": bool, \"detail\": \"...\"}\n"
                 "A tick that comes due while the previous sample still runs is printed with\n"
                 "\"missed\": true and that sample's outcome (the probe is never asked twice at\n"
                 "once). Without --count or --duration it runs until SIGINT/SIGTERM.\n\n"
                 "kinds (their options as in an experiment file, docs/experiments.md):\n");
    for (const struct fl_probe_ops *const *k = fl_probe_kinds(); *k; k++) {
        fprintf(out, "  %-10s %s\n", (*k)->kind, (*k)->summary);
        for (const struct fl_opt *o = (*k)->opts; o && o->name; o++)
            fprintf(out, "             %s%s: %s\n", o->name,
                    o->flags & FL_OPT_REQUIRED ? " (required)" : "", o->help);
    }
    fprintf(out, "\noptions:\n");
    fl_opts_print_help(out, opts);
    fprintf(out, "\nKind command is refused when FAULTLINE_NO_COMMANDS=1 (an agent started\n"
                 "without --allow-commands runs its probe jobs that way).\n"
                 "Exit: 0 every sample ok, 1 some sample failed, 2 usage, 5 kind command\n"
                 "refused under FAULTLINE_NO_COMMANDS=1. See docs/cli.md.\n");
}

struct probe_run {
    struct fl_probe p;
    int64_t interval_ms, t0_ns;
    long long count; /* 0: no limit */
    int64_t duration_ms;
    long long printed;
    bool any_failed;
};

static void print_line(struct probe_run *r, const struct fl_probe_line *l)
{
    _cleanup_free_ char *s = fl_probe_line_format(l);

    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout); /* the agent reads the file while we run */
    }
    r->printed++;
    r->any_failed |= !l->ok;
}

static bool done(const struct probe_run *r, int64_t next)
{
    return stop_requested || (r->count && r->printed >= r->count) ||
           (r->duration_ms && next >= r->duration_ms);
}

static int64_t since(const struct probe_run *r)
{
    return (fl_mono_ns() - r->t0_ns) / 1000000;
}

/* Sample at every tick until done; open() failing makes every sample fail
 * with its message, like the engine does. */
static void run_loop(struct probe_run *r, const char *broken)
{
    int64_t next = 0;

    while (!done(r, next)) {
        struct fl_probe_result res = {0};
        struct fl_probe_line l = {.t_ms = next};
        int64_t start, now = since(r);

        if (now < next) {
            fl_sleep_ms(next - now > 100 ? 100 : next - now); /* wakes for signals */
            continue;
        }
        start = fl_mono_ns();
        if (broken)
            snprintf(res.detail, sizeof res.detail, "%s", broken);
        else
            r->p.ops->sample(&r->p, &res);
        l.latency_ms = (double)(fl_mono_ns() - start) / 1e6;
        l.ok = res.ok;
        l.value = res.has_value ? res.value : NAN;
        snprintf(l.detail, sizeof l.detail, "%s", res.detail);
        print_line(r, &l);
        next += r->interval_ms;
        for (now = since(r); next < now && !done(r, next); next += r->interval_ms) {
            struct fl_probe_line m = l;
            m.t_ms = next;
            m.missed = true;
            m.latency_ms = (double)(now - next);
            print_line(r, &m);
        }
    }
}

/* When this process started, on CLOCK_MONOTONIC: t_ms counts from there
 * (the fork, to 10ms), not from after exec and startup, so an agent's probe
 * job places its samples from the moment the agent started it. The start in
 * /proc/self/stat is in clock ticks of CLOCK_BOOTTIME. */
static int64_t process_start_ns(void)
{
    uint64_t ticks = fl_proc_start_time(getpid());
    long hz = sysconf(_SC_CLK_TCK);
    int64_t now = fl_mono_ns(), age;
    struct timespec bt;

    if (!ticks || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &bt))
        return now;
    age = (int64_t)bt.tv_sec * 1000000000 + bt.tv_nsec - (int64_t)ticks * (1000000000 / hz);
    return age >= 0 && age < 10000000000LL ? now - age : now;
}

/* The probe from the parsed options; FL_E* on bad input. */
static int configure(struct probe_run *r, const json_t *o, json_t **params, struct fl_err *e)
{
    const char *kind = fl_param_str(o, "kind", "");
    const char *text = fl_param_str(o, "params", "{}");
    const struct fl_probe_ops *ops = fl_probe_lookup(kind);
    const char *no_commands = getenv("FAULTLINE_NO_COMMANDS");
    _cleanup_json_ json_t *in = NULL;
    json_error_t je;
    char list[256] = "";
    size_t off = 0;
    int rc;

    if (!ops) {
        for (const struct fl_probe_ops *const *k = fl_probe_kinds(); *k && off < sizeof list; k++)
            off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "",
                                    (*k)->kind);
        return fl_err_set(e, FL_EUSAGE, "unknown probe kind '%s'; the kinds: %s", kind, list);
    }
    if (!strcmp(ops->kind, "command") && no_commands && !strcmp(no_commands, "1"))
        return fl_err_set(e, FL_EPERM,
                          "probes of kind command are refused here (FAULTLINE_NO_COMMANDS=1: "
                          "this host's agent runs no commands); start the agent with "
                          "--allow-commands to allow them, or use another probe kind");
    if (json_object_get(o, "count") && json_object_get(o, "duration"))
        return fl_err_set(e, FL_EUSAGE, "give --count or --duration, not both");
    if (!(in = json_loads(text, JSON_REJECT_DUPLICATES, &je)))
        return fl_err_set(e, FL_EUSAGE,
                          "--params is not JSON (column %d: %s); give an object like "
                          "'{\"address\": \"127.0.0.1:80\"}'",
                          je.column, je.text);
    if ((rc = fl_probe_params_parse(ops, in, params, e)))
        return rc;
    r->p.ops = ops;
    r->p.params = *params;
    r->p.timeout_ms = fl_param_int(o, "timeout", DEFAULT_TIMEOUT_MS);
    r->interval_ms = fl_param_int(o, "interval", DEFAULT_INTERVAL_MS);
    r->count = fl_param_int(o, "count", 0);
    r->duration_ms = fl_param_int(o, "duration", 0);
    return 0;
}

int fl_cli_probe(int argc, char **argv)
{
    _cleanup_json_ json_t *o = json_object();
    _cleanup_json_ json_t *params = NULL;
    struct probe_run r = {0};
    struct fl_err e = {0};
    struct sigaction sa = {.sa_handler = on_signal};
    int first = 0, rc;
    char broken[200] = "";

    rc = fl_opts_parse_argv(opts, "probe", argc, argv, o, &first, &e);
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (!rc && first < argc)
        rc = fl_err_set(&e, FL_EUSAGE, "probe takes no arguments ('%s'); see --help", argv[first]);
    if (!rc && (rc = fl_opts_check_required(opts, o, &e)) == 0)
        rc = configure(&r, o, &params, &e);
    if (rc) {
        fprintf(stderr, "faultline probe: %s\n", e.msg);
        return e.code ? e.code : FL_EUSAGE;
    }
    assert(r.p.ops); /* configure() set it, or failed */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    r.t0_ns = process_start_ns();
    if (r.p.ops->open && r.p.ops->open(&r.p, &e))
        snprintf(broken, sizeof broken, "%s", e.msg);
    run_loop(&r, broken[0] ? broken : NULL);
    if (!broken[0] && r.p.ops->close)
        r.p.ops->close(&r.p);
    return r.any_failed ? FL_EFAIL : 0;
}
