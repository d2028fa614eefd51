/* Process selection for the process and stress fault kinds: which processes a
 * fault acts on (selectors), how many of the matches it takes (the blast
 * radius mode), and the (pid, start time) identity recorded for revert.
 *
 * Selectors given together narrow each other down (a process must match all
 * of them); --pid may repeat and then names a set. --container asks podman or
 * Docker for the container's init and takes the processes of its cgroup
 * (util/container.h). Matching by name, cmdline
 * or cgroup silently skips pid 1, kernel threads and faultline's own
 * processes; naming one of those explicitly (--pid, --pidfile) is refused.
 * Candidates are sorted by pid and picked with a PRNG seeded by the fault's
 * seed, so the same seed on the same set of processes picks the same ones. */
#ifndef FL_FAULTS_SELECT_H
#define FL_FAULTS_SELECT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"
#include "util/opts.h"

/* The selector options, for splicing into a kind's option table. */
/* clang-format off */
#define FL_SELECT_OPTS \
    {"pid", FL_OPT_INT, FL_OPT_MULTI, "PID", "select this process id", NULL, 1, 4194304}, \
    {"pidfile", FL_OPT_STRING, 0, "PATH", "select the process whose pid this file holds", \
     NULL, 0, 0}, \
    {"name", FL_OPT_STRING, 0, "COMM", "select processes whose name (/proc/PID/comm) is COMM", \
     NULL, 0, 0}, \
    {"cmdline", FL_OPT_STRING, 0, "REGEX", "select processes whose command line (arguments " \
     "joined by spaces) matches this extended regex", NULL, 0, 0}, \
    {"cgroup", FL_OPT_STRING, 0, "PATH", "select the processes in this cgroup and below " \
     "(relative to the cgroup2 mount, or absolute under /sys/fs/cgroup)", NULL, 0, 0}, \
    {"container", FL_OPT_STRING, 0, "NAME", "select the processes of this running podman or " \
     "Docker container (name or id; podman:NAME or docker:NAME picks the runtime)", NULL, 0, 0}, \
    {"netns", FL_OPT_STRING, 0, "NAME", "select only processes inside this named network " \
     "namespace (/run/netns/NAME, e.g. a lab host's LAB-hN); a filter on the other selectors", \
     NULL, 0, 0}, \
    {"mode", FL_OPT_STRING, 0, "MODE", "how many matches to act on: one, all, fixed:N, " \
     "fixed-percent:P, random-max-percent:P (default one; all for --pid, --pidfile or " \
     "--container alone); " \
     "random picks follow --seed", NULL, 0, 0}
/* clang-format on */

enum fl_select_mode_kind {
    FL_SELECT_ONE,
    FL_SELECT_ALL,
    FL_SELECT_FIXED,              /* n processes */
    FL_SELECT_FIXED_PERCENT,      /* percent of the matches, at least one */
    FL_SELECT_RANDOM_MAX_PERCENT, /* a random count from 1 to percent of the matches */
};

struct fl_select_mode {
    enum fl_select_mode_kind kind;
    long long n;
    double percent;
};

/* Parse "one", "all", "fixed:N", "fixed-percent:P", "random-max-percent:P"
 * (P in (0, 100]). NULL means "one". */
int fl_select_parse_mode(const char *s, struct fl_select_mode *m, struct fl_err *e);

/* How many of `n` candidates `m` takes with this seed (0 only when n is 0). */
size_t fl_select_count(const struct fl_select_mode *m, size_t n, uint64_t seed);

/* Choose `k` distinct indexes out of [0, n) with a PRNG seeded by `seed`,
 * written to idx in ascending order. Pure: same inputs, same picks. */
void fl_select_pick(size_t n, size_t k, uint64_t seed, size_t *idx);

/* Cross-option checks for the selector options in `params`: at least one
 * selector, a valid mode, a regex that compiles. FL_EUSAGE otherwise. */
int fl_select_validate(const json_t *params, struct fl_err *e);

struct fl_target {
    pid_t pid;
    uint64_t start; /* fl_proc_start_time at selection */
    char comm[16];
};

struct fl_selection {
    struct fl_target *targets; /* picked, sorted by pid */
    size_t n;                  /* picked */
    size_t matched;            /* candidates before the mode picked */
};

/* Resolve the selectors in `params` against /proc and pick with the mode.
 * FL_ENOTARGET names the selector that matched nothing; FL_EREFUSED when an
 * explicit pid is pid 1, a kernel thread or faultline itself. The caller
 * frees `sel` with fl_select_free. */
int fl_select_resolve(const json_t *params, uint64_t seed, struct fl_selection *sel,
                      struct fl_err *e);
void fl_select_free(struct fl_selection *sel);

/* The undo form: [{"pid": P, "start": S, "comm": "..."}...]. */
json_t *fl_select_to_json(const struct fl_selection *sel);
/* Read the undo form back (ignores malformed entries). */
int fl_select_from_json(const json_t *arr, struct fl_selection *sel);

/* A short phrase for describe(): "named redis-server", "matching 'x.*'",
 * "in cgroup /sys/...", "with pid 12, 13", joined by " and ". */
void fl_select_describe(const json_t *params, char *buf, size_t len);
/* "pid 1234" or "pids 1, 2, 3" (truncated with "..."), from an undo array. */
void fl_select_describe_pids(const json_t *targets, char *buf, size_t len);

/* The targets for describe(): "pid 1234 (sleep)" when named by --pid or
 * --pidfile, else "2 of 5 processes named redis-server (pids 12, 14)". */
void fl_select_describe_targets(const json_t *params, const json_t *targets, long long matched,
                                char *buf, size_t len);

#endif
