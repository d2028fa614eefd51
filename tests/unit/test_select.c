#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faults/select.h"
#include "util/proc.h"

Test(select_mode, parses_every_form)
{
    struct fl_select_mode m;
    struct fl_err e = {0};

    cr_assert_eq(fl_select_parse_mode(NULL, &m, &e), 0);
    cr_assert_eq(m.kind, FL_SELECT_ONE);
    cr_assert_eq(fl_select_parse_mode("one", &m, &e), 0);
    cr_assert_eq(m.kind, FL_SELECT_ONE);
    cr_assert_eq(fl_select_parse_mode("all", &m, &e), 0);
    cr_assert_eq(m.kind, FL_SELECT_ALL);
    cr_assert_eq(fl_select_parse_mode("fixed:3", &m, &e), 0);
    cr_assert_eq(m.kind, FL_SELECT_FIXED);
    cr_assert_eq(m.n, 3);
    cr_assert_eq(fl_select_parse_mode("fixed-percent:50", &m, &e), 0);
    cr_assert_eq(m.kind, FL_SELECT_FIXED_PERCENT);
    cr_assert_float_eq(m.percent, 50.0, 1e-9);
    cr_assert_eq(fl_select_parse_mode("random-max-percent:12.5%", &m, &e), 0);
    cr_assert_eq(m.kind, FL_SELECT_RANDOM_MAX_PERCENT);
    cr_assert_float_eq(m.percent, 12.5, 1e-9);
}

Test(select_mode, rejects_bad_modes)
{
    const char *bad[] = {"",
                         "some",
                         "fixed",
                         "fixed:",
                         "fixed:0",
                         "fixed:-1",
                         "fixed:x",
                         "fixed-percent:0",
                         "fixed-percent:130",
                         "fixed-percent:abc",
                         "random-max-percent:",
                         "random-max-percent:101",
                         "ALL"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fl_select_mode m;
        struct fl_err e = {0};
        cr_assert_eq(fl_select_parse_mode(bad[i], &m, &e), -FL_EUSAGE, "%s", bad[i]);
        cr_assert(strstr(e.msg, "mode"), "%s: %s", bad[i], e.msg);
    }
}

Test(select_mode, counts)
{
    struct fl_select_mode m = {0};

    m.kind = FL_SELECT_ONE;
    cr_assert_eq(fl_select_count(&m, 5, 1), 1);
    cr_assert_eq(fl_select_count(&m, 0, 1), 0);
    m.kind = FL_SELECT_ALL;
    cr_assert_eq(fl_select_count(&m, 5, 1), 5);
    m.kind = FL_SELECT_FIXED;
    m.n = 2;
    cr_assert_eq(fl_select_count(&m, 5, 1), 2);
    m.n = 9;
    cr_assert_eq(fl_select_count(&m, 5, 1), 5, "fixed:N clamps to the matches");
    m.kind = FL_SELECT_FIXED_PERCENT;
    m.percent = 50;
    cr_assert_eq(fl_select_count(&m, 5, 1), 2, "rounds down");
    m.percent = 1;
    cr_assert_eq(fl_select_count(&m, 5, 1), 1, "never below one");
    m.percent = 100;
    cr_assert_eq(fl_select_count(&m, 5, 1), 5);
    m.kind = FL_SELECT_RANDOM_MAX_PERCENT;
    m.percent = 60; /* at most 3 of 5 */
    for (uint64_t seed = 0; seed < 200; seed++) {
        size_t k = fl_select_count(&m, 5, seed);
        cr_assert(k >= 1 && k <= 3, "seed %llu gave %zu", (unsigned long long)seed, k);
        cr_assert_eq(k, fl_select_count(&m, 5, seed), "same seed, same count");
    }
}

Test(select_pick, same_seed_same_picks)
{
    size_t a[4], b[4], c[4];
    int differ = 0;

    fl_select_pick(10, 4, 42, a);
    fl_select_pick(10, 4, 42, b);
    cr_assert_arr_eq(a, b, sizeof a);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_lt(a[i], 10);
        if (i)
            cr_assert_lt(a[i - 1], a[i], "sorted and distinct");
    }
    for (uint64_t seed = 1; seed < 20; seed++) {
        fl_select_pick(10, 4, seed, c);
        differ += memcmp(a, c, sizeof a) != 0;
    }
    cr_assert_gt(differ, 10, "other seeds pick other sets");
}

Test(select_pick, every_index_reachable)
{
    int seen[7] = {0};
    size_t one;

    for (uint64_t seed = 0; seed < 500; seed++) {
        fl_select_pick(7, 1, seed, &one);
        seen[one]++;
    }
    for (int i = 0; i < 7; i++)
        cr_assert_gt(seen[i], 20, "index %d picked %d times of 500", i, seen[i]);
}

Test(select_pick, all_when_k_is_n)
{
    size_t idx[5];

    fl_select_pick(5, 5, 7, idx);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(idx[i], i);
}

static json_t *params_pid(pid_t pid)
{
    json_t *p = json_object();
    json_object_set_new(p, "pid", json_pack("[i]", (int)pid));
    return p;
}

