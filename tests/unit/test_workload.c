/* Workload generation (seed, mix, arguments), options, and the recorder:
 * real threads record operations on an in-process register, and the history
 * they produce must parse and check out as linearizable. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check/check.h"
#include "workload/clients/httpc.h"
#include "workload/clients/pg.h"
#include "workload/clients/redis.h"
#include "workload/recorder.h"
#include "workload/workload.h"

static struct fl_wl_cfg cfg_for(const char *client, const char *workload)
{
    struct fl_wl_cfg c;
    fl_wl_cfg_init(&c);
    c.client = fl_wl_client_find(client);
    c.workload = fl_wl_find(workload);
    c.target = "127.0.0.1:1";
    memcpy(c.mix, c.workload->mix, sizeof c.mix);
    return c;
}

/* Field by field: memcmp would also compare the struct's padding, which
 * fl_wl_next_op() does not set (clang-tidy bugprone-suspicious-memory-comparison). */
static bool op_eq(const struct fl_wl_op *x, const struct fl_wl_op *y)
{
    return x->f == y->f && x->key == y->key && x->a == y->a && x->b == y->b && x->c == y->c &&
           x->final == y->final;
}

Test(gen, same_seed_same_ops_per_worker)
{
    struct fl_wl_cfg c = cfg_for("redis", "register");
    uint64_t r1, r2, r3;
    fl_wl_rng_seed(&r1, 42, 3);
    fl_wl_rng_seed(&r2, 42, 3);
    fl_wl_rng_seed(&r3, 42, 4);
    int same_as_other = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        struct fl_wl_op a, b, o;
        fl_wl_next_op(&c, &r1, 3, i, &a);
        fl_wl_next_op(&c, &r2, 3, i, &b);
        fl_wl_next_op(&c, &r3, 4, i, &o);
        cr_assert(op_eq(&a, &b), "op %llu differs", (unsigned long long)i);
        same_as_other += op_eq(&a, &o);
    }
    /* another worker draws its own stream */
    cr_assert_lt(same_as_other, 200);
}

Test(gen, different_seed_different_ops)
{
    struct fl_wl_cfg c = cfg_for("redis", "register");
    uint64_t r1, r2;
    fl_wl_rng_seed(&r1, 1, 0);
    fl_wl_rng_seed(&r2, 2, 0);
    int same = 0;
    for (uint64_t i = 0; i < 200; i++) {
        struct fl_wl_op a, b;
        fl_wl_next_op(&c, &r1, 0, i, &a);
        fl_wl_next_op(&c, &r2, 0, i, &b);
        same += op_eq(&a, &b);
    }
    cr_assert_lt(same, 60);
}

Test(gen, mix_weights_are_respected)
{
    struct fl_wl_cfg c = cfg_for("redis", "register");
    struct fl_err e = {0};
    cr_assert_eq(fl_wl_parse_mix(c.workload, "read=1,write=3", c.mix, &e), 0, "%s", e.msg);
    uint64_t rng;
    fl_wl_rng_seed(&rng, 7, 0);
    int n[FL_WL_NF] = {0};
    for (uint64_t i = 0; i < 40000; i++) {
        struct fl_wl_op op;
        fl_wl_next_op(&c, &rng, 0, i, &op);
        n[op.f]++;
        cr_assert(op.key >= 0 && op.key < c.keys);
        if (op.f == FL_WL_WRITE)
            cr_assert(op.a >= 0 && op.a < c.values);
    }
    cr_assert_eq(n[FL_WL_CAS], 0);
    cr_assert_eq(n[FL_WL_TRANSFER] + n[FL_WL_ADD], 0);
    /* 1:3 within a few percent */
    cr_assert(n[FL_WL_READ] > 9000 && n[FL_WL_READ] < 11000, "reads %d", n[FL_WL_READ]);
    cr_assert(n[FL_WL_WRITE] > 29000 && n[FL_WL_WRITE] < 31000, "writes %d", n[FL_WL_WRITE]);
}

