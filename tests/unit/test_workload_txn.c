/* The transactional workloads (list-append, rw-register): generated
 * transactions, their JSON form, key rotation, options, and a history
 * recorded by real threads against an in-process serial store, which must
 * check out valid as list-append. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "workload/recorder.h"
#include "workload/txn.h"
#include "workload/workload.h"

static struct fl_wl_cfg cfg_for(const char *workload)
{
    struct fl_wl_cfg c;
    fl_wl_cfg_init(&c);
    c.client = fl_wl_client_find("postgres");
    c.workload = fl_wl_find(workload);
    c.target = "127.0.0.1:1";
    memcpy(c.mix, c.workload->mix, sizeof c.mix);
    return c;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

Test(txn_gen, transactions_have_unique_values_and_rotate_keys)
{
    struct fl_wl_cfg c = cfg_for("list-append");
    c.keys = 3;
    c.txn_len = 5;
    c.max_writes_per_key = 4;
    c.concurrency = 4;
    size_t nv = 0, cap = (size_t)4 * 2000 * FL_WL_TXN_MAX;
    int64_t *vals = malloc(cap * sizeof *vals), maxkey = 0;
    int reads = 0, appends = 0;

    for (int w = 0; w < 4; w++) {
        uint64_t rng;
        fl_wl_rng_seed(&rng, 7, w);
        for (uint64_t s = 0; s < 2000; s++) {
            struct fl_wl_op op;
            fl_wl_next_op(&c, &rng, w, s, &op);
            cr_assert_eq(op.f, FL_WL_TXN);
            cr_assert(op.nmops >= 1 && op.nmops <= 5, "%d micro-ops", op.nmops);
            for (int i = 0; i < op.nmops; i++) {
                const struct fl_wl_mop *m = &op.mops[i];
                cr_assert(m->f == FL_WL_READ || m->f == FL_WL_APPEND);
                reads += m->f == FL_WL_READ;
                appends += m->f == FL_WL_APPEND;
                if (m->f == FL_WL_APPEND)
                    vals[nv++] = m->v;
                maxkey = m->key > maxkey ? m->key : maxkey;
            }
        }
    }
    qsort(vals, nv, sizeof *vals, cmp64);
    for (size_t i = 1; i < nv; i++)
        cr_assert_neq(vals[i], vals[i - 1], "value %lld appended twice", (long long)vals[i]);
    cr_expect(reads > 1000 && appends > 1000, "reads %d appends %d", reads, appends);
    /* ~6000 appends, 3 keys at a time, 4 writes per key: hundreds of key windows */
    cr_expect_gt(maxkey, 300, "keys did not rotate: max key %lld", (long long)maxkey);
    free(vals);
}

