/* Probes: measurements of the system under experiment, one file per kind
 * behind one small ops table (like fault drivers), plus the tolerances that
 * turn a series of samples into "healthy" or "not, and why".
 *
 * A probe kind declares its options as an fl_opt table, so the experiment
 * loader parses probe parameters exactly like fault parameters. The engine
 * runs each probe on its own thread: open() once (inside the probe's
 * network namespace, if any), then sample() on every tick, then close(). */
#ifndef FL_PROBES_PROBE_H
#define FL_PROBES_PROBE_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/opts.h"
#include "util/sample.h"

struct fl_probe;

/* One probe's answer to one sample() call. */
struct fl_probe_result {
    bool ok;          /* the probe's own expectation held (connected, status, exit 0) */
    bool has_value;   /* value below is meaningful */
    double value;     /* a number the probe measured (exit status, HTTP status, stdout number) */
    char detail[160]; /* why it failed, or the text it saw */
};

struct fl_probe_ops {
    const char *kind; /* "tcp" */
    const char *summary;
    const struct fl_opt *opts;                               /* FL_OPT_END-terminated */
    int (*validate)(const json_t *params, struct fl_err *e); /* may be NULL */
    int (*open)(struct fl_probe *p, struct fl_err *e);       /* may be NULL */
    void (*sample)(struct fl_probe *p, struct fl_probe_result *r);
    void (*close)(struct fl_probe *p); /* may be NULL */
};

struct fl_probe {
    const struct fl_probe_ops *ops;
    const json_t *params; /* borrowed from the spec */
    int64_t timeout_ms;
    void *state; /* the kind's, between open and close */
};

/* Registry (registry.c): tcp, command, http, prometheus, redis, sql. */
const struct fl_probe_ops *fl_probe_lookup(const char *kind);
const struct fl_probe_ops *const *fl_probe_kinds(void);

/* One measurement as the engine records it. t_ms counts from the run start
 * and is the tick the sample was scheduled for: samples are due every
 * interval; a tick that comes due while the previous sample still runs is
 * recorded as a "missed" sample with that sample's outcome and value (and
 * the wait as latency), so a phase of D ms always holds about D / interval
 * samples, however slow the probe. The sample itself is struct fl_sample
 * (util/sample.h). */

/* What "healthy" means for one probe. Per-sample checks (min/max/equals on
 * the value) decide each sample's ok; window checks (success ratio, a
 * latency percentile) are judged over a span of samples. */
struct fl_tolerance {
    bool has_min, has_max, has_equals;
    double min, max, equals;
    double success_ratio; /* percent of ok samples required; default 100 */
    double percentile;    /* 0 = no latency check; else 50, 95, 99, 99.9, 100 (max) */
    double latency_max_ms;
    int64_t window_ms; /* 0: judge over the whole phase; else sliding windows */
};

void fl_tolerance_default(struct fl_tolerance *t);
/* The per-sample part: probe ok and the value within min/max/equals. */
bool fl_tolerance_sample_ok(const struct fl_tolerance *t, bool probe_ok, double value);
/* "success ratio >= 99.5%, p99 latency < 50ms, value in [0, 10]" */
void fl_tolerance_describe(const struct fl_tolerance *t, char *buf, size_t len);

/* Statistics over n samples (ok as recorded), into struct fl_probe_stats
 * (util/sample.h). */
void fl_probe_stats(const struct fl_sample *s, size_t n, struct fl_probe_stats *st);
/* Latency percentile (0..100) of n samples; 0 when n == 0. */
double fl_probe_percentile(const struct fl_sample *s, size_t n, double pct);

/* Judge the window checks over n samples. Returns true when they hold;
 * otherwise fills why ("success ratio 40.0% < 99.5% (6 of 10 samples
 * failed)"). An empty span does not hold: why is "no samples". */
bool fl_tolerance_holds(const struct fl_tolerance *t, const struct fl_sample *s, size_t n,
                        char *why, size_t len);
/* Judge a phase: the whole span when window_ms is 0, else every sliding
 * window ending at a sample whose window lies inside the span; on the first
 * violation sets *at_ms to the time it was seen. A span without samples
 * fails with "no samples". */
bool fl_tolerance_holds_phase(const struct fl_tolerance *t, const struct fl_sample *s, size_t n,
                              int64_t from_ms, int64_t to_ms, int64_t *at_ms, char *why,
                              size_t len);

/* Helpers for probe kinds: run a shell command with a timeout, capturing up
 * to cap-1 bytes of stdout. Returns the exit status (0..255), 128+signal,
 * -ETIMEDOUT, or another negative errno. */
int fl_probe_run_command(const char *cmd, int64_t timeout_ms, char *out, size_t cap);

/* Split "HOST:PORT" or "[V6]:PORT"; 0, or -1 when it is neither. */
int fl_probe_split_address(const char *addr, char *host, size_t hlen, char *port, size_t plen);

/* Compile the extended regex rx, named `what` in messages ("expect regex"). With
 * re NULL only check it (validate); else keep it in *re for the caller to
 * regfree. FL_EUSAGE with "WHAT 'RX' does not compile: WHY". */
int fl_probe_regex(const char *what, const char *rx, regex_t *re, struct fl_err *e);

/* A probe run elsewhere (wire.c): `faultline probe` takes its params as one
 * JSON object and prints one JSON line per sample; the engine hands a probe
 * on an agent host to the agent that way and reads the lines back. */

/* Params from a JSON object through the kind's option table (strings as on
 * the command line, other values in their journaled form, lists for
 * repeatable options), then required options and the kind's validate.
 * FL_EUSAGE naming the option; *out is the caller's. */
int fl_probe_params_parse(const struct fl_probe_ops *ops, const json_t *in, json_t **out,
                          struct fl_err *e);

/* One sample as a line: {"t_ms", "ok", "value" (or null), "latency_ms",
 * "error" (null when ok), "missed", "detail"}. */
struct fl_probe_line {
    int64_t t_ms; /* since the probe started (monotonic) */
    bool ok;      /* the probe's own expectation held */
    double value; /* NAN: none */
    double latency_ms;
    bool missed; /* a tick that came due while the previous sample still ran */
    char detail[160];
};
/* The line without its newline (malloc'd), or NULL when out of memory. */
char *fl_probe_line_format(const struct fl_probe_line *l);
/* Parse one line (len bytes, no newline needed); FL_EUSAGE when it is not a sample. */
int fl_probe_line_parse(const char *text, size_t len, struct fl_probe_line *l, struct fl_err *e);

#endif