Test(gen, only_one_function)
{
    struct fl_wl_cfg c = cfg_for("redis", "register");
    struct fl_err e = {0};
    cr_assert_eq(fl_wl_parse_mix(c.workload, "cas=5", c.mix, &e), 0);
    uint64_t rng;
    fl_wl_rng_seed(&rng, 9, 1);
    for (uint64_t i = 0; i < 1000; i++) {
        struct fl_wl_op op;
        fl_wl_next_op(&c, &rng, 1, i, &op);
        cr_assert_eq(op.f, FL_WL_CAS);
        cr_assert(op.a >= 0 && op.a < 5 && op.b >= 0 && op.b < 5);
    }
}

Test(gen, bank_transfers_move_money_between_two_accounts)
{
    struct fl_wl_cfg c = cfg_for("postgres", "bank");
    c.accounts = 3;
    c.max_transfer = 7;
    uint64_t rng;
    fl_wl_rng_seed(&rng, 5, 0);
    bool seen_amount[8] = {0};
    int reads = 0;
    for (uint64_t i = 0; i < 5000; i++) {
        struct fl_wl_op op;
        fl_wl_next_op(&c, &rng, 0, i, &op);
        if (op.f == FL_WL_READ) {
            reads++;
            continue;
        }
        cr_assert_eq(op.f, FL_WL_TRANSFER);
        cr_assert(op.a >= 0 && op.a < 3 && op.b >= 0 && op.b < 3 && op.a != op.b);
        cr_assert(op.c >= 1 && op.c <= 7);
        seen_amount[op.c] = true;
    }
    for (int a = 1; a <= 7; a++)
        cr_assert(seen_amount[a], "amount %d never drawn", a);
    /* default mix read=1,transfer=4 */
    cr_assert(reads > 800 && reads < 1200, "reads %d", reads);
}

Test(gen, set_adds_are_unique_across_workers)
{
    struct fl_wl_cfg c = cfg_for("redis", "set");
    c.concurrency = 4;
    int64_t seen[4 * 100];
    size_t n = 0;
    for (int w = 0; w < 4; w++) {
        uint64_t rng;
        fl_wl_rng_seed(&rng, 1, w);
        for (uint64_t i = 0; i < 100; i++) {
            struct fl_wl_op op;
            fl_wl_next_op(&c, &rng, w, i, &op);
            cr_assert_eq(op.f, FL_WL_ADD);
            for (size_t k = 0; k < n; k++)
                cr_assert_neq(seen[k], op.a);
            seen[n++] = op.a;
        }
    }
}

Test(gen, rng_below_is_in_range_and_covers_it)
{
    uint64_t rng;
    fl_wl_rng_seed(&rng, 3, 0);
    int hit[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint64_t x = fl_wl_rng_below(&rng, 7);
        cr_assert_lt(x, 7);
        hit[x]++;
    }
    for (int i = 0; i < 7; i++)
        cr_assert(hit[i] > 800 && hit[i] < 1200, "bucket %d: %d", i, hit[i]);
    cr_assert_eq(fl_wl_rng_below(&rng, 1), 0);
}

Test(opts, mix_errors_say_what_is_allowed)
{
    const struct fl_wl_ops *w = fl_wl_find("bank");
    unsigned mix[FL_WL_NF];
    struct fl_err e = {0};
    cr_assert_lt(fl_wl_parse_mix(w, "cas=1", mix, &e), 0);
    cr_assert(strstr(e.msg, "no 'cas'") && strstr(e.msg, "read, transfer"), "%s", e.msg);
    cr_assert_lt(fl_wl_parse_mix(w, "read", mix, &e), 0);
    cr_assert(strstr(e.msg, "NAME=WEIGHT"), "%s", e.msg);
    cr_assert_lt(fl_wl_parse_mix(w, "read=x", mix, &e), 0);
    cr_assert_lt(fl_wl_parse_mix(w, "read=-1", mix, &e), 0);
    cr_assert_lt(fl_wl_parse_mix(w, "read=0,transfer=0", mix, &e), 0);
    cr_assert(strstr(e.msg, "above 0"), "%s", e.msg);
    cr_assert_eq(fl_wl_parse_mix(w, "transfer=2", mix, &e), 0);
    cr_assert_eq(mix[FL_WL_TRANSFER], 2);
    cr_assert_eq(mix[FL_WL_READ], 0);
}

