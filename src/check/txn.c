/* faultline check --model list-append|rw-register: read the transactions of
 * a history into micro-ops, index every written value, hand over to the
 * model's inference (txn_append.c, txn_register.c), add real-time order when
 * strict serializability is asked for, then look for cycles (txn_graph.c)
 * and explain them (txn_explain.c). See txn.h for the technique. */
#include "check/txn.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

int fl_txn_infer_append(struct txn_ctx *c);
int fl_txn_infer_register(struct txn_ctx *c);

bool fl_check_txn_model(const char *name)
{
    return !strcmp(name, "list-append") || !strcmp(name, "rw-register");
}

static uint64_t mix(int64_t a, int64_t b)
{
    uint64_t x = (uint64_t)a * 0x9E3779B97F4A7C15u ^ ((uint64_t)b + 0x632BE59BD9B4E019u);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9u;
    return x ^ (x >> 29);
}

struct txn_wslot *fl_txn_writer(const struct txn_ctx *c, int64_t key, int64_t val)
{
    size_t m = c->wcap - 1;
    for (size_t i = mix(key, val) & m;; i = (i + 1) & m) {
        struct txn_wslot *s = &c->w[i];
        if (s->txn == UINT32_MAX)
            return NULL;
        if (s->key == key && s->val == val)
            return s;
    }
}

struct txn_key *fl_txn_key(const struct txn_ctx *c, int64_t key)
{
    if (!c->keys)
        return NULL; /* rw-register keeps no version orders */
    size_t m = c->kcap - 1;
    for (size_t i = mix(key, 7) & m;; i = (i + 1) & m) {
        struct txn_key *k = &c->keys[i];
        if (!k->used)
            return NULL;
        if (k->key == key)
            return k;
    }
}

struct txn_key *fl_txn_key_add(struct txn_ctx *c, int64_t key)
{
    size_t m = c->kcap - 1, i = mix(key, 7) & m;
    while (c->keys[i].used && c->keys[i].key != key)
        i = (i + 1) & m;
    if (!c->keys[i].used)
        c->keys[i] = (struct txn_key){key, 0, 0, UINT32_MAX, true};
    return &c->keys[i];
}

/* Element i of a list in the arena, as a code. Elements are scalars in
 * practice; a compound element is interned by its text. */
int64_t fl_txn_elem(const struct txn_ctx *c, uint32_t first, uint32_t i)
{
    const struct fl_val *v = &c->h->vals[first + i];
    if (v->kind == FL_V_INT)
        return v->x;
    return fl_history_code(c->h, v);
}

const struct txn_mop *fl_txn_ext_read(const struct txn_ctx *c, const struct txn *t, int64_t key)
{
    for (uint32_t i = 0; i < t->nmop; i++) {
        const struct txn_mop *m = &c->mops[t->mop0 + i];
        if (m->key != key)
            continue;
        return m->f == MOP_READ ? m : NULL;
    }
    return NULL;
}

int fl_txn_note(struct txn_ctx *c, int anomaly, uint32_t *txns, uint8_t *edges, uint32_t len,
                int64_t key, int64_t val)
{
    c->count[anomaly]++;
    /* keep a few examples of each class; the count says how many there were */
    size_t kept = 0;
    for (size_t i = 0; i < c->nfound; i++)
        kept += c->found[i].anomaly == anomaly;
    if (kept >= 8) {
        free(txns);
        free(edges);
        return 0;
    }
    if (c->nfound == c->capfound) {
        size_t cap = c->capfound ? 2 * c->capfound : 16;
        struct txn_finding *f = realloc(c->found, cap * sizeof *f);
        if (!f) {
            free(txns);
            free(edges);
            return -1;
        }
        c->found = f;
        c->capfound = cap;
    }
    c->found[c->nfound++] = (struct txn_finding){anomaly, len, txns, edges, key, val};
    return 0;
}

int fl_txn_note1(struct txn_ctx *c, int anomaly, uint32_t a, uint32_t b, int64_t key, int64_t val)
{
    uint32_t *t = malloc(2 * sizeof *t);
    if (!t)
        return -1;
    t[0] = a;
    t[1] = b;
    return fl_txn_note(c, anomaly, t, NULL, b == UINT32_MAX ? 1 : 2, key, val);
}

