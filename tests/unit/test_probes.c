/* Probes and tolerances: judgement over samples, percentiles, sliding
 * windows, the command runner, and the tcp/command probes on loopback. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probes/probe.h"
#include "store/store.h"

static struct fl_sample S(int64_t t, bool ok, double lat) {
    struct fl_sample s = {.t_ms = t, .value = NAN, .probe_ok = ok, .ok = ok, .latency_ms = lat};
    return s;
}

Test(tolerance, success_ratio_and_explanation)
{
    struct fl_tolerance t;
    struct fl_sample s[10];
    char why[256] = "";

    fl_tolerance_default(&t);
    t.success_ratio = 80;
    for (int i = 0; i < 10; i++)
        s[i] = S(i * 100, i < 8, 1);
    cr_expect(fl_tolerance_holds(&t, s, 10, why, sizeof why));
    s[0].probe_ok = false;
    cr_expect_not(fl_tolerance_holds(&t, s, 10, why, sizeof why));
    cr_expect_str_eq(why, "success ratio 70.0% < 80% (3 of 10 samples failed)");
    /* no data is not health */
    cr_expect_not(fl_tolerance_holds(&t, s, 0, why, sizeof why), "an empty span does not hold");
    cr_expect_str_eq(why, "no samples");
    {
        struct fl_probe_stats st;
        int64_t at = -1;
        fl_probe_stats(s, 0, &st);
        cr_expect(isnan(st.availability), "no samples is not 100%% available");
        cr_expect_not(fl_tolerance_holds_phase(&t, s, 10, 5000, 6000, &at, why, sizeof why));
        cr_expect(!strncmp(why, "no samples", 10), "%s", why);
        cr_expect_eq(at, 5000);
    }
}

Test(tolerance, latency_percentile_nearest_rank)
{
    struct fl_tolerance t;
    struct fl_sample s[100];
    char why[256] = "";

    for (int i = 0; i < 100; i++)
        s[i] = S(i, true, i + 1); /* 1..100 ms */
    cr_expect_float_eq(fl_probe_percentile(s, 100, 50), 50, 1e-9);
    cr_expect_float_eq(fl_probe_percentile(s, 100, 99), 99, 1e-9);
    cr_expect_float_eq(fl_probe_percentile(s, 100, 100), 100, 1e-9);
    fl_tolerance_default(&t);
    t.percentile = 99;
    t.latency_max_ms = 98.5;
    cr_expect_not(fl_tolerance_holds(&t, s, 100, why, sizeof why));
    cr_expect_str_eq(why, "p99 latency 99.0ms > 98.5ms (over 100 samples)");
    t.latency_max_ms = 99;
    cr_expect(fl_tolerance_holds(&t, s, 100, why, sizeof why));
}

Test(tolerance, value_bounds_decide_each_sample)
{
    struct fl_tolerance t;

    fl_tolerance_default(&t);
    t.has_min = t.has_max = true;
    t.min = 1;
    t.max = 5;
    cr_expect(fl_tolerance_sample_ok(&t, true, 3));
    cr_expect_not(fl_tolerance_sample_ok(&t, true, 6));
    cr_expect_not(fl_tolerance_sample_ok(&t, true, NAN));
    cr_expect_not(fl_tolerance_sample_ok(&t, false, 3));
    t.has_min = t.has_max = false;
    t.has_equals = true;
    t.equals = 2;
    cr_expect(fl_tolerance_sample_ok(&t, true, 2));
    cr_expect_not(fl_tolerance_sample_ok(&t, true, 2.5));
}

Test(tolerance, sliding_window_finds_a_short_outage)
{
    struct fl_tolerance t;
    struct fl_sample s[100];
    char why[256] = "";
    int64_t at = -1;

    /* 10 s at 10 Hz; 1 s outage from 5.0 s: 90% over the whole phase */
    for (int i = 0; i < 100; i++)
        s[i] = S(i * 100, !(i >= 50 && i < 60), 1);
    fl_tolerance_default(&t);
    t.success_ratio = 85;
    cr_expect(fl_tolerance_holds_phase(&t, s, 100, 0, 10000, &at, why, sizeof why));
    t.window_ms = 2000;
    cr_expect_not(fl_tolerance_holds_phase(&t, s, 100, 0, 10000, &at, why, sizeof why));
    cr_expect_eq(at, 5300, "first window below 85%% ends at 5.3 s, got %lld", (long long)at);
}

