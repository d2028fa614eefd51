/* fl_check_run: prepare a history for a model, split it by key when the
 * model allows, search each part, and explain the first failure with the
 * operation that could not be linearized, the states it was tried in and the
 * smallest failing sub-history we can find in a few seconds. */
#include "check/check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check/queue_fast.h"

/* The counterexample search's time budget: twice what the check itself
 * took, within these bounds, unless --minimize-budget says otherwise; the
 * upper bound when a counterexample file was asked for. */
#define MINIMIZE_MIN_NS (50 * INT64_C(1000000))
#define MINIMIZE_MAX_NS (3 * INT64_C(1000000000))
/* With several parts, each is first searched within 1/32 of the memo cap,
 * at most this much. */
#define FIRST_PASS_MEMO ((size_t)32 << 20)

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
        if (op->comp.kind == FL_V_NIL && op->inv.kind == FL_V_NIL &&
            (fl_history_fis(h, op, "read") || fl_history_fis(h, op, "get") ||
             fl_history_fis(h, op, "dequeue"))) {
            fputs(" -> nil", out); /* a read of nothing: say so */
            break;
        }
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
    int64_t t0;              /* when the check began */
    struct fl_model_cfg cfg; /* o->cfg in the model's words (model ops .value) */
    size_t memo_cap;         /* memo bytes the current search may use */
};