static int mop_fail(struct txn_ctx *c, const struct fl_hop *op, uint32_t i, struct fl_err *e,
                    const char *why)
{
    return fl_err_set(e, FL_EUSAGE, "%s:%u:%u: transaction micro-op %u: %s", c->h->name,
                      op->call_line, op->call_col, i + 1, why);
}

/* One [f key value] micro-op into m. known: the op committed, so its reads
 * carry results. */
static int read_mop(struct txn_ctx *c, const struct fl_hop *op, const struct fl_val *v, uint32_t i,
                    bool known, struct txn_mop *m, struct fl_err *e)
{
    if ((v->kind != FL_V_VEC && v->kind != FL_V_LIST) || v->n != 3)
        return mop_fail(c, op, i, e, "expected [f key value], e.g. [:append :x 1] or [:r :x nil]");
    const struct fl_val *f = fl_history_child(c->h, v, 0);
    const char *fs = f->kind == FL_V_KW || f->kind == FL_V_STR || f->kind == FL_V_SYM
                         ? fl_history_str(c->h, f->x, NULL)
                         : "";
    bool la = c->kind == TXN_LIST_APPEND;
    if (!strcmp(fs, "r") || !strcmp(fs, "read"))
        m->f = MOP_READ;
    else if (la && !strcmp(fs, "append"))
        m->f = MOP_APPEND;
    else if (!la && (!strcmp(fs, "w") || !strcmp(fs, "write")))
        m->f = MOP_WRITE;
    else
        return mop_fail(c, op, i, e,
                        la ? "f must be :r or :append for list-append (registers: use --model "
                             "rw-register)"
                           : "f must be :r or :w for rw-register (lists: use --model "
                             "list-append)");
    struct fl_val key = *fl_history_child(c->h, v, 1);
    struct fl_val val = *fl_history_child(c->h, v, 2);
    m->key = fl_history_code(c->h, &key);
    m->n = 0;
    m->val = 0;
    if (m->f != MOP_READ) {
        m->val = fl_history_code(c->h, &val);
        if (m->val == FL_CODE_NIL)
            return mop_fail(c, op, i, e, "nil cannot be written: written values must be unique");
    } else if (!known) {
        m->n = UINT32_MAX;
        m->val = FL_CODE_UNKNOWN;
    } else if (!la) {
        m->val = fl_history_code(c->h, &val);
    } else if (val.kind == FL_V_VEC || val.kind == FL_V_LIST) {
        m->val = val.x;
        m->n = val.n;
    } else if (val.kind != FL_V_NIL) {
        return mop_fail(c, op, i, e,
                        "a committed list-append read returns a list (or nil for an empty key)");
    }
    return 0;
}

static int add_txn(struct txn_ctx *c, uint32_t opi, size_t *capmops, struct fl_err *e)
{
    const struct fl_hop *op = &c->h->ops[opi];
    const struct fl_val *v =
        op->type == FL_OP_OK && op->comp.kind != FL_V_NIL ? &op->comp : &op->inv;
    if (!fl_history_fis(c->h, op, "txn"))
        return fl_err_set(e, FL_EUSAGE,
                          "%s:%u:%u: %s operations are f txn with a vector of micro-ops, not f %s",
                          c->h->name, op->call_line, op->call_col,
                          c->kind == TXN_LIST_APPEND ? "list-append" : "rw-register",
                          fl_history_str(c->h, op->f, NULL));
    if (v->kind != FL_V_VEC && v->kind != FL_V_LIST)
        return fl_err_set(e, FL_EUSAGE,
                          "%s:%u:%u: a txn value is a vector of micro-ops, e.g. [[:r :x nil] "
                          "[:append :x 1]]",
                          c->h->name, op->call_line, op->call_col);
    struct fl_val txv = *v; /* the arena may move while keys are interned */
    if (c->nmops + txv.n > *capmops) {
        size_t cap = *capmops ? *capmops : 1024;
        while (cap < c->nmops + txv.n)
            cap *= 2;
        struct txn_mop *m = realloc(c->mops, cap * sizeof *m);
        if (!m)
            return fl_err_set(e, FL_EFAIL, "out of memory reading transactions");
        c->mops = m;
        *capmops = cap;
    }
    struct txn *t = &c->tx[c->ntx];
    t->op = opi;
    t->type = (uint8_t)op->type;
    t->mop0 = (uint32_t)c->nmops;
    t->nmop = txv.n;
    for (uint32_t i = 0; i < txv.n; i++) {
        struct fl_val mv = c->h->vals[txv.x + i];
        int rc = read_mop(c, op, &mv, i, op->type == FL_OP_OK, &c->mops[c->nmops + i], e);
        if (rc < 0)
            return rc;
    }
    c->nmops += txv.n;
    c->ntx++;
    return 0;
}

