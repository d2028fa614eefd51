/* fl_check_run: prepare a history for a model, split it by key when the
 * model allows, search each part, and explain the first failure with the
 * operation that could not be linearized, the states it was tried in and the
 * smallest failing sub-history we can find in a few seconds. */
#include "check/check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check/queue_fast.h"

#define MINIMIZE_BUDGET_NS (3 * INT64_C(1000000000))

void fl_check_opts_init(struct fl_check_opts *o)
{
    memset(o, 0, sizeof *o);
    o->model = "cas-register";
    o->cfg.initial = FL_CODE_NIL;
    o->timeout_ms = 60000;
}

const char *fl_check_verdict_name(int verdict)
{
    switch (verdict) {
    case FL_CHECK_VALID:
        return "valid";
    case FL_CHECK_INVALID:
        return "invalid";
    default:
        return "unknown";
    }
}

void fl_check_report_fini(struct fl_check_report *r)
{
    free(r->text);
    json_decref(r->json);
    free(r->offending);
    free(r->counterexample);
    memset(r, 0, sizeof *r);
}

static bool val_equal(const struct fl_history *h, const struct fl_val *a, const struct fl_val *b)
{
    if (a->kind != b->kind || a->n != b->n)
        return false;
    if (a->kind < FL_V_VEC)
        return a->x == b->x;
    uint32_t n = a->kind == FL_V_MAP ? 2 * a->n : a->n;
    for (uint32_t i = 0; i < n; i++)
        if (!val_equal(h, fl_history_child(h, a, i), fl_history_child(h, b, i)))
            return false;
    return true;
}

void fl_check_describe_op(const struct fl_history *h, size_t i, FILE *out)
{
    const struct fl_hop *op = &h->ops[i];

    fprintf(out, "line %u: process %" PRId64 " %s", op->call_line, op->process,
            fl_history_str(h, op->f, NULL));
    if (op->key.kind != FL_V_NIL) {
        fputs(" key=", out);
        fl_history_print_val(h, &op->key, false, out);
    }
    if (op->inv.kind != FL_V_NIL) {
        fputc(' ', out);
        fl_history_print_val(h, &op->inv, false, out);
    }
    switch (op->type) {
    case FL_OP_OK:
        fputs(" -> ok", out);
        if (op->comp.kind != FL_V_NIL && !val_equal(h, &op->comp, &op->inv)) {
            fputc(' ', out);
            fl_history_print_val(h, &op->comp, false, out);
        }
        break;
    case FL_OP_FAIL:
        fputs(" -> fail", out);
        break;
    default:
        fputs(op->ret == FL_HOP_NORET ? " -> (no completion: unknown outcome)"
                                      : " -> info (unknown outcome)",
              out);
    }
}

/* ---- linearizability ---- */

struct lin_ctx {
    struct fl_history *h;
    const struct fl_check_opts *o;
    const struct fl_model_ops *m;
    struct fl_prep prep;
    struct fl_mop *mops;
    size_t nmops;
    int64_t deadline;
};

static int lin_run(struct lin_ctx *c, const struct fl_lin_op *ops, size_t n, int64_t deadline,
                   struct fl_lin_result *res)
{
    struct fl_lin_input in = {
        .model = c->m,
        .cfg = &c->o->cfg,
        .mops = c->mops,
        .aux = c->prep.aux,
        .ops = ops,
        .n = n,
        .no_memo = c->o->no_memo,
        .deadline_ns = deadline,
    };
    return fl_check_linearizable(&in, res);
}

/* Shrink a failing partition without ever making it "more wrong" than the
 * recorded history, so the result still proves the original invalid:
 *  1. cut everything invoked after the stuck op's return; ops still running
 *     then get an unknown outcome (a weaker claim than what was recorded);
 *  2. in chunks of decreasing size, drop reads (removing a read only removes
 *     a constraint) and turn other definite ops into unknown-outcome ops
 *     (they may or may not have happened), keeping each change while the
 *     search still fails.
 * What stays definite is the core of the anomaly. Each attempt is a full
 * search, so the whole thing runs against a small time budget. */
