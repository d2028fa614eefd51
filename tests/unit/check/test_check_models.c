/* Property tests for the models and the search: histories generated from a
 * sequential run of each model, with every operation stretched into an
 * interval around its linearization point (so real-time order allows many
 * interleavings), are always linearizable; one mutation that no
 * interleaving can explain is always caught. Plus parser round trips and the
 * timeout. */
#include <criterion/criterion.h>
#include <inttypes.h>

#include "check_test_util.h"

#define BAD 999999

struct gop {
    int64_t call, ret; /* ret < 0: no completion (unknown outcome) */
    char inv[256], comp[256];
    const char *f;
    const char *type; /* ok, fail, info */
    char key[16];
    int64_t proc;
};

struct gen {
    struct gop *ops;
    size_t n, cap;
    uint64_t rng;
};

static uint64_t rnd(struct gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

static struct gop *add(struct gen *g, const char *f)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 256;
        g->ops = realloc(g->ops, g->cap * sizeof *g->ops);
        if (!g->ops)
            abort();
    }
    struct gop *o = &g->ops[g->n];
    memset(o, 0, sizeof *o);
    int64_t t = (int64_t)g->n * 100 + 1000;
    o->call = t - (int64_t)(rnd(g) % 300) - 1;
    o->ret = t + (int64_t)(rnd(g) % 300) + 1;
    o->f = f;
    o->type = "ok";
    strcpy(o->inv, "null");
    strcpy(o->comp, "null");
    g->n++;
    return o;
}

/* Writes with unknown outcome that did happen keep the history linearizable. */
static void maybe_info(struct gen *g, struct gop *o)
{
    if (rnd(g) % 20 == 0) {
        o->type = "info";
        if (rnd(g) % 2)
            o->ret = -1;
    }
}