/* Index every written value; a value written twice to one key breaks the
 * inference, so it is an input error naming both lines. */
static int index_writes(struct txn_ctx *c, struct fl_err *e)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nmops; i++)
        n += c->mops[i].f != MOP_READ;
    c->wcap = 16;
    while (c->wcap < 2 * n + 2)
        c->wcap *= 2;
    c->w = malloc(c->wcap * sizeof *c->w);
    if (!c->w)
        return fl_err_set(e, FL_EFAIL, "out of memory indexing %zu writes", n);
    for (size_t i = 0; i < c->wcap; i++)
        c->w[i].txn = UINT32_MAX;
    size_t m = c->wcap - 1;
    for (uint32_t t = 0; t < c->ntx; t++) {
        for (uint32_t j = 0; j < c->tx[t].nmop; j++) {
            const struct txn_mop *mo = &c->mops[c->tx[t].mop0 + j];
            if (mo->f == MOP_READ)
                continue;
            size_t s = mix(mo->key, mo->val) & m;
            while (c->w[s].txn != UINT32_MAX && (c->w[s].key != mo->key || c->w[s].val != mo->val))
                s = (s + 1) & m;
            if (c->w[s].txn != UINT32_MAX) {
                const struct fl_hop *a = &c->h->ops[c->tx[c->w[s].txn].op];
                const struct fl_hop *b = &c->h->ops[c->tx[t].op];
                _cleanup_free_ char *kv = NULL;
                size_t kvn = 0;
                FILE *f = open_memstream(&kv, &kvn);
                if (f) {
                    fl_history_print_code(c->h, mo->val, f);
                    fputs(" to key ", f);
                    fl_history_print_code(c->h, mo->key, f);
                    fclose(f);
                }
                return fl_err_set(e, FL_EUSAGE,
                                  "%s:%u:%u: %s %s is also written at line %u; the checker "
                                  "needs every written value unique per key (generate values "
                                  "from a counter)",
                                  c->h->name, b->call_line, b->call_col,
                                  c->kind == TXN_LIST_APPEND ? "append of" : "write of",
                                  kv ? kv : "a value", a->call_line);
            }
            c->w[s] = (struct txn_wslot){mo->key, mo->val, t, UINT32_MAX};
        }
    }
    return 0;
}

/* Real-time order: A precedes B when A completed before B was invoked. Only
 * the transitive reduction is added: an op completed before B's invocation
 * whose own successor has also completed before it is reached through that
 * successor. The frontier stays as small as the concurrency. */
struct rt_scratch {
    uint32_t *ev;    /* event index -> 2 * transaction (+1: its completion) */
    uint32_t *front; /* completed, not yet followed by a completed successor */
    uint8_t *in;     /* transaction -> in front */
    size_t *e0, *e1; /* transaction -> its rt edges into it, [e0, e1) */
};

static int sweep(struct txn_ctx *c, struct rt_scratch *w)
{
    size_t nf = 0;
    for (uint32_t i = 0; i < c->h->nevents; i++)
        w->ev[i] = UINT32_MAX;
    for (uint32_t t = 0; t < c->ntx; t++) {
        const struct fl_hop *op = &c->h->ops[c->tx[t].op];
        if (c->tx[t].type == FL_OP_FAIL)
            continue;
        w->ev[op->call] = t * 2;
        if (op->ret != FL_HOP_NORET && c->tx[t].type == FL_OP_OK)
            w->ev[op->ret] = t * 2 + 1;
    }
    for (uint32_t i = 0; i < c->h->nevents; i++) {
        if (w->ev[i] == UINT32_MAX)
            continue;
        uint32_t t = w->ev[i] / 2;
        if (!(w->ev[i] & 1)) {
            w->e0[t] = c->nedges;
            for (size_t j = 0; j < nf; j++)
                if (fl_txn_add_edge(c, w->front[j], t, DEP_RT) < 0)
                    return -1;
            w->e1[t] = c->nedges;
            continue;
        }
        for (size_t j = w->e0[t]; j < w->e1[t]; j++)
            w->in[c->esrc[j]] = 0;
        size_t k = 0;
        for (size_t j = 0; j < nf; j++)
            if (w->in[w->front[j]])
                w->front[k++] = w->front[j];
        nf = k;
        w->front[nf++] = t;
        w->in[t] = 1;
    }
    return 0;
}

