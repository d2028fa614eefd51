/* Every Knossos history gets the verdict its folder names. */
#include <criterion/criterion.h>
#include <dirent.h>

#include "check_test_util.h"

static int check_dir(const char *model, const char *sub, int want, const char *initial)
{
    char *dir = test_path("FL_SHARED_DATA", sub);
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    cr_assert_not_null(d, "cannot open %s", dir);
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".edn"))
            continue;
        char *path = NULL;
        cr_assert(asprintf(&path, "%s/%s", dir, de->d_name) > 0);
        struct fl_history *h = NULL;
        struct fl_err e = {0};
        cr_assert_eq(fl_history_load(path, FL_FMT_EDN, &h, &e), 0, "%s: %s", path, e.msg);
        struct fl_check_opts o;
        struct fl_check_report r;
        fl_check_opts_init(&o);
        o.model = model;
        o.timeout_ms = 30000;
        o.no_minimize = true;
        if (initial)
            cr_assert_eq(test_code(h, initial, &o.cfg.initial), 0);
        cr_assert_eq(fl_check_run(h, &o, &r, &e), 0, "%s: %s", path, e.msg);
        cr_expect_eq(r.verdict, want, "%s: %s, expected %s\n%s", path,
                     fl_check_verdict_name(r.verdict), fl_check_verdict_name(want), r.text);
        cr_expect_lt(r.seconds, 1.0, "%s took %.3f s", path, r.seconds);
        fl_check_report_fini(&r);
        fl_history_free(h);
        free(path);
        n++;
    }
    closedir(d);
    free(dir);
    return n;
}

Test(check_knossos, cas_register_good_are_linearizable, .timeout = 600)
{
    cr_expect_gt(check_dir("cas-register", "knossos/cas-register/good", FL_CHECK_VALID, NULL), 100);
}

Test(check_knossos, cas_register_bad_are_not, .timeout = 600)
{
    cr_expect_eq(check_dir("cas-register", "knossos/cas-register/bad", FL_CHECK_INVALID, NULL), 7);
}

Test(check_knossos, mutex_bad_is_not, .timeout = 600)
{
    cr_expect_eq(check_dir("mutex", "knossos/mutex/bad", FL_CHECK_INVALID, NULL), 1);
}

/* The file's own comment says both registers start at 0. */
Test(check_knossos, multi_register_good_is_linearizable, .timeout = 600)
{
    cr_expect_eq(check_dir("multi-register", "knossos/multi-register/good", FL_CHECK_VALID, "0"),
                 1);
}

Test(check_knossos, bad_histories_explain_with_a_counterexample, .timeout = 600)
{
    char *path = test_path("FL_SHARED_DATA", "knossos/cas-register/bad/rethink-fail-minimal.edn");
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_opts o;
    struct fl_check_report r;

    cr_assert_eq(fl_history_load(path, FL_FMT_AUTO, &h, &e), 0, "%s", e.msg);
    fl_check_opts_init(&o);
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0);
    cr_assert_eq(r.verdict, FL_CHECK_INVALID);
    /* the read of 3 (line 5 of the file) is the op that cannot be linearized */
    cr_expect(strstr(r.text, "read -> ok 3") != NULL, "%s", r.text);
    cr_expect(strstr(r.text, "value = 4") != NULL || strstr(r.text, "value = 0") != NULL, "%s",
              r.text);
    cr_assert_not_null(r.counterexample);
    size_t k = 0;
    for (size_t i = 0; i < h->nops; i++)
        k += r.counterexample[i];
    cr_expect(k >= 1 && k <= 3, "counterexample has %zu ops", k);
    /* the counterexample written out is itself invalid */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cr_assert_eq(fl_history_write_edn(h, r.counterexample, m), 0);
    fclose(m);
    struct fl_history *h2 = NULL;
    struct fl_check_report r2;
    cr_assert_eq(fl_history_parse(buf, len, FL_FMT_EDN, "cx", &h2, &e), 0, "%s", e.msg);
    cr_assert_eq(fl_check_run(h2, &o, &r2, &e), 0);
    cr_expect_eq(r2.verdict, FL_CHECK_INVALID, "%s", buf);
    fl_check_report_fini(&r2);
    fl_history_free(h2);
    free(buf);
    fl_check_report_fini(&r);
    fl_history_free(h);
    free(path);
}