static void gen_model(struct gen *g, const char *model, size_t n)
{
    int64_t reg = 0, regs[5] = {0}, count = 0;
    bool held = false, written[5] = {false}, reg_written = false;
    int64_t q[4096];
    size_t qh = 0, qt = 0;
    int64_t set[4096];
    size_t ns = 0;
    int64_t next = 1;
    char strs[5][200] = {""};

    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd(g) % 10;
        struct gop *o;
        if (!strcmp(model, "register") || !strcmp(model, "cas-register")) {
            if (r < 4) {
                o = add(g, "write");
                reg = (int64_t)(rnd(g) % 5);
                reg_written = true;
                sprintf(o->inv, "%" PRId64, reg);
                strcpy(o->comp, o->inv);
                maybe_info(g, o);
            } else if (r < 7 || strcmp(model, "cas-register")) {
                o = add(g, "read");
                if (reg_written)
                    sprintf(o->comp, "%" PRId64, reg);
            } else {
                o = add(g, "cas");
                int64_t old = (int64_t)(rnd(g) % 5), nw = (int64_t)(rnd(g) % 5);
                sprintf(o->inv, "[%" PRId64 ", %" PRId64 "]", old, nw);
                strcpy(o->comp, o->inv);
                if (reg_written && old == reg) {
                    reg = nw;
                    maybe_info(g, o);
                } else {
                    o->type = "fail";
                }
            }
        } else if (!strcmp(model, "kv")) {
            int k = (int)(rnd(g) % 5);
            if (r < 4) {
                o = add(g, "write");
                regs[k] = (int64_t)(rnd(g) % 5);
                written[k] = true;
                sprintf(o->inv, "%" PRId64, regs[k]);
                strcpy(o->comp, o->inv);
                maybe_info(g, o);
            } else {
                o = add(g, "read");
                if (written[k])
                    sprintf(o->comp, "%" PRId64, regs[k]);
            }
            sprintf(o->key, "\"k%d\"", k);
        } else if (!strcmp(model, "kv-append")) {
            /* Porcupine's kv: append pieces, get the whole string, put now and then */
            int k = (int)(rnd(g) % 5);
            if (r < 5) {
                char piece[8];
                snprintf(piece, sizeof piece, "%c%d", 'a' + (int)(rnd(g) % 26), (int)(rnd(g) % 10));
                o = add(g, r == 0 || strlen(strs[k]) > 150 ? "put" : "append");
                if (!strcmp(o->f, "put"))
                    strcpy(strs[k], piece);
                else
                    strcat(strs[k], piece);
                sprintf(o->inv, "\"%s\"", piece);
                maybe_info(g, o);
            } else {
                o = add(g, "get");
                sprintf(o->comp, "\"%s\"", strs[k]);
            }
            sprintf(o->key, "\"k%d\"", k);
        } else if (!strcmp(model, "multi-register")) {
            o = add(g, "txn");
            char *pi = o->inv, *pc = o->comp;
            pi += sprintf(pi, "[");
            pc += sprintf(pc, "[");
            int m = 1 + (int)(rnd(g) % 3);
            for (int j = 0; j < m; j++) {
                int k = (int)(rnd(g) % 3);
                const char *sep = j ? ", " : "";
                if (rnd(g) % 2) {
                    regs[k] = (int64_t)(rnd(g) % 4);
                    written[k] = true;
                    pi += sprintf(pi, "%s[\"write\", \"r%d\", %" PRId64 "]", sep, k, regs[k]);
                    pc += sprintf(pc, "%s[\"write\", \"r%d\", %" PRId64 "]", sep, k, regs[k]);
                } else {
                    pi += sprintf(pi, "%s[\"read\", \"r%d\", null]", sep, k);
                    if (written[k])
                        pc += sprintf(pc, "%s[\"read\", \"r%d\", %" PRId64 "]", sep, k, regs[k]);
                    else
                        pc += sprintf(pc, "%s[\"read\", \"r%d\", null]", sep, k);
                }
            }
            sprintf(pi, "]");
            sprintf(pc, "]");
        } else if (!strcmp(model, "counter")) {
            if (r < 5) {
                o = add(g, "add");
                int64_t d = 1 + (int64_t)(rnd(g) % 5);
                count += d;
                sprintf(o->inv, "%" PRId64, d);
                strcpy(o->comp, o->inv);
                maybe_info(g, o);
            } else {
                o = add(g, "read");
                sprintf(o->comp, "%" PRId64, count);
            }
        } else if (!strcmp(model, "set")) {
            if (r < 7) {
                o = add(g, "add");
                set[ns++] = next;
                sprintf(o->inv, "%" PRId64, next++);
                strcpy(o->comp, o->inv);
                maybe_info(g, o);
            } else {
                o = add(g, "read");
                size_t used = 1;
                o->comp[0] = '[';
                for (size_t j = 0; j < ns && used < 200; j++)
                    used += (size_t)snprintf(o->comp + used, sizeof o->comp - used, "%s%" PRId64,
                                             j ? "," : "", set[j]);
                snprintf(o->comp + used, sizeof o->comp - used, "]");
                if (used >= 200) { /* too long to print: make it an add instead */
                    o->f = "add";
                    set[ns++] = next;
                    sprintf(o->inv, "%" PRId64, next++);
                    strcpy(o->comp, o->inv);
                }
            }
        } else if (!strcmp(model, "queue")) {
            if (r < 5 || qh == qt) {
                if (r < 5) {
                    o = add(g, "enqueue");
                    q[qt++] = next;
                    sprintf(o->inv, "%" PRId64, next++);
                    strcpy(o->comp, o->inv);
                } else {
                    o = add(g, "dequeue"); /* empty: returns null */
                }
            } else {
                o = add(g, "dequeue");
                sprintf(o->comp, "%" PRId64, q[qh++]);
            }
        } else { /* mutex */
            o = add(g, held ? "release" : "acquire");
            held = !held;
        }
    }
}

/* Give each op a process: one that is idle at its call, or a new one. */
static void assign_processes(struct gen *g)
{
    int64_t busy_until[4096];
    size_t np = 0;
    for (size_t i = 0; i < g->n; i++) {
        struct gop *o = &g->ops[i];
        size_t p;
        for (p = 0; p < np; p++)
            if (busy_until[p] >= 0 && busy_until[p] < o->call)
                break;
        if (p == np)
            np++;
        busy_until[p] = o->ret < 0 ? -1 : o->ret;
        if (o->ret < 0)
            busy_until[p] = -1; /* never reused */
        o->proc = (int64_t)p;
    }
}