Test(opts, validate)
{
    struct fl_err e = {0};
    struct fl_wl_cfg c = cfg_for("redis", "register");
    cr_assert_eq(fl_wl_cfg_validate(&c, &e), 0, "%s", e.msg);
    c.ns = "Bad-Name";
    cr_assert_lt(fl_wl_cfg_validate(&c, &e), 0);
    cr_assert(strstr(e.msg, "--namespace"), "%s", e.msg);
    c = cfg_for("redis", "register");
    c.target = NULL;
    cr_assert_lt(fl_wl_cfg_validate(&c, &e), 0);
    cr_assert(strstr(e.msg, "--target is required") && strstr(e.msg, "HOST:PORT"), "%s", e.msg);
    c = cfg_for("redis", "bank");
    c.accounts = 1;
    cr_assert_lt(fl_wl_cfg_validate(&c, &e), 0);
    c = cfg_for("redis", "register");
    c.client = NULL;
    cr_assert_lt(fl_wl_cfg_validate(&c, &e), 0);
    cr_assert(strstr(e.msg, "--client"), "%s", e.msg);
}

Test(opts, hostport)
{
    char host[64];
    int port;
    struct fl_err e = {0};
    cr_assert_eq(fl_wl_split_hostport("127.0.0.1:6379", host, sizeof host, &port, &e), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 6379);
    cr_assert_eq(fl_wl_split_hostport("[::1]:7000", host, sizeof host, &port, &e), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 7000);
    const char *bad[] = {"localhost", ":80", "h:0", "h:65536", "h:x", "[::1]7000", "h:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_lt(fl_wl_split_hostport(bad[i], host, sizeof host, &port, &e), 0, "%s", bad[i]);
        cr_assert(strstr(e.msg, bad[i]) && strstr(e.msg, "HOST:PORT"), "%s", e.msg);
    }
}

static char *format(const struct fl_rec_ev *ev)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fl_recorder_format(ev, f);
    fclose(f);
    return buf;
}

Test(recorder, formats_every_value_shape)
{
    struct fl_rec_ev ev = {.process = 3,
                           .type = FL_REC_INVOKE,
                           .f = FL_WL_CAS,
                           .key = 7,
                           .vkind = FL_RV_PAIR,
                           .a = 1,
                           .b = 2,
                           .time = 99};
    char *s = format(&ev);
    cr_assert_str_eq(s,
                     "{\"process\":3,\"type\":\"invoke\",\"f\":\"cas\",\"key\":7,\"value\":[1,2],"
                     "\"time\":99}");
    free(s);
    int64_t arr[] = {5, -1, 7};
    struct fl_rec_ev rd = {.process = 0,
                           .type = FL_REC_OK,
                           .f = FL_WL_READ,
                           .key = -1,
                           .vkind = FL_RV_LIST,
                           .arr = arr,
                           .narr = 3,
                           .time = 5};
    s = format(&rd);
    cr_assert_str_eq(
        s, "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":[5,-1,7],\"time\":5}");
    free(s);
    struct fl_rec_ev tr = {.process = 1,
                           .type = FL_REC_INFO,
                           .f = FL_WL_TRANSFER,
                           .key = -1,
                           .vkind = FL_RV_TRANSFER,
                           .a = 0,
                           .b = 4,
                           .c = 3,
                           .time = 8,
                           .error = "said \"no\"\n"};
    s = format(&tr);
    cr_assert_str_eq(s, "{\"process\":1,\"type\":\"info\",\"f\":\"transfer\",\"value\":{\"from\":0,"
                        "\"to\":4,\"amount\":3},\"time\":8,\"error\":\"said \\\"no\\\"\\n\"}");
    free(s);
    struct fl_rec_ev nil = {.process = 2, .type = FL_REC_FAIL, .f = FL_WL_READ, .key = -1};
    s = format(&nil);
    cr_assert_str_eq(s,
                     "{\"process\":2,\"type\":\"fail\",\"f\":\"read\",\"value\":null,\"time\":0}");
    free(s);
}

/* A register in memory, shared by recording threads: each op runs under a
 * mutex between its invoke and completion events, exactly as a real client
 * waits for a server. If the recorder wrote events out of real-time order,
 * the checker would find reads of values not yet written. */
struct shared_reg {
    pthread_mutex_t mu;
    int64_t value;
    bool set;
};

