/* Parsers for the human units every command line and experiment file uses.
 * Each returns 0 or -FL_EUSAGE with a message naming the bad text and the
 * accepted forms, so callers only add where the value came from. */
#ifndef FL_UTIL_PARSE_H
#define FL_UTIL_PARSE_H

#include <stdint.h>

#include "util/err.h"

/* "500ms", "30s", "2m", "1h", "1m30s"; a bare number is seconds. */
int fl_parse_duration_ms(const char *s, int64_t *out, struct fl_err *e);
/* "512MiB", "1GiB", "10MB", "4096", "1G" (binary for K/M/G/T and KiB..). */
int fl_parse_size(const char *s, uint64_t *out, struct fl_err *e);
/* tc-style rates in bits per second: "1mbit", "500kbit", "1gbit", "100bit",
 * and bytes per second: "125kbps", "1mbps" (x8). A bare number is bit/s. */
int fl_parse_rate_bps(const char *s, uint64_t *out, struct fl_err *e);
/* "30", "30%", "12.5": a percentage within 0..100. */
int fl_parse_percent(const char *s, double *out, struct fl_err *e);
/* A whole number within [min, max]. */
int fl_parse_int(const char *s, long long min, long long max, long long *out, struct fl_err *e);

/* Format milliseconds as "1m30s", "250ms", "2h5m". */
void fl_format_duration(int64_t ms, char *buf, int len);
/* Format bytes as "512MiB". */
void fl_format_size(uint64_t bytes, char *buf, int len);

#endif