Test(tolerance, phase_without_window_reports_first_failure)
{
    struct fl_tolerance t;
    struct fl_sample s[10];
    char why[256];
    int64_t at = -1;

    for (int i = 0; i < 10; i++)
        s[i] = S(1000 + i * 100, i != 4 && i != 7, 1);
    fl_tolerance_default(&t);
    cr_expect_not(fl_tolerance_holds_phase(&t, s, 10, 1000, 2000, &at, why, sizeof why));
    cr_expect_eq(at, 1400);
    /* outside the phase nothing counts */
    cr_expect(fl_tolerance_holds_phase(&t, s, 10, 1500, 1650, &at, why, sizeof why));
}

Test(probe, run_command_status_output_and_timeout)
{
    char out[64];

    cr_expect_eq(fl_probe_run_command("echo hi; exit 3", 2000, out, sizeof out), 3);
    cr_expect_str_eq(out, "hi\n");
    cr_expect_eq(fl_probe_run_command("sleep 5", 100, out, sizeof out), -ETIMEDOUT);
    cr_expect_eq(fl_probe_run_command("kill -9 $$", 2000, out, sizeof out), 128 + 9);
}

Test(probe, command_probe_value_and_regex)
{
    const struct fl_probe_ops *ops = fl_probe_lookup("command");
    json_t *params =
        json_pack("{s:s, s:s}", "command", "echo 'latency 12.5 ms'", "stdout", "^latency");
    struct fl_probe p = {.ops = ops, .params = params, .timeout_ms = 2000};
    struct fl_probe_result r = {0};
    struct fl_err e;

    cr_assert(ops);
    cr_assert_eq(ops->open(&p, &e), 0);
    ops->sample(&p, &r);
    cr_expect(r.ok, "%s", r.detail);
    cr_expect(r.has_value && r.value == 12.5);
    ops->close(&p);
    json_object_set_new(params, "stdout", json_string("^nope"));
    cr_assert_eq(ops->open(&p, &e), 0);
    memset(&r, 0, sizeof r);
    ops->sample(&p, &r);
    cr_expect_not(r.ok);
    ops->close(&p);
    json_decref(params);
}

Test(probe, tcp_probe_connects_and_reports_refusal)
{
    const struct fl_probe_ops *ops = fl_probe_lookup("tcp");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char addr[64];
    json_t *params;
    struct fl_probe p = {.ops = ops, .timeout_ms = 1000};
    struct fl_probe_result r = {0};

    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    params = json_pack("{s:s}", "address", addr);
    p.params = params;
    ops->sample(&p, &r);
    cr_expect(r.ok, "%s", r.detail);
    close(fd);
    memset(&r, 0, sizeof r);
    ops->sample(&p, &r);
    cr_expect_not(r.ok);
    cr_expect(strstr(r.detail, "refused"), "%s", r.detail);
    json_decref(params);
}

