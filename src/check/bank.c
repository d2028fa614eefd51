/* bank: money moves between accounts with transfers and is never created or
 * destroyed. Every successful read must see every account, the same set of
 * accounts each time, balances that add up to the total, and (unless
 * --allow-negative) no negative balance. A read is a map account -> balance
 * or a vector of balances. One pass, no search: fast on millions of ops. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

#define SHOW_MAX 10

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

int fl_check_bank(struct fl_history *h, const struct fl_check_opts *o, struct fl_check_report *r,
                  struct fl_err *e)
{
    size_t reads = 0, bad_total = 0, bad_neg = 0, bad_accounts = 0, bad_value = 0, shown = 0;
    bool have_total = o->have_total;
    long long total = o->total;
    long long naccts = o->accounts;
    uint64_t keyprint = 0;
    bool have_keys = false;
    char *text = NULL, *detail = NULL;
    size_t tlen = 0, dlen = 0;
    FILE *d = open_memstream(&detail, &dlen);
    json_t *bad = json_array();

    if (!d)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (size_t i = 0; i < h->nops; i++) {
        const struct fl_hop *op = &h->ops[i];
        const char *f = fl_history_str(h, op->f, NULL);
        if (!strcmp(f, "transfer") || !strcmp(f, "deposit") || !strcmp(f, "withdraw"))
            continue;
        if (strcmp(f, "read")) {
            fclose(d);
            free(detail);
            json_decref(bad);
            return fl_err_set(e, FL_EUSAGE,
                              "%s:%u:%u: bank operations are read or transfer, not '%s'", h->name,
                              op->call_line, op->call_col, f);
        }
        if (op->type != FL_OP_OK)
            continue;
        const struct fl_val *v = &op->comp;
        bool ismap = v->kind == FL_V_MAP;
        if (!ismap && v->kind != FL_V_VEC && v->kind != FL_V_LIST) {
            fclose(d);
            free(detail);
            json_decref(bad);
            return fl_err_set(e, FL_EUSAGE,
                              "%s:%u: a bank read must return a map {account: balance} or a "
                              "vector of balances",
                              h->name, op->ret_line);
        }
        reads++;
        long long sum = 0;
        uint64_t kp = 0;
        const char *problem = NULL;
        char why[160] = "";
        for (uint32_t k = 0; k < v->n; k++) {
            const struct fl_val *bal =
                ismap ? fl_history_child(h, v, 2 * k + 1) : fl_history_child(h, v, k);
            int64_t key = ismap ? fl_history_code(h, fl_history_child(h, v, 2 * k)) : (int64_t)k;
            kp += mix((uint64_t)key);
            if (bal->kind != FL_V_INT) {
                problem = "balance";
                snprintf(why, sizeof why, "account #%u has no integer balance", k + 1);
                continue;
            }
            sum += bal->x;
            if (bal->x < 0 && !o->allow_negative && !problem) {
                problem = "negative";
                snprintf(why, sizeof why, "a balance is negative (%" PRId64 ")", bal->x);
            }
        }
        if (!problem) {
            if (naccts > 0 && (long long)v->n != naccts) {
                problem = "accounts";
                snprintf(why, sizeof why, "saw %u accounts, expected %lld", v->n, naccts);
            } else if (have_keys && kp != keyprint) {
                problem = "accounts";
                snprintf(why, sizeof why,
                         "the set of accounts differs from the first read's (%u accounts)", v->n);
            } else if (have_total && sum != total) {
                problem = "total";
                snprintf(why, sizeof why, "balances sum to %lld, expected %lld (%+lld)", sum, total,
                         sum - total);
            }
        }
        if (!have_keys && !problem) {
            have_keys = true;
            keyprint = kp;
            if (naccts <= 0)
                naccts = v->n;
        }
        if (!have_total && !problem) {
            have_total = true;
            total = sum;
        }
        if (!problem)
            continue;
        if (!strcmp(problem, "total"))
            bad_total++;
        else if (!strcmp(problem, "negative"))
            bad_neg++;
        else if (!strcmp(problem, "accounts"))
            bad_accounts++;
        else
            bad_value++;
        r->offending[i] = true;
        if (shown < SHOW_MAX) {
            shown++;
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
    size_t nbad = bad_total + bad_neg + bad_accounts + bad_value;
    FILE *out = open_memstream(&text, &tlen);
    if (!out) {
        free(detail);
        json_decref(bad);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    if (reads == 0) {
        r->verdict = FL_CHECK_UNKNOWN;
        fputs("UNKNOWN: no successful read in the history, so nothing shows whether money was "
              "conserved.\nRecord reads of all accounts during and after the experiment.\n",
              out);
    } else if (nbad == 0) {
        r->verdict = FL_CHECK_VALID;
        fprintf(out, "VALID: all %zu reads see %lld accounts summing to %lld%s.\n", reads, naccts,
                total, o->allow_negative ? "" : " with no negative balance");
    } else {
        r->verdict = FL_CHECK_INVALID;
        fprintf(out,
                "INVALID: %zu of %zu reads are wrong: %zu with the wrong total (expected %lld), "
                "%zu with a negative balance, %zu with missing or extra accounts, %zu with a "
                "non-integer balance.\n%s reads:\n%s",
                nbad, reads, bad_total, total, bad_neg, bad_accounts, bad_value,
                nbad > SHOW_MAX ? "First bad" : "Bad", detail ? detail : "");
        fputs("Each listed read is on its own a failing sub-history: no sequence of transfers "
              "produces it.\n",
              out);
    }
    fclose(out);
    free(detail);
    r->text = text;
    r->checked_ops = h->nops;
    r->partitions = 1;
    r->json = json_object();
    json_t *bj = json_object();
    json_object_set_new(bj, "reads", json_integer((json_int_t)reads));
    json_object_set_new(bj, "total", json_integer(total));
    json_object_set_new(bj, "accounts", json_integer(naccts));
    json_object_set_new(bj, "wrong_total", json_integer((json_int_t)bad_total));
    json_object_set_new(bj, "negative", json_integer((json_int_t)bad_neg));
    json_object_set_new(bj, "wrong_accounts", json_integer((json_int_t)bad_accounts));
    json_object_set_new(bj, "bad_balance", json_integer((json_int_t)bad_value));
    json_object_set_new(bj, "bad_reads", bad);
    json_object_set_new(r->json, "bank", bj);
    return 0;
}