Test(txn_gen, render_is_the_micro_ops_as_json)
{
    struct fl_wl_op op = {.f = FL_WL_TXN, .nmops = 3};
    op.mops[0] = (struct fl_wl_mop){FL_WL_READ, 4, 0};
    op.mops[1] = (struct fl_wl_mop){FL_WL_APPEND, 4, 17};
    op.mops[2] = (struct fl_wl_mop){FL_WL_WRITE, 5, 9};
    char *inv = fl_wl_txn_render(&op, NULL);
    char *reads[3] = {"[1,2]", NULL, NULL};
    char *ok = fl_wl_txn_render(&op, reads);
    cr_assert_str_eq(inv, "[[\"r\",4,null],[\"append\",4,17],[\"w\",5,9]]");
    cr_assert_str_eq(ok, "[[\"r\",4,[1,2]],[\"append\",4,17],[\"w\",5,9]]");
    json_error_t je;
    json_t *j = json_loads(ok, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    json_decref(j);
    free(inv);
    free(ok);

    struct fl_rec_ev ev = {.process = 2,
                           .type = FL_REC_OK,
                           .f = FL_WL_TXN,
                           .vkind = FL_RV_JSON,
                           .key = -1,
                           .json = "[[\"r\",1,[]]]"};
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    fl_recorder_format(&ev, f);
    fclose(f);
    cr_assert(strstr(line, "\"f\":\"txn\",\"value\":[[\"r\",1,[]]]"), "%s", line);
    free(line);
}

Test(txn_opts, validate_and_clients)
{
    struct fl_wl_cfg c = cfg_for("rw-register");
    struct fl_err e = {0};
    cr_assert_eq(fl_wl_cfg_validate(&c, &e), 0, "%s", e.msg);
    c.txn_len = 0;
    cr_assert_lt(fl_wl_cfg_validate(&c, &e), 0);
    cr_assert(strstr(e.msg, "--txn-length must be 1..16"), "%s", e.msg);
    c.txn_len = 4;
    c.max_writes_per_key = 0;
    cr_assert_lt(fl_wl_cfg_validate(&c, &e), 0);
    c.max_writes_per_key = 32;
    /* every client runs the transactional workloads */
    for (const struct fl_wl_client_ops *const *cl = fl_wl_clients(); *cl; cl++) {
        c.client = *cl;
        cr_assert_eq(fl_wl_cfg_validate(&c, &e), 0, "%s: %s", (*cl)->name, e.msg);
    }
    unsigned mix[FL_WL_NF];
    cr_assert_lt(fl_wl_parse_mix(fl_wl_find("list-append"), "read=1,write=1", mix, &e), 0);
    cr_assert(strstr(e.msg, "has no 'write' operation (it has read, append)"), "%s", e.msg);
    cr_assert_eq(fl_wl_parse_mix(fl_wl_find("list-append"), "read=1,append=3", mix, &e), 0);
    cr_assert(fl_wl_txn_workload(fl_wl_find("list-append")) &&
              fl_wl_txn_workload(fl_wl_find("rw-register")) &&
              !fl_wl_txn_workload(fl_wl_find("register")));
}

/* Real threads, one serial in-memory store behind a mutex: each transaction
 * runs atomically between its invocation and completion, so the recorded
 * history is strict-serializable. */
struct store {
    pthread_mutex_t mu;
    int64_t *list[4096];
    uint32_t n[4096], cap[4096];
};

struct worker {
    struct store *s;
    struct fl_recorder *rec;
    const struct fl_wl_cfg *c;
    int id;
};

static char *exec_txn(struct store *s, const struct fl_wl_op *op)
{
    char *reads[FL_WL_TXN_MAX] = {0};
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < op->nmops; i++) {
        const struct fl_wl_mop *m = &op->mops[i];
        size_t k = (size_t)m->key % 4096, len = 0;
        if (m->f == FL_WL_APPEND) {
            if (s->n[k] == s->cap[k]) {
                s->cap[k] = s->cap[k] ? 2 * s->cap[k] : 8;
                s->list[k] = realloc(s->list[k], s->cap[k] * sizeof **s->list);
            }
            s->list[k][s->n[k]++] = m->v;
            continue;
        }
        FILE *f = open_memstream(&reads[i], &len);
        fputc('[', f);
        for (uint32_t j = 0; j < s->n[k]; j++)
            fprintf(f, "%s%lld", j ? "," : "", (long long)s->list[k][j]);
        fputc(']', f);
        fclose(f);
    }
    pthread_mutex_unlock(&s->mu);
    char *out = fl_wl_txn_render(op, reads);
    for (int i = 0; i < FL_WL_TXN_MAX; i++)
        free(reads[i]);
    return out;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    uint64_t rng;
    fl_wl_rng_seed(&rng, 11, w->id);
    for (uint64_t s = 0; s < 400; s++) {
        struct fl_wl_op op;
        fl_wl_next_op(w->c, &rng, w->id, s, &op);
        struct fl_rec_ev ev = {.process = w->id,
                               .type = FL_REC_INVOKE,
                               .f = FL_WL_TXN,
                               .vkind = FL_RV_JSON,
                               .key = -1,
                               .json = fl_wl_txn_render(&op, NULL)};
        fl_recorder_add(w->rec, w->id, &ev);
        struct fl_rec_ev done = {.process = w->id,
                                 .type = FL_REC_OK,
                                 .f = FL_WL_TXN,
                                 .vkind = FL_RV_JSON,
                                 .key = -1,
                                 .json = exec_txn(w->s, &op)};
        fl_recorder_add(w->rec, w->id, &done);
    }
    return NULL;
}

Test(txn_run, threads_against_a_serial_store_check_out_valid, .timeout = 120)
{
    struct fl_wl_cfg c = cfg_for("list-append");
    c.concurrency = 4;
    c.keys = 4;
    c.max_writes_per_key = 8;
    static struct store s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct fl_recorder *rec;
    struct fl_err e = {0};
    cr_assert_eq(fl_recorder_new(out, 4, 0, &rec, &e), 0, "%s", e.msg);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){&s, rec, &c, i};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    uint64_t events;
    cr_assert_eq(fl_recorder_close(rec, &events, &e), 0, "%s", e.msg);
    fclose(out);
    cr_assert_eq(events, 3200);

    struct fl_history *h = NULL;
    cr_assert_eq(fl_history_parse(buf, len, FL_FMT_JSONL, "rec", &h, &e), 0, "%s", e.msg);
    struct fl_check_opts o;
    struct fl_check_report r;
    fl_check_opts_init(&o);
    o.model = "list-append";
    o.consistency_models = "strict-serializable";
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0, "%s", e.msg);
    cr_expect_eq(r.verdict, FL_CHECK_VALID, "%s", r.text);
    cr_expect(strstr(r.text, "1600 transactions (1600 committed"), "%s", r.text);
    fl_check_report_fini(&r);
    fl_history_free(h);
    free(buf);
    for (int i = 0; i < 4096; i++)
        free(s.list[i]);
}
