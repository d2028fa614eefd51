/* Data-driven checker cases: every tests/data/check/NAME.{jsonl,edn} has a
 * NAME.expect naming the model, options, and the verdict (or the input error
 * position) the checker must give. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>

#include "check_test_util.h"

struct expect {
    char model[64];
    char verdict[32];
    char error[32];
    char initial[64];
    char cmodels[128];
    char anomalies[256]; /* list-append, rw-register: the exact anomaly classes, comma-separated */
    char anomaly[32];    /* the anomaly named in the report, "none" for none */
    long long accounts, total, max_op, search_memory;
    bool have_total, allow_negative;
    long long lost, unexpected, recovered, duplicated; /* -1: not checked */
};

static void read_expect(const char *path, struct expect *x)
{
    FILE *f = fopen(path, "r");
    char line[256];

    memset(x, 0, sizeof *x);
    x->lost = x->unexpected = x->recovered = x->duplicated = -1;
    cr_assert_not_null(f, "cannot open %s", path);
    while (fgets(line, sizeof line, f)) {
        char k[64] = "", v[128] = "";
        if (sscanf(line, "%63s %127s", k, v) < 1)
            continue;
        if (!strcmp(k, "model"))
            snprintf(x->model, sizeof x->model, "%s", v);
        else if (!strcmp(k, "verdict"))
            snprintf(x->verdict, sizeof x->verdict, "%s", v);
        else if (!strcmp(k, "error"))
            snprintf(x->error, sizeof x->error, ":%s", v);
        else if (!strcmp(k, "initial"))
            snprintf(x->initial, sizeof x->initial, "%s", v);
        else if (!strcmp(k, "consistency-models"))
            snprintf(x->cmodels, sizeof x->cmodels, "%s", v);
        else if (!strcmp(k, "anomalies"))
            snprintf(x->anomalies, sizeof x->anomalies, "%s", v);
        else if (!strcmp(k, "anomaly"))
            snprintf(x->anomaly, sizeof x->anomaly, "%s", v);
        else if (!strcmp(k, "search-memory"))
            x->search_memory = atoll(v);
        else if (!strcmp(k, "max-op-size"))
            x->max_op = atoll(v);
        else if (!strcmp(k, "accounts"))
            x->accounts = atoll(v);
        else if (!strcmp(k, "total")) {
            x->total = atoll(v);
            x->have_total = true;
        } else if (!strcmp(k, "allow-negative"))
            x->allow_negative = true;
        else if (!strcmp(k, "lost"))
            x->lost = atoll(v);
        else if (!strcmp(k, "unexpected"))
            x->unexpected = atoll(v);
        else if (!strcmp(k, "recovered"))
            x->recovered = atoll(v);
        else if (!strcmp(k, "duplicated"))
            x->duplicated = atoll(v);
        else
            cr_assert_fail("%s: unknown expect key %s", path, k);
    }
    fclose(f);
}

/* A count of the set or the total-queue analysis (whichever ran), -2 if absent. */
static long long set_count(json_t *j, const char *k)
{
    json_t *a = json_object_get(j, "set");
    json_t *v = json_object_get(a ? a : json_object_get(j, "total_queue"), k);
    return json_is_integer(v) ? json_integer_value(v) : -2;
}

/* The transactional checker found exactly these classes ("none": none). */
static void expect_anomalies(const char *name, json_t *j, const char *want, const char *text)
{
    json_t *types = json_object_get(json_object_get(j, "txn"), "anomaly_types");
    char got[256] = "";
    size_t i;
    json_t *t;

    json_array_foreach (types, i, t) {
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "",
                 json_string_value(t));
    }
    cr_expect_str_eq(got[0] ? got : "none", want, "%s: anomalies %s, expected %s\n%s", name,
                     got[0] ? got : "none", want, text);
}