struct rec_thread {
    struct fl_recorder *rec;
    struct shared_reg *reg;
    int id, ops;
};

static void *rec_worker(void *arg)
{
    struct rec_thread *t = arg;
    uint64_t rng;
    fl_wl_rng_seed(&rng, 11, t->id);
    for (int i = 0; i < t->ops; i++) {
        bool write = fl_wl_rng_below(&rng, 2);
        struct fl_rec_ev ev = {.process = t->id,
                               .type = FL_REC_INVOKE,
                               .f = write ? FL_WL_WRITE : FL_WL_READ,
                               .key = -1};
        if (write) {
            ev.vkind = FL_RV_INT;
            ev.a = t->id * 1000000 + i;
        }
        struct fl_rec_ev done = ev;
        fl_recorder_add(t->rec, t->id, &ev);
        pthread_mutex_lock(&t->reg->mu);
        if (write) {
            t->reg->value = done.a;
            t->reg->set = true;
        } else if (t->reg->set) {
            done.vkind = FL_RV_INT;
            done.a = t->reg->value;
        }
        pthread_mutex_unlock(&t->reg->mu);
        if (fl_wl_rng_below(&rng, 50) == 0) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        done.type = FL_REC_OK;
        fl_recorder_add(t->rec, t->id, &done);
    }
    return NULL;
}