Test(store, migrates_records_and_reads_back)
{
    char path[] = "/tmp/fl-store-test-XXXXXX";
    char db[128];
    struct fl_store *st;
    struct fl_err e = {0};
    struct fl_sample s[3] = {S(0, true, 1.5), S(100, false, 2.5), S(200, true, 3.5)};
    struct fl_probe_stats stats;
    int64_t run = 0, run2 = 0;
    json_t *runs, *one;

    cr_assert(mkdtemp(path));
    snprintf(db, sizeof db, "%s/sub/h.db", path);
    cr_assert_eq(fl_store_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_store_run_begin(st, "t", "f.yaml", "content", "abc", 1000, 5, &run, &e), 0,
                 "%s", e.msg);
    cr_assert_eq(fl_store_run_begin(st, "t", "f.yaml", "content", "abc", 2000, 6, &run2, &e), 0);
    cr_expect_neq(run, run2);
    cr_expect_eq(fl_store_event(st, run, 10, "preflight", "hello"), 0);
    cr_expect_eq(fl_store_event(st, run, 20, "inject", "world"), 0);
    cr_expect_eq(fl_store_probe_define(st, run, 0, "p", "tcp", "steady_state", "x"), 0);
    cr_expect_eq(fl_store_samples(st, run, 0, s, 3), 0);
    fl_probe_stats(s, 3, &stats);
    cr_expect_eq(fl_store_probe_result(st, run, 0, &stats, 100, -1), 0);
    cr_expect_eq(fl_store_run_end(st, run, 500, "failed", "because", 1), 0);
    fl_store_close(st);

    cr_assert_eq(fl_store_open(db, &st, &e), 0, "reopen: %s", e.msg);
    runs = fl_store_list_runs(st, &e);
    cr_expect_eq(json_array_size(runs), 2);
    one = fl_store_show_run(st, run, 1, &e);
    cr_assert(one);
    cr_expect_str_eq(json_string_value(json_object_get(one, "verdict")), "failed");
    cr_expect_eq(json_array_size(json_object_get(one, "events")), 2);
    {
        json_t *p = json_array_get(json_object_get(one, "probes"), 0);
        cr_expect_eq(json_integer_value(json_object_get(p, "samples")), 3);
        cr_expect_eq(json_integer_value(json_object_get(p, "time_to_detect_ms")), 100);
        cr_expect(json_is_null(json_object_get(p, "time_to_recover_ms")));
        cr_expect_eq(json_array_size(json_object_get(p, "samples_data")), 3);
    }
    cr_expect_null(fl_store_show_run(st, 999, 0, &e));
    cr_expect_eq(e.code, FL_ENOTARGET);
    json_decref(runs);
    json_decref(one);
    fl_store_close(st);
}

void fl_probe_prometheus_parse(const char *body, struct fl_probe_result *r);

Test(probe, prometheus_answers)
{
    struct fl_probe_result r = {0};

    fl_probe_prometheus_parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                              "\"result\":[{\"metric\":{},\"value\":[1.5,\"0.25\"]}]}}",
                              &r);
    cr_expect(r.ok && r.has_value && r.value == 0.25, "%s", r.detail);
    memset(&r, 0, sizeof r);
    fl_probe_prometheus_parse("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                              "\"result\":[1.5,\"42\"]}}",
                              &r);
    cr_expect(r.ok && r.value == 42);
    memset(&r, 0, sizeof r);
    fl_probe_prometheus_parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                              "\"result\":[]}}",
                              &r);
    cr_expect_not(r.ok);
    cr_expect_str_eq(r.detail, "the query returned no samples");
    memset(&r, 0, sizeof r);
    fl_probe_prometheus_parse("{\"status\":\"error\",\"error\":\"parse error at char 3\"}", &r);
    cr_expect_not(r.ok);
    cr_expect_str_eq(r.detail, "query failed: parse error at char 3");
    memset(&r, 0, sizeof r);
    fl_probe_prometheus_parse("<html>", &r);
    cr_expect_not(r.ok);
}