static int lin_run(struct lin_ctx *c, const struct fl_lin_op *ops, size_t n, int64_t deadline,
                   struct fl_lin_result *res)
{
    struct fl_lin_input in = {
        .model = c->m,
        .cfg = &c->cfg,
        .mops = c->mops,
        .aux = c->prep.aux,
        .ops = ops,
        .n = n,
        .no_memo = c->o->no_memo,
        .max_memo_bytes = c->memo_cap,
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
static int64_t minimize_budget_ns(const struct lin_ctx *c)
{
    int64_t spent = fl_check_now_ns() - c->t0;

    if (c->o->minimize_budget_ms > 0)
        return c->o->minimize_budget_ms * INT64_C(1000000);
    if (c->o->want_counterexample)
        return MINIMIZE_MAX_NS;
    return spent * 2 < MINIMIZE_MIN_NS   ? MINIMIZE_MIN_NS
           : spent * 2 > MINIMIZE_MAX_NS ? MINIMIZE_MAX_NS
                                         : spent * 2;
}

/* Returns the new length of cur; *ran_out says whether the budget ended
 * the search before it had tried everything. */
static size_t minimize(struct lin_ctx *c, struct fl_lin_op *cur, size_t n, size_t stuck,
                       int64_t budget_ns, bool *ran_out)
{
    int64_t budget = fl_check_now_ns() + budget_ns;
    int64_t deadline = c->deadline && c->deadline < budget ? c->deadline : budget;
    struct fl_lin_op *tmp = malloc((n + 1) * sizeof *tmp);
    size_t *cand = malloc((n + 1) * sizeof *cand);
    struct fl_lin_result res;
    size_t k = 0, nc;

    *ran_out = true;
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
        if (chunk == 1) {
            *ran_out = fl_check_now_ns() >= deadline;
            break;
        }
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

/* The model's name for the failure, when it has one (lost write, ...). */
static void explain_anomaly(struct lin_ctx *c, const struct fl_lin_op *grp, size_t n, size_t stuck,
                            FILE *out, json_t *j)
{
    struct fl_anomaly_in in = {c->h, &c->cfg, c->mops, grp, n, stuck};
    const char *kind = NULL;
    char *buf = NULL;
    size_t len = 0;

    if (!c->m->anomaly)
        return;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return;
    int rc = c->m->anomaly(&in, m, &kind);
    fclose(m);
    if (rc == 0 && kind) {
        fprintf(out, "\n%s", buf);
        json_object_set_new(j, "anomaly", json_string(kind));
    }
    free(buf);
}

/* Shrink the failing partition (minimize) and list the core it leaves. */
static void explain_core(struct lin_ctx *c, struct fl_check_report *r, struct fl_lin_op *grp,
                         size_t n, size_t stuck, size_t stuck_id, int64_t key, FILE *out, json_t *j)
{
    struct fl_history *h = c->h;
    int64_t budget = minimize_budget_ns(c);
    bool ran_out;
    size_t k = minimize(c, grp, n, stuck, budget, &ran_out);
    size_t definite = 0;
    r->counterexample = calloc(h->nops + 1, sizeof *r->counterexample);
    json_t *lines = json_array();
    for (size_t i = 0; i < k; i++)
        definite += grp[i].ret != FL_LIN_NORET;
    if (ran_out)
        fprintf(out,
                "\nSmallest failing core found within the %.0f ms budget (not necessarily "
                "the smallest;\n--minimize-budget DURATION searches longer):\n",
                (double)budget / 1e6);
    else
        fputs("\nSmallest failing core found (the shrinking search tried every "
              "operation):\n",
              out);
    fprintf(out,
            "%zu operation(s) that must have happened as recorded, plus %zu whose outcome "
            "is\ntaken as unknown (may or may not have happened), out of %zu%s:\n",
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
        fprintf(out, "  (%zu operations in all%s)\n", k,
                c->o->want_counterexample ? ", in the counterexample file" : "");
    free(pick);
    json_object_set_new(j, "counterexample_lines", lines);
    json_object_set_new(j, "counterexample_budget_ran_out", json_boolean(ran_out));
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
    fputs(".\n", out);
    explain_anomaly(c, grp, n, res->stuck, out, j);
    fputs("\nThis operation could not be linearized:\n  ", out);
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

    if (!c->o->no_minimize)
        explain_core(c, r, grp, n, res->stuck, stuck_id, key, out, j);
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
    int fv = c->m->fast(c->mops, grp, n, wit, &nw);

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

/* The first op with a "key" field, or h->nops when none has one. */
static size_t first_keyed(const struct fl_history *h)
{
    size_t i = 0;
    while (i < h->nops && h->ops[i].key.kind == FL_V_NIL)
        i++;
    return i;
}

/* A history recorded with keys, checked with a single-object model: each
 * key is its own object (Jepsen's independent checker), so an op without
 * a key has no object. */
static int key_of(struct fl_history *h, const struct fl_model_ops *m, size_t i, int64_t *key,
                  struct fl_err *e)
{
    const struct fl_hop *op = &h->ops[i];

    if (op->key.kind == FL_V_NIL)
        return fl_err_set(e, FL_EUSAGE,
                          "%s:%u:%u: this operation has no \"key\" while others in the history "
                          "have one; the %s model then checks each key as its own object, so "
                          "give every operation a key (or none)",
                          h->name, op->call_line, op->call_col, m->name);
    *key = fl_history_code(h, &op->key);
    return 0;
}

/* Turn the history's ops into the model's (c->mops), each with the key of
 * its partition; fail ops did not happen and are left out. */
static int prepare_mops(struct lin_ctx *c, bool split, struct fl_err *e)
{
    struct fl_history *h = c->h;
    int rc;

    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        if (op->type == FL_OP_FAIL)
            continue; /* it did not happen */
        struct fl_mop mo = {.id = (uint32_t)i, .key = FL_CODE_NIL};
        int pr = c->m->prepare(&c->prep, op, &mo);
        if (pr < 0)
            return pr;
        if (pr == FL_PREP_SKIP)
            continue;
        if (c->o->no_split)
            mo.key = FL_CODE_NIL;
        if (split && (rc = key_of(h, c->m, i, &mo.key, e)) < 0)
            return rc;
        c->mops[c->nmops++] = mo;
    }
    return 0;
}

/* Search one part, mops[start..end): VALID, INVALID (explained to out and
 * j) or UNKNOWN (*why says why), or -1 when out of memory. A part left
 * UNKNOWN under a small memory cap (final false) will be searched again,
 * so it is not counted yet. */
static int search_part(struct lin_ctx *c, struct fl_check_report *r, struct fl_lin_op *grp,
                       size_t start, size_t end, bool final, FILE *out, json_t *j, const char **why)
{
    const struct fl_history *h = c->h;
    struct fl_lin_result res;
    size_t n = end - start;

    for (size_t i = 0; i < n; i++) {
        const struct fl_hop *op = &h->ops[c->mops[start + i].id];
        grp[i] = (struct fl_lin_op){(uint32_t)(start + i), op->call,
                                    op->type == FL_OP_OK ? op->ret : FL_LIN_NORET};
    }
    if (c->m->fast && !c->o->no_fast) {
        int fv = queue_fast(c, r, grp, n, c->mops[start].key, out, j);
        if (fv < 0)
            return -1;
        if (fv == FL_CHECK_VALID || fv == FL_CHECK_INVALID)
            return fv;
    }
    if (lin_run(c, grp, n, c->deadline, &res) < 0)
        return -1;
    int v = res.verdict;
    if (v != FL_CHECK_UNKNOWN || final)
        r->partitions++;
    r->steps += res.steps;
    r->memo_entries += res.memo_entries;
    if (res.memo_bytes > r->memo_bytes)
        r->memo_bytes = res.memo_bytes;
    if (v == FL_CHECK_INVALID)
        explain_invalid(c, r, grp, n, &res, c->mops[start].key, out, j);
    if (v == FL_CHECK_UNKNOWN)
        *why = res.why_unknown;
    fl_lin_result_fini(&res);
    return v;
}

/* Search every part. A part that is not linearizable settles the whole
 * history, so no part may hold the others up (Porcupine searches them in
 * parallel): with several parts, each is first searched with a small memo
 * cap, and only the ones that needed more are searched again with the full
 * one (--search-memory). Once the one deadline has passed the rest would
 * time out too. 0, or -1 when out of memory. */
static int search_parts(struct lin_ctx *c, struct fl_check_report *r, struct fl_lin_op *grp,
                        FILE *out, json_t *j, int *verdict, size_t *nunknown, size_t *nparts,
                        const char **why)
{
    size_t full = c->o->search_memory ? c->o->search_memory : (size_t)1 << 30;
    size_t *starts = malloc((c->nmops + 2) * sizeof *starts), nretry = 0;

    if (!starts)
        return -1;
    for (size_t s = 0; s < c->nmops; (*nparts)++) {
        starts[*nparts] = s;
        while (++s < c->nmops && c->mops[s].key == c->mops[s - 1].key)
            ;
    }
    starts[*nparts] = c->nmops;
    size_t first = *nparts > 1 ? full / 32 : full;
    if (first > FIRST_PASS_MEMO)
        first = FIRST_PASS_MEMO;
    size_t *retry = malloc((*nparts + 1) * sizeof *retry);
    if (!retry) {
        free(starts);
        return -1;
    }
    for (int pass = 0; pass < 2 && *verdict != FL_CHECK_INVALID; pass++) {
        size_t count = pass ? nretry : *nparts;
        c->memo_cap = pass ? full : first;
        for (size_t k = 0; k < count; k++) {
            size_t p = pass ? retry[k] : k;
            bool final = c->memo_cap == full;
            int v = search_part(c, r, grp, starts[p], starts[p + 1], final, out, j, why);
            if (v < 0) {
                free(starts);
                free(retry);
                return -1;
            }
            if (v == FL_CHECK_INVALID) {
                *verdict = FL_CHECK_INVALID;
                break;
            }
            bool late = v == FL_CHECK_UNKNOWN && c->deadline && fl_check_now_ns() >= c->deadline;
            if (v == FL_CHECK_UNKNOWN && !final && !late)
                retry[nretry++] = p;
            else if (v == FL_CHECK_UNKNOWN) {
                (*nunknown)++;
                r->partitions += !final; /* counted here, as it will not be searched again */
            }
            if (late) {
                pass = 2; /* stop: the rest would time out too */
                break;
            }
        }
    }
    free(starts);
    free(retry);
    return 0;
}

int fl_check_linear(const struct fl_checker *checker, struct fl_history *h,
                    const struct fl_check_opts *o, struct fl_check_report *r, struct fl_err *e)
{
    const struct fl_model_ops *m = checker->model;
    struct lin_ctx c = {.h = h, .o = o, .m = m};
    bool split = !m->per_key && !o->no_split && first_keyed(h) < h->nops;
    struct fl_lin_op *grp = NULL;
    int rc = 0, verdict = FL_CHECK_VALID;
    size_t nunknown = 0, nparts = 0; /* parts, and those the search could not decide */
    const char *why = NULL;
    char *text = NULL;
    size_t tlen = 0;

    c.cfg = o->cfg;
    if (m->value)
        c.cfg.initial = m->value(h, c.cfg.initial);
    c.prep = (struct fl_prep){.h = h, .cfg = &c.cfg, .e = e};
    c.mops = malloc((h->nops + 1) * sizeof *c.mops);
    grp = malloc((h->nops + 1) * sizeof *grp);
    if (!c.mops || !grp) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    if ((rc = prepare_mops(&c, split, e)) < 0)
        goto out;
    if ((m->per_key || split) && !o->no_split)
        qsort(c.mops, c.nmops, sizeof *c.mops, mop_cmp_key);
    c.t0 = fl_check_now_ns();
    c.deadline = o->timeout_ms > 0 ? c.t0 + o->timeout_ms * 1000000 : 0;
    r->checked_ops = c.nmops;

    FILE *out = open_memstream(&text, &tlen);
    if (!out) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    json_t *j = json_object();
    rc = search_parts(&c, r, grp, out, j, &verdict, &nunknown, &nparts, &why);
    if (rc < 0) {
        fclose(out);
        json_decref(j);
        rc = fl_err_set(e, FL_EFAIL, "out of memory while searching");
        goto out;
    }
    if (verdict == FL_CHECK_VALID && nunknown)
        verdict = FL_CHECK_UNKNOWN;
    if (verdict == FL_CHECK_VALID)
        fprintf(out,
                "VALID: the history is linearizable as a %s%s (%zu operations checked in %zu "
                "part(s)).\n",
                m->name, split ? " per key (each key its own object)" : "", c.nmops, r->partitions);
    else if (verdict == FL_CHECK_UNKNOWN)
        fprintf(out,
                "UNKNOWN: could not decide whether the history is linearizable as a %s: "
                "%s (%zu of %zu part(s) found linearizable, none not).\n",
                m->name, why ? why : "search stopped", r->partitions - nunknown, nparts);
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

/* Every report opens with its verdict ("VALID: ...") so people and scripts
 * find it on the first line whatever the checker. */
static int lead_with_verdict(struct fl_check_report *r)
{
    static const char *const heads[] = {"VALID: ", "INVALID: ", "UNKNOWN: "};
    const char *head = heads[r->verdict == FL_CHECK_VALID     ? 0
                             : r->verdict == FL_CHECK_INVALID ? 1
                                                              : 2];
    char *t = NULL;

    if (r->text && !strncmp(r->text, head, strlen(head)))
        return 0;
    if (asprintf(&t, "%s%s", head, r->text ? r->text : "\n") < 0)
        return -1;
    free(r->text);
    r->text = t;
    return 0;
}

int fl_check_run(struct fl_history *h, const struct fl_check_opts *o, struct fl_check_report *r,
                 struct fl_err *e)
{
    const struct fl_checker *c = fl_check_checker_find(o->model);
    int64_t t0 = fl_check_now_ns();
    char names[512];
    int rc;

    memset(r, 0, sizeof *r);
    if (!c)
        return fl_err_set(e, FL_EUSAGE, "unknown model '%s'; models: %s", o->model,
                          fl_check_checker_names(names, sizeof names));
    r->nops = h->nops;
    r->offending = calloc(h->nops + 1, sizeof *r->offending);
    if (!r->offending)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    size_t k = c->one_object ? first_keyed(h) : h->nops;
    if (k < h->nops) {
        fl_check_report_fini(r);
        return fl_err_set(e, FL_EUSAGE,
                          "%s:%u:%u: this operation has a \"key\", but the %s checker checks "
                          "one object; check a history recorded with keys with a keyed model "
                          "such as --model kv, or record it without keys",
                          h->name, h->ops[k].call_line, h->ops[k].call_col, fl_checker_name(c));
    }
    rc = c->run(c, h, o, r, e);
    if (rc == 0 && lead_with_verdict(r) < 0)
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
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