static size_t minimize(struct lin_ctx *c, struct fl_lin_op *cur, size_t n, size_t stuck)
{
    int64_t budget = fl_check_now_ns() + MINIMIZE_BUDGET_NS;
    int64_t deadline = c->deadline && c->deadline < budget ? c->deadline : budget;
    struct fl_lin_op *tmp = malloc((n + 1) * sizeof *tmp);
    size_t *cand = malloc((n + 1) * sizeof *cand);
    struct fl_lin_result res;
    size_t k = 0, nc;

    if (!tmp || !cand) {
        free(tmp);
        free(cand);
        return n;
    }
    uint32_t cut = cur[stuck].ret;
    for (size_t i = 0; i < n; i++) {
        if (cur[i].call >= cut)
            continue;
        tmp[k] = cur[i];
        if (tmp[k].ret != FL_LIN_NORET && tmp[k].ret > cut) {
            /* still running at the cut: a read then says nothing at all */
            if (c->m->readonly && c->m->readonly(&c->mops[cur[i].mop], c->prep.aux))
                continue;
            tmp[k].ret = FL_LIN_NORET;
        }
        k++;
    }
    if (k < n && lin_run(c, tmp, k, deadline, &res) == 0) {
        if (res.verdict == FL_CHECK_INVALID) {
            memcpy(cur, tmp, k * sizeof *tmp);
            n = k;
        }
        fl_lin_result_fini(&res);
    }
    nc = 0;
    for (size_t i = 0; i < n; i++)
        if (cur[i].ret != FL_LIN_NORET)
            cand[nc++] = i;
    for (size_t chunk = nc > 1 ? nc / 2 : 1; chunk >= 1 && fl_check_now_ns() < deadline;
         chunk /= 2) {
        for (size_t start = 0; start < nc && fl_check_now_ns() < deadline;) {
            size_t end = start + chunk < nc ? start + chunk : nc;
            size_t ci = start;
            k = 0;
            for (size_t i = 0; i < n; i++) {
                struct fl_lin_op o = cur[i];
                if (ci < end && cand[ci] == i) {
                    ci++;
                    const struct fl_mop *mo = &c->mops[o.mop];
                    if (c->m->readonly && c->m->readonly(mo, c->prep.aux))
                        continue;
                    o.ret = FL_LIN_NORET;
                }
                tmp[k++] = o;
            }
            int bad = 0;
            if (lin_run(c, tmp, k, deadline, &res) == 0) {
                bad = res.verdict == FL_CHECK_INVALID;
                fl_lin_result_fini(&res);
            }
            if (bad) {
                memcpy(cur, tmp, k * sizeof *tmp);
                n = k;
                nc = 0;
                for (size_t i = 0; i < n; i++)
                    if (cur[i].ret != FL_LIN_NORET)
                        cand[nc++] = i;
            } else {
                start = end;
            }
        }
        if (chunk == 1)
            break;
    }
    free(tmp);
    free(cand);
    return n;
}

static void print_state(struct lin_ctx *c, const int64_t *s, int n, FILE *out)
{
    if (c->m->describe_state)
        c->m->describe_state(c->h, s, n, out);
    else
        fl_check_print_codes(c->h, s, n, out);
}