Test(store, migrates_an_old_schema_and_refuses_a_newer_one)
{
    char path[] = "/tmp/fl-store-mig-XXXXXX", db[128];
    struct fl_store *st;
    struct fl_err e = {0};
    sqlite3 *raw;
    sqlite3_stmt *q;
    json_t *runs;

    cr_assert(mkdtemp(path));
    snprintf(db, sizeof db, "%s/h.db", path);
    /* a version-1 store, as the first release wrote it, with a run that
     * never finished */
    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw,
                              "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                              "INSERT INTO schema_version VALUES (1);"
                              "CREATE TABLE experiments (id INTEGER PRIMARY KEY, hash TEXT NOT "
                              "NULL UNIQUE, title TEXT NOT NULL, file TEXT, content TEXT NOT "
                              "NULL, first_seen_ms INTEGER NOT NULL);"
                              "CREATE TABLE runs (id INTEGER PRIMARY KEY, experiment_id INTEGER "
                              "NOT NULL, started_ms INTEGER NOT NULL, duration_ms INTEGER, seed "
                              "INTEGER, verdict TEXT NOT NULL DEFAULT 'running', explanation "
                              "TEXT, exit_code INTEGER);"
                              "CREATE TABLE events (run_id INTEGER NOT NULL, seq INTEGER NOT NULL, "
                              "t_ms INTEGER NOT NULL, phase TEXT NOT NULL, message TEXT NOT "
                              "NULL, PRIMARY KEY (run_id, seq));"
                              "CREATE TABLE probes (run_id INTEGER NOT NULL, probe_id INTEGER "
                              "NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, role TEXT NOT "
                              "NULL, tolerance TEXT, samples INTEGER, failures INTEGER, "
                              "availability REAL, p50_ms REAL, p95_ms REAL, p99_ms REAL, max_ms "
                              "REAL, time_to_detect_ms INTEGER, time_to_recover_ms INTEGER, "
                              "PRIMARY KEY (run_id, probe_id));"
                              "CREATE TABLE samples (run_id INTEGER NOT NULL, probe_id INTEGER "
                              "NOT NULL, t_ms INTEGER NOT NULL, value REAL, ok INTEGER NOT NULL, "
                              "latency_ms REAL NOT NULL);"
                              "INSERT INTO experiments VALUES (1, 'h', 'old', 'f', 'c', 0);"
                              "INSERT INTO runs (experiment_id, started_ms) VALUES (1, 5);",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(raw));
    sqlite3_close(raw);

    cr_assert_eq(fl_store_open(db, &st, &e), 0, "%s", e.msg);
    runs = fl_store_list_runs(st, &e);
    cr_expect_eq(json_array_size(runs), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(runs, 0), "verdict")),
                     "interrupted");
    json_decref(runs);
    fl_store_close(st);

    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(raw, "SELECT version FROM schema_version", -1, &q, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_expect_eq(sqlite3_column_int(q, 0), fl_store_schema_version());
    sqlite3_finalize(q);
    sqlite3_exec(raw, "UPDATE schema_version SET version = 99", NULL, NULL, NULL);
    sqlite3_close(raw);
    cr_expect_neq(fl_store_open(db, &st, &e), 0);
    cr_expect(strstr(e.msg, "newer than this faultline knows"), "%s", e.msg);
}

/* JSON has no infinity: an infinite probe value is shown as "inf"/"-inf",
 * not dropped with the rest of its sample. */
Test(store, infinite_values_are_shown_as_strings)
{
    char path[] = "/tmp/fl-store-inf-XXXXXX", db[128];
    struct fl_sample s[3] = {S(0, true, 1), S(100, true, 1), S(200, true, 1)};
    struct fl_store *st;
    struct fl_err e = {0};
    int64_t run = 0;
    json_t *one, *data;

    s[0].value = INFINITY;
    s[1].value = -INFINITY;
    s[2].value = 1.5;
    cr_assert(mkdtemp(path));
    snprintf(db, sizeof db, "%s/h.db", path);
    cr_assert_eq(fl_store_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_store_run_begin(st, "t", "f.yaml", "c", "abc", 1000, 5, &run, &e), 0);
    cr_expect_eq(fl_store_probe_define(st, run, 0, "p", "command", "steady_state", "x"), 0);
    cr_expect_eq(fl_store_samples(st, run, 0, s, 3), 0);
    one = fl_store_show_run(st, run, 1, &e);
    cr_assert(one);
    data = json_object_get(json_array_get(json_object_get(one, "probes"), 0), "samples_data");
    cr_assert_eq(json_array_size(data), 3);
    cr_expect_str_eq(json_string_value(json_array_get(json_array_get(data, 0), 1)), "inf");
    cr_expect_str_eq(json_string_value(json_array_get(json_array_get(data, 1), 1)), "-inf");
    cr_expect_eq(json_real_value(json_array_get(json_array_get(data, 2), 1)), 1.5);
    json_decref(one);
    fl_store_close(st);
}

