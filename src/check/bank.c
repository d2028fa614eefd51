/* bank: money moves between accounts with transfers and is never created or
 * destroyed. Every successful read must see every account, the same set of
 * accounts each time, balances that add up to the total, and (unless
 * --allow-negative) no negative balance. A read is a map account -> balance
 * or a vector of balances. One pass, no search: fast on millions of ops. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "util/cleanup.h"

#define SHOW_MAX 10

/* What is wrong with one read; the first problem found wins. */
enum bank_problem {
    BANK_OK,
    BANK_TOTAL,
    BANK_NEGATIVE,
    BANK_ACCOUNTS,
    BANK_BALANCE,
    BANK_NPROBLEMS
};

/* What the reads so far established: the total and the set of accounts
 * (a hash of their keys), from the options or the first good read. */
struct bank_state {
    const struct fl_check_opts *o;
    bool have_total, have_keys;
    long long total, naccts;
    uint64_t keyprint;
    size_t reads, bad[BANK_NPROBLEMS];
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Classify one read v; why says it for people. */
static enum bank_problem judge_read(struct fl_history *h, struct bank_state *s,
                                    const struct fl_val *v, char *why, size_t whysize)
{
    bool ismap = v->kind == FL_V_MAP;
    enum bank_problem problem = BANK_OK;
    long long sum = 0;
    uint64_t kp = 0;

    for (uint32_t k = 0; k < v->n; k++) {
        const struct fl_val *bal =
            ismap ? fl_history_child(h, v, 2 * k + 1) : fl_history_child(h, v, k);
        int64_t key = ismap ? fl_history_code(h, fl_history_child(h, v, 2 * k)) : (int64_t)k;
        kp += mix((uint64_t)key);
        if (bal->kind != FL_V_INT) {
            problem = BANK_BALANCE;
            snprintf(why, whysize, "account #%u has no integer balance", k + 1);
            continue;
        }
        sum += bal->x;
        if (bal->x < 0 && !s->o->allow_negative && problem == BANK_OK) {
            problem = BANK_NEGATIVE;
            snprintf(why, whysize, "a balance is negative (%" PRId64 ")", bal->x);
        }
    }
    if (problem == BANK_OK) {
        if (s->naccts > 0 && (long long)v->n != s->naccts) {
            problem = BANK_ACCOUNTS;
            snprintf(why, whysize, "saw %u accounts, expected %lld", v->n, s->naccts);
        } else if (s->have_keys && kp != s->keyprint) {
            problem = BANK_ACCOUNTS;
            snprintf(why, whysize,
                     "the set of accounts differs from the first read's (%u accounts)", v->n);
        } else if (s->have_total && sum != s->total) {
            problem = BANK_TOTAL;
            snprintf(why, whysize, "balances sum to %lld, expected %lld (%+lld)", sum, s->total,
                     sum - s->total);
        }
    }
    if (problem == BANK_OK && !s->have_keys) {
        s->have_keys = true;
        s->keyprint = kp;
        if (s->naccts <= 0)
            s->naccts = v->n;
    }
    if (problem == BANK_OK && !s->have_total) {
        s->have_total = true;
        s->total = sum;
    }
    return problem;
}

static void write_verdict(struct fl_check_report *r, const struct bank_state *s, size_t nbad,
                          const char *detail, FILE *out)
{
    if (s->reads == 0) {
        r->verdict = FL_CHECK_UNKNOWN;
        fputs("UNKNOWN: no successful read in the history, so nothing shows whether money was "
              "conserved.\nRecord reads of all accounts during and after the experiment.\n",
              out);
    } else if (nbad == 0) {
        r->verdict = FL_CHECK_VALID;
        fprintf(out, "VALID: all %zu reads see %lld accounts summing to %lld%s.\n", s->reads,
                s->naccts, s->total, s->o->allow_negative ? "" : " with no negative balance");
    } else {
        r->verdict = FL_CHECK_INVALID;
        fprintf(out,
                "INVALID: %zu of %zu reads are wrong: %zu with the wrong total (expected %lld), "
                "%zu with a negative balance, %zu with missing or extra accounts, %zu with a "
                "non-integer balance.\n%s reads:\n%s",
                nbad, s->reads, s->bad[BANK_TOTAL], s->total, s->bad[BANK_NEGATIVE],
                s->bad[BANK_ACCOUNTS], s->bad[BANK_BALANCE], nbad > SHOW_MAX ? "First bad" : "Bad",
                detail ? detail : "");
        fputs("Each listed read is on its own a failing sub-history: no sequence of transfers "
              "produces it.\n",
              out);
    }
}

static json_t *bank_json(const struct bank_state *s, json_t *bad)
{
    json_t *bj = json_object();
    json_object_set_new(bj, "reads", json_integer((json_int_t)s->reads));
    json_object_set_new(bj, "total", json_integer(s->total));
    json_object_set_new(bj, "accounts", json_integer(s->naccts));
    json_object_set_new(bj, "wrong_total", json_integer((json_int_t)s->bad[BANK_TOTAL]));
    json_object_set_new(bj, "negative", json_integer((json_int_t)s->bad[BANK_NEGATIVE]));
    json_object_set_new(bj, "wrong_accounts", json_integer((json_int_t)s->bad[BANK_ACCOUNTS]));
    json_object_set_new(bj, "bad_balance", json_integer((json_int_t)s->bad[BANK_BALANCE]));
    json_object_set(bj, "bad_reads", bad);
    return bj;
}

int fl_check_bank(const struct fl_checker *c, struct fl_history *h, const struct fl_check_opts *o,
                  struct fl_check_report *r, struct fl_err *e)
{
    struct bank_state s = {
        .o = o, .have_total = o->have_total, .total = o->total, .naccts = o->accounts};
    _cleanup_free_ char *detail = NULL;
    _cleanup_json_ json_t *bad = json_array();
    size_t dlen = 0, tlen = 0, nbad = 0;

