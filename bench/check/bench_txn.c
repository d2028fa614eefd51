/* bench-check-txn: the list-append checker on generated histories of 10k,
 * 100k and 1M transactions (tests/unit/check/txn_gen.h: ten processes, ten
 * keys at a time rotating after 32 appends, 1..4 micro-ops, half reads),
 * valid and with one planted G2-item or G1c, checked as
 * strict-serializable (real-time edges included). The baseline measured in
 * the same run is reading the history (the parse): the ratio says what
 * the check costs on top of that. Each case runs in a child process so its
 * peak RSS is its own. Goals (issue 14): 100k transactions <= 1 s, 1M <=
 * 10 s and <= 2 GiB.
 *
 * usage: bench-check-txn [--quick]   (--quick: 10k and 100k only) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../tests/unit/check/txn_gen.h"
#include "check/check.h"

struct result {
    double gen, parse, check;
    long kib;
    int verdict;
    size_t ops;
    char classes[64];
};

static double secs(int64_t a, int64_t b)
{
    return (double)(b - a) / 1e9;
}

static void child(size_t n, int plant, int fd)
{
    struct result res = {0};
    struct txn_gen g = {.seed = 0x9E3779B97F4A7C15u ^ n,
                        .ntx = n,
                        .nkeys = 10,
                        .nproc = 10,
                        .maxlen = 4,
                        .max_writes = 32,
                        .read_pct = 50,
                        .plant = plant};
    char *text = NULL;
    size_t len = 0;
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    int64_t t0 = fl_check_now_ns();
    FILE *f = open_memstream(&text, &len);

    if (!f || tg_generate(&g, f) < 0 || fclose(f) != 0)
        _exit(1);
    tg_free(&g);
    int64_t t1 = fl_check_now_ns();
    if (fl_history_parse(text, len, FL_FMT_JSONL, "generated", &h, &e) < 0) {
        fprintf(stderr, "bench-check-txn: %s\n", e.msg);
        _exit(1);
    }
    free(text);
    int64_t t2 = fl_check_now_ns();
    struct fl_check_opts o;
    struct fl_check_report r;
    fl_check_opts_init(&o);
    o.model = "list-append";
    o.consistency_models = "strict-serializable";
    if (fl_check_run(h, &o, &r, &e) < 0) {
        fprintf(stderr, "bench-check-txn: %s\n", e.msg);
        _exit(1);
    }
    int64_t t3 = fl_check_now_ns();
    res.gen = secs(t0, t1);
    res.parse = secs(t1, t2);
    res.check = secs(t2, t3);
    res.verdict = r.verdict;
    res.ops = h->nops;
    json_t *types = json_object_get(json_object_get(r.json, "txn"), "anomaly_types");
    size_t i;
    json_t *t;
    json_array_foreach (types, i, t) {
        snprintf(res.classes + strlen(res.classes), sizeof res.classes - strlen(res.classes),
                 "%s%s", i ? "," : "", json_string_value(t));
    }
    fl_check_report_fini(&r);
    fl_history_free(h);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    res.kib = ru.ru_maxrss;
    if (write(fd, &res, sizeof res) != sizeof res)
        _exit(1);
    _exit(0);
}

static int in_child(size_t n, int plant, struct result *res)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        child(n, plant, p[1]);
    }
    close(p[1]);
    ssize_t got = read(p[0], res, sizeof *res);
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    return got == sizeof *res ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {10000, 100000, 1000000};
    static const struct {
        int plant;
        const char *name, *want;
    } plants[] = {{TG_NONE, "valid", ""}, {TG_G2, "G2", "G2-item"}, {TG_G1C, "G1c", "G1c"}};
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    int missed = 0, wrong = 0;

    printf("%-9s %-6s %9s %9s %9s %10s %9s  %-8s %s\n", "txns", "case", "parse s", "check s",
           "total s", "chk/parse", "peak MiB", "verdict", "anomalies");
    for (size_t s = 0; s < (quick ? 2 : 3); s++) {
        for (size_t p = 0; p < 3; p++) {
            struct result r;
            if (in_child(sizes[s], plants[p].plant, &r) < 0) {
                printf("%-9zu %-6s failed\n", sizes[s], plants[p].name);
                wrong++;
                continue;
            }
            double total = r.parse + r.check;
            double goal = sizes[s] >= 1000000 ? 10.0 : sizes[s] >= 100000 ? 1.0 : 0;
            bool over = (goal > 0 && total > goal) || r.kib > 2L * 1024 * 1024;
            bool right = !strcmp(r.classes, plants[p].want) &&
                         r.verdict == (plants[p].plant ? FL_CHECK_INVALID : FL_CHECK_VALID);
            missed += over;
            wrong += !right;
            printf("%-9zu %-6s %9.3f %9.3f %9.3f %10.2f %9.1f  %-8s %s%s%s\n", sizes[s],
                   plants[p].name, r.parse, r.check, total, r.check / r.parse, r.kib / 1024.0,
                   fl_check_verdict_name(r.verdict), r.classes[0] ? r.classes : "-",
                   over ? "  (over the goal)" : "", right ? "" : "  (WRONG)");
        }
    }
    printf("goals: 100k txns <= 1 s, 1M <= 10 s and <= 2 GiB (parse + check): %s; verdicts: %s\n",
           missed ? "missed" : "met", wrong ? "WRONG" : "all as planted");
    return wrong ? 1 : 0;
}