struct evt {
    int64_t t;
    size_t op;
    bool call;
};

static int evt_cmp(const void *a, const void *b)
{
    const struct evt *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

static char *render(struct gen *g, size_t *len)
{
    struct evt *ev = malloc(2 * g->n * sizeof *ev);
    size_t ne = 0;
    for (size_t i = 0; i < g->n; i++) {
        ev[ne++] = (struct evt){g->ops[i].call, i, true};
        if (g->ops[i].ret >= 0)
            ev[ne++] = (struct evt){g->ops[i].ret, i, false};
    }
    qsort(ev, ne, sizeof *ev, evt_cmp);
    char *buf = NULL;
    FILE *m = open_memstream(&buf, len);
    for (size_t i = 0; i < ne; i++) {
        struct gop *o = &g->ops[ev[i].op];
        fprintf(m, "{\"process\": %" PRId64 ", \"type\": \"%s\", \"f\": \"%s\", \"value\": %s",
                o->proc, ev[i].call ? "invoke" : o->type, o->f, ev[i].call ? o->inv : o->comp);
        if (o->key[0])
            fprintf(m, ", \"key\": %s", o->key);
        fprintf(m, ", \"time\": %" PRId64 "}\n", ev[i].t);
    }
    fclose(m);
    free(ev);
    return buf;
}

static int verdict_of(const char *model, const char *text, size_t len, bool no_memo)
{
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_opts o;
    struct fl_check_report r;

    cr_assert_eq(fl_history_parse(text, len, FL_FMT_JSONL, "gen", &h, &e), 0, "%s\n%s", e.msg,
                 text);
    fl_check_opts_init(&o);
    o.model = strcmp(model, "kv-append") ? model : "kv";
    o.timeout_ms = 30000;
    o.no_memo = no_memo;
    o.no_minimize = true;
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0, "%s", e.msg);
    int v = r.verdict;
    fl_check_report_fini(&r);
    fl_history_free(h);
    return v;
}

/* Break the history with one change no interleaving can explain. Returns
 * false when this history has nothing to mutate. */
static bool mutate(struct gen *g, const char *model)
{
    if (!strcmp(model, "mutex")) {
        int64_t end = g->ops[g->n - 1].ret + 1000;
        for (int k = 0; k < 2; k++) {
            struct gop *o = add(g, "acquire");
            o->call = end + 10 + k * 100;
            o->ret = end + 50 + k * 100;
        }
        assign_processes(g);
        return true;
    }
    size_t start = (size_t)(rnd(g) % g->n);
    for (size_t k = 0; k < g->n; k++) {
        struct gop *o = &g->ops[(start + k) % g->n];
        if (strcmp(o->type, "ok"))
            continue;
        if (!strcmp(o->f, "read") && !strcmp(model, "set")) {
            size_t l = strlen(o->comp);
            sprintf(o->comp + l - 1, "%s%d]", l > 2 ? "," : "", BAD);
            return true;
        }
        if (!strcmp(o->f, "get")) { /* no append ever writes capitals */
            strcpy(o->comp, "\"BAD\"");
            return true;
        }
        if (!strcmp(o->f, "read") || !strcmp(o->f, "dequeue")) {
            sprintf(o->comp, "%d", BAD);
            return true;
        }
        if (!strcmp(o->f, "txn")) {
            char *p = strstr(o->comp, "[\"read\"");
            if (!p)
                continue;
            char *q = strchr(p, ']');
            char *c = q;
            while (*(c - 1) != ' ')
                c--;
            char tail[256];
            snprintf(tail, sizeof tail, "%s", q);
            sprintf(c, "%d%s", BAD, tail);
            return true;
        }
    }
    return false;
}