/* Reading commands create nothing: a missing store is "not found", and a
 * path that is not a regular file is refused by readers and writers. */
Test(store, readers_create_nothing_and_odd_paths_are_refused)
{
    char path[] = "/tmp/fl-store-ro-XXXXXX", db[160], probe[200];
    struct fl_store *st;
    struct fl_err e = {0};
    int64_t run = 0;

    cr_assert(mkdtemp(path));
    snprintf(db, sizeof db, "%s/sub/x.db", path);
    cr_expect_eq(fl_store_open_readonly(db, &st, &e), -FL_ENOTARGET);
    cr_expect(strstr(e.msg, "no history store at"), "%s", e.msg);
    snprintf(probe, sizeof probe, "%s/sub", path);
    cr_expect_neq(access(probe, F_OK), 0, "a reader created %s", probe);

    cr_expect_eq(fl_store_open("/dev/null", &st, &e), -FL_ESTATE);
    cr_expect(strstr(e.msg, "not a regular file (a character device)"), "%s", e.msg);
    cr_expect_neq(access("/dev/null-journal", F_OK), 0);
    cr_expect_eq(fl_store_open_readonly(path, &st, &e), -FL_ESTATE);
    cr_expect(strstr(e.msg, "is a directory"), "%s", e.msg);
    /* --db "" is a mistake, not the machine-wide default */
    cr_expect_str_eq(fl_store_path(""), "");
    cr_expect_eq(fl_store_open("", &st, &e), -FL_EUSAGE);
    cr_expect(strstr(e.msg, "path is empty"), "%s", e.msg);
    cr_expect_eq(fl_store_open_readonly("", &st, &e), -FL_EUSAGE);

    /* a bare file name is a file in the current directory, not a directory */
    {
        char cwd[512], here[200];
        struct stat sb;
        cr_assert(getcwd(cwd, sizeof cwd));
        snprintf(here, sizeof here, "%s/sub", path);
        cr_assert_eq(mkdir(here, 0755), 0);
        cr_assert_eq(chdir(here), 0);
        cr_expect_eq(fl_store_open("rel.db", &st, &e), 0, "%s", e.msg);
        fl_store_close(st);
        cr_expect(stat("rel.db", &sb) == 0 && S_ISREG(sb.st_mode), "rel.db is not a file");
        unlink("rel.db");
        cr_assert_eq(chdir(cwd), 0);
    }

    /* a store written, then read: no -journal, -wal or -shm is left */
    cr_assert_eq(fl_store_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_store_run_begin(st, "t", "f.yaml", "c", "abc", 1000, 5, &run, &e), 0);
    fl_store_close(st);
    cr_assert_eq(fl_store_open_readonly(db, &st, &e), 0, "%s", e.msg);
    json_decref(fl_store_list_runs(st, &e));
    fl_store_close(st);
    for (const char *const *sfx = (const char *const[]){"-journal", "-wal", "-shm", NULL}; *sfx;
         sfx++) {
        snprintf(probe, sizeof probe, "%s%s", db, *sfx);
        cr_expect_neq(access(probe, F_OK), 0, "%s was left behind", probe);
    }
}

/* Schema 4 counts a stored history's operations as the workload does (one
 * per invocation) and its events (lines) apart; an older store is
 * recounted from the stored content. */
