/* Naming and explaining transactional anomalies: which consistency models
 * each class rules out (Adya's phenomena as Elle maps them), one readable
 * sentence per cycle ("G2-item (write skew): T1 read x=[1 2] and appended
 * y 5; T2 read y=[3] and appended x 4; neither saw the other's write"),
 * the transactions and the dependency behind every edge, and the JSON
 * report. Edge reasons are recomputed from the two transactions, so the
 * graph does not have to carry keys. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check/txn.h"

static const struct {
    const char *name, *gloss;
    unsigned rules_out;
} anomalies[AN_COUNT] = {
    [AN_G0] = {"G0", "dirty write", CM_ALL},
    [AN_G1A] = {"G1a", "aborted read", CM_ALL},
    [AN_G1B] = {"G1b", "intermediate read", CM_ALL},
    [AN_G1C] = {"G1c", "circular information flow", CM_ALL},
    [AN_GSINGLE] = {"G-single", "read skew",
                    CM_REPEATABLE_READ | CM_SNAPSHOT_ISOLATION | CM_SERIALIZABLE |
                        CM_STRICT_SERIALIZABLE},
    [AN_GNONADJ] = {"G-nonadjacent", "long fork",
                    CM_REPEATABLE_READ | CM_SNAPSHOT_ISOLATION | CM_SERIALIZABLE |
                        CM_STRICT_SERIALIZABLE},
    [AN_G2ITEM] = {"G2-item", "write skew",
                   CM_REPEATABLE_READ | CM_SERIALIZABLE | CM_STRICT_SERIALIZABLE},
    [AN_G0_RT] = {"G0-realtime", "dirty write against real-time order", CM_STRICT_SERIALIZABLE},
    [AN_G1C_RT] = {"G1c-realtime", "information flowing back in time", CM_STRICT_SERIALIZABLE},
    [AN_GSINGLE_RT] = {"G-single-realtime", "stale read", CM_STRICT_SERIALIZABLE},
    [AN_G2ITEM_RT] = {"G2-item-realtime", "anti-dependency against real-time order",
                      CM_STRICT_SERIALIZABLE},
    [AN_LOST_UPDATE] = {"lost-update", "lost update",
                        CM_REPEATABLE_READ | CM_SNAPSHOT_ISOLATION | CM_SERIALIZABLE |
                            CM_STRICT_SERIALIZABLE},
    [AN_INTERNAL] = {"internal", "internal inconsistency", CM_ALL},
    [AN_DUPLICATE] = {"duplicate-elements", "duplicate elements", CM_ALL},
    [AN_INCOMPATIBLE] = {"incompatible-order", "incompatible orders", CM_ALL},
    [AN_UNWRITTEN] = {"garbage-read", "read of a value nobody wrote", CM_ALL},
};

static const char *const model_names[] = {"read-committed", "repeatable-read", "snapshot-isolation",
                                          "serializable", "strict-serializable"};

const char *fl_txn_anomaly_name(int anomaly)
{
    return anomalies[anomaly].name;
}

unsigned fl_txn_anomaly_rules_out(int anomaly)
{
    return anomalies[anomaly].rules_out;
}

const char *fl_txn_model_name(unsigned cm)
{
    for (unsigned i = 0; i < 5; i++)
        if (cm == 1u << i)
            return model_names[i];
    return "?";
}

/* keys and values: strings and keywords bare, others as EDN */
static void pcode(const struct txn_ctx *c, int64_t code, FILE *out)
{
    if (!fl_code_is_int(code) && code != FL_CODE_NIL && code != FL_CODE_UNKNOWN) {
        int64_t id = code - FL_CODE_ATOM0;
        int kind = id >= 0 && (size_t)id < c->h->nstr ? c->h->strkind[id] : FL_V_SYM;
        if (kind == FL_V_STR || kind == FL_V_KW) {
            size_t n;
            const char *s = fl_history_str(c->h, id, &n);
            fwrite(s, 1, n, out);
            return;
        }
    }
    fl_history_print_code(c->h, code, out);
}

