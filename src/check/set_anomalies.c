/* The set anomaly analysis (Jepsen's set checker): compare every add with
 * the final successful read.
 *   lost       an add acknowledged before the final read began, absent from it
 *   unexpected an element in the read that no add could have written before
 *              the read returned (never attempted, only failed, or invoked
 *              after the read completed)
 *   recovered  an add with unknown outcome that the read shows did happen
 * Lost or unexpected elements make the history invalid. Adds commute, so
 * when there is only one read these two rules are exactly linearizability
 * and the caller can skip the search. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

/* The successful read that returned last: the final read (SIZE_MAX: none). */
static size_t final_read(const struct fl_history *h)
{
    size_t final = SIZE_MAX;

    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        if (op->type == FL_OP_OK && fl_history_fis(h, op, "read") &&
            (final == SIZE_MAX || op->ret > h->ops[final].ret))
            final = i;
    }
    return final;
}

/* The text and JSON report; -1 when out of memory. */
static int report(struct fl_check_report *r, json_t *sj, const struct fl_hop *fr, size_t nseen,
                  size_t nok, const struct fl_vlist *lost, const struct fl_vlist *unexp,
                  const struct fl_vlist *recov)
{
    if (asprintf(&r->text,
                 "%sset analysis against the final read (line %u, %zu elements): %zu "
                 "acknowledged adds, %zu lost, %zu unexpected, %zu recovered.\n"
                 "%s%s%s%s%s%s%s%s%s%s",
                 r->verdict == FL_CHECK_INVALID ? "INVALID: " : "VALID: ", fr->ret_line, nseen, nok,
                 lost->n, unexp->n, recov->n, lost->n ? "  lost (acknowledged, then missing):" : "",
                 lost->n ? lost->buf : "", lost->n ? "\n" : "",
                 unexp->n ? "  unexpected (no add could have written it):" : "",
                 unexp->n ? unexp->buf : "", unexp->n ? "\n" : "",
                 recov->n ? "  recovered (unknown outcome, but present):" : "",
                 recov->n ? recov->buf : "", recov->n ? "\n" : "",
                 r->verdict == FL_CHECK_INVALID
                     ? "Offending adds are marked; each lost element with its add and the "
                       "final read is a failing sub-history.\n"
                     : "") < 0) {
        r->text = NULL;
        return -1;
    }
    json_object_set_new(sj, "final_read_line", json_integer(fr->ret_line));
    json_object_set_new(sj, "acknowledged", json_integer((json_int_t)nok));
    json_object_set_new(sj, "lost_count", json_integer((json_int_t)lost->n));
    json_object_set_new(sj, "unexpected_count", json_integer((json_int_t)unexp->n));
    json_object_set_new(sj, "recovered_count", json_integer((json_int_t)recov->n));
    json_object_set(sj, "lost", lost->j);
    json_object_set(sj, "unexpected", unexp->j);
    json_object_set(sj, "recovered", recov->j);
    return 0;
}

int fl_check_set_anomalies(struct fl_history *h, const struct fl_check_opts *o,
                           struct fl_check_report *r, struct fl_err *e)
{
    size_t final = final_read(h);
    int64_t *seen = NULL, *tried = NULL, *okd = NULL;
    size_t nseen = 0, ntried = 0, nok = 0;
    struct fl_vlist lost = {0}, unexp = {0}, recov = {0};
    int rc = 0;

