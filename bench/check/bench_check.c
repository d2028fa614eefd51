/* bench-check: how fast `faultline check` decides.
 *
 *  1. every Knossos history: parse, check (memoized search, split by key),
 *     and the baseline measured in the same run: the naive Wing-Gong search
 *     without memoization on the same input (capped at 2 s);
 *  2. the counterexample search on the invalid ones: the default budget
 *     against the fixed 3 s budget it used to have;
 *  3. generated histories of 10k, 100k and 1M operations per model (five
 *     concurrent clients, a few unknown outcomes), with the parse-only time
 *     as the baseline ratio.
 * Each case runs in a child process so its peak RSS is its own.
 * Goals (issue 5): every Knossos history < 1 s; 1M-op bank < 1 s;
 * 100k-op kv history with 50 keys < 2 s.
 *
 * usage: bench-check [DATA_DIR] [--quick]   (DATA_DIR holds knossos/)
 * BENCH_ONLY=MODEL runs only that generated model; BENCH_DUMP=FILE appends
 * the 10k-op history to FILE. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check/check.h"

#ifndef FL_BENCH_DATA
#define FL_BENCH_DATA "../shared/data"
#endif

static double secs(int64_t a, int64_t b)
{
    return (double)(b - a) / 1e9;
}

static long peak_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ---- generated histories ---- */

struct gop {
    int64_t call, ret;
    int32_t proc;
    uint8_t f, info;
    int32_t key;
    int64_t a, b;
    uint32_t extra; /* offset in the pool (bank snapshot, set read) */
};

struct gen {
    struct gop *ops;
    size_t n;
    int64_t *pool;
    size_t npool, cappool;
    uint64_t rng;
};