static int mop_cmp_key(const void *a, const void *b)
{
    const struct fl_mop *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void explain_invalid(struct lin_ctx *c, struct fl_check_report *r, struct fl_lin_op *grp,
                            size_t n, struct fl_lin_result *res, int64_t key, FILE *out, json_t *j)
{
    struct fl_history *h = c->h;
    size_t stuck_id = c->mops[grp[res->stuck].mop].id;
    char *buf = NULL;
    size_t blen = 0;

    fprintf(out, "INVALID: the history is not linearizable as a %s", c->m->name);
    if (key != FL_CODE_NIL) {
        fputs(" (key ", out);
        fl_history_print_code(h, key, out);
        fputc(')', out);
    }
    fputs(".\n\nThis operation could not be linearized:\n  ", out);
    fl_check_describe_op(h, stuck_id, out);
    fprintf(out,
            "\nIt cannot take effect in any state the system could be in at that point,"
            "\nafter %zu operation(s) of this part had taken effect. Possible state(s) "
            "there:\n",
            res->depth);
    json_t *states = json_array();
    for (int i = 0; i < res->nstates; i++) {
        FILE *m = open_memstream(&buf, &blen);
        if (m) {
            print_state(c, res->states[i], res->nstate[i], m);
            fclose(m);
            fprintf(out, "  %s\n", buf);
            json_array_append_new(states, json_string(buf));
            free(buf);
            buf = NULL;
        }
    }
    if (res->npath) {
        fputs("Last operations that took effect on the longest valid path:\n", out);
        for (int i = 0; i < res->npath; i++) {
            fputs("  ", out);
            fl_check_describe_op(h, c->mops[grp[res->path[i]].mop].id, out);
            fputc('\n', out);
        }
    }
    r->offending[stuck_id] = true;
    json_t *stuck = json_object();
    json_object_set_new(stuck, "line", json_integer(h->ops[stuck_id].call_line));
    json_object_set_new(stuck, "process", json_integer(h->ops[stuck_id].process));
    json_object_set_new(stuck, "f", json_string(fl_history_str(h, h->ops[stuck_id].f, NULL)));
    json_object_set_new(j, "stuck_op", stuck);
    json_object_set_new(j, "states", states);

    if (!c->o->no_minimize) {
        size_t k = minimize(c, grp, n, res->stuck);
        size_t definite = 0;
        r->counterexample = calloc(h->nops + 1, sizeof *r->counterexample);
        json_t *lines = json_array();
        for (size_t i = 0; i < k; i++)
            definite += grp[i].ret != FL_LIN_NORET;
        fprintf(out,
                "\nSmallest failing core found: %zu operation(s) that must have happened as "
                "recorded,\nplus %zu whose outcome is taken as unknown (may or may not have "
                "happened),\nout of %zu%s:\n",
                definite, k - definite, n, key != FL_CODE_NIL ? " for this key" : "");
        /* list up to 30 ops: the definite ones closest before the stuck op */
        bool all = k <= 30;
        size_t *pick = malloc((k + 1) * sizeof *pick), np = 0, at = 0;
        for (size_t i = 0; i < k && r->counterexample; i++) {
            size_t id = c->mops[grp[i].mop].id;
            r->counterexample[id] = true;
            json_array_append_new(lines, json_integer(h->ops[id].call_line));
            if (pick && (all || grp[i].ret != FL_LIN_NORET)) {
                if (h->ops[id].call <= h->ops[stuck_id].call)
                    at = np + 1;
                pick[np++] = i;
            }
        }
        size_t from = at > 30 ? at - 30 : 0, to = from + 30 < np ? from + 30 : np;
        if (from)
            fprintf(out, "  ... %zu earlier operations\n", from);
        for (size_t j = from; j < to; j++) {
            size_t i = pick[j], id = c->mops[grp[i].mop].id;
            fputs(grp[i].ret == FL_LIN_NORET ? "  (unknown) " : "  ", out);
            fl_check_describe_op(h, id, out);
            fputc('\n', out);
        }
        if (k > to - from)
            fprintf(out, "  (%zu operations in all, in the counterexample file)\n", k);
        free(pick);
        if (k == n)
            fputs("(the search could not shrink it within its 3 s budget)\n", out);
        fputs("(write it out with --counterexample FILE)\n", out);
        json_object_set_new(j, "counterexample_lines", lines);
    }
}

/* The queue order check (queue_fast.h) for one partition. VALID: decided,
 * nothing to search. INVALID: the pattern's few operations, searched on
 * their own, fail, and that search explains them (written to out).
 * FL_QUEUE_FAST_NA: the search decides (also when the pattern's operations
 * on their own would pass, which would be a bug in the check, not a reason
 * to trust it). */
static int queue_fast(struct lin_ctx *c, struct fl_check_report *r, const struct fl_lin_op *grp,
                      size_t n, int64_t key, FILE *out, json_t *j)
{
    size_t wit[FL_QUEUE_FAST_MAX_WITNESS], nw;
    struct fl_lin_op sub[FL_QUEUE_FAST_MAX_WITNESS];
    struct fl_lin_result res;
    int fv = fl_queue_fast_check(c->mops, grp, n, wit, &nw);

    if (fv == FL_CHECK_VALID)
        r->partitions++;
    if (fv != FL_CHECK_INVALID)
        return fv;
    for (size_t i = 0; i < nw; i++) { /* in call order, as the search wants them */
        size_t k = i;
        sub[i] = grp[wit[i]];
        while (k > 0 && sub[k - 1].call > sub[k].call) {
            struct fl_lin_op t = sub[k];
            sub[k] = sub[k - 1];
            sub[k - 1] = t;
            k--;
        }
    }
    if (lin_run(c, sub, nw, 0, &res) < 0)
        return -FL_EFAIL;
    if (res.verdict != FL_CHECK_INVALID) {
        fl_lin_result_fini(&res);
        return FL_QUEUE_FAST_NA;
    }
    r->partitions++;
    r->steps += res.steps;
    explain_invalid(c, r, sub, nw, &res, key, out, j);
    fl_lin_result_fini(&res);
    fprintf(out,
            "\nFound by the queue order check (every enqueued value distinct): these %zu "
            "operation(s),\nas recorded, cannot all have happened, whatever the other %zu did.\n",
            nw, n - nw);
    json_object_set_new(j, "method", json_string("queue-order"));
    return FL_CHECK_INVALID;
}

static int check_linear(struct fl_history *h, const struct fl_check_opts *o,
                        const struct fl_model_ops *m, struct fl_check_report *r, struct fl_err *e)
{
    struct lin_ctx c = {.h = h, .o = o, .m = m};
    struct fl_lin_op *grp = NULL;
    int rc = 0, verdict = FL_CHECK_VALID;
    const char *why = NULL;
    char *text = NULL;
    size_t tlen = 0;

    c.prep = (struct fl_prep){.h = h, .cfg = &o->cfg, .e = e};
    c.mops = malloc((h->nops + 1) * sizeof *c.mops);
    grp = malloc((h->nops + 1) * sizeof *grp);
    if (!c.mops || !grp) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        if (op->type == FL_OP_FAIL)
            continue; /* it did not happen */
        struct fl_mop mo = {.id = (uint32_t)i, .key = FL_CODE_NIL};
        int pr = m->prepare(&c.prep, op, &mo);
        if (pr < 0) {
            rc = pr;
            goto out;
        }
        if (pr == FL_PREP_SKIP)
            continue;
        if (o->no_split)
            mo.key = FL_CODE_NIL;
        c.mops[c.nmops++] = mo;
    }
    if (m->per_key && !o->no_split)
        qsort(c.mops, c.nmops, sizeof *c.mops, mop_cmp_key);
    c.deadline = o->timeout_ms > 0 ? fl_check_now_ns() + o->timeout_ms * 1000000 : 0;
    r->checked_ops = c.nmops;

    FILE *out = open_memstream(&text, &tlen);
    if (!out) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    json_t *j = json_object();
    for (size_t start = 0; start < c.nmops;) {
        size_t end = start + 1;
        while (end < c.nmops && c.mops[end].key == c.mops[start].key)
            end++;
        size_t n = end - start;
        for (size_t i = 0; i < n; i++) {
            const struct fl_hop *op = &h->ops[c.mops[start + i].id];
            grp[i] = (struct fl_lin_op){(uint32_t)(start + i), op->call,
                                        op->type == FL_OP_OK ? op->ret : FL_LIN_NORET};
        }
        struct fl_lin_result res;
        if (!strcmp(m->name, "queue") && !o->no_fast) {
            int fv = queue_fast(&c, r, grp, n, c.mops[start].key, out, j);
            if (fv < 0) {
                fclose(out);
                json_decref(j);
                rc = fl_err_set(e, FL_EFAIL, "out of memory while checking");
                goto out;
            }
            if (fv == FL_CHECK_VALID) {
                start = end;
                continue;
            }
            if (fv == FL_CHECK_INVALID) {
                verdict = FL_CHECK_INVALID;
                break;
            }
        }
        if (lin_run(&c, grp, n, c.deadline, &res) < 0) {
            fclose(out);
            json_decref(j);
            rc = fl_err_set(e, FL_EFAIL, "out of memory while searching");
            goto out;
        }
        r->partitions++;
        r->steps += res.steps;
        r->memo_entries += res.memo_entries;
        if (res.memo_bytes > r->memo_bytes)
            r->memo_bytes = res.memo_bytes;
        if (res.verdict == FL_CHECK_INVALID) {
            verdict = FL_CHECK_INVALID;
            explain_invalid(&c, r, grp, n, &res, c.mops[start].key, out, j);
            fl_lin_result_fini(&res);
            break;
        }
        if (res.verdict == FL_CHECK_UNKNOWN) {
            verdict = FL_CHECK_UNKNOWN;
            why = res.why_unknown;
            fl_lin_result_fini(&res);
            break; /* with one deadline for all parts, the rest would time out too */
        }
        fl_lin_result_fini(&res);
        start = end;
    }
    if (verdict == FL_CHECK_VALID)
        fprintf(out,
                "VALID: the history is linearizable as a %s (%zu operations checked in %zu "
                "part(s)).\n",
                m->name, c.nmops, r->partitions);
    else if (verdict == FL_CHECK_UNKNOWN)
        fprintf(out,
                "UNKNOWN: could not decide whether the history is linearizable as a %s: "
                "%s.\n",
                m->name, why ? why : "search stopped");
    fclose(out);
    r->verdict = verdict;
    r->text = text;
    text = NULL;
    r->json = j;
out:
    free(text);
    free(c.mops);
    free(c.prep.aux);
    free(grp);
    return rc;
}