Test(store, history_operations_are_invocations_not_lines)
{
    char path[] = "/tmp/fl-store-hist-XXXXXX", db[128], hist[160];
    const char *text = "# faultline history\n"
                       "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n"
                       "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n"
                       "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n"
                       "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n";
    struct fl_store *st;
    struct fl_err e = {0};
    int64_t run = 0;
    json_t *one, *h;
    sqlite3 *raw;
    FILE *f;

    cr_assert(mkdtemp(path));
    snprintf(db, sizeof db, "%s/h.db", path);
    snprintf(hist, sizeof hist, "%s/h.jsonl", path);
    cr_assert((f = fopen(hist, "w")));
    fputs(text, f);
    fclose(f);
    cr_assert_eq(fl_store_open(db, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_store_run_begin(st, "t", "f.yaml", "c", "abc", 1000, 5, &run, &e), 0);
    cr_assert_eq(fl_store_history_put(st, run, "redis", "register", hist, &e), 0, "%s", e.msg);
    one = fl_store_show_run(st, run, 0, &e);
    h = json_object_get(one, "history");
    cr_expect_eq(json_integer_value(json_object_get(h, "operations")), 2);
    cr_expect_eq(json_integer_value(json_object_get(h, "events")), 4);
    json_decref(one);
    fl_store_close(st);

    /* as schema 3 wrote it: operations = lines, no events column (nor schema 5) */
    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw,
                              "CREATE TABLE h2 AS SELECT run_id, client, workload, operations, "
                              "bytes, content FROM histories; DROP TABLE histories; "
                              "ALTER TABLE h2 RENAME TO histories; "
                              "UPDATE histories SET operations = 5; "
                              "DROP TABLE run_logs; DROP TABLE run_log_sources; "
                              "ALTER TABLE runs DROP COLUMN runner_host; "
                              "UPDATE schema_version SET version = 3;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(raw));
    sqlite3_close(raw);
    cr_assert_eq(fl_store_open_readonly(db, &st, &e), 0, "%s", e.msg);
    one = fl_store_show_run(st, run, 0, &e);
    h = json_object_get(one, "history");
    cr_expect_eq(json_integer_value(json_object_get(h, "operations")), 2);
    cr_expect_eq(json_integer_value(json_object_get(h, "events")), 4);
    json_decref(one);
    fl_store_close(st);
}

#include <pthread.h>

/* Accept one connection, read the request, answer "+PONG\r\n". */
static void *pong_once(void *arg)
{
    int lfd = *(int *)arg, c = accept(lfd, NULL, NULL);
    char buf[64];

    if (c >= 0) {
        if (read(c, buf, sizeof buf) > 0) {
            ssize_t w = write(c, "+PONG\r\n", 7); /* a short write fails the probe */
            (void)w;
        }
        close(c);
    }
    return NULL;
}

/* A listening socket nobody accepts on is a frozen server as the kernel
 * shows it: the handshake completes, nothing answers. A bare tcp probe is
 * fooled; with send/expect it is not. */
Test(probe, tcp_send_expect_sees_a_server_that_does_not_answer)
{
    const struct fl_probe_ops *ops = fl_probe_lookup("tcp");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char addr[64];
    json_t *bare, *req;
    struct fl_probe p = {.ops = ops, .timeout_ms = 300};
    struct fl_probe_result r = {0};
    struct fl_err e = {0};
    pthread_t th;

    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 8) == 0);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    bare = json_pack("{s:s}", "address", addr);
    req = json_pack("{s:s, s:s, s:s}", "address", addr, "send", "PING\r\n", "expect", "^\\+PONG");
    cr_assert_eq(ops->validate(req, &e), 0, "%s", e.msg);

    p.params = bare;
    cr_assert_eq(ops->open(&p, &e), 0);
    ops->sample(&p, &r);
    cr_expect(r.ok, "a bare connect succeeds against a frozen server: %s", r.detail);
    ops->close(&p);

    p.params = req;
    cr_assert_eq(ops->open(&p, &e), 0);
    memset(&r, 0, sizeof r);
    ops->sample(&p, &r);
    cr_expect_not(r.ok);
    cr_expect(strstr(r.detail, "does not answer"), "%s", r.detail);

    /* drain the two pending connections, then answer the next one */
    for (int i = 0; i < 2; i++)
        close(accept(fd, NULL, NULL));
    cr_assert_eq(pthread_create(&th, NULL, pong_once, &fd), 0);
    memset(&r, 0, sizeof r);
    ops->sample(&p, &r);
    pthread_join(th, NULL);
    cr_expect(r.ok, "%s", r.detail);
    cr_expect(r.has_value && r.value >= 0);
    ops->close(&p);

    json_object_set_new(req, "expect", json_string("(unclosed"));
    cr_expect_neq(ops->validate(req, &e), 0);
    cr_expect(strstr(e.msg, "expect regex"), "%s", e.msg);
    close(fd);
    json_decref(bare);
    json_decref(req);
}