    (void)c;
    _cleanup_fclose_ FILE *d = open_memstream(&detail, &dlen);
    if (!d || !bad)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        const char *f = fl_history_str(h, op->f, NULL);
        char why[160] = "";
        if (!strcmp(f, "transfer") || !strcmp(f, "deposit") || !strcmp(f, "withdraw"))
            continue;
        if (strcmp(f, "read"))
            return fl_err_set(e, FL_EUSAGE,
                              "%s:%u:%u: bank operations are read or transfer, not '%s'", h->name,
                              op->call_line, op->call_col, f);
        if (op->type != FL_OP_OK)
            continue;
        const struct fl_val *v = &op->comp;
        if (v->kind != FL_V_MAP && v->kind != FL_V_VEC && v->kind != FL_V_LIST)
            return fl_err_set(e, FL_EUSAGE,
                              "%s:%u: a bank read must return a map {account: balance} or a "
                              "vector of balances",
                              h->name, op->ret_line);
        s.reads++;
        enum bank_problem p = judge_read(h, &s, v, why, sizeof why);
        if (p == BANK_OK)
            continue;
        s.bad[p]++;
        r->offending[i] = true;
        if (nbad++ < SHOW_MAX) {
            fputs("  ", d);
            fl_check_describe_op(h, i, d);
            fprintf(d, "\n      %s\n", why);
        }
        json_t *b = json_object();
        json_object_set_new(b, "line", json_integer(op->ret_line));
        json_object_set_new(b, "problem", json_string(why));
        json_array_append_new(bad, b);
    }
    fclose(d);
    d = NULL;
    FILE *out = open_memstream(&r->text, &tlen);
    if (!out)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    write_verdict(r, &s, nbad, detail, out);
    fclose(out);
    r->checked_ops = h->nops;
    r->partitions = 1;
    r->json = json_object();
    json_object_set_new(r->json, "bank", bank_json(&s, bad));
    return 0;
}
