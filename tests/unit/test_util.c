#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "agent/apply.h"
#include "agent/compose.h"
#include "agent/journal.h"
#include "util/opts.h"
#include "util/parse.h"
#include "util/proc.h"
#include "util/shell.h"
#include "util/suggest.h"

Test(parse, durations)
{
    int64_t ms;
    struct fl_err e = {0};
    cr_assert_eq(fl_parse_duration_ms("500ms", &ms, &e), 0);
    cr_assert_eq(ms, 500);
    cr_assert_eq(fl_parse_duration_ms("30s", &ms, &e), 0);
    cr_assert_eq(ms, 30000);
    cr_assert_eq(fl_parse_duration_ms("1m30s", &ms, &e), 0);
    cr_assert_eq(ms, 90000);
    cr_assert_eq(fl_parse_duration_ms("2", &ms, &e), 0);
    cr_assert_eq(ms, 2000);
    cr_assert_eq(fl_parse_duration_ms("1.5s", &ms, &e), 0);
    cr_assert_eq(ms, 1500);
}

Test(parse, bad_durations)
{
    int64_t ms;
    const char *bad[] = {"", "abc", "-5s", "5x", "1s2", "s", "10 s", "nan", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fl_err e = {0};
        cr_assert_eq(fl_parse_duration_ms(bad[i], &ms, &e), -FL_EUSAGE, "%s", bad[i]);
        cr_assert(strstr(e.msg, "duration"), "%s: %s", bad[i], e.msg);
    }
}

Test(parse, sizes)
{
    uint64_t v;
    struct fl_err e = {0};
    cr_assert_eq(fl_parse_size("512MiB", &v, &e), 0);
    cr_assert_eq(v, 512ULL << 20);
    cr_assert_eq(fl_parse_size("1GiB", &v, &e), 0);
    cr_assert_eq(v, 1ULL << 30);
    cr_assert_eq(fl_parse_size("10MB", &v, &e), 0);
    cr_assert_eq(v, 10000000ULL);
    cr_assert_eq(fl_parse_size("4096", &v, &e), 0);
    cr_assert_eq(v, 4096);
    cr_assert_eq(fl_parse_size("1.5G", &v, &e), 0);
    cr_assert_eq(v, 3ULL << 29);
    cr_assert_eq(fl_parse_size("lots", &v, &e), -FL_EUSAGE);
    cr_assert_eq(fl_parse_size("5QB", &v, &e), -FL_EUSAGE);
    cr_assert_eq(fl_parse_size("-1MiB", &v, &e), -FL_EUSAGE);
}

Test(parse, rates)
{
    uint64_t v;
    struct fl_err e = {0};
    cr_assert_eq(fl_parse_rate_bps("1mbit", &v, &e), 0);
    cr_assert_eq(v, 1000000);
    cr_assert_eq(fl_parse_rate_bps("500kbit", &v, &e), 0);
    cr_assert_eq(v, 500000);
    cr_assert_eq(fl_parse_rate_bps("125kbps", &v, &e), 0);
    cr_assert_eq(v, 1000000);
    cr_assert_eq(fl_parse_rate_bps("1Gbit", &v, &e), 0);
    cr_assert_eq(v, 1000000000);
    cr_assert_eq(fl_parse_rate_bps("fast", &v, &e), -FL_EUSAGE);
    cr_assert_eq(fl_parse_rate_bps("1", &v, &e), -FL_EUSAGE);
    cr_assert_eq(fl_parse_rate_bps("2tbit", &v, &e), 0);
    cr_assert_eq(v, 2000000000000ULL);
}

/* A number too large for a known unit says so, not "cannot read". */
Test(parse, rates_too_large)
{
    uint64_t v;
    struct fl_err e = {0};
    cr_assert_eq(fl_parse_rate_bps("99999999tbit", &v, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "'99999999tbit' is too large"), "%s", e.msg);
    cr_assert_eq(fl_parse_rate_bps("99999999999gbps", &v, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "too large"), "%s", e.msg);
    cr_assert_eq(fl_parse_rate_bps("5furlongs", &v, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "cannot read"), "%s", e.msg);
}