static uint64_t rnd(struct gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

static uint32_t pool_add(struct gen *g, const int64_t *w, size_t n)
{
    if (g->npool + n > g->cappool) {
        g->cappool = (g->cappool + n) * 2;
        g->pool = realloc(g->pool, g->cappool * sizeof *g->pool);
        if (!g->pool)
            abort();
    }
    memcpy(g->pool + g->npool, w, n * sizeof *w);
    g->npool += n;
    return (uint32_t)(g->npool - n);
}

enum { F_READ, F_WRITE, F_CAS, F_ADD, F_ENQ, F_DEQ, F_ACQ, F_REL, F_TRANSFER, F_TXN };
static const char *const fname[] = {"read",    "write",   "cas",     "add",      "enqueue",
                                    "dequeue", "acquire", "release", "transfer", "txn"};

#define ACCOUNTS 10

/* A sequential run of the model; op i takes effect at time 100 i and its
 * interval is stretched up to 250 either side. */
static void generate(struct gen *g, const char *model, size_t n)
{
    int64_t reg[64] = {0}, count = 0, bal[ACCOUNTS];
    bool written[64] = {false};
    int64_t qh = 1, qt = 1;
    bool held = false;
    int nkeys = !strcmp(model, "kv") ? 50 : 1;

    for (int i = 0; i < ACCOUNTS; i++)
        bal[i] = 100;
    g->ops = calloc(n + 1, sizeof *g->ops);
    g->n = n;
    for (size_t i = 0; i < n; i++) {
        struct gop *o = &g->ops[i];
        uint64_t r = rnd(g) % 10;
        int64_t t = (int64_t)i * 100 + 1000;
        o->call = t - (int64_t)(rnd(g) % 250) - 1;
        o->ret = t + (int64_t)(rnd(g) % 250) + 1;
        o->key = nkeys > 1 ? (int32_t)(rnd(g) % (uint64_t)nkeys) : -1;
        if (!strcmp(model, "bank")) {
            if (r < 5) {
                int from = (int)(rnd(g) % ACCOUNTS), to = (int)(rnd(g) % ACCOUNTS);
                int64_t amt = (int64_t)(rnd(g) % 5);
                o->f = F_TRANSFER;
                if (bal[from] >= amt) {
                    bal[from] -= amt;
                    bal[to] += amt;
                }
                o->a = from * 100 + to;
                o->b = amt;
            } else {
                o->f = F_READ;
                o->extra = pool_add(g, bal, ACCOUNTS);
                o->ret = t + 1; /* a snapshot read: point in time */
                o->call = t - 1;
            }
        } else if (!strcmp(model, "multi-register")) {
            int64_t mops[1 + 2 * 3];
            int m = 1 + (int)(rnd(g) % 2);
            mops[0] = m;
            for (int j = 0; j < m; j++) {
                int k = (int)(rnd(g) % 3);
                bool w = rnd(g) % 2;
                if (w) {
                    reg[k] = (int64_t)(rnd(g) % 5);
                    written[k] = true;
                }
                /* k * 2 + w, then the value (-1: nil) */
                mops[1 + 2 * j] = k * 2 + w;
                mops[2 + 2 * j] = written[k] ? reg[k] : -1;
            }
            o->f = F_TXN;
            o->extra = pool_add(g, mops, (size_t)(1 + 2 * m));
        } else if (!strcmp(model, "counter")) {
            o->f = r < 5 ? F_ADD : F_READ;
            o->a = r < 5 ? (int64_t)(rnd(g) % 5) + 1 : count;
            if (r < 5)
                count += o->a;
        } else if (!strcmp(model, "set")) {
            o->f = F_ADD;
            o->a = (int64_t)i;
            if (i == n - 1) { /* one final read of everything */
                o->f = F_READ;
                o->call = t + 1000;
                o->ret = t + 2000;
            }
        } else if (!strcmp(model, "queue") || !strcmp(model, "total-queue")) {
            if (r < 4 || qh == qt) { /* consumers keep up: the queue stays short */
                o->f = F_ENQ;
                o->a = qt++;
            } else {
                o->f = F_DEQ;
                o->a = qh++;
            }
        } else if (!strcmp(model, "mutex")) {
            o->f = held ? F_REL : F_ACQ;
            held = !held;
        } else { /* register, cas-register, kv */
            int k = o->key < 0 ? 0 : o->key;
            bool cas = strcmp(model, "register") && r >= 8;
            if (!written[k]) { /* registers start as nil: write first */
                r = 0;
                cas = false;
            }
            written[k] = written[k] || r < 4;
            if (cas) {
                o->f = F_CAS;
                o->a = reg[k];
                o->b = (int64_t)(rnd(g) % 5);
                reg[k] = o->b;
            } else if (r < 4) {
                o->f = F_WRITE;
                o->a = reg[k] = (int64_t)(rnd(g) % 5);
            } else {
                o->f = F_READ;
                o->a = reg[k];
            }
        }
        if ((o->f == F_WRITE || o->f == F_ADD) && strcmp(model, "set") && rnd(g) % 100 == 0)
            o->info = 1; /* unknown outcome (it did happen) */
    }
    if (!strcmp(model, "set")) {
        int64_t *all = malloc(n * sizeof *all);
        for (size_t i = 0; i + 1 < n; i++)
            all[i] = (int64_t)i;
        g->ops[n - 1].extra = pool_add(g, all, n - 1);
        free(all);
    }
}

struct evt {
    int64_t t;
    uint32_t op;
    uint32_t call;
};

static int evt_cmp(const void *a, const void *b)
{
    const struct evt *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

static void print_value(struct gen *g, struct gop *o, bool call, const char *model, FILE *m)
{
    switch (o->f) {
    case F_READ:
        if (call) {
            fputs("null", m);
        } else if (!strcmp(model, "bank")) {
            fputc('{', m);
            for (int i = 0; i < ACCOUNTS; i++)
                fprintf(m, "%s\"%d\": %" PRId64, i ? ", " : "", i, g->pool[o->extra + i]);
            fputc('}', m);
        } else if (!strcmp(model, "set")) {
            fputc('[', m);
            for (size_t i = 0; i + 1 < g->n; i++)
                fprintf(m, "%s%" PRId64, i ? "," : "", g->pool[o->extra + i]);
            fputc(']', m);
        } else {
            fprintf(m, "%" PRId64, o->a);
        }
        break;
    case F_CAS:
        fprintf(m, "[%" PRId64 ", %" PRId64 "]", o->a, o->b);
        break;
    case F_TRANSFER:
        fprintf(m, "{\"from\": %" PRId64 ", \"to\": %" PRId64 ", \"amount\": %" PRId64 "}",
                o->a / 100, o->a % 100, o->b);
        break;
    case F_DEQ:
        if (call)
            fputs("null", m);
        else
            fprintf(m, "%" PRId64, o->a);
        break;
    case F_ACQ:
    case F_REL:
        fputs("null", m);
        break;
    case F_TXN: {
        const int64_t *mo = g->pool + o->extra;
        fputc('[', m);
        for (int64_t j = 0; j < mo[0]; j++) {
            int64_t kw = mo[1 + 2 * j], v = mo[2 + 2 * j];
            bool w = kw & 1;
            fprintf(m, "%s[\"%s\", \"%c\", ", j ? ", " : "", w ? "write" : "read",
                    (char)('x' + kw / 2));
            if ((call && !w) || v < 0)
                fputs("null]", m);
            else
                fprintf(m, "%" PRId64 "]", v);
        }
        fputc(']', m);
        break;
    }
    default:
        fprintf(m, "%" PRId64, o->a);
    }
}

static char *render(struct gen *g, const char *model, size_t *len)
{
    struct evt *ev = malloc(2 * g->n * sizeof *ev);
    int64_t busy[64];
    int32_t id[64];
    int np = 0, next_id = 0;
    size_t ne = 0;

    for (size_t i = 0; i < g->n; i++) { /* an idle client takes the op */
        struct gop *o = &g->ops[i];
        int p;
        for (p = 0; p < np; p++)
            if (busy[p] < o->call)
                break;
        if (p == np) {
            if (np == 64)
                abort(); /* the generator keeps concurrency far below this */
            id[np++] = next_id++;
        }
        o->proc = id[p];
        busy[p] = o->ret;
        if (o->info)
            id[p] = next_id++; /* a client whose op has no completion is gone */
        ev[ne++] = (struct evt){o->call, (uint32_t)i, 1};
        if (!o->info)
            ev[ne++] = (struct evt){o->ret, (uint32_t)i, 0};
    }
    qsort(ev, ne, sizeof *ev, evt_cmp);
    char *buf = NULL;
    FILE *m = open_memstream(&buf, len);
    for (size_t i = 0; i < ne; i++) {
        struct gop *o = &g->ops[ev[i].op];
        fprintf(m, "{\"process\": %d, \"type\": \"%s\", \"f\": \"%s\", \"value\": ", o->proc,
                ev[i].call ? "invoke" : "ok", fname[o->f]);
        print_value(g, o, ev[i].call, model, m);
        if (o->key >= 0)
            fprintf(m, ", \"key\": %d", o->key);
        fprintf(m, ", \"time\": %" PRId64 "}\n", ev[i].t);
    }
    fclose(m);
    free(ev);
    return buf;
}

/* ---- cases ---- */

struct result {
    double parse, check, base;
    int verdict, base_verdict;
    size_t ops;
    long kib;
};

static int run_check(struct fl_history *h, const char *model, bool naive, int64_t timeout_ms,
                     const char *initial, double *sec)
{
    struct fl_check_opts o;
    struct fl_check_report r;
    struct fl_err e = {0};

    fl_check_opts_init(&o);
    o.model = model;
    o.timeout_ms = timeout_ms;
    o.no_memo = naive;
    o.no_split = naive;
    o.no_minimize = true;
    if (initial) /* the Knossos multi-register history starts at 0 */
        o.cfg.initial = 0;
    int64_t t0 = fl_check_now_ns();
    if (fl_check_run(h, &o, &r, &e) < 0) {
        fprintf(stderr, "bench-check: %s\n", e.msg);
        return -1;
    }
    *sec = secs(t0, fl_check_now_ns());
    int v = r.verdict;
    fl_check_report_fini(&r);
    return v;
}

/* Runs in a child; writes a struct result to fd. */
static void child_file(const char *path, const char *model, int fd)
{
    struct result res = {0};
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    int64_t t0 = fl_check_now_ns();

    if (fl_history_load(path, FL_FMT_AUTO, &h, &e) < 0) {
        fprintf(stderr, "bench-check: %s\n", e.msg);
        _exit(1);
    }
    res.parse = secs(t0, fl_check_now_ns());
    res.ops = h->nops;
    const char *init = !strcmp(model, "multi-register") ? "0" : NULL;
    res.verdict = run_check(h, model, false, 60000, init, &res.check);
    res.kib = peak_kib();
    res.base_verdict = run_check(h, model, true, 2000, init, &res.base);
    fl_history_free(h);
    if (write(fd, &res, sizeof res) != sizeof res)
        _exit(1);
    _exit(0);
}

static void child_gen(const char *model, size_t n, int fd)
{
    struct result res = {0};
    struct gen g = {.rng = 0x2545F4914F6CDD1DULL ^ n};
    size_t len;
    struct fl_history *h = NULL;
    struct fl_err e = {0};

    generate(&g, model, n);
    char *text = render(&g, model, &len);
    free(g.ops);
    free(g.pool);
    if (getenv("BENCH_DUMP") && n == 10000) {
        FILE *f = fopen(getenv("BENCH_DUMP"), "a");
        if (f) {
            fwrite(text, 1, len, f);
            fclose(f);
        }
    }
    int64_t t0 = fl_check_now_ns();
    if (fl_history_parse(text, len, FL_FMT_JSONL, model, &h, &e) < 0) {
        fprintf(stderr, "bench-check: %s\n", e.msg);
        _exit(1);
    }
    free(text);
    res.parse = secs(t0, fl_check_now_ns());
    res.base = res.parse; /* baseline: reading the history at all */
    res.ops = h->nops;
    res.verdict = run_check(h, model, false, 10000, NULL, &res.check);
    res.kib = peak_kib();
    fl_history_free(h);
    if (write(fd, &res, sizeof res) != sizeof res)
        _exit(1);
    _exit(0);
}

static int in_child(int kind, const char *a, const char *model, size_t n, struct result *res)
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
        if (kind == 0)
            child_file(a, model, p[1]);
        else
            child_gen(model, n, p[1]);
    }
    close(p[1]);
    ssize_t got = read(p[0], res, sizeof *res);
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    return got == sizeof *res ? 0 : -1;
}