static int run_case(const char *dir, const char *name)
{
    char *hist = NULL, *exp = NULL;
    struct expect x;
    struct fl_err e = {0};
    struct fl_history *h = NULL;
    size_t n = strlen(name);

    cr_assert(asprintf(&exp, "%s/%.*s.expect", dir, (int)(n - (name[n - 1] == 'n' ? 4 : 6)), name) >
              0);
    cr_assert(asprintf(&hist, "%s/%s", dir, name) > 0);
    read_expect(exp, &x);
    cr_assert(x.model[0], "%s: no model", exp);
    cr_assert(x.verdict[0] || x.error[0], "%s: no verdict or error", exp);

    int rc = fl_history_load_max(hist, FL_FMT_AUTO,
                                 x.max_op > 0 ? (size_t)x.max_op : FL_HISTORY_MAX_OP_BYTES, &h, &e);
    if (rc == 0) {
        struct fl_check_opts o;
        struct fl_check_report r;
        fl_check_opts_init(&o);
        o.model = x.model;
        o.timeout_ms = 20000;
        o.accounts = x.accounts;
        o.total = x.total;
        o.have_total = x.have_total;
        o.allow_negative = x.allow_negative;
        o.consistency_models = x.cmodels[0] ? x.cmodels : NULL;
        o.search_memory = (size_t)x.search_memory;
        if (x.initial[0])
            cr_assert_eq(test_code(h, x.initial, &o.cfg.initial), 0);
        rc = fl_check_run(h, &o, &r, &e);
        if (rc == 0) {
            cr_expect(!x.error[0], "%s: expected an input error at %s, got verdict %s", name,
                      x.error, fl_check_verdict_name(r.verdict));
            if (x.verdict[0])
                cr_expect_str_eq(fl_check_verdict_name(r.verdict), x.verdict,
                                 "%s: verdict %s, expected %s\n%s", name,
                                 fl_check_verdict_name(r.verdict), x.verdict, r.text);
            cr_expect(r.text && strlen(r.text) > 0, "%s: empty explanation", name);
            char head[16];
            snprintf(head, sizeof head, "%s: ", fl_check_verdict_name(r.verdict));
            for (char *p = head; *p; p++)
                *p = (char)toupper((unsigned char)*p);
            cr_expect(r.text && !strncmp(r.text, head, strlen(head)),
                      "%s: the report does not open with '%s':\n%s", name, head, r.text);
            if (x.lost >= 0)
                cr_expect_eq(set_count(r.json, "lost_count"), x.lost, "%s: lost", name);
            if (x.unexpected >= 0)
                cr_expect_eq(set_count(r.json, "unexpected_count"), x.unexpected, "%s: unexpected",
                             name);
            if (x.recovered >= 0)
                cr_expect_eq(set_count(r.json, "recovered_count"), x.recovered, "%s: recovered",
                             name);
            if (x.duplicated >= 0)
                cr_expect_eq(set_count(r.json, "duplicated_count"), x.duplicated, "%s: duplicated",
                             name);
            if (x.anomalies[0])
                expect_anomalies(name, r.json, x.anomalies, r.text);
            if (x.anomaly[0]) {
                json_t *an = json_object_get(r.json, "anomaly");
                const char *got = json_is_string(an) ? json_string_value(an) : "none";
                cr_expect_str_eq(got, x.anomaly, "%s: anomaly %s, expected %s\n%s", name, got,
                                 x.anomaly, r.text);
            }
            if (r.verdict == FL_CHECK_INVALID) {
                bool any = false;
                for (size_t i = 0; i < r.nops; i++)
                    any |= r.offending[i];
                cr_expect(any, "%s: invalid but no offending op marked", name);
            }
            fl_check_report_fini(&r);
        }
    }
    if (rc < 0) {
        cr_expect(x.error[0], "%s: unexpected input error: %s", name, e.msg);
        if (x.error[0]) {
            char where[300];
            snprintf(where, sizeof where, "%s%s", name, x.error);
            cr_expect(strstr(e.msg, where) != NULL, "%s: error '%s' does not point at %s", name,
                      e.msg, where);
        }
    }
    fl_history_free(h);
    free(hist);
    free(exp);
    return 1;
}

Test(check_data, every_case_gets_its_expected_verdict)
{
    char *dir = test_path("FL_TEST_DATA", "check");
    DIR *d = opendir(dir);
    struct dirent *de;
    int cases = 0;

    cr_assert_not_null(d, "cannot open %s", dir);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if ((n > 6 && !strcmp(de->d_name + n - 6, ".jsonl")) ||
            (n > 4 && !strcmp(de->d_name + n - 4, ".edn")))
            cases += run_case(dir, de->d_name);
    }
    closedir(d);
    free(dir);
    cr_expect_geq(cases, 60, "only %d data cases found", cases);
}

/* The registry is the one list of checkers: docs/check.md must name each. */
Test(check_data, docs_name_every_registered_checker)
{
    char *path = test_path("FL_TEST_DATA", "../../docs/check.md");
    FILE *f = fopen(path, "r");
    char *doc = NULL;
    size_t cap = 0, n;

    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert(getdelim(&doc, &cap, '\0', f) > 0);
    fclose(f);
    const struct fl_checker *c = fl_check_checkers(&n);
    for (size_t i = 0; i < n; i++) {
        char want[80];
        snprintf(want, sizeof want, "`%s`", fl_checker_name(&c[i]));
        cr_expect(strstr(doc, want), "docs/check.md does not name the checker %s", want);
        cr_expect(fl_check_model_known(fl_checker_name(&c[i])));
    }
    cr_expect_not(fl_check_model_known("nope"));
    free(doc);
    free(path);
}