Test(recorder, threads_produce_a_linearizable_history_in_time_order, .timeout = 120)
{
    enum { N = 6, OPS = 4000 };
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct fl_recorder *rec;
    struct fl_err e = {0};
    struct shared_reg reg = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct rec_thread t[N];
    pthread_t th[N];

    cr_assert_eq(fl_recorder_new(out, N, 0, &rec, &e), 0, "%s", e.msg);
    for (int i = 0; i < N; i++) {
        t[i] = (struct rec_thread){.rec = rec, .reg = &reg, .id = i, .ops = OPS};
        pthread_create(&th[i], NULL, rec_worker, &t[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    uint64_t events = 0;
    cr_assert_eq(fl_recorder_close(rec, &events, &e), 0, "%s", e.msg);
    fclose(out);
    cr_assert_eq(events, (uint64_t)N * OPS * 2);

    /* times never go backwards in the file. Line by line with lengths:
     * strstr over the rest of the buffer at every event was quadratic
     * (ASan's strstr measures the whole haystack each call), ~25 s of CPU
     * for 48000 events, and timed the test out on a loaded machine. */
    long long prev = -1;
    size_t lines = 0;
    for (char *p = buf, *end = buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char *at = memmem(p, n, "\"time\":", 7);
        if (at) {
            long long tm = strtoll(at + 7, NULL, 10);
            cr_assert_geq(tm, prev);
            prev = tm;
            lines++;
        }
        p += n + 1;
    }
    cr_assert_eq(lines, events);

    struct fl_history *h = NULL;
    cr_assert_eq(fl_history_parse(buf, len, FL_FMT_JSONL, "rec", &h, &e), 0, "%s", e.msg);
    cr_assert_eq(h->nops, (size_t)N * OPS);
    struct fl_check_opts o;
    fl_check_opts_init(&o);
    o.model = "register";
    o.timeout_ms = 60000;
    struct fl_check_report r;
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0, "%s", e.msg);
    cr_assert_eq(r.verdict, FL_CHECK_VALID, "%s", r.text);
    fl_check_report_fini(&r);
    fl_history_free(h);
    free(buf);
}

Test(recorder, empty_run_writes_nothing)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct fl_recorder *rec;
    struct fl_err e = {0};
    cr_assert_eq(fl_recorder_new(out, 3, 0, &rec, &e), 0);
    uint64_t events = 1;
    cr_assert_eq(fl_recorder_close(rec, &events, &e), 0);
    fclose(out);
    cr_assert_eq(events, 0);
    cr_assert_eq(len, 0);
    free(buf);
}

Test(registry, every_client_and_workload_is_found)
{
    const char *ws[] = {"register", "bank", "set", "counter", "queue"};
    for (size_t i = 0; i < 5; i++) {
        const struct fl_wl_ops *w = fl_wl_find(ws[i]);
        cr_assert(w, "%s", ws[i]);
        cr_assert(w->model && w->gen);
        cr_assert(fl_check_model_known(w->model), "%s", w->model);
    }
    cr_assert(fl_wl_client_find("redis"));
    cr_assert(fl_wl_client_find("postgres"));
    cr_assert_null(fl_wl_client_find("mysql"));
    cr_assert_null(fl_wl_find("stack"));
    cr_assert_eq(fl_wl_f_find("drain"), FL_WL_DRAIN);
    cr_assert_eq(fl_wl_f_find("transfer"), FL_WL_TRANSFER);
    cr_assert_eq(fl_wl_f_find("nope"), -1);
}

/* Each client's table: one row per workload, each naming a registered
 * workload and giving both functions; the lists printed in help and errors
 * come from the registries (queue included). */
Test(registry, client_tables_name_registered_workloads)
{
    const struct fl_wl_client_ops *const *cl = fl_wl_clients();
    char list[256];

    for (size_t i = 0; cl[i]; i++) {
        size_t rows = 0;
        for (const struct fl_wl_client_impl *r = cl[i]->impls; r->workload; r++, rows++) {
            cr_assert(fl_wl_find(r->workload), "%s: %s", cl[i]->name, r->workload);
            cr_assert(r->setup && r->exec, "%s: %s", cl[i]->name, r->workload);
            cr_assert_eq(fl_wl_client_find_impl(cl[i], r->workload), r);
        }
        cr_assert_gt(rows, 0, "%s runs no workload", cl[i]->name);
        cr_assert_null(fl_wl_client_find_impl(cl[i], "stack"));
    }
    fl_wl_workload_names(list, sizeof list);
    cr_assert(!strncmp(list, "register, bank, set, counter, queue", 35), "%s", list);
    for (size_t i = 0; fl_wl_workloads()[i]; i++)
        cr_assert(strstr(list, fl_wl_workloads()[i]->name), "%s", list);
    fl_wl_client_names(list, sizeof list);
    cr_assert(!strncmp(list, "redis, postgres, etcd, http", 27), "%s", list);
    fl_wl_client_workload_names(fl_wl_client_find("redis"), list, sizeof list);
    cr_assert(!strncmp(list, "register, bank, set, counter, queue", 35), "%s", list);
    fl_wl_workload_names(list, 12); /* truncated, still terminated */
    cr_assert_str_eq(list, "register, b");
}

Test(b64, round_trip)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "faultline/bank/10"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "ZmF1bHRsaW5lL2JhbmsvMTA="};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *e = fl_b64_encode(in[i], strlen(in[i]));
        cr_assert_str_eq(e, want[i]);
        size_t n;
        char *d = fl_b64_decode(e, &n);
        cr_assert_eq(n, strlen(in[i]));
        cr_assert_str_eq(d, in[i]);
        free(e);
        free(d);
    }
    size_t n;
    cr_assert_null(fl_b64_decode("a*b", &n));
}

/* A fake client over an in-memory counter, to test the runner itself: every
 * fifth add is applied but answered as a timeout (info, connection broken),
 * and every third reconnect fails once. */