Test(probe, registry_has_redis_and_sql_and_their_options_are_checked)
{
    const struct fl_probe_ops *redis = fl_probe_lookup("redis"), *sql = fl_probe_lookup("sql");
    struct fl_err e = {0};
    json_t *p;

    cr_assert(redis && sql);
    p = json_pack("{s:s, s:s}", "address", "127.0.0.1:99999", "command", "PING");
    cr_expect_neq(redis->validate(p, &e), 0);
    cr_expect(strstr(e.msg, "1-65535"), "%s", e.msg);
    json_object_set_new(p, "address", json_string("127.0.0.1:6379"));
    json_object_set_new(p, "command", json_string("   "));
    cr_expect_neq(redis->validate(p, &e), 0);
    cr_expect(strstr(e.msg, "words"), "%s", e.msg);
    json_decref(p);
    p = json_pack("{s:s}", "dsn", "host=127.0.0.1 bogus_option=1");
    cr_expect_neq(sql->validate(p, &e), 0);
    cr_expect(strstr(e.msg, "not a libpq connection string"), "%s", e.msg);
    json_object_set_new(p, "dsn", json_string("host=127.0.0.1 port=1 connect_timeout=1"));
    cr_expect_eq(sql->validate(p, &e), 0, "%s", e.msg);
    {
        /* nothing listens on port 1: a clear failure, not a hang */
        struct fl_probe pr = {.ops = sql, .params = p, .timeout_ms = 1000};
        struct fl_probe_result r = {0};
        cr_assert_eq(sql->open(&pr, &e), 0);
        sql->sample(&pr, &r);
        cr_expect_not(r.ok);
        cr_expect(strstr(r.detail, "connect"), "%s", r.detail);
        sql->close(&pr);
    }
    json_decref(p);
}

/* The redis probe speaks RESP: PING answered +PONG is ok; a server that
 * accepts but never answers (frozen) fails at the timeout, and the probe
 * connects again afterwards. */
Test(probe, redis_probe_pings_and_sees_a_silent_server)
{
    const struct fl_probe_ops *ops = fl_probe_lookup("redis");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char addr[64];
    json_t *params;
    struct fl_probe p = {.ops = ops, .timeout_ms = 300};
    struct fl_probe_result r = {0};
    struct fl_err e = {0};
    pthread_t th;

    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 8) == 0);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    params = json_pack("{s:s, s:s}", "address", addr, "expect", "^PONG$");
    cr_assert_eq(ops->validate(params, &e), 0, "%s", e.msg);
    p.params = params;
    cr_assert_eq(ops->open(&p, &e), 0, "%s", e.msg);

    ops->sample(&p, &r); /* nobody accepts: the handshake completes, no reply */
    cr_expect_not(r.ok);
    cr_expect(strstr(r.detail, "PING") && strstr(r.detail, "paused or hung"), "%s", r.detail);
    close(accept(fd, NULL, NULL));

    cr_assert_eq(pthread_create(&th, NULL, pong_once, &fd), 0);
    memset(&r, 0, sizeof r);
    ops->sample(&p, &r);
    pthread_join(th, NULL);
    cr_expect(r.ok, "%s", r.detail);
    cr_expect_str_eq(r.detail, "PONG");
    ops->close(&p);
    close(fd);
    json_decref(params);
}