Test(parse, percents)
{
    double d;
    struct fl_err e = {0};
    cr_assert_eq(fl_parse_percent("30", &d, &e), 0);
    cr_assert_float_eq(d, 30.0, 1e-9);
    cr_assert_eq(fl_parse_percent("12.5%", &d, &e), 0);
    cr_assert_float_eq(d, 12.5, 1e-9);
    cr_assert_eq(fl_parse_percent("130", &d, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "outside 0-100"), "%s", e.msg);
    cr_assert_eq(fl_parse_percent("-1", &d, &e), -FL_EUSAGE);
    cr_assert_eq(fl_parse_percent("half", &d, &e), -FL_EUSAGE);
}

static const struct fl_opt table[] = {
    {"percent", FL_OPT_PERCENT, FL_OPT_REQUIRED, "P", "loss", NULL, 0, 0},
    {"peer", FL_OPT_STRING, FL_OPT_MULTI, "ADDR", "peer", NULL, 0, 0},
    {"direction", FL_OPT_ENUM, 0, "DIR", "dir", "in|out|both", 0, 0},
    FL_OPT_END,
};

Test(opts, parse_into_json)
{
    const struct fl_opt *const tables[] = {table, NULL};
    json_t *p = json_object();
    struct fl_err e = {0};

    cr_assert_eq(fl_opts_check_required(table, p, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--percent"), "%s", e.msg);
    cr_assert_eq(fl_opts_set(fl_opts_find(tables, "percent"), p, "30", &e), 0);
    cr_assert_eq(fl_opts_set(fl_opts_find(tables, "percent"), p, "31", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "twice"), "%s", e.msg);
    cr_assert_eq(fl_opts_set(fl_opts_find(tables, "peer"), p, "10.0.0.2", &e), 0);
    cr_assert_eq(fl_opts_set(fl_opts_find(tables, "peer"), p, "10.0.0.3", &e), 0);
    cr_assert_eq(json_array_size(json_object_get(p, "peer")), 2);
    cr_assert_eq(fl_opts_set(fl_opts_find(tables, "direction"), p, "sideways", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "in|out|both"), "%s", e.msg);
    cr_assert_eq(fl_opts_check_required(table, p, &e), 0);
    cr_assert_float_eq(fl_param_real(p, "percent", 0), 30.0, 1e-9);
    cr_assert_null(fl_opts_find(tables, "nope"));
    json_decref(p);
}

/* A subcommand's table parses its argv: bounds from the table (duration,
 * size, real), the last value of a repeated option wins, positional
 * arguments are left for the command, and a misspelled name gets the nearest
 * one. */
static const struct fl_opt cmd_table[] = {
    {"timeout", FL_OPT_DURATION, 0, "D", "t", NULL, 0, 60000},
    {"max-size", FL_OPT_SIZE, 0, "SIZE", "s", NULL, 1024, 1 << 20},
    {"rate", FL_OPT_REAL, 0, "R", "r", NULL, 0, 100},
    {"quiet", FL_OPT_FLAG, 0, NULL, "q", NULL, 0, 0},
    FL_OPT_END,
};

static int parse_cmd(json_t *p, int *first, struct fl_err *e, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return fl_opts_parse_argv(cmd_table, "test", argc, argv, p, first, e);
}

Test(opts, parse_argv)
{
    json_t *p = json_object();
    struct fl_err e = {0};
    int first = -1;

    char *ok[] = {"test", "--timeout", "2s",  "a.jsonl", "--timeout=5s", "--max-size",
                  "2KiB", "--rate",    "2.5", "--quiet", "b.jsonl",      NULL};
    cr_assert_eq(parse_cmd(p, &first, &e, ok), 0, "%s", e.msg);
    cr_assert_eq(fl_param_int(p, "timeout", 0), 5000);
    cr_assert_eq(fl_param_int(p, "max-size", 0), 2048);
    cr_assert_float_eq(fl_param_real(p, "rate", 0), 2.5, 1e-9);
    cr_assert(fl_param_bool(p, "quiet"));
    cr_assert_eq(first, 9);
    cr_assert_str_eq(ok[first], "a.jsonl");
    cr_assert_str_eq(ok[first + 1], "b.jsonl");

    char *longer[] = {"test", "--timeout", "2m", NULL};
    cr_assert_eq(parse_cmd(p, &first, &e, longer), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--timeout") && strstr(e.msg, "longer than"), "%s", e.msg);
    char *small[] = {"test", "--max-size", "12", NULL};
    cr_assert_eq(parse_cmd(p, &first, &e, small), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "from 1.0KiB to 1.0MiB") || strstr(e.msg, "from 1KiB to 1MiB"), "%s",
              e.msg);
    char *fast[] = {"test", "--rate", "101", NULL};
    cr_assert_eq(parse_cmd(p, &first, &e, fast), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "outside 0-100"), "%s", e.msg);
    char *nan[] = {"test", "--rate", "nan", NULL};
    cr_assert_eq(parse_cmd(p, &first, &e, nan), -FL_EUSAGE);
    char *typo[] = {"test", "--timeuot", "1s", NULL};
    cr_assert_eq(parse_cmd(p, &first, &e, typo), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "did you mean --timeout?"), "%s", e.msg);
    char *bare[] = {"test", "--rate", NULL};
    cr_assert_eq(parse_cmd(p, &first, &e, bare), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--rate needs a value (R)"), "%s", e.msg);
    char *help[] = {"test", "-h", NULL};
    cr_assert_eq(parse_cmd(p, &first, &e, help), 1);
    json_decref(p);
}

/* One rule for durations: a table's min (ms) is the least accepted, and 0
 * is refused with the way to get the default instead of meaning "forever". */
Test(opts, duration_minimum)
{
    static const struct fl_opt t[] = {
        {"lease", FL_OPT_DURATION, 0, "D", "lease", NULL, 1000, 0},
        {"after", FL_OPT_DURATION, 0, "D", "after", NULL, 0, 0},
        FL_OPT_END,
    };
    json_t *p = json_object();
    struct fl_err e = {0};

    cr_assert_eq(fl_opts_set(&t[0], p, "0", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--lease: 0 is not accepted") && strstr(e.msg, "leave --lease out"),
              "%s", e.msg);
    cr_assert_eq(fl_opts_set(&t[0], p, "500ms", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "'500ms' is shorter than 1.0s, the least --lease takes"), "%s", e.msg);
    cr_assert_eq(fl_opts_set(&t[0], p, "1s", &e), 0);
    cr_assert_eq(fl_opts_set(&t[1], p, "0", &e), 0, "%s", e.msg); /* no minimum: 0 is a value */
    json_decref(p);
}

/* The table's bounds hold for values in the journaled form too (an agent's
 * request, a journal record), so fault files need no range checks of their
 * own. */
Test(opts, json_values_within_the_tables_bounds)
{
    static const struct fl_opt t[] = {
        {"latency", FL_OPT_DURATION, 0, "D", "latency", NULL, 1, 3600000},
        {"workers", FL_OPT_INT, 0, "N", "workers", NULL, 1, 256},
        {"percent", FL_OPT_PERCENT, 0, "P", "percent", NULL, 0, 0},
        FL_OPT_END,
    };
    json_t *p = json_object(), *v;
    struct fl_err e = {0};

    cr_assert_eq(fl_opts_set_json(&t[0], p, v = json_integer(3600000), &e), 0, "%s", e.msg);
    json_decref(v);
    cr_assert_eq(json_integer_value(json_object_get(p, "latency")), 3600000);
    cr_assert_eq(fl_opts_set_json(&t[0], p, v = json_integer(3600001), &e), -FL_EUSAGE);
    json_decref(v);
    cr_assert(strstr(e.msg, "latency: not a valid value"), "%s", e.msg);
    cr_assert_eq(fl_opts_set_json(&t[0], p, v = json_integer(0), &e), -FL_EUSAGE);
    json_decref(v);
    cr_assert_eq(fl_opts_set_json(&t[0], p, v = json_string("2h"), &e), -FL_EUSAGE);
    json_decref(v);
    cr_assert(strstr(e.msg, "the most --latency takes"), "%s", e.msg);
    cr_assert_eq(fl_opts_set_json(&t[1], p, v = json_integer(257), &e), -FL_EUSAGE);
    json_decref(v);
    cr_assert_eq(fl_opts_set_json(&t[1], p, v = json_real(2.0), &e), -FL_EUSAGE);
    json_decref(v);
    cr_assert_eq(fl_opts_set_json(&t[2], p, v = json_real(100.5), &e), -FL_EUSAGE);
    json_decref(v);
    cr_assert_eq(fl_opts_set_json(&t[2], p, v = json_integer(50), &e), 0, "%s", e.msg);
    json_decref(v);
    json_decref(p);
}

Test(suggest, closest_within_two_edits)
{
    static const char *const kinds[] = {"network.partition", "network.loss", "process.pause",
                                        "process.kill", NULL};
    static const char *const opts[] = {"pid", "pidfile", "duration", "detach", "lease", NULL};

    cr_assert_str_eq(fl_suggest("process.pasue", kinds), "process.pause"); /* a swap */
    cr_assert_str_eq(fl_suggest("network.partion", kinds), "network.partition");
    cr_assert_str_eq(fl_suggest("Network.Loss", kinds), "network.loss");
    cr_assert_str_eq(fl_suggest("duraton", opts), "duration");
    cr_assert_str_eq(fl_suggest("pidd", opts), "pid"); /* ties: the earlier entry */
    cr_assert_str_eq(fl_suggest("leese", opts), "lease");
    cr_assert_null(fl_suggest("network.bandwidthh3", kinds));
    cr_assert_null(fl_suggest("zzz", kinds));
    cr_assert_null(fl_suggest("x", opts)); /* too short to guess from */
    cr_assert_null(fl_suggest("", opts));
    cr_assert_null(fl_suggest(NULL, opts));
    char longw[300];
    memset(longw, 'a', sizeof longw - 1);
    longw[sizeof longw - 1] = '\0';
    cr_assert_null(fl_suggest(longw, opts));
}

Test(proc, refuses_pid1_and_self)
{
    struct fl_err e = {0};
    cr_assert_eq(fl_proc_check_allowed(1, &e), -FL_EREFUSED);
    cr_assert(strstr(e.msg, "pid 1"), "%s", e.msg);
    cr_assert_eq(fl_proc_check_allowed(getpid(), &e), -FL_EREFUSED);
    cr_assert_eq(fl_proc_check_allowed(2, &e), -FL_EREFUSED); /* kthreadd */
    cr_assert_eq(fl_proc_check_allowed(0x3fffffff, &e), -FL_ENOTARGET);
    cr_assert(fl_proc_alive(getpid(), fl_proc_start_time(getpid())));
    cr_assert_not(fl_proc_alive(getpid(), fl_proc_start_time(getpid()) + 1));
}

Test(lease, verdicts)
{
    json_t *owned = json_pack("{s:{s:i,s:i}, s:I, s:I}", "owner", "pid", 1, "start", 1,
                              "lease_until", (json_int_t)1000, "end_at", (json_int_t)500);
    json_t *detached = json_pack("{s:n, s:I, s:I}", "owner", "lease_until", (json_int_t)1000,
                                 "end_at", (json_int_t)500);

    cr_assert_eq(fl_lease_check(owned, 100, true), FL_LEASE_KEEP);
    cr_assert_eq(fl_lease_check(owned, 100, false), FL_LEASE_OWNER_GONE);
    /* an owner ends its own fault at end_at; only the lease backs it up */
    cr_assert_eq(fl_lease_check(owned, 600, true), FL_LEASE_KEEP);
    cr_assert_eq(fl_lease_check(owned, 1000, true), FL_LEASE_EXPIRED);
    cr_assert_eq(fl_lease_check(detached, 100, false), FL_LEASE_KEEP);
    cr_assert_eq(fl_lease_check(detached, 500, false), FL_LEASE_DURATION_END);
    cr_assert_eq(fl_lease_check(detached, 1001, false), FL_LEASE_EXPIRED);
    json_decref(owned);
    json_decref(detached);
}

/* Callers pass e->msg itself as an argument ("cannot use %s: %s", e->msg):
 * the message must come out whole, whatever the length of what precedes it. */
Test(err, set_may_quote_its_own_message)
{
    struct fl_err e = {0};
    char want[FL_ERR_MSG];

    for (int pad = 0; pad < 80; pad += 7) {
        fl_err_set(&e, FL_ESTATE, "cannot create /x/faults: Read-only file system");
        snprintf(want, sizeof want, "cannot use state directory %*s: %s", pad, "d",
                 "cannot create /x/faults: Read-only file system");
        cr_assert_eq(
            fl_err_set(&e, FL_ESTATE, "cannot use state directory %*s: %s", pad, "d", e.msg),
            -FL_ESTATE);
        cr_assert_str_eq(e.msg, want);
    }
    fl_err_set(&e, FL_EPERM, "inner");
    fl_err_prefix(&e, "outer %s", e.msg);
    cr_assert_str_eq(e.msg, "outer inner: inner");
    cr_assert_eq(e.code, FL_EPERM);
}

static int failing_inject(struct fl_fault *f, struct fl_err *e)
{
    json_object_set_new(f->undo, "touched", json_true());
    return fl_err_set(e, FL_EFAIL, "inject failed on purpose");
}

static int failing_revert(const struct fl_fault *f, struct fl_err *e)
{
    return fl_err_set(e, FL_EFAIL, "revert failed on purpose");
}

/* A fault whose inject fails leaves no journal record, even when undoing
 * it fails too (the guardian would otherwise retry it forever). The kind is
 * not in the registry, so the journal cannot revert it either. */
Test(apply, failed_inject_leaves_no_record)
{
    static const struct fl_fault_ops ops = {
        .kind = "test.failing", .inject = failing_inject, .revert = failing_revert};
    char dir[] = "/tmp/fl-apply-XXXXXX", lock[64], rec[96];
    struct fl_journal j;
    struct fl_fault f;
    struct fl_err e = {0};
    int held;

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(fl_journal_open(&j, dir, &e), 0, "%s", e.msg);
    /* Pose as the guardian, so fl_guardian_ensure starts none. */
    snprintf(lock, sizeof lock, "%s/guardian.lock", dir);
    held = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(held >= 0 && flock(held, LOCK_EX) == 0);
    cr_assert_eq(fl_fault_init(&f, &ops, json_object()), 0);
    fl_fault_new_id(f.id);
    cr_assert_eq(fl_fault_apply(&j, &f, 0, 60000, 0, &e), -FL_EFAIL);
    cr_assert_str_eq(e.msg, "inject failed on purpose");
    snprintf(rec, sizeof rec, "%s/faults/%s.json", dir, f.id);
    cr_assert_neq(access(rec, F_OK), 0, "a failed inject left %s", rec);
    cr_assert_eq(fl_journal_count(&j), 0);
    fl_fault_fini(&f);
    fl_journal_close(&j);
    close(held);
    unlink(lock);
    snprintf(lock, sizeof lock, "%s/journal.lock", dir);
    unlink(lock);
    snprintf(rec, sizeof rec, "%s/faults", dir);
    cr_assert_eq(rmdir(rec), 0);
    cr_assert_eq(rmdir(dir), 0);
}

/* A fault with this kind, id and undo, as a journal would rebuild it. */
static void fake_fault(struct fl_fault *f, const char *kind, const char *id, json_t *params,
                       json_t *undo)
{
    fl_fault_init(f, fl_fault_lookup(kind), params);
    json_decref(f->undo);
    f->undo = undo;
    snprintf(f->id, sizeof f->id, "%s", id);
}

/* Overlapping faults (agent/compose.c): shared claims compose and say who
 * else holds them; exclusive ones refuse the newcomer by name. */
Test(compose, shared_and_exclusive_claims)
{
    char dir[] = "/tmp/fl-test-compose-XXXXXX";
    struct fl_journal j;
    struct fl_err e = {0};
    struct fl_fault a, b, c, d;
    json_t *rec;

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(fl_journal_open(&j, dir, &e), 0, "%s", e.msg);
#define PAUSED()                                                                                   \
    json_pack("{s:[{s:i, s:i}], s:i}", "targets", "pid", 4242, "start", 7, "matched", 1)
    fake_fault(&a, "process.pause", "0000000a", NULL, PAUSED());
    fake_fault(&b, "process.pause", "0000000b", NULL, PAUSED());
    rec = fl_journal_record(&a, 0, 60000, 0);
    cr_assert_eq(fl_journal_put(&j, rec, &e), 0, "%s", e.msg);
    json_decref(rec);
    cr_assert_eq(fl_compose_check(&j, &b, true, &e), 0, "%s", e.msg);
    cr_assert(fl_fault_held(&b, "pid 4242 (start 7)"));
    cr_assert_str_eq(json_string_value(json_object_get(b.held, "pid 4242 (start 7)")), "0000000a");
    /* a itself is not "another" fault: nothing holds its pid but a */
    cr_assert_eq(fl_compose_check(&j, &a, false, &e), 0);
    cr_assert_not(fl_fault_held(&a, "pid 4242 (start 7)"));

#define REDIRECT(t) json_pack("{s:{s:[s]}}", "config", "targets", t)
    fake_fault(&c, "network.delay", "0000000c", json_pack("{s:s}", "netns", "n1"),
               REDIRECT("10.0.0.2:80"));
    fake_fault(&d, "network.jitter", "0000000d", json_pack("{s:s}", "netns", "n1"),
               REDIRECT("10.0.0.2:80"));
    rec = fl_journal_record(&c, 0, 60000, 0);
    cr_assert_eq(fl_journal_put(&j, rec, &e), 0, "%s", e.msg);
    json_decref(rec);
    cr_assert_eq(fl_compose_check(&j, &d, true, &e), -FL_EREFUSED);
    cr_assert(strstr(e.msg, "network.jitter cannot overlap fault 0000000c") &&
                  strstr(e.msg, "10.0.0.2:80") && strstr(e.msg, "faultline recover 0000000c"),
              "%s", e.msg);
    /* at revert nothing is refused */
    cr_assert_eq(fl_compose_check(&j, &d, false, &e), 0);
    json_object_set_new(json_object_get(d.undo, "config"), "targets",
                        json_pack("[s]", "10.0.0.2:81"));
    cr_assert_eq(fl_compose_check(&j, &d, true, &e), 0, "%s", e.msg);

    fl_fault_fini(&a);
    fl_fault_fini(&b);
    fl_fault_fini(&c);
    fl_fault_fini(&d);
    fl_journal_remove(&j, "0000000a");
    fl_journal_remove(&j, "0000000c");
    fl_journal_close(&j);
    {
        char path[sizeof dir + 32];
        snprintf(path, sizeof path, "%s/faults", dir);
        cr_assert_eq(rmdir(path), 0);
        snprintf(path, sizeof path, "%s/journal.lock", dir);
        cr_assert_eq(unlink(path), 0);
        cr_assert_eq(rmdir(dir), 0);
    }
}

struct renew_arg {
    struct fl_journal *j;
    const char *id;
    bool alive;
    volatile int done;
};

static void *renew_thread(void *arg)
{
    struct renew_arg *a = arg;

    a->alive = fl_fault_renew(a->j, a->id, 30000);
    a->done = 1;
    return NULL;
}

/* pthread_join, but fail instead of hanging when the thread never ends (a
 * deadlock): the bound is far above any time this can take. */
static void join_or_fail(pthread_t t, const char *what)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    cr_assert_eq(pthread_timedjoin_np(t, NULL, &ts), 0, "%s never returned", what);
}

/* Renewals take only their own record's lock (journal.h): one goes through
 * while another thread holds the journal lock (as a revert does across its
 * driver's revert), waits while its record is locked (a revert of that very
 * fault), and after the record is removed renews nothing and writes nothing
 * back. */
Test(journal, renewal_needs_only_its_records_lock)
{
    char dir[] = "/tmp/fl-test-reclock-XXXXXX", path[96];
    struct fl_journal j;
    struct fl_err e = {0};
    struct fl_fault a;
    struct renew_arg ra;
    pthread_t t;
    json_t *rec;
    int64_t until;
    int rl;

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(fl_journal_open(&j, dir, &e), 0, "%s", e.msg);
    fake_fault(&a, "process.pause", "0000001a", NULL, PAUSED());
    rec = fl_journal_record(&a, 0, 1000, 0);
    cr_assert_eq(fl_journal_put(&j, rec, &e), 0, "%s", e.msg);
    until = json_integer_value(json_object_get(rec, "lease_until"));
    json_decref(rec);

    /* the journal lock held elsewhere: the renewal does not wait for it */
    fl_journal_lock(&j);
    ra = (struct renew_arg){.j = &j, .id = "0000001a"};
    cr_assert_eq(pthread_create(&t, NULL, renew_thread, &ra), 0);
    join_or_fail(t, "a renewal while the journal lock was held");
    fl_journal_unlock(&j);
    cr_assert(ra.alive);
    rec = fl_journal_get(&j, "0000001a", &e);
    cr_assert(json_integer_value(json_object_get(rec, "lease_until")) > until);
    json_decref(rec);

    /* its record locked (a revert of it under way): it waits, then finds the
     * record removed and writes nothing */
    rl = fl_journal_record_lock(&j, "0000001a");
    cr_assert(rl >= 0);
    ra = (struct renew_arg){.j = &j, .id = "0000001a"};
    cr_assert_eq(pthread_create(&t, NULL, renew_thread, &ra), 0);
    usleep(100 * 1000);
    cr_assert_not(ra.done, "the renewal did not wait for the record lock");
    fl_journal_remove(&j, "0000001a");
    fl_journal_record_unlock(rl);
    join_or_fail(t, "a renewal after the record lock was released");
    cr_assert_not(ra.alive);
    snprintf(path, sizeof path, "%s/faults/0000001a.json", dir);
    cr_assert_neq(access(path, F_OK), 0, "a renewal wrote back a removed record");

    fl_fault_fini(&a);
    fl_journal_close(&j);
    snprintf(path, sizeof path, "%s/faults", dir);
    cr_assert_eq(rmdir(path), 0);
    snprintf(path, sizeof path, "%s/journal.lock", dir);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(rmdir(dir), 0);
}

/* The scope of a claim is the namespace itself: a fault planned with --netns
 * and one planned with --pid of a process in that namespace (same recorded
 * inode) claim the same target; another namespace does not. */
Test(compose, same_namespace_by_other_names_overlaps)
{
    char dir[] = "/tmp/fl-test-compose-XXXXXX";
    struct fl_journal j;
    struct fl_err e = {0};
    struct fl_fault a, b, c;
    json_t *rec;

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(fl_journal_open(&j, dir, &e), 0, "%s", e.msg);
#define SCOPED(scope, target)                                                                      \
    json_pack("{s:o, s:{s:[s]}}", "scope", scope, "config", "targets", target)
    fake_fault(&a, "network.delay", "0000000a", json_pack("{s:s}", "netns", "n1"),
               SCOPED(json_pack("{s:s, s:s, s:i, s:I, s:b}", "kind", "netns", "name", "n1", "dev",
                                4, "ino", (json_int_t)4026532999, "host", 0),
                      "10.0.0.2:80"));
    fake_fault(&b, "network.jitter", "0000000b", json_pack("{s:i}", "pid", 4242),
               SCOPED(json_pack("{s:s, s:i, s:i, s:i, s:I, s:b}", "kind", "pid", "pid", 4242,
                                "pid_start", 7, "dev", 4, "ino", (json_int_t)4026532999, "host", 0),
                      "10.0.0.2:80"));
    fake_fault(&c, "network.jitter", "0000000c", json_pack("{s:i}", "pid", 4243),
               SCOPED(json_pack("{s:s, s:i, s:i, s:i, s:I, s:b}", "kind", "pid", "pid", 4243,
                                "pid_start", 7, "dev", 4, "ino", (json_int_t)4026533000, "host", 0),
                      "10.0.0.2:80"));
    rec = fl_journal_record(&a, 0, 60000, 0);
    cr_assert_eq(fl_journal_put(&j, rec, &e), 0, "%s", e.msg);
    json_decref(rec);
    cr_assert_eq(fl_compose_check(&j, &b, true, &e), -FL_EREFUSED);
    cr_assert(strstr(e.msg, "cannot overlap fault 0000000a") &&
                  strstr(e.msg, "10.0.0.2:80 in net:[4026532999]"),
              "%s", e.msg);
    cr_assert_eq(fl_compose_check(&j, &c, true, &e), 0, "%s", e.msg);
    fl_fault_fini(&a);
    fl_fault_fini(&b);
    fl_fault_fini(&c);
    fl_journal_remove(&j, "0000000a");
    fl_journal_close(&j);
    {
        char path[sizeof dir + 32];
        snprintf(path, sizeof path, "%s/faults", dir);
        cr_assert_eq(rmdir(path), 0);
        snprintf(path, sizeof path, "%s/journal.lock", dir);
        cr_assert_eq(unlink(path), 0);
        cr_assert_eq(rmdir(dir), 0);
    }
}

/* process.kill's restart as a journal record (faults/process_restart.c):
 * only the journal knows the kind; reverting the record runs the restart
 * in the run's directory, and a restart that fails stays journaled with
 * its error and output. */
Test(restart, journaled_restart_runs_on_revert)
{
    char dir[] = "/tmp/fl-restart-XXXXXX", lock[64], path[96], buf[64] = "";
    struct fl_journal j;
    struct fl_fault f;
    struct fl_err e = {0};
    bool found = false, sound;
    json_t *rec;
    FILE *in;
    int held;

    cr_assert_null(fl_fault_lookup("process.restart"), "nobody may inject it");
    cr_assert_not_null(fl_fault_lookup_record("process.restart"));
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(fl_journal_open(&j, dir, &e), 0, "%s", e.msg);
    snprintf(lock, sizeof lock, "%s/guardian.lock", dir); /* pose as the guardian */
    held = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(held >= 0 && flock(held, LOCK_EX) == 0);

    fl_fault_init(&f, fl_fault_lookup_record("process.restart"),
                  json_pack("{s:s, s:s, s:s, s:i, s:i}", "command", "pwd > restarted; echo up",
                            "step", "kill-web", "cwd", dir, "timeout_ms", 5000, "due_ms", 0));
    cr_assert_eq(f.ops->plan(&f, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_fault_apply(&j, &f, 0, 60000, 0, &e), 0, "%s", e.msg);
    rec = fl_journal_get(&j, f.id, &e);
    cr_assert_not_null(rec, "%s", e.msg);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "kind")), "process.restart");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "description")),
                     "pending restart of step 'kill-web' (after its process.kill): `pwd > "
                     "restarted; echo up`");
    json_decref(rec);
    cr_assert_eq(fl_journal_revert(&j, f.id, &found, &e), 0, "%s", e.msg);
    cr_assert(found);
    cr_assert_eq(fl_journal_count(&j), 0);
    snprintf(path, sizeof path, "%s/restarted", dir);
    cr_assert_not_null(in = fopen(path, "r"), "the restart did not run in its cwd");
    cr_assert_not_null(fgets(buf, sizeof buf, in));
    fclose(in);
    cr_assert_eq(strncmp(buf, dir, strlen(dir)), 0, "%s", buf);
    unlink(path);
    fl_fault_fini(&f);

    fl_fault_init(&f, fl_fault_lookup_record("process.restart"),
                  json_pack("{s:s, s:s, s:i}", "command", "echo no such service >&2; exit 3",
                            "step", "kill-db", "timeout_ms", 5000));
    cr_assert_eq(fl_fault_apply(&j, &f, 0, 60000, 0, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_journal_revert(&j, f.id, &found, &e), -FL_EFAIL);
    cr_assert_str_eq(e.msg, "the restart of step 'kill-db' (`echo no such service >&2; exit 3`) "
                            "exited with status 3: no such service; the killed member is still "
                            "down");
    rec = fl_journal_get(&j, f.id, &e);
    cr_assert_not_null(rec, "a failed restart stays journaled");
    cr_assert_not_null(json_object_get(rec, "last_error"));
    json_decref(rec);
    cr_assert_eq(fl_journal_forget(&j, f.id, &sound, &e), 0, "%s", e.msg);
    cr_assert(sound);
    fl_fault_fini(&f);

    fl_journal_close(&j);
    close(held);
    unlink(lock);
    snprintf(lock, sizeof lock, "%s/journal.lock", dir);
    unlink(lock);
    snprintf(path, sizeof path, "%s/faults", dir);
    cr_assert_eq(rmdir(path), 0);
    cr_assert_eq(rmdir(dir), 0);
}

/* util/shell.c: the head of the output, the exit status, a timeout that
 * kills the command's process group, a working directory that is gone. */
Test(shell, status_output_timeout_and_cwd)
{
    struct fl_shell_where w = {.cwd = "/"};
    char out[16];

    cr_assert_eq(fl_shell_run(&w, "pwd; echo 0123456789abcdefghij; exit 4", 5000, out, sizeof out),
                 4);
    cr_assert_str_eq(out, "/\n0123456789abc");
    cr_assert_eq(fl_shell_run(NULL, "echo started; sleep 30", 200, out, sizeof out), -ETIMEDOUT);
    cr_assert_str_eq(out, "started");
    w.cwd = "/nonexistent/faultline-test";
    cr_assert_lt(fl_shell_run(&w, "true", 5000, out, sizeof out), 0);
    cr_assert_str_eq(out, "cannot enter th"); /* the head of what it says */
}
