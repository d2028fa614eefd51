/* The queue order check (src/check/queue_fast.c) against the exact search.
 *
 * Property: on thousands of small random queue histories, some produced by a
 * real FIFO queue (with overlapping operations), some then mutated (swapped
 * or changed dequeue results, unknown or failed outcomes, empty dequeues),
 * `faultline check --model queue` gives the same verdict with the order
 * check as with the search alone. And the large histories the search cannot
 * decide in time are decided. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

struct gop {
    int enq;       /* 1 enqueue, 0 dequeue */
    int64_t value; /* enqueued, or dequeued (-1: nil) */
    int64_t call, ret;
    int outcome; /* 0 ok, 1 info (no completion), 2 fail */
    int proc;
};

struct evt {
    int64_t t;
    int op, call;
};

static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int evt_cmp(const void *a, const void *b)
{
    const struct evt *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* A sequential FIFO run, stretched so neighbours overlap; with `empty`,
 * some dequeues find the queue empty. */
static size_t generate(struct gop *g, size_t n, int64_t spread, bool empty)
{
    int64_t *q = malloc(n * sizeof *q);
    size_t qh = 0, qt = 0;
    int64_t next = 1;

    for (size_t i = 0; i < n; i++) {
        int64_t t = (int64_t)i * 100 + 1000;
        g[i].call = t - 1 - (int64_t)(rnd() % (uint64_t)spread);
        g[i].ret = t + 1 + (int64_t)(rnd() % (uint64_t)spread);
        g[i].outcome = 0;
        if (qh == qt ? !empty || rnd() % 8 != 0 : rnd() % 2 == 0) {
            g[i].enq = 1;
            g[i].value = next++;
            q[qt++] = g[i].value;
        } else {
            g[i].enq = 0;
            g[i].value = qh == qt ? -1 : q[qh++];
        }
    }
    free(q);
    return n;
}

static void mutate(struct gop *g, size_t n)
{
    size_t i = rnd() % n, j = rnd() % n;
    switch (rnd() % 6) {
    case 0: /* swap two dequeue results */
        if (!g[i].enq && !g[j].enq) {
            int64_t t = g[i].value;
            g[i].value = g[j].value;
            g[j].value = t;
        }
        break;
    case 1: /* a dequeue returns something else: another value, or one never enqueued */
        if (!g[i].enq)
            g[i].value = (int64_t)(rnd() % (n + 2));
        break;
    case 2: /* unknown outcome */
        g[i].outcome = 1;
        break;
    case 3: /* failed */
        g[i].outcome = 2;
        break;
    case 4: /* move an operation later: real-time order changes */
        g[i].call += 150;
        g[i].ret += 150;
        break;
    default: /* an empty dequeue */
        if (!g[i].enq)
            g[i].value = -1;
    }
}

static char *render(struct gop *g, size_t n, size_t *len)
{
    struct evt *ev = malloc(2 * n * sizeof *ev);
    int64_t busy[64];
    int np = 0;
    size_t ne = 0;
    char *buf = NULL;
    FILE *m;

    for (size_t i = 0; i < n; i++) {
        int p;
        for (p = 0; p < np; p++)
            if (busy[p] < g[i].call)
                break;
        if (p == np) {
            cr_assert_lt(np, 64);
            busy[np++] = 0;
        }
        busy[p] = g[i].outcome == 1 ? INT64_MAX : g[i].ret; /* no completion: gone */
        g[i].proc = p;
        ev[ne++] = (struct evt){g[i].call, (int)i, 1};
        if (g[i].outcome != 1)
            ev[ne++] = (struct evt){g[i].ret, (int)i, 0};
    }
    qsort(ev, ne, sizeof *ev, evt_cmp);
    m = open_memstream(&buf, len);
    for (size_t k = 0; k < ne; k++) {
        struct gop *o = &g[ev[k].op];
        const char *type = ev[k].call ? "invoke" : o->outcome == 2 ? "fail" : "ok";
        fprintf(m, "{\"process\": %d, \"type\": \"%s\", \"f\": \"%s\", \"value\": ", o->proc, type,
                o->enq ? "enqueue" : "dequeue");
        if (o->enq)
            fprintf(m, "%" PRId64, o->value);
        else if (ev[k].call || o->value < 0)
            fputs("null", m);
        else
            fprintf(m, "%" PRId64, o->value);
        fputs("}\n", m);
    }
    fclose(m);
    free(ev);
    return buf;
}

static int check(struct fl_history *h, bool no_fast, struct fl_check_report *r)
{
    struct fl_check_opts o;
    struct fl_err e = {0};
    fl_check_opts_init(&o);
    o.model = "queue";
    o.no_fast = no_fast;
    o.timeout_ms = 20000;
    cr_assert_eq(fl_check_run(h, &o, r, &e), 0, "%s", e.msg);
    return r->verdict;
}

Test(check_queue_fast, agrees_with_the_search, .timeout = 300)
{
    struct gop g[64];
    size_t fast_valid = 0, fast_invalid = 0, invalid = 0,
           cases = getenv("QCASES") ? strtoul(getenv("QCASES"), NULL, 10) : 4000;

    rng = getenv("QSEED") ? strtoull(getenv("QSEED"), NULL, 10) : 0x9E3779B97F4A7C15ULL;
    for (size_t c = 0; c < cases; c++) {
        size_t n = 3 + rnd() % 9, len;
        struct fl_history *h = NULL;
        struct fl_err e = {0};
        struct fl_check_report rf, rs;

        generate(g, n, 40 + (int64_t)(rnd() % 200), true);
        for (uint64_t k = rnd() % 3; k > 0; k--)
            mutate(g, n);
        char *text = render(g, n, &len);
        cr_assert_eq(fl_history_parse(text, len, FL_FMT_JSONL, "q.jsonl", &h, &e), 0, "%s", e.msg);
        int vf = check(h, false, &rf), vs = check(h, true, &rs);
        cr_assert_eq(vf, vs, "order check says %s, search says %s on:\n%s\n%s",
                     fl_check_verdict_name(vf), fl_check_verdict_name(vs), text, rf.text);
        cr_assert_neq(vs, FL_CHECK_UNKNOWN, "%s", text);
        if (vf == FL_CHECK_VALID && rf.steps == 0 && rf.checked_ops > 0)
            fast_valid++;
        if (vf == FL_CHECK_INVALID) {
            invalid++;
            fast_invalid += json_object_get(rf.json, "method") != NULL;
        }
        fl_check_report_fini(&rf);
        fl_check_report_fini(&rs);
        fl_history_free(h);
        free(text);
    }
    /* the property is only worth something if the check decided many */
    cr_assert_gt(fast_valid, cases / 5, "order check decided %zu valid histories", fast_valid);
    cr_assert_gt(fast_invalid, invalid / 4, "order check found %zu of %zu invalid", fast_invalid,
                 invalid);
}

/* 20000 operations, many enqueues in flight: the search alone gives up,
 * the order check decides, both ways. */
Test(check_queue_fast, decides_long_histories)
{
    size_t n = 20000, len;
    struct gop *g = calloc(n, sizeof *g);
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_report r;

    rng = 42;
    generate(g, n, 400, false);
    char *text = render(g, n, &len);
    cr_assert_eq(fl_history_parse(text, len, FL_FMT_JSONL, "q.jsonl", &h, &e), 0, "%s", e.msg);
    cr_assert_eq(check(h, false, &r), FL_CHECK_VALID, "%s", r.text);
    fl_check_report_fini(&r);
    fl_history_free(h);
    free(text);
    /* now one dequeue late by one: the order pattern */
    for (size_t i = n / 2; i < n; i++)
        if (!g[i].enq && g[i].value > 0) {
            for (size_t j = i + 1; j < n; j++)
                if (!g[j].enq && g[j].value > 0) {
                    int64_t t = g[i].value;
                    g[i].value = g[j].value;
                    g[j].value = t;
                    g[j].call += 2000; /* strictly after: no overlap can save it */
                    g[j].ret += 2000;
                    break;
                }
            break;
        }
    text = render(g, n, &len);
    cr_assert_eq(fl_history_parse(text, len, FL_FMT_JSONL, "q.jsonl", &h, &e), 0, "%s", e.msg);
    cr_assert_eq(check(h, false, &r), FL_CHECK_INVALID, "%s", r.text);
    cr_assert(strstr(r.text, "queue order check"), "%s", r.text);
    fl_check_report_fini(&r);
    fl_history_free(h);
    free(text);
    free(g);
}