Test(probe, params_from_json_go_through_the_kinds_table)
{
    const struct fl_probe_ops *tcp = fl_probe_lookup("tcp"), *http = fl_probe_lookup("http");
    json_t *in, *out = NULL;
    struct fl_err e = {0};

    /* strings as on the command line, other values in their journaled form */
    in = json_pack("{ss s[Is] ss}", "url", "http://127.0.0.1:1/", "status", (json_int_t)204, "200",
                   "header", "X-A: b");
    cr_assert_eq(fl_probe_params_parse(http, in, &out, &e), 0, "%s", e.msg);
    cr_expect_eq(json_integer_value(json_array_get(json_object_get(out, "status"), 0)), 204);
    cr_expect_eq(json_integer_value(json_array_get(json_object_get(out, "status"), 1)), 200);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(out, "header"), 0)),
                     "X-A: b");
    json_decref(in);
    json_decref(out);
    /* an unknown option, a missing required one, a list where one value goes, not an object */
    in = json_pack("{ss}", "adress", "127.0.0.1:1");
    cr_expect_eq(fl_probe_params_parse(tcp, in, &out, &e), -FL_EUSAGE);
    cr_expect(strstr(e.msg, "do not take 'adress'") && strstr(e.msg, "address"), "%s", e.msg);
    cr_expect_null(out);
    json_decref(in);
    in = json_object();
    cr_expect_eq(fl_probe_params_parse(tcp, in, &out, &e), -FL_EUSAGE);
    cr_expect(strstr(e.msg, "address"), "%s", e.msg);
    json_decref(in);
    in = json_pack("{s[ss]}", "address", "a:1", "b:2");
    cr_expect_eq(fl_probe_params_parse(tcp, in, &out, &e), -FL_EUSAGE);
    cr_expect(strstr(e.msg, "not a list"), "%s", e.msg);
    json_decref(in);
    in = json_string("x");
    cr_expect_eq(fl_probe_params_parse(tcp, in, &out, &e), -FL_EUSAGE);
    cr_expect(strstr(e.msg, "JSON object"), "%s", e.msg);
    json_decref(in);
}

Test(probe, sample_lines_read_back_what_was_printed)
{
    struct fl_probe_line a = {.t_ms = 1500,
                              .ok = false,
                              .value = NAN,
                              .latency_ms = 2.5,
                              .missed = true},
                         b;
    struct fl_err e = {0};
    char *s;

    snprintf(a.detail, sizeof a.detail, "connect: refused");
    s = fl_probe_line_format(&a);
    cr_assert_not_null(s);
    cr_expect(strstr(s, "\"value\":null") && strstr(s, "\"error\":\"connect: refused\""), "%s", s);
    cr_assert_eq(fl_probe_line_parse(s, strlen(s), &b, &e), 0, "%s", e.msg);
    cr_expect_eq(b.t_ms, 1500);
    cr_expect(!b.ok && b.missed && isnan(b.value));
    cr_expect_float_eq(b.latency_ms, 2.5, 1e-9);
    cr_expect_str_eq(b.detail, "connect: refused");
    free(s);
    a = (struct fl_probe_line){.t_ms = 0, .ok = true, .value = 200, .latency_ms = 1};
    s = fl_probe_line_format(&a);
    cr_assert_eq(fl_probe_line_parse(s, strlen(s), &b, &e), 0, "%s", e.msg);
    cr_expect(b.ok && b.value == 200 && strstr(s, "\"error\":null"), "%s", s);
    free(s);
    cr_expect_eq(fl_probe_line_parse("{\"t_ms\": -1, \"ok\": true}", 24, &b, &e), -FL_EUSAGE);
    cr_expect_eq(fl_probe_line_parse("{\"t_ms\": 1}", 11, &b, &e), -FL_EUSAGE);
    cr_expect_eq(fl_probe_line_parse("not json", 8, &b, &e), -FL_EUSAGE);
    cr_expect_eq(fl_probe_line_parse("[1]", 3, &b, &e), -FL_EUSAGE);
}