Test(select_resolve, refuses_pid_1)
{
    json_t *p = params_pid(1);
    struct fl_selection sel;
    struct fl_err e = {0};

    cr_assert_eq(fl_select_resolve(p, 1, &sel, &e), -FL_EREFUSED);
    cr_assert(strstr(e.msg, "pid 1"), "%s", e.msg);
    json_decref(p);
}

Test(select_resolve, refuses_own_pid_and_parent)
{
    json_t *p = params_pid(getpid());
    struct fl_selection sel;
    struct fl_err e = {0};

    cr_assert_eq(fl_select_resolve(p, 1, &sel, &e), -FL_EREFUSED);
    cr_assert(strstr(e.msg, "faultline"), "%s", e.msg);
    json_decref(p);
    p = params_pid(getppid());
    cr_assert_eq(fl_select_resolve(p, 1, &sel, &e), -FL_EREFUSED);
    json_decref(p);
}

Test(select_resolve, refuses_kernel_thread)
{
    json_t *p = params_pid(2); /* kthreadd */
    struct fl_selection sel;
    struct fl_err e = {0};

    if (!fl_proc_is_kthread(2))
        cr_skip_test("pid 2 is not kthreadd here (a pid namespace?)");
    cr_assert_eq(fl_select_resolve(p, 1, &sel, &e), -FL_EREFUSED);
    cr_assert(strstr(e.msg, "kernel thread"), "%s", e.msg);
    json_decref(p);
}

Test(select_resolve, no_match_names_the_selector)
{
    json_t *p = json_pack("{s:s}", "name", "no-such-proc-x");
    struct fl_selection sel;
    struct fl_err e = {0};

    cr_assert_eq(fl_select_resolve(p, 1, &sel, &e), -FL_ENOTARGET);
    cr_assert(strstr(e.msg, "--name no-such-proc-x"), "%s", e.msg);
    json_decref(p);

    p = json_pack("{s:s}", "cmdline", "^no such command line [0-9]+$");
    cr_assert_eq(fl_select_resolve(p, 1, &sel, &e), -FL_ENOTARGET);
    cr_assert(strstr(e.msg, "--cmdline"), "%s", e.msg);
    json_decref(p);

    p = json_pack("{s:s}", "pidfile", "/nonexistent/x.pid");
    cr_assert_eq(fl_select_resolve(p, 1, &sel, &e), -FL_ENOTARGET);
    cr_assert(strstr(e.msg, "--pidfile /nonexistent/x.pid"), "%s", e.msg);
    json_decref(p);

    p = json_pack("{s:s}", "cgroup", "no/such/cgroup/here");
    cr_assert_eq(fl_select_resolve(p, 1, &sel, &e), -FL_ENOTARGET);
    cr_assert(strstr(e.msg, "--cgroup"), "%s", e.msg);
    json_decref(p);
}

Test(select_resolve, never_matches_itself)
{
    char comm[64];
    json_t *p;
    struct fl_selection sel;
    struct fl_err e = {0};

    /* This test binary is the only process with its comm: it must be skipped. */
    cr_assert_eq(fl_proc_comm(getpid(), comm, sizeof comm), 0);
    p = json_pack("{s:s, s:s}", "name", comm, "mode", "all");
    if (fl_select_resolve(p, 1, &sel, &e) == 0) {
        for (size_t i = 0; i < sel.n; i++)
            cr_assert_neq(sel.targets[i].pid, getpid());
        fl_select_free(&sel);
    } else {
        cr_assert_eq(e.code, FL_ENOTARGET, "%s", e.msg);
        cr_assert(strstr(e.msg, "never selected"), "%s", e.msg);
    }
    json_decref(p);
}