static int add_realtime(struct txn_ctx *c)
{
    struct rt_scratch w = {
        .ev = malloc(((size_t)c->h->nevents + 1) * sizeof *w.ev),
        .front = malloc((c->ntx + 1) * sizeof *w.front),
        .in = calloc(c->ntx + 1, 1),
        .e0 = malloc((c->ntx + 1) * sizeof *w.e0),
        .e1 = malloc((c->ntx + 1) * sizeof *w.e1),
    };
    int rc = w.ev && w.front && w.in && w.e0 && w.e1 ? sweep(c, &w) : -1;
    free(w.ev);
    free(w.front);
    free(w.in);
    free(w.e0);
    free(w.e1);
    return rc;
}

/* "serializable,snapshot-isolation" -> CM_* mask. */
static int parse_models(const char *s, unsigned *out, struct fl_err *e)
{
    static const char *names[] = {"read-committed", "repeatable-read", "snapshot-isolation",
                                  "serializable", "strict-serializable"};
    *out = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        unsigned bit = 0;
        for (unsigned i = 0; i < 5; i++)
            if (strlen(names[i]) == n && !strncmp(s, names[i], n))
                bit = 1u << i;
        if (!bit)
            return fl_err_set(e, FL_EUSAGE,
                              "--consistency-models: unknown model '%.*s'; use a comma-separated "
                              "list of read-committed, repeatable-read, snapshot-isolation, "
                              "serializable, strict-serializable",
                              (int)n, s);
        *out |= bit;
        s += n + (s[n] == ',');
    }
    if (!*out)
        return fl_err_set(e, FL_EUSAGE, "--consistency-models: give at least one model");
    return 0;
}

static void ctx_fini(struct txn_ctx *c)
{
    free(c->tx);
    free(c->mops);
    free(c->w);
    free(c->keys);
    free(c->esrc);
    free(c->edst);
    free(c->ekind);
    free(c->off);
    free(c->adj);
    free(c->akind);
    for (size_t i = 0; i < c->nfound; i++) {
        free(c->found[i].txns);
        free(c->found[i].edges);
    }
    free(c->found);
}

static int run(struct txn_ctx *c, struct fl_check_report *r, struct fl_err *e)
{
    size_t capmops = 0;
    int rc;

    c->tx = malloc((c->h->nops + 1) * sizeof *c->tx);
    if (!c->tx)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (uint32_t i = 0; i < c->h->nops; i++)
        if ((rc = add_txn(c, i, &capmops, e)) < 0)
            return rc;
    if ((rc = index_writes(c, e)) < 0)
        return rc;
    rc = c->kind == TXN_LIST_APPEND ? fl_txn_infer_append(c) : fl_txn_infer_register(c);
    if (rc == 0 && (c->models & CM_STRICT_SERIALIZABLE))
        rc = add_realtime(c);
    if (rc == 0)
        rc = fl_txn_graph_build(c);
    if (rc == 0)
        rc = fl_txn_find_cycles(c);
    if (rc == 0)
        rc = fl_txn_report(c, r);
    if (rc < 0)
        return fl_err_set(e, FL_EFAIL, "out of memory checking %zu transactions", c->ntx);
    r->checked_ops = c->ntx;
    r->partitions = 1;
    return 0;
}

int fl_check_txn(const struct fl_checker *checker, struct fl_history *h,
                 const struct fl_check_opts *o, struct fl_check_report *r, struct fl_err *e)
{
    struct txn_ctx c = {.h = h};

    (void)checker;
    int rc;

    c.kind = !strcmp(o->model, "list-append") ? TXN_LIST_APPEND : TXN_RW_REGISTER;
    rc = parse_models(o->consistency_models ? o->consistency_models : "serializable", &c.models, e);
    if (rc == 0)
        rc = run(&c, r, e);
    ctx_fini(&c);
    return rc;
}
