/* Property tests of the list-append / rw-register checker: histories
 * generated from a serial execution (txn_gen.h) are valid, even under
 * strict serializability; one planted anomaly is found and named, and
 * nothing else is. Also: the report's JSON and the consistency-model
 * choice. */
#include <criterion/criterion.h>

#include "check_test_util.h"
#include "txn_gen.h"

static char *gen(struct txn_gen *g, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    cr_assert_not_null(f);
    cr_assert_eq(tg_generate(g, f), 0);
    fclose(f);
    tg_free(g);
    return buf;
}

/* Check text with model and consistency models; return the anomaly classes
 * joined by commas ("" for none) and the verdict. */
static int check(const char *text, size_t len, const char *model, const char *cm, char *classes,
                 size_t cap)
{
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_opts o;
    struct fl_check_report r;

    cr_assert_eq(fl_history_parse(text, len, FL_FMT_JSONL, "gen", &h, &e), 0, "%s", e.msg);
    fl_check_opts_init(&o);
    o.model = model;
    o.consistency_models = cm;
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0, "%s", e.msg);
    json_t *types = json_object_get(json_object_get(r.json, "txn"), "anomaly_types");
    size_t i;
    json_t *t;
    classes[0] = 0;
    json_array_foreach (types, i, t) {
        snprintf(classes + strlen(classes), cap - strlen(classes), "%s%s", i ? "," : "",
                 json_string_value(t));
    }
    int v = r.verdict;
    if (v != FL_CHECK_VALID && !classes[0])
        fprintf(stderr, "%s\n", r.text);
    fl_check_report_fini(&r);
    fl_history_free(h);
    return v;
}

static struct txn_gen base(uint64_t seed, bool registers)
{
    return (struct txn_gen){
        .seed = seed * 2654435761u + 1,
        .ntx = 300 + seed % 200,
        .nkeys = 2 + seed % 6,
        .nproc = 1 + seed % 8,
        .maxlen = 1 + seed % 5,
        .max_writes = 4 + seed % 30,
        .read_pct = 30 + (unsigned)(seed % 50),
        .registers = registers,
    };
}

Test(check_txn, serial_histories_are_valid)
{
    for (uint64_t seed = 1; seed <= 40; seed++) {
        for (int reg = 0; reg < 2; reg++) {
            struct txn_gen g = base(seed, reg);
            size_t len;
            char *text = gen(&g, &len), classes[256];
            int v = check(text, len, reg ? "rw-register" : "list-append", "strict-serializable",
                          classes, sizeof classes);
            cr_expect_eq(v, FL_CHECK_VALID, "seed %" PRIu64 " %s: %s", seed,
                         reg ? "rw-register" : "list-append", classes);
            cr_expect_str_eq(classes, "", "seed %" PRIu64, seed);
            free(text);
        }
    }
}

static void planted(int plant, const char *cm, int verdict, const char *la, const char *rw)
{
    for (uint64_t seed = 1; seed <= 25; seed++) {
        for (int reg = 0; reg < 2; reg++) {
            struct txn_gen g = base(seed, reg);
            g.plant = plant;
            size_t len;
            char *text = gen(&g, &len), classes[256];
            int v =
                check(text, len, reg ? "rw-register" : "list-append", cm, classes, sizeof classes);
            cr_expect_eq(v, verdict, "plant %d seed %" PRIu64 " %s: %s", plant, seed,
                         reg ? "rw-register" : "list-append", classes);
            cr_expect_str_eq(classes, reg ? rw : la, "plant %d seed %" PRIu64 " %s", plant, seed,
                             reg ? "rw-register" : "list-append");
            free(text);
        }
    }
}

Test(check_txn, planted_write_skew_is_g2_item)
{
    planted(TG_G2, "serializable", FL_CHECK_INVALID, "G2-item", "G2-item");
    planted(TG_G2, "snapshot-isolation", FL_CHECK_VALID, "G2-item", "G2-item");
}

Test(check_txn, planted_read_skew_is_g_single)
{
    planted(TG_GSINGLE, "snapshot-isolation", FL_CHECK_INVALID, "G-single", "G-single");
    planted(TG_GSINGLE, "read-committed", FL_CHECK_VALID, "G-single", "G-single");
}

Test(check_txn, planted_circular_flow_is_g1c)
{
    planted(TG_G1C, "read-committed", FL_CHECK_INVALID, "G1c", "G1c");
}

Test(check_txn, planted_lost_update)
{
    planted(TG_LOST, "snapshot-isolation", FL_CHECK_INVALID, "G-single,lost-update",
            "G2-item,lost-update");
    planted(TG_LOST, "read-committed", FL_CHECK_VALID, "G-single,lost-update",
            "G2-item,lost-update");
}

Test(check_txn, planted_long_fork_is_g_nonadjacent)
{
    planted(TG_LONGFORK, "snapshot-isolation", FL_CHECK_INVALID, "G-nonadjacent", "G-nonadjacent");
    planted(TG_LONGFORK, "read-committed", FL_CHECK_VALID, "G-nonadjacent", "G-nonadjacent");
}

Test(check_txn, planted_stale_read_only_breaks_strict_serializability)
{
    planted(TG_STALE, "serializable", FL_CHECK_VALID, "", "");
    planted(TG_STALE, "strict-serializable", FL_CHECK_INVALID, "G-single-realtime",
            "G-single-realtime");
}

Test(check_txn, unknown_consistency_model_is_a_usage_error)
{
    const char *t = "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1,null]]}\n"
                    "{\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",1,[]]]}\n";
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_opts o;
    struct fl_check_report r;

    cr_assert_eq(fl_history_parse(t, strlen(t), FL_FMT_JSONL, "t", &h, &e), 0);
    fl_check_opts_init(&o);
    o.model = "list-append";
    o.consistency_models = "serializable,snapshot";
    cr_expect_eq(fl_check_run(h, &o, &r, &e), -FL_EUSAGE);
    cr_expect(strstr(e.msg, "'snapshot'") && strstr(e.msg, "snapshot-isolation"), "%s", e.msg);
    fl_history_free(h);
}

Test(check_txn, html_draws_the_cycle)
{
    struct txn_gen g = base(3, false);
    g.plant = TG_G2;
    size_t len;
    char *text = gen(&g, &len);
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    struct fl_check_opts o;
    struct fl_check_report r;

    cr_assert_eq(fl_history_parse(text, len, FL_FMT_JSONL, "gen", &h, &e), 0, "%s", e.msg);
    fl_check_opts_init(&o);
    o.model = "list-append";
    cr_assert_eq(fl_check_run(h, &o, &r, &e), 0, "%s", e.msg);
    char *html = NULL;
    size_t hl = 0;
    FILE *f = open_memstream(&html, &hl);
    cr_assert_eq(fl_check_write_html(h, &r, "list-append", f), 0);
    fclose(f);
    /* a write skew: two arrows, each an rw anti-dependency */
    size_t lines = 0;
    for (const char *p = html; (p = strstr(p, "<line ")); p++)
        lines++;
    cr_expect_eq(lines, 2, "%zu arrows", lines);
    cr_expect(strstr(html, "<title>G2-item</title>") && strstr(html, ">rw</text>"));
    free(html);
    fl_check_report_fini(&r);
    fl_history_free(h);
    free(text);
}