/* A key: "x", or "key 3" when keys are numbers (so "read key 3=[1 2]"). */
static void pkey(const struct txn_ctx *c, int64_t key, FILE *out)
{
    if (fl_code_is_int(key))
        fputs("key ", out);
    pcode(c, key, out);
}

/* A read's result: a list (long ones elided in the middle) or a register. */
static void pread(const struct txn_ctx *c, const struct txn_mop *m, FILE *out)
{
    if (c->kind == TXN_RW_REGISTER || m->n == UINT32_MAX) {
        pcode(c, m->val, out);
        return;
    }
    fputc('[', out);
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->n > 8 && i == 3) {
            fprintf(out, "... (%u more) ", m->n - 6);
            i = m->n - 3;
        }
        pcode(c, fl_txn_elem(c, (uint32_t)m->val, i), out);
        if (i + 1 < m->n)
            fputc(' ', out);
    }
    fputc(']', out);
}

static void pmop(const struct txn_ctx *c, const struct txn_mop *m, FILE *out)
{
    if (m->f == MOP_READ) {
        fputs("read ", out);
        pkey(c, m->key, out);
        fputc('=', out);
        pread(c, m, out);
        return;
    }
    if (m->f == MOP_APPEND) {
        fputs("appended ", out);
        pcode(c, m->val, out);
        fputs(" to ", out);
        pkey(c, m->key, out);
        return;
    }
    fputs("wrote ", out);
    pkey(c, m->key, out);
    fputc('=', out);
    pcode(c, m->val, out);
}

static const struct txn_mop *find_write(const struct txn_ctx *c, uint32_t t, int64_t key)
{
    const struct txn *x = &c->tx[t];
    const struct txn_mop *last = NULL;
    for (uint32_t i = 0; i < x->nmop; i++)
        if (c->mops[x->mop0 + i].key == key && c->mops[x->mop0 + i].f != MOP_READ)
            last = &c->mops[x->mop0 + i];
    return last;
}

/* The writer of the version right after what read r saw (list-append). */
static uint32_t next_writer(const struct txn_ctx *c, const struct txn_mop *r, int64_t *val)
{
    const struct txn_key *k = fl_txn_key(c, r->key);
    int64_t pos = -1;
    if (!k || r->n == UINT32_MAX)
        return UINT32_MAX;
    if (r->n > 0) {
        struct txn_wslot *s = fl_txn_writer(c, r->key, fl_txn_elem(c, (uint32_t)r->val, r->n - 1));
        if (!s || s->pos == UINT32_MAX)
            return UINT32_MAX;
        pos = s->pos;
    }
    if (pos + 1 >= (int64_t)k->n)
        return UINT32_MAX;
    *val = fl_txn_elem(c, k->first, (uint32_t)(pos + 1));
    struct txn_wslot *s = fl_txn_writer(c, r->key, *val);
    return s ? s->txn : UINT32_MAX;
}

/* The version a read saw was written by w? */
static bool saw(const struct txn_ctx *c, const struct txn_mop *r, uint32_t w, int64_t *val)
{
    if (!r || r->n == UINT32_MAX || r->val == FL_CODE_UNKNOWN)
        return false;
    if (c->kind == TXN_LIST_APPEND) {
        if (r->n == 0)
            return false;
        *val = fl_txn_elem(c, (uint32_t)r->val, r->n - 1);
    } else {
        *val = r->val;
    }
    struct txn_wslot *s = fl_txn_writer(c, r->key, *val);
    return s && s->txn == w;
}

