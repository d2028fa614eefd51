/* The records a probe leaves, as plain data: one sample, and the statistics
 * over a span of them. Probes (probes/probe.h) make them, the history store
 * (store/store.h) keeps them; neither layer needs the other to name them. */
#ifndef FL_UTIL_SAMPLE_H
#define FL_UTIL_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One probe sample (see probes/probe.h for how samples are scheduled). */
struct fl_sample {
    int64_t t_ms;
    double value;  /* NAN when the probe gave none */
    bool probe_ok; /* the probe's own expectation held */
    bool ok;       /* probe_ok AND the steady-state tolerance's per-sample checks */
    double latency_ms;
};

/* Statistics over n samples (probes/probe.h: fl_probe_stats). */
struct fl_probe_stats {
    size_t n, failures;
    double availability;        /* percent ok; NAN when n == 0 (no data is not health) */
    double p50, p95, p99, pmax; /* latency ms */
};

#endif