static struct {
    pthread_mutex_t mu;
    int64_t value;
    int connects, failed_connects, ops;
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int fake_connect(const struct fl_wl_cfg *c, void **conn, struct fl_err *e)
{
    pthread_mutex_lock(&fake.mu);
    int n = ++fake.connects;
    pthread_mutex_unlock(&fake.mu);
    if (n > 1 && n % 3 == 0) {
        pthread_mutex_lock(&fake.mu);
        fake.failed_connects++;
        pthread_mutex_unlock(&fake.mu);
        return fl_err_set(e, FL_EFAIL, "refused");
    }
    *conn = malloc(1);
    return 0;
}

static void fake_close(void *conn)
{
    free(conn);
}

static int fake_setup(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    fake.value = 0;
    return 0;
}

static void fake_exec(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                      struct fl_wl_result *r)
{
    pthread_mutex_lock(&fake.mu);
    int n = ++fake.ops;
    r->type = FL_WL_OK;
    if (op->f == FL_WL_READ) {
        r->value = fake.value;
    } else {
        fake.value += op->a;
        if (n % 5 == 0) {
            r->type = FL_WL_INFO;
            r->broken = true;
            snprintf(r->error, sizeof r->error, "timeout");
        }
    }
    pthread_mutex_unlock(&fake.mu);
}

static const struct fl_wl_client_impl fake_impls[] = {
    {.workload = "counter", .setup = fake_setup, .exec = fake_exec},
    {0},
};
static const struct fl_wl_client_ops fake_client = {
    .name = "fake",
    .summary = "test",
    .target_help = "anything",
    .impls = fake_impls,
    .connect = fake_connect,
    .close = fake_close,
};

static struct fl_history *run_fake(struct fl_wl_cfg *c, struct fl_wl_stats *st)
{
    char path[] = "/tmp/fl-test-workload-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    c->out = path;
    struct fl_err e = {0};
    cr_assert_eq(fl_wl_run(c, st, &e), 0, "%s", e.msg);
    struct fl_history *h = NULL;
    cr_assert_eq(fl_history_load(path, FL_FMT_JSONL, &h, &e), 0, "%s", e.msg);
    unlink(path);
    c->out = NULL; /* path is about to go out of scope */
    return h;
}

Test(run, reconnects_renames_processes_and_checks_out)
{
    struct fl_wl_cfg c = cfg_for("redis", "counter");
    c.client = &fake_client;
    c.concurrency = 4;
    c.duration_ms = 300;
    c.seed = 1;
    fake.connects = fake.failed_connects = fake.ops = 0;
    struct fl_wl_stats st;
    struct fl_history *h = run_fake(&c, &st);

    uint64_t info = 0, ok = 0;
    for (int f = 0; f < FL_WL_NF; f++) {
        info += st.n[f][FL_WL_INFO];
        ok += st.n[f][FL_WL_OK];
    }
    cr_assert_gt(info, 0);
    cr_assert_gt(ok, 0);
    cr_assert_eq(h->nops, ok + info + st.n[FL_WL_ADD][FL_WL_FAIL] + st.n[FL_WL_READ][FL_WL_FAIL]);
    cr_assert_gt(fake.failed_connects, 0);
    cr_assert_gt(st.reconnects, 0);
    /* after an info the worker continues as a new process */
    int64_t maxp = 0;
    for (size_t i = 0; i < h->nops; i++)
        if (h->ops[i].process > maxp)
            maxp = h->ops[i].process;
    cr_assert_geq(maxp, 4);
    /* the final read is the last op and sees every applied add */
    const struct fl_hop *last = NULL;
    for (size_t i = 0; i < h->nops; i++)
        if (!last || h->ops[i].call > last->call)
            last = &h->ops[i];
    cr_assert(fl_history_fis(h, last, "read") && last->type == FL_OP_OK);
    cr_assert_eq(last->comp.kind, FL_V_INT);
    cr_assert_eq(last->comp.x, fake.value);

    struct fl_check_opts o;
    fl_check_opts_init(&o);
    o.model = "counter";
    struct fl_check_report r;
    struct fl_err e = {0};
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0, "%s", e.msg);
    cr_assert_eq(r.verdict, FL_CHECK_VALID, "%s", r.text);
    fl_check_report_fini(&r);
    fl_history_free(h);
}

Test(run, rate_limit_bounds_the_number_of_ops)
{
    struct fl_wl_cfg c = cfg_for("redis", "counter");
    c.client = &fake_client;
    c.concurrency = 2;
    c.duration_ms = 500;
    c.rate = 100;
    fake.connects = fake.ops = 0;
    struct fl_wl_stats st;
    struct fl_history *h = run_fake(&c, &st);
    /* at most rate * duration, plus one per worker for the start and the final read */
    cr_assert_leq(h->nops, 50 + 2 + 1, "%zu ops", h->nops);
    cr_assert_gt(h->nops, 1);
    fl_history_free(h);
}

Test(run, stop_flag_ends_the_run_with_only_the_final_read)
{
    static volatile sig_atomic_t stop = 1;
    struct fl_wl_cfg c = cfg_for("redis", "counter");
    c.client = &fake_client;
    c.duration_ms = 3600000;
    c.stop = &stop;
    fake.connects = 0;
    struct fl_wl_stats st;
    struct fl_history *h = run_fake(&c, &st);
    cr_assert_eq(h->nops, 1);
    cr_assert(fl_history_fis(h, &h->ops[0], "read"));
    fl_history_free(h);
}