    tried = malloc((h->nops + 1) * sizeof *tried);
    okd = malloc((h->nops + 1) * sizeof *okd);
    if (!tried || !okd) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        if (!fl_history_fis(h, op, "add"))
            continue;
        if (op->type != FL_OP_FAIL && (final == SIZE_MAX || op->call < h->ops[final].ret))
            tried[ntried++] = fl_history_code(h, &op->inv);
        if (op->type == FL_OP_OK)
            okd[nok++] = fl_history_code(h, &op->inv);
    }
    qsort(tried, ntried, sizeof *tried, fl_code_cmp);
    qsort(okd, nok, sizeof *okd, fl_code_cmp);
    r->json = json_object();
    json_t *sj = json_object();
    json_object_set_new(r->json, "set", sj);
    if (final == SIZE_MAX) {
        r->verdict = FL_CHECK_UNKNOWN;
        r->text = strdup("set analysis: no successful read, so lost elements cannot be "
                         "counted.\n");
        json_object_set_new(sj, "final_read_line", json_null());
        goto out;
    }
    const struct fl_hop *fr = &h->ops[final];
    const struct fl_val *v = &fr->comp;
    if (v->kind != FL_V_VEC && v->kind != FL_V_LIST && v->kind != FL_V_SET) {
        rc = fl_err_set(e, FL_EUSAGE, "%s:%u: a set read must return a collection of elements",
                        h->name, fr->ret_line);
        goto out;
    }
    seen = malloc(((size_t)v->n + 1) * sizeof *seen);
    if (!seen) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < v->n; i++)
        seen[nseen++] = fl_history_code(h, fl_history_child(h, v, i));
    qsort(seen, nseen, sizeof *seen, fl_code_cmp);
    if (fl_vlist_open(&lost) || fl_vlist_open(&unexp) || fl_vlist_open(&recov)) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        if (!fl_history_fis(h, op, "add"))
            continue;
        int64_t c = fl_history_code(h, &op->inv);
        bool in = fl_code_has(seen, nseen, c);
        if (op->type == FL_OP_OK && op->ret < fr->call && !in) {
            fl_vlist_note(h, &lost, c);
            r->offending[i] = true;
        } else if (op->type == FL_OP_INFO && in) {
            fl_vlist_note(h, &recov, c);
        }
    }
    for (size_t i = 0; i < nseen; i++)
        if ((i == 0 || seen[i] != seen[i - 1]) && !fl_code_has(tried, ntried, seen[i]))
            fl_vlist_note(h, &unexp, seen[i]);
    if (unexp.n)
        r->offending[final] = true;
    fl_vlist_close(&lost);
    fl_vlist_close(&unexp);
    fl_vlist_close(&recov);
    r->verdict = lost.n || unexp.n ? FL_CHECK_INVALID : FL_CHECK_VALID;
    if (report(r, sj, fr, nseen, nok, &lost, &unexp, &recov))
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
out:
    fl_vlist_free(&lost);
    fl_vlist_free(&unexp);
    fl_vlist_free(&recov);
    free(seen);
    free(tried);
    free(okd);
    r->checked_ops = h->nops;
    r->partitions = 1;
    return rc;
}

static size_t count_reads(const struct fl_history *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->nops; i++)
        n += h->ops[i].type == FL_OP_OK && fl_history_fis(h, &h->ops[i], "read");
    return n;
}

/* Replace r->text with head + r->text + tail. */
static int wrap_text(struct fl_check_report *r, const char *head, const char *tail)
{
    char *t = NULL;

    if (asprintf(&t, "%s%s%s", head, r->text ? r->text : "", tail) < 0)
        return -1;
    free(r->text);
    r->text = t;
    return 0;
}

/* The set checker: the anomaly analysis decides alone when there is at most
 * one read (adds commute, so its rules are then exactly linearizability);
 * with more reads the search over the set model decides, and the report
 * adds the anomaly counts after its verdict. */
int fl_check_set(const struct fl_checker *c, struct fl_history *h, const struct fl_check_opts *o,
                 struct fl_check_report *r, struct fl_err *e)
{
    struct fl_check_report sr = {.nops = h->nops};
    int rc;

    sr.offending = calloc(h->nops + 1, sizeof *sr.offending);
    if (!sr.offending)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    rc = fl_check_set_anomalies(h, o, &sr, e);
    if (rc < 0) {
        fl_check_report_fini(&sr);
        return rc;
    }
    if (sr.verdict == FL_CHECK_INVALID || count_reads(h) <= 1) {
        fl_check_report_fini(r);
        *r = sr;
        r->partitions = 1;
        if (r->verdict == FL_CHECK_UNKNOWN) {
            /* nothing was ever read: any order of the adds explains it */
            r->verdict = FL_CHECK_VALID;
            free(r->text);
            r->text = strdup("VALID: with no read, every history of adds is linearizable (and "
                             "no read means lost elements cannot be counted).\n");
            if (!r->text)
                return fl_err_set(e, FL_EFAIL, "out of memory");
        }
        return 0;
    }
    rc = fl_check_linear(c, h, o, r, e);
    if (rc == 0) {
        /* the search's verdict first, then the anomaly counts */
        const char *counts = !sr.text ? "" : sr.text + (strncmp(sr.text, "VALID: ", 7) ? 0 : 7);
        if (wrap_text(r, "", counts) < 0)
            rc = fl_err_set(e, FL_EFAIL, "out of memory");
        else
            json_object_set(r->json, "set", json_object_get(sr.json, "set"));
    }
    fl_check_report_fini(&sr);
    return rc;
}