static size_t count_reads(const struct fl_history *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->nops; i++)
        n += h->ops[i].type == FL_OP_OK && fl_history_fis(h, &h->ops[i], "read");
    return n;
}

bool fl_check_model_known(const char *name)
{
    return !strcmp(name, "bank") || !strcmp(name, "total-queue") || fl_check_txn_model(name) ||
           fl_check_model_find(name);
}

int fl_check_run(struct fl_history *h, const struct fl_check_opts *o, struct fl_check_report *r,
                 struct fl_err *e)
{
    int64_t t0 = fl_check_now_ns();
    int rc;

    memset(r, 0, sizeof *r);
    r->nops = h->nops;
    r->offending = calloc(h->nops + 1, sizeof *r->offending);
    if (!r->offending)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (!strcmp(o->model, "bank")) {
        rc = fl_check_bank(h, o, r, e);
    } else if (!strcmp(o->model, "total-queue")) {
        rc = fl_check_total_queue(h, o, r, e);
    } else if (fl_check_txn_model(o->model)) {
        rc = fl_check_txn(h, o, r, e);
    } else {
        const struct fl_model_ops *m = fl_check_model_find(o->model);
        if (!m) {
            fl_check_report_fini(r);
            return fl_err_set(
                e, FL_EUSAGE,
                "unknown model '%s'; models: bank, register, cas-register, "
                "multi-register, kv, set, counter, queue, total-queue, mutex, list-append, "
                "rw-register",
                o->model);
        }
        if (!strcmp(m->name, "set")) {
            struct fl_check_report sr = {0};
            sr.nops = h->nops;
            sr.offending = calloc(h->nops + 1, sizeof *sr.offending);
            if (!sr.offending) {
                fl_check_report_fini(r);
                return fl_err_set(e, FL_EFAIL, "out of memory");
            }
            rc = fl_check_set_anomalies(h, o, &sr, e);
            if (rc == 0 && sr.verdict == FL_CHECK_INVALID) {
                fl_check_report_fini(r);
                *r = sr;
            } else if (rc == 0 && count_reads(h) <= 1) {
                /* one read: the analysis is exact, no search needed */
                fl_check_report_fini(r);
                *r = sr;
                r->partitions = 1;
                if (r->verdict == FL_CHECK_UNKNOWN) {
                    /* nothing was ever read: any order of the adds explains it */
                    char *t = NULL;
                    r->verdict = FL_CHECK_VALID;
                    if (asprintf(&t,
                                 "%sVALID: with no read, every history of adds is "
                                 "linearizable.\n",
                                 r->text ? r->text : "") >= 0) {
                        free(r->text);
                        r->text = t;
                    }
                }
            } else if (rc == 0) {
                rc = check_linear(h, o, m, r, e);
                if (rc == 0) {
                    /* lead with the anomaly counts, then the search's verdict */
                    char *t = NULL;
                    if (asprintf(&t, "%s%s", sr.text, r->text) >= 0) {
                        free(r->text);
                        r->text = t;
                    }
                    json_object_set(r->json, "set", json_object_get(sr.json, "set"));
                    if (sr.verdict == FL_CHECK_UNKNOWN && r->verdict == FL_CHECK_VALID)
                        r->verdict = FL_CHECK_VALID; /* no final read: linearizability decides */
                }
                fl_check_report_fini(&sr);
            } else {
                fl_check_report_fini(&sr);
            }
        } else {
            rc = check_linear(h, o, m, r, e);
        }
    }
    if (rc < 0) {
        fl_check_report_fini(r);
        return rc;
    }
    r->seconds = (double)(fl_check_now_ns() - t0) / 1e9;
    if (!r->json)
        r->json = json_object();
    json_object_set_new(r->json, "verdict", json_string(fl_check_verdict_name(r->verdict)));
    json_object_set_new(r->json, "model", json_string(o->model));
    json_object_set_new(r->json, "ops", json_integer((json_int_t)h->nops));
    json_object_set_new(r->json, "checked_ops", json_integer((json_int_t)r->checked_ops));
    json_object_set_new(r->json, "partitions", json_integer((json_int_t)r->partitions));
    json_object_set_new(r->json, "steps", json_integer((json_int_t)r->steps));
    json_object_set_new(r->json, "seconds", json_real(r->seconds));
    json_object_set_new(r->json, "explanation", json_string(r->text ? r->text : ""));
    json_t *off = json_array();
    for (size_t i = 0; i < h->nops; i++)
        if (r->offending[i])
            json_array_append_new(off, json_integer(h->ops[i].call_line));
    json_object_set_new(r->json, "offending_lines", off);
    return 0;
}