static void property(const char *model, size_t n, int rounds, bool naive)
{
    int mutated = 0;
    for (int round = 0; round < rounds; round++) {
        struct gen g = {.rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(round + 1) + strlen(model)};
        size_t len;
        gen_model(&g, model, n);
        assign_processes(&g);
        char *text = render(&g, &len);
        int v = verdict_of(model, text, len, false);
        cr_expect_eq(v, FL_CHECK_VALID, "%s round %d: generated history judged %s\n%s", model,
                     round, fl_check_verdict_name(v), text);
        if (naive)
            cr_expect_eq(verdict_of(model, text, len, true), FL_CHECK_VALID,
                         "%s round %d: naive search disagrees", model, round);
        free(text);
        if (mutate(&g, model)) {
            mutated++;
            text = render(&g, &len);
            v = verdict_of(model, text, len, false);
            cr_expect_eq(v, FL_CHECK_INVALID, "%s round %d: mutation not caught (%s)\n%s", model,
                         round, fl_check_verdict_name(v), text);
            if (naive)
                cr_expect_eq(verdict_of(model, text, len, true), FL_CHECK_INVALID,
                             "%s round %d: naive search misses the mutation", model, round);
            free(text);
        }
        free(g.ops);
    }
    cr_expect_gt(mutated, rounds / 2, "%s: too few histories could be mutated", model);
}

/* clang-format off */
#define MODELS_X(X)                                                                                \
    X(register, "register")                                                                        \
    X(cas_register, "cas-register")                                                                \
    X(kv, "kv")                                                                                    \
    X(kv_append, "kv-append")                                                                      \
    X(multi_register, "multi-register")                                                            \
    X(counter, "counter")                                                                          \
    X(set, "set")                                                                                  \
    X(queue, "queue")                                                                              \
    X(mutex, "mutex")
/* clang-format on */

/* Queue states remember the order of concurrent enqueues until they are
 * dequeued, so the search grows fastest there: its large case is smaller. */
#define LARGE(name) (strcmp(name, "queue") ? 400 : 60)