/* Why a -kind-> b; prints with names na, nb; returns the key (or NIL). */
static int64_t edge_why(const struct txn_ctx *c, uint32_t a, uint32_t b, uint8_t kind,
                        const char *na, const char *nb, FILE *out)
{
    const struct txn *ta = &c->tx[a], *tb = &c->tx[b];
    const struct txn *t = kind == DEP_RW ? ta : tb;
    if (kind == DEP_RT) {
        fprintf(out, "%s completed (line %u) before %s was invoked (line %u)", na,
                c->h->ops[ta->op].ret_line, nb, c->h->ops[tb->op].call_line);
        return FL_CODE_NIL;
    }
    for (uint32_t i = 0; i < t->nmop; i++) {
        const struct txn_mop *m = &c->mops[t->mop0 + i];
        const struct txn_mop *r = fl_txn_ext_read(c, t, m->key);
        const struct txn_mop *wa = find_write(c, a, m->key), *wb = find_write(c, b, m->key);
        int64_t v = 0;
        if (kind == DEP_WR && r == m && saw(c, r, a, &v)) {
            fprintf(out, "%s ", nb);
            pmop(c, r, out);
            fputs(", seeing ", out);
            pcode(c, v, out);
            fprintf(out, " %s by %s", c->kind == TXN_LIST_APPEND ? "appended" : "written", na);
            return m->key;
        }
        if (kind == DEP_RW && r == m && wb) {
            if (c->kind == TXN_LIST_APPEND && next_writer(c, r, &v) == b) {
                fprintf(out, "%s ", na);
                pmop(c, r, out);
                fputs(", which misses ", out);
                pcode(c, v, out);
                fprintf(out, ", appended next by %s", nb);
                return m->key;
            }
            struct txn_wslot *sw = fl_txn_writer(c, m->key, wb->val);
            const struct txn_key *k = fl_txn_key(c, m->key);
            if (c->kind == TXN_LIST_APPEND && sw && sw->pos == UINT32_MAX && k && r->n == k->n) {
                fprintf(out, "%s ", na);
                pmop(c, r, out);
                fputs(", which misses ", out);
                pcode(c, wb->val, out);
                fprintf(out, ", appended by %s and never read (so after it)", nb);
                return m->key;
            }
            const struct txn_mop *rb = fl_txn_ext_read(c, tb, m->key);
            if (c->kind == TXN_RW_REGISTER && r->val != FL_CODE_UNKNOWN &&
                (r->val == FL_CODE_NIL || (rb && rb->val == r->val))) {
                fprintf(out, "%s ", na);
                pmop(c, r, out);
                fprintf(out, ", which %s overwrote with ", nb);
                pcode(c, wb->val, out);
                return m->key;
            }
        }
        if (kind == DEP_WW && wa && m == wb) {
            int64_t va;
            if (c->kind == TXN_RW_REGISTER && saw(c, r, a, &va)) {
                fprintf(out, "%s overwrote %s's ", nb, na);
                pkey(c, m->key, out);
                fputc('=', out);
                pcode(c, va, out);
                fputs(" with ", out);
                pcode(c, m->val, out);
                return m->key;
            }
            struct txn_wslot *sa = fl_txn_writer(c, m->key, wa->val);
            struct txn_wslot *sb = fl_txn_writer(c, m->key, m->val);
            if (c->kind == TXN_LIST_APPEND && sa && sb && sa->pos != UINT32_MAX &&
                sb->pos == UINT32_MAX) {
                fprintf(out, "%s appended ", nb);
                pcode(c, m->val, out);
                fputs(" to ", out);
                pkey(c, m->key, out);
                fprintf(out, ", which no read saw, so after %s's ", na);
                pcode(c, wa->val, out);
                fputs(", the last one read", out);
                return m->key;
            }
            if (c->kind == TXN_LIST_APPEND && sa && sb && sa->pos < sb->pos &&
                sb->pos != UINT32_MAX) {
                fprintf(out, "%s appended ", nb);
                pcode(c, m->val, out);
                fputs(" to ", out);
                pkey(c, m->key, out);
                fprintf(out, " after %s's ", na);
                pcode(c, wa->val, out);
                return m->key;
            }
        }
    }
    fprintf(out, "%s -> %s", na, nb);
    return FL_CODE_NIL;
}