static const char *vname(int v)
{
    return v < 0 ? "error" : fl_check_verdict_name(v);
}

/* The counterexample search on the invalid Knossos histories, with the
 * default budget (in proportion to the check) against the fixed 3 s budget
 * every invalid history used to get, in the same run. */
static void minimize_budgets(const char *data)
{
    char dir[4096];
    double t_default = 0, t_fixed = 0;
    int files = 0;

    snprintf(dir, sizeof dir, "%s/knossos/cas-register/bad", data);
    DIR *dp = opendir(dir);
    struct dirent *de;
    if (!dp)
        return;
    printf("== Counterexample search on invalid histories (baseline: the fixed 3 s budget)\n");
    printf("%-40s %10s %10s %8s  %s\n", "history", "default s", "3 s-budget", "ratio",
           "default ran out");
    while ((de = readdir(dp))) {
        char path[8192];
        struct fl_history *h = NULL;
        struct fl_err e = {0};
        double t[2] = {0, 0};
        bool ran_out = false;
        if (!strstr(de->d_name, ".edn"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (fl_history_load(path, FL_FMT_AUTO, &h, &e) < 0)
            continue;
        for (int k = 0; k < 2; k++) {
            struct fl_check_opts o;
            struct fl_check_report r;
            fl_check_opts_init(&o);
            o.model = "cas-register";
            o.minimize_budget_ms = k ? 3000 : 0;
            int64_t t0 = fl_check_now_ns();
            if (fl_check_run(h, &o, &r, &e) < 0)
                break;
            t[k] = secs(t0, fl_check_now_ns());
            if (!k)
                ran_out = json_is_true(json_object_get(r.json, "counterexample_budget_ran_out"));
            fl_check_report_fini(&r);
        }
        fl_history_free(h);
        files++;
        t_default += t[0];
        t_fixed += t[1];
        printf("%-40.40s %10.3f %10.3f %7.1fx  %s\n", de->d_name, t[0], t[1],
               t[0] > 0 ? t[1] / t[0] : 0.0, ran_out ? "yes" : "no");
    }
    closedir(dp);
    printf("Counterexamples: %d histories, default %.3f s, fixed 3 s budget %.3f s (%.1fx)\n\n",
           files, t_default, t_fixed, t_default > 0 ? t_fixed / t_default : 0.0);
}

int main(int argc, char **argv)
{
    const char *data = getenv("FL_SHARED_DATA") && *getenv("FL_SHARED_DATA")
                           ? getenv("FL_SHARED_DATA")
                           : FL_BENCH_DATA;
    bool quick = false;
    static const struct {
        const char *dir, *model;
    } kdirs[] = {{"knossos/cas-register/good", "cas-register"},
                 {"knossos/cas-register/bad", "cas-register"},
                 {"knossos/mutex/bad", "mutex"},
                 {"knossos/multi-register/good", "multi-register"}};
    double total = 0, total_base = 0, worst = 0;
    int files = 0, over = 0, wrong = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else
            data = argv[i];
    }
    const char *only = getenv("BENCH_ONLY"); /* one generated model, no Knossos */
    if (only)
        goto generated;
    printf("== Knossos histories (baseline: naive search, no memo, no key split, 2 s cap)\n");
    printf("%-52s %6s %9s %9s %9s %8s %8s\n", "history", "ops", "parse ms", "check ms", "naive ms",
           "speedup", "peak MiB");
    for (size_t d = 0; d < sizeof kdirs / sizeof kdirs[0]; d++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", data, kdirs[d].dir);
        DIR *dp = opendir(dir);
        struct dirent *de;
        if (!dp) {
            fprintf(stderr, "bench-check: cannot open %s\n", dir);
            return 1;
        }
        while ((de = readdir(dp))) {
            if (!strstr(de->d_name, ".edn"))
                continue;
            char path[8192];
            struct result r;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            if (in_child(0, path, kdirs[d].model, 0, &r) < 0) {
                printf("%-52s failed\n", de->d_name);
                wrong++;
                continue;
            }
            double t = r.parse + r.check;
            bool want_valid = strstr(kdirs[d].dir, "good") != NULL;
            if ((r.verdict == FL_CHECK_VALID) != want_valid)
                wrong++;
            files++;
            total += t;
            total_base += r.parse + r.base;
            if (t > worst)
                worst = t;
            if (t >= 1.0)
                over++;
            char name[64];
            snprintf(name, sizeof name, "%.20s/%.30s", kdirs[d].dir + 8, de->d_name);
            printf("%-52s %6zu %9.2f %9.2f %8.1f%s %7.1fx %8.1f  %s\n", name, r.ops, r.parse * 1e3,
                   r.check * 1e3, r.base * 1e3, r.base_verdict == FL_CHECK_UNKNOWN ? "+" : " ",
                   r.check > 0 ? r.base / r.check : 0.0, (double)r.kib / 1024, vname(r.verdict));
        }
        closedir(dp);
    }
    printf("Knossos: %d histories, total %.3f s (naive baseline %.3f s, %.1fx), slowest %.3f s, "
           "%d at or over 1 s, %d wrong verdicts. ('+' = naive hit its cap)\n\n",
           files, total, total_base, total > 0 ? total_base / total : 0.0, worst, over, wrong);
    minimize_budgets(data);

generated:;
    static const char *const models[] = {
        "bank", "kv",    "register", "cas-register", "counter",
        "set",  "mutex", "queue",    "total-queue",  "multi-register"};
    size_t sizes[] = {10000, 100000, 1000000};
    printf("== Generated histories (baseline: parse only; kv has 50 keys; 10 s cap)\n");
    printf("%-14s %8s %9s %9s %9s %9s %8s  %s\n", "model", "ops", "parse s", "check s", "total s",
           "chk/parse", "peak MiB", "verdict");
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (only && strcmp(only, models[m]))
            continue;
        for (size_t s = 0; s < (quick ? 2u : 3u); s++) {
            struct result r;
            if (in_child(1, NULL, models[m], sizes[s], &r) < 0) {
                printf("%-14s %8zu failed\n", models[m], sizes[s]);
                continue;
            }
            printf("%-14s %8zu %9.3f %9.3f %9.3f %8.2fx %8.1f  %s\n", models[m], r.ops, r.parse,
                   r.check, r.parse + r.check, r.base > 0 ? r.check / r.base : 0.0,
                   (double)r.kib / 1024, vname(r.verdict));
        }
    }
    printf("\nGoals: Knossos < 1 s each; bank 1M ops < 1 s (check); kv 100k/50 keys < 2 s.\n");
    return wrong ? 1 : 0;
}