Test(select_resolve, seeded_pick_among_children)
{
    pid_t kids[5];
    char re[64];
    json_t *p;
    struct fl_selection a, b;
    struct fl_err e = {0};

    for (int i = 0; i < 5; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            execl("/bin/sleep", "sleep", "31.5417", (char *)NULL);
            _exit(127);
        }
    }
    usleep(100000);
    snprintf(re, sizeof re, "^sleep 31\\.5417$");
    p = json_pack("{s:s, s:s}", "cmdline", re, "mode", "fixed:2");
    cr_assert_eq(fl_select_resolve(p, 99, &a, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_select_resolve(p, 99, &b, &e), 0, "%s", e.msg);
    cr_assert_eq(a.matched, 5);
    cr_assert_eq(a.n, 2);
    cr_assert_eq(a.targets[0].pid, b.targets[0].pid);
    cr_assert_eq(a.targets[1].pid, b.targets[1].pid);
    cr_assert_lt(a.targets[0].pid, a.targets[1].pid);
    cr_assert_eq(a.targets[0].start, fl_proc_start_time(a.targets[0].pid));
    cr_assert_str_eq(a.targets[0].comm, "sleep");
    fl_select_free(&a);
    fl_select_free(&b);
    json_decref(p);

    /* Explicit pids default to all of them. */
    p = json_pack("{s:[i,i]}", "pid", (int)kids[0], (int)kids[3]);
    cr_assert_eq(fl_select_resolve(p, 1, &a, &e), 0, "%s", e.msg);
    cr_assert_eq(a.n, 2);
    fl_select_free(&a);
    json_decref(p);

    /* --pid narrowed by --name that does not fit: no target. */
    p = json_pack("{s:[i], s:s}", "pid", (int)kids[1], "name", "not-sleep");
    cr_assert_eq(fl_select_resolve(p, 1, &a, &e), -FL_ENOTARGET);
    json_decref(p);

    for (int i = 0; i < 5; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
}

Test(select_validate, needs_a_selector_and_a_good_regex)
{
    json_t *p = json_object();
    struct fl_err e = {0};

    cr_assert_eq(fl_select_validate(p, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "--pid"), "%s", e.msg);
    json_object_set_new(p, "cmdline", json_string("a(b"));
    cr_assert_eq(fl_select_validate(p, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "regular expression"), "%s", e.msg);
    json_object_set_new(p, "cmdline", json_string("a(b)"));
    cr_assert_eq(fl_select_validate(p, &e), 0, "%s", e.msg);
    json_object_set_new(p, "mode", json_string("fixed:zero"));
    cr_assert_eq(fl_select_validate(p, &e), -FL_EUSAGE);
    json_decref(p);
}

Test(select_signal, parses_names_and_numbers)
{
    struct {
        const char *in;
        int sig;
    } ok[] = {{"KILL", SIGKILL}, {"SIGKILL", SIGKILL}, {"kill", SIGKILL}, {"9", SIGKILL},
              {"TERM", SIGTERM}, {"sigterm", SIGTERM}, {"15", SIGTERM},   {"HUP", SIGHUP},
              {"USR1", SIGUSR1}, {"STOP", SIGSTOP},    {"INT", SIGINT},   {"34", 34}};
    const char *bad[] = {"", "0", "-9", "NOPE", "SIG", "9x", "65", "KILLX"};
    char buf[32];

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int sig = -1;
        struct fl_err e = {0};
        cr_assert_eq(fl_proc_parse_signal(ok[i].in, &sig, &e), 0, "%s: %s", ok[i].in, e.msg);
        cr_assert_eq(sig, ok[i].sig, "%s", ok[i].in);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int sig;
        struct fl_err e = {0};
        cr_assert_eq(fl_proc_parse_signal(bad[i], &sig, &e), -FL_EUSAGE, "%s", bad[i]);
        cr_assert(strstr(e.msg, "signal"), "%s: %s", bad[i], e.msg);
    }
    cr_assert_str_eq(fl_proc_signal_name(SIGKILL, buf, sizeof buf), "SIGKILL");
    cr_assert_str_eq(fl_proc_signal_name(SIGTERM, buf, sizeof buf), "SIGTERM");
}

Test(select_signal, never_hits_a_recycled_identity)
{
    pid_t kid = fork();
    uint64_t start;

    if (kid == 0) {
        pause();
        _exit(0);
    }
    usleep(20000);
    start = fl_proc_start_time(kid);
    cr_assert_gt(start, 0);
    cr_assert_eq(fl_proc_signal(kid, start + 1, SIGKILL), 0, "wrong start time: untouched");
    cr_assert_eq(fl_proc_state(kid) != 0, 1);
    cr_assert_eq(fl_proc_signal(kid, start, SIGKILL), 1);
    waitpid(kid, NULL, 0);
    cr_assert_eq(fl_proc_signal(kid, start, SIGKILL), 0, "gone: nothing to signal");
}

Test(select_json, round_trips)
{
    struct fl_target t[2] = {{100, 5555, "redis"}, {200, 6666, "sleep"}};
    struct fl_selection sel = {t, 2, 3}, back;
    json_t *j = fl_select_to_json(&sel);
    char buf[128];

    cr_assert_eq(fl_select_from_json(j, &back), 0);
    cr_assert_eq(back.n, 2);
    cr_assert_eq(back.targets[1].pid, 200);
    cr_assert_eq(back.targets[1].start, 6666);
    cr_assert_str_eq(back.targets[0].comm, "redis");
    fl_select_describe_pids(j, buf, sizeof buf);
    cr_assert_str_eq(buf, "pids 100, 200");
    fl_select_free(&back);
    json_decref(j);
}

Test(select_describe, names_selectors)
{
    json_t *p = json_pack("{s:s, s:[i,i]}", "name", "redis-server", "pid", 12, 13);
    char buf[256];

    fl_select_describe(p, buf, sizeof buf);
    cr_assert_str_eq(buf, "named redis-server and with pid 12, 13");
    json_decref(p);
}

Test(select_cgroup, finds_cgroup2_mount)
{
    char mnt[256];
    struct fl_err e = {0};

    if (fl_proc_cgroup2_mount(mnt, sizeof mnt, &e))
        cr_skip_test("no cgroup2 here: %s", e.msg);
    cr_assert(strstr(mnt, "/sys/fs/cgroup") == mnt, "%s", mnt);
}