static const char *kind_name(uint8_t k)
{
    return k == DEP_WW ? "ww" : k == DEP_WR ? "wr" : k == DEP_RW ? "rw" : "rt";
}

/* "T1 = line 3, process 0: read x=[1 2], appended y 5" */
static void describe_txn(const struct txn_ctx *c, uint32_t t, const char *name, FILE *out)
{
    const struct txn *x = &c->tx[t];
    const struct fl_hop *op = &c->h->ops[x->op];
    fprintf(out, "    %s = line %u, process %" PRId64 ", %s:", name, op->call_line, op->process,
            x->type == FL_OP_OK     ? "ok"
            : x->type == FL_OP_FAIL ? "failed"
                                    : "outcome unknown");
    for (uint32_t i = 0; i < x->nmop; i++) {
        fputs(i ? ", " : " ", out);
        pmop(c, &c->mops[x->mop0 + i], out);
    }
    fputc('\n', out);
}

/* What transaction t did to the keys k1, k2: "read x=[1 2] and appended y 5". */
static void summary(const struct txn_ctx *c, uint32_t t, int64_t k1, int64_t k2, FILE *out)
{
    const struct txn *x = &c->tx[t];
    int shown = 0;
    for (uint32_t i = 0; i < x->nmop && shown < 4; i++) {
        const struct txn_mop *m = &c->mops[x->mop0 + i];
        if (m->key != k1 && m->key != k2)
            continue;
        if (m->f == MOP_READ && fl_txn_ext_read(c, x, m->key) != m)
            continue;
        fputs(shown++ ? " and " : " ", out);
        pmop(c, m, out);
    }
}

#define SHOWN 32 /* transactions of one cycle written out */

static void explain_cycle(const struct txn_ctx *c, const struct txn_finding *f, FILE *out)
{
    int64_t keys[SHOWN];
    char *why = NULL;
    size_t whylen = 0;
    FILE *w = open_memstream(&why, &whylen);
    uint32_t n = f->len, shown = n < SHOWN ? n : SHOWN;

    if (!w)
        return;
    for (uint32_t i = 0; i < shown; i++) {
        char a[16], b[16];
        snprintf(a, sizeof a, "T%u", i + 1);
        snprintf(b, sizeof b, "T%u", (i + 1) % n + 1);
        fprintf(w, "    %s -%s-> %s: ", a, kind_name(f->edges[i]), b);
        keys[i] = edge_why(c, f->txns[i], f->txns[(i + 1) % n], f->edges[i], a, b, w);
        fputc('\n', w);
    }
    fclose(w);
    fprintf(out, "  %s (%s):", anomalies[f->anomaly].name, anomalies[f->anomaly].gloss);
    for (uint32_t i = 0; i < shown; i++) {
        fprintf(out, "%s T%u", i ? ";" : "", i + 1);
        summary(c, f->txns[i], keys[i], i ? keys[i - 1] : n <= SHOWN ? keys[n - 1] : 0, out);
    }
    bool skew = n == 2 && f->edges[0] == DEP_RW && f->edges[1] == DEP_RW;
    fprintf(out, "%s%s\n", n > shown ? "; ..." : "", skew ? "; neither saw the other's write" : "");
    for (uint32_t i = 0; i < shown; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "T%u", i + 1);
        describe_txn(c, f->txns[i], nm, out);
    }
    fputs(why, out);
    free(why);
}