Test(targets, postgres_conninfo_forms)
{
    struct fl_err e = {0};
    int n = 0;
    char *s;

    s = fl_wl_pg_conninfo("10.0.0.2:5432", &n, &e);
    cr_assert_str_eq(s, "host=10.0.0.2 port=5432 dbname=postgres");
    cr_assert_eq(n, 1);
    free(s);
    /* several hosts: the one that takes writes */
    s = fl_wl_pg_conninfo("10.0.0.3:5432,10.0.0.2:5433", &n, &e);
    cr_assert_str_eq(s, "host=10.0.0.3,10.0.0.2 port=5432,5433 dbname=postgres "
                        "target_session_attrs=read-write");
    cr_assert_eq(n, 2);
    free(s);
    s = fl_wl_pg_conninfo("host=a,b,c port=5432 user=app", &n, &e);
    cr_assert_str_eq(s, "host=a,b,c port=5432 user=app target_session_attrs=read-write");
    cr_assert_eq(n, 3);
    free(s);
    /* what the user said about session attributes stays */
    s = fl_wl_pg_conninfo("host=a,b target_session_attrs=any", &n, &e);
    cr_assert_str_eq(s, "host=a,b target_session_attrs=any");
    free(s);
    s = fl_wl_pg_conninfo("postgresql://app@a:5432,b:5432/app", &n, &e);
    cr_assert_str_eq(s, "postgresql://app@a:5432,b:5432/app?target_session_attrs=read-write");
    cr_assert_eq(n, 2);
    free(s);
    s = fl_wl_pg_conninfo("postgresql://a,b/app?sslmode=disable", &n, &e);
    cr_assert_str_eq(s, "postgresql://a,b/app?sslmode=disable&target_session_attrs=read-write");
    free(s);
    s = fl_wl_pg_conninfo("host=a port=5432", &n, &e);
    cr_assert_str_eq(s, "host=a port=5432");
    cr_assert_eq(n, 1);
    free(s);
}

Test(targets, postgres_bad_targets_say_how_to_write_them)
{
    struct fl_err e = {0};
    int n;

    cr_assert_null(fl_wl_pg_conninfo("10.0.0.2:5432,nonsense", &n, &e));
    cr_assert_eq(e.code, FL_EUSAGE);
    cr_assert(strstr(e.msg, "'nonsense' is not HOST:PORT") && strstr(e.msg, "HOST:PORT,HOST:PORT"),
              "%s", e.msg);
    cr_assert_null(fl_wl_pg_conninfo("host=a bogus=1", &n, &e));
    cr_assert(strstr(e.msg, "libpq cannot read it") && strstr(e.msg, "bogus"), "%s", e.msg);
    cr_assert_null(fl_wl_pg_conninfo(",", &n, &e));
    cr_assert_eq(e.code, FL_EUSAGE);
}

Test(targets, sentinel_targets)
{
    struct fl_wl_sentinels s;
    struct fl_err e = {0};

    cr_assert_eq(
        fl_wl_redis_parse_sentinels("sentinel://10.0.0.2:26379,[::1]:26380/mymaster", &s, &e), 0,
        "%s", e.msg);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.host[0], "10.0.0.2");
    cr_assert_eq(s.port[0], 26379);
    cr_assert_str_eq(s.host[1], "::1");
    cr_assert_eq(s.port[1], 26380);
    cr_assert_str_eq(s.name, "mymaster");

    const char *bad[] = {"sentinel://10.0.0.2:26379", "sentinel://10.0.0.2:26379/",
                         "sentinel:///mymaster",      "sentinel://10.0.0.2/mymaster",
                         "sentinel://a:1/b/c",        "redis://10.0.0.2:26379/mymaster",
                         "sentinel://a:1,,b:99999/m"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&e, 0, sizeof e);
        cr_assert_eq(fl_wl_redis_parse_sentinels(bad[i], &s, &e), -FL_EUSAGE, "%s", bad[i]);
        cr_assert(strstr(e.msg, bad[i]) && strstr(e.msg, "sentinel://"), "%s: %s", bad[i], e.msg);
    }
}