#define PROP_TEST(id, name)                                                                        \
    Test(check_property, id##_tiny_vs_naive, .timeout = 600)                                       \
    {                                                                                              \
        property(name, 8, 30, true);                                                               \
    }                                                                                              \
    Test(check_property, id##_small, .timeout = 600)                                               \
    {                                                                                              \
        property(name, 40, 40, false);                                                             \
    }                                                                                              \
    Test(check_property, id##_large, .timeout = 600)                                               \
    {                                                                                              \
        property(name, LARGE(name), 10, false);                                                    \
    }
MODELS_X(PROP_TEST)

Test(check_models, registry_knows_every_model)
{
    const char *names[] = {"register", "cas-register", "multi-register", "kv",
                           "set",      "counter",      "queue",          "mutex"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const struct fl_model_ops *m = fl_check_model_find(names[i]);
        cr_assert_not_null(m, "%s", names[i]);
        cr_expect_str_eq(m->name, names[i]);
        cr_expect(m->prepare && m->init && m->step && m->max_words && m->describe_state);
    }
    cr_expect_null(fl_check_model_find("nope"));
}

Test(check_models, unknown_model_is_a_usage_error)
{
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_opts o;
    struct fl_check_report r;
    cr_assert_eq(fl_history_parse("", 0, FL_FMT_JSONL, "x", &h, &e), 0);
    fl_check_opts_init(&o);
    o.model = "paxos";
    cr_expect_eq(fl_check_run(h, &o, &r, &e), -FL_EUSAGE);
    cr_expect(strstr(e.msg, "paxos") != NULL);
    fl_history_free(h);
}

Test(check_models, timeout_answers_unknown, .timeout = 120)
{
    /* many concurrent writes with unknown outcome and reads nobody can
     * explain quickly: the search must stop at the deadline */
    struct gen g = {.rng = 42};
    size_t len;
    for (int i = 0; i < 3000; i++) {
        struct gop *o = add(&g, i % 3 ? "read" : "write");
        o->call = i;
        o->ret = i % 3 ? 100000 + i : -1;
        if (i % 3 == 0) {
            o->type = "info";
            sprintf(o->inv, "%d", i);
        } else {
            sprintf(o->comp, "%d", (i * 7) % 3000 / 3 * 3);
        }
    }
    assign_processes(&g);
    char *text = render(&g, &len);
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_opts o;
    struct fl_check_report r;
    cr_assert_eq(fl_history_parse(text, len, FL_FMT_JSONL, "gen", &h, &e), 0, "%s", e.msg);
    fl_check_opts_init(&o);
    o.model = "register";
    o.timeout_ms = 200;
    int64_t t0 = fl_check_now_ns();
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0);
    cr_expect_eq(r.verdict, FL_CHECK_UNKNOWN, "verdict %s", fl_check_verdict_name(r.verdict));
    cr_expect_lt(fl_check_now_ns() - t0, INT64_C(5000000000));
    cr_expect(strstr(r.text, "time") != NULL, "%s", r.text);
    fl_check_report_fini(&r);
    fl_history_free(h);
    free(text);
    free(g.ops);
}

/* EDN -> history -> EDN and JSON Lines -> history keeps ops and verdicts. */
Test(check_models, export_round_trips, .timeout = 120)
{
    const char *files[] = {"knossos/cas-register/bad/cas-failure.edn",
                           "knossos/multi-register/good/multi-register.edn",
                           "knossos/mutex/bad/etcd.edn"};
    const char *models[] = {"cas-register", "multi-register", "mutex"};
    for (int i = 0; i < 3; i++) {
        char *path = test_path("FL_SHARED_DATA", files[i]);
        struct fl_history *h = NULL, *h2 = NULL, *h3 = NULL;
        struct fl_err e = {0};
        cr_assert_eq(fl_history_load(path, FL_FMT_AUTO, &h, &e), 0, "%s", e.msg);
        char *edn = NULL, *jl = NULL;
        size_t elen = 0, jlen = 0;
        FILE *m = open_memstream(&edn, &elen);
        cr_assert_eq(fl_history_write_edn(h, NULL, m), 0);
        fclose(m);
        m = open_memstream(&jl, &jlen);
        cr_assert_eq(fl_history_write_jsonl(h, NULL, m), 0);
        fclose(m);
        cr_assert_eq(fl_history_parse(edn, elen, FL_FMT_AUTO, "edn", &h2, &e), 0, "%s", e.msg);
        cr_assert_eq(fl_history_parse(jl, jlen, FL_FMT_AUTO, "jsonl", &h3, &e), 0, "%s", e.msg);
        cr_expect_eq(h2->nops, h->nops);
        cr_expect_eq(h3->nops, h->nops);
        struct fl_history *hs[3] = {h, h2, h3};
        int v[3];
        for (int k = 0; k < 3; k++) {
            struct fl_check_opts o;
            struct fl_check_report r;
            fl_check_opts_init(&o);
            o.model = models[i];
            o.no_minimize = true;
            if (i == 1)
                cr_assert_eq(test_code(hs[k], "0", &o.cfg.initial), 0);
            cr_assert_eq(fl_check_run(hs[k], &o, &r, &e), 0, "%s", e.msg);
            v[k] = r.verdict;
            fl_check_report_fini(&r);
        }
        cr_expect_eq(v[0], v[1], "%s: EDN export changes the verdict", files[i]);
        cr_expect_eq(v[0], v[2], "%s: JSON Lines export changes the verdict", files[i]);
        free(edn);
        free(jl);
        fl_history_free(h);
        fl_history_free(h2);
        fl_history_free(h3);
        free(path);
    }
}

Test(check_models, html_report_is_self_contained)
{
    const char *text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n"
                       "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n"
                       "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n"
                       "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":\"<b>\"}\n";
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_opts o;
    struct fl_check_report r;
    cr_assert_eq(fl_history_parse(text, strlen(text), FL_FMT_AUTO, "t", &h, &e), 0);
    fl_check_opts_init(&o);
    o.model = "register";
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0);
    cr_assert_eq(r.verdict, FL_CHECK_INVALID);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cr_assert_eq(fl_check_write_html(h, &r, "register", m), 0);
    fclose(m);
    cr_expect(strstr(buf, "<svg") != NULL);
    cr_expect(strstr(buf, "class=\"bad") != NULL, "offending op not marked");
    cr_expect(strstr(buf, "<b>") == NULL, "value not escaped");
    cr_expect(strstr(buf, "src=") == NULL && strstr(buf, "href=") == NULL, "external asset");
    free(buf);
    fl_check_report_fini(&r);
    fl_history_free(h);
}