/* Findings that are not cycles: one sentence and the transactions. */
static void explain_other(const struct txn_ctx *c, const struct txn_finding *f, FILE *out)
{
    const struct txn_mop *r = f->len ? fl_txn_ext_read(c, &c->tx[f->txns[0]], f->key) : NULL;
    bool la = c->kind == TXN_LIST_APPEND;

    fprintf(out, "  %s (%s): ", anomalies[f->anomaly].name, anomalies[f->anomaly].gloss);
    switch (f->anomaly) {
    case AN_G1A:
    case AN_G1B: {
        const struct txn_mop *rd = fl_txn_ext_read(c, &c->tx[f->txns[1]], f->key);
        fputs("T2 ", out);
        if (rd) {
            pmop(c, rd, out);
        } else {
            fputs("read ", out);
            pkey(c, f->key, out);
        }
        fputs(la && f->anomaly == AN_G1A ? ", which contains "
              : la                       ? ", which ends in "
                                         : ",",
              out);
        if (la)
            pcode(c, f->val, out);
        fputs(f->anomaly == AN_G1A ? " written by T1, which failed (aborted)\n"
                                   : " from an intermediate state of T1, which wrote the key "
                                     "again afterwards\n",
              out);
        break;
    }
    case AN_LOST_UPDATE:
        fprintf(out, "T1..T%u all ", f->len);
        if (r)
            pmop(c, r, out);
        else
            pkey(c, f->key, out);
        fprintf(out, " (the same version) and each %s ", la ? "appended to" : "wrote");
        pkey(c, f->key, out);
        fputs("; all committed, so each overwrote what another had read\n", out);
        break;
    case AN_INTERNAL:
        fputs("T1 read ", out);
        pkey(c, f->key, out);
        fputs(" inconsistently with its own earlier reads and writes of it\n", out);
        break;
    case AN_DUPLICATE:
        fputs("T1 read ", out);
        pkey(c, f->key, out);
        fputs(" with ", out);
        pcode(c, f->val, out);
        fputs(" in it more than once, though it was appended once\n", out);
        break;
    case AN_INCOMPATIBLE:
        fputs("T1 and T2 read ", out);
        pkey(c, f->key, out);
        fputs(" in orders that are not prefixes of one another\n", out);
        break;
    default:
        fputs("T1 read ", out);
        pkey(c, f->key, out);
        fputs(la ? " containing " : "=", out);
        pcode(c, f->val, out);
        fputs(", which no transaction in the history wrote\n", out);
    }
    for (uint32_t i = 0; i < f->len; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "T%u", i + 1);
        describe_txn(c, f->txns[i], nm, out);
    }
}

static json_t *finding_json(const struct txn_ctx *c, const struct txn_finding *f, const char *text)
{
    json_t *o = json_object(), *t = json_array(), *e = json_array();
    for (uint32_t i = 0; i < f->len; i++) {
        json_array_append_new(t, json_integer(c->h->ops[c->tx[f->txns[i]].op].call_line));
        if (f->edges)
            json_array_append_new(e, json_string(kind_name(f->edges[i])));
    }
    json_object_set_new(o, "lines", t);
    if (f->edges)
        json_object_set_new(o, "edges", e);
    else
        json_decref(e);
    json_object_set_new(o, "explanation", json_string(text));
    return o;
}

/* "not serializable, repeatable-read (G2-item)" for the models in mask. */
static void ruled_out(const struct txn_ctx *c, unsigned mask, FILE *out)
{
    bool any = false;
    for (unsigned m = 16; m; m >>= 1) {
        if (!(mask & m))
            continue;
        bool first = true;
        for (int a = 0; a < AN_COUNT; a++) {
            if (!c->count[a] || !(anomalies[a].rules_out & m))
                continue;
            fprintf(out, "%s%s%s", first ? (any ? "; " : "") : ", ",
                    first ? fl_txn_model_name(m) : "", first ? " because " : "");
            fputs(anomalies[a].name, out);
            first = false;
            any = true;
        }
    }
    if (!any)
        fputs("nothing", out);
}

static unsigned found_mask(const struct txn_ctx *c)
{
    unsigned m = 0;
    for (int a = 0; a < AN_COUNT; a++)
        if (c->count[a])
            m |= anomalies[a].rules_out;
    return m;
}

/* The verdict first (every report opens with it), then what was checked
 * and which models the history rules out. */
static void headline(const struct txn_ctx *c, struct fl_check_report *r, FILE *out)
{
    size_t nok = 0, nfail = 0;
    for (size_t i = 0; i < c->ntx; i++) {
        nok += c->tx[i].type == FL_OP_OK;
        nfail += c->tx[i].type == FL_OP_FAIL;
    }
    unsigned bad = found_mask(c) & c->models;
    r->verdict = c->ntx == 0 ? FL_CHECK_UNKNOWN : bad ? FL_CHECK_INVALID : FL_CHECK_VALID;
    if (r->verdict == FL_CHECK_UNKNOWN) {
        fputs("UNKNOWN: the history has no transactions to check.\n", out);
    } else if (bad) {
        fputs("INVALID: not ", out);
        ruled_out(c, c->models, out);
        fputs(".\n", out);
    } else {
        fputs("VALID: no anomaly that ", out);
        for (unsigned m = 1, first = 1; m <= 16; m <<= 1)
            if (c->models & m) {
                fprintf(out, "%s%s", first ? "" : " or ", fl_txn_model_name(m));
                first = 0;
            }
        fputs(" forbids.\n", out);
    }
    fprintf(out,
            "%s: %zu transactions (%zu committed, %zu failed, %zu unknown), %zu dependencies\n",
            c->kind == TXN_LIST_APPEND ? "list-append" : "rw-register", c->ntx, nok, nfail,
            c->ntx - nok - nfail, c->nedges);
    fputs("Ruled out: ", out);
    ruled_out(c, CM_ALL, out);
    fputs(".\n", out);
    if (c->capped)
        fputs("Note: the cycle search in a large component stopped after a bounded number of "
              "tries; more anomalies may exist there.\n",
              out);
}

int fl_txn_report(struct txn_ctx *c, struct fl_check_report *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    json_t *an = json_object(), *types = json_array(), *not = json_array(), *cms = json_array();
    if (!out || !an || !types || !not || !cms)
        goto oom;
    headline(c, r, out);
    for (int a = 0; a < AN_COUNT; a++) {
        if (!c->count[a])
            continue;
        json_t *ex = json_array(), *o = json_object();
        json_array_append_new(types, json_string(anomalies[a].name));
        fprintf(out, "%s (%s): %zu found%s\n", anomalies[a].name, anomalies[a].gloss, c->count[a],
                c->count[a] > 8 ? ", the first 8 shown" : "");
        for (size_t i = 0; i < c->nfound; i++) {
            const struct txn_finding *f = &c->found[i];
            if (f->anomaly != a)
                continue;
            char *one = NULL;
            size_t n1 = 0;
            FILE *m = open_memstream(&one, &n1);
            if (!m)
                continue;
            (f->edges ? explain_cycle : explain_other)(c, f, m);
            fclose(m);
            fputs(one, out);
            json_array_append_new(ex, finding_json(c, f, one));
            free(one);
            for (uint32_t j = 0; j < f->len; j++)
                r->offending[c->tx[f->txns[j]].op] = true;
        }
        json_object_set_new(o, "count", json_integer((json_int_t)c->count[a]));
        json_object_set_new(o, "examples", ex);
        json_object_set_new(an, anomalies[a].name, o);
    }
    unsigned mask = found_mask(c);
    for (unsigned m = 1; m <= 16; m <<= 1) {
        if (mask & m)
            json_array_append_new(not, json_string(fl_txn_model_name(m)));
        if (c->models & m)
            json_array_append_new(cms, json_string(fl_txn_model_name(m)));
    }
    int closed = fclose(out);
    out = NULL;
    if (closed != 0)
        goto oom;
    r->text = text;
    r->json =
        json_pack("{s:{s:o,s:o,s:o,s:o,s:I,s:I,s:b}}", "txn", "anomaly_types", types, "anomalies",
                  an, "not", not, "consistency_models", cms, "transactions", (json_int_t)c->ntx,
                  "dependencies", (json_int_t)c->nedges, "capped", c->capped);
    return r->json ? 0 : -1;
oom:
    if (out)
        fclose(out);
    free(text);
    json_decref(an);
    json_decref(types);
    json_decref(not );
    json_decref(cms);
    return -1;
}
