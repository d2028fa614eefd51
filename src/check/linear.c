/* The linearizability search over one partition of a history (linear.h:
 * Wing & Gong with Lowe's memoization). */
#include "check/linear.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t fl_check_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Memo: an open-addressing set of (bitset, state). Ops are numbered in call
 * order and the search linearizes roughly in that order, so a bitset is all
 * ones up to some word, then a short window, then all zeros: only the window
 * is stored, as [lo, len, words lo..lo+len), then the state length and the
 * state. That keeps entries a few words long even for a million ops. */
struct memo {
    uint64_t *hashes;
    uint64_t *offs; /* offset + 1 into words, 0 = empty */
    size_t cap, n;
    uint64_t *words;
    size_t nwords, capwords;
    size_t nw;
};

static int memo_grow(struct memo *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *h = calloc(cap, sizeof *h), *o = calloc(cap, sizeof *o);
    if (!h || !o) {
        free(h);
        free(o);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->offs[i])
            continue;
        size_t j = m->hashes[i] & (cap - 1);
        while (o[j])
            j = (j + 1) & (cap - 1);
        h[j] = m->hashes[i];
        o[j] = m->offs[i];
    }
    free(m->hashes);
    free(m->offs);
    m->hashes = h;
    m->offs = o;
    m->cap = cap;
    return 0;
}

/* Returns 1 if inserted (new), 0 if present, -1 out of memory. */
static int memo_add(struct memo *m, uint64_t hash, const uint64_t *bits, size_t lo, size_t hi,
                    const int64_t *s, int n)
{
    size_t len = hi > lo ? hi - lo : 0;
    if ((m->n + 1) * 2 > m->cap && memo_grow(m) < 0)
        return -1;
    size_t i = hash & (m->cap - 1);
    while (m->offs[i]) {
        if (m->hashes[i] == hash) {
            const uint64_t *w = m->words + m->offs[i] - 1;
            if (w[0] == lo && w[1] == len && !memcmp(w + 2, bits + lo, len * sizeof *w) &&
                w[2 + len] == (uint64_t)n && !memcmp(w + 3 + len, s, (size_t)n * sizeof *s))
                return 0;
        }
        i = (i + 1) & (m->cap - 1);
    }
    size_t need = 3 + len + (size_t)n;
    if (m->nwords + need > m->capwords) {
        size_t cap = m->capwords ? m->capwords : 4096;
        while (cap < m->nwords + need)
            cap *= 2;
        uint64_t *w = realloc(m->words, cap * sizeof *w);
        if (!w)
            return -1;
        m->words = w;
        m->capwords = cap;
    }
    uint64_t *w = m->words + m->nwords;
    w[0] = lo;
    w[1] = len;
    if (len)
        memcpy(w + 2, bits + lo, len * sizeof *w);
    w[2 + len] = (uint64_t)n;
    if (n)
        memcpy(w + 3 + len, s, (size_t)n * sizeof *s);
    m->hashes[i] = hash;
    m->offs[i] = m->nwords + 1;
    m->nwords += need;
    m->n++;
    return 1;
}

static void memo_free(struct memo *m)
{
    free(m->hashes);
    free(m->offs);
    free(m->words);
}

struct evkey {
    uint64_t pos; /* position << 1 | is_return... sorted */
    uint32_t entry;
};

static int evkey_cmp(const void *a, const void *b)
{
    const struct evkey *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

struct frame {
    int32_t entry;
    size_t off; /* previous state offset/len */
    int len;
};

struct search {
    const struct fl_lin_input *in;
    int32_t *next, *prev, *match;
    uint32_t *eop; /* entry -> op index */
    uint8_t *is_call;
    int64_t *sbuf;
    size_t scap;
    struct frame *stack;
    size_t sp;
    uint64_t *bits;
    size_t blo, bhi; /* words below blo are all ones, from bhi on all zeros */
    uint64_t *zob;
    struct memo memo;
};

static int state_reserve(struct search *s, size_t need)
{
    if (need <= s->scap)
        return 0;
    size_t cap = s->scap ? s->scap : 1024;
    while (cap < need)
        cap *= 2;
    int64_t *b = realloc(s->sbuf, cap * sizeof *b);
    if (!b)
        return -1;
    s->sbuf = b;
    s->scap = cap;
    return 0;
}

static void lift(struct search *s, int32_t e)
{
    int32_t r = s->match[e];
    s->next[s->prev[e]] = s->next[e];
    if (s->next[e] >= 0)
        s->prev[s->next[e]] = s->prev[e];
    s->next[s->prev[r]] = s->next[r];
    if (s->next[r] >= 0)
        s->prev[s->next[r]] = s->prev[r];
}

static void unlift(struct search *s, int32_t e)
{
    int32_t r = s->match[e];
    if (s->next[r] >= 0)
        s->prev[s->next[r]] = r;
    s->next[s->prev[r]] = r;
    if (s->next[e] >= 0)
        s->prev[s->next[e]] = e;
    s->next[s->prev[e]] = e;
}

static void bit_set(struct search *s, uint32_t op)
{
    size_t w = op >> 6;
    s->bits[w] |= 1ULL << (op & 63);
    if (w + 1 > s->bhi)
        s->bhi = w + 1;
    while (s->blo < s->memo.nw && s->bits[s->blo] == ~0ULL)
        s->blo++;
}

static void bit_clear(struct search *s, uint32_t op)
{
    size_t w = op >> 6;
    s->bits[w] &= ~(1ULL << (op & 63));
    if (w < s->blo)
        s->blo = w;
    while (s->bhi > 0 && s->bits[s->bhi - 1] == 0)
        s->bhi--;
}

static uint64_t state_hash(const struct fl_model_ops *m, const int64_t *st, int n)
{
    return m->hash ? m->hash(st, n) : fl_check_hash_words(st, n);
}

static bool state_equal(const struct fl_model_ops *m, const int64_t *a, int na, const int64_t *b,
                        int nb)
{
    if (m->equal)
        return m->equal(a, na, b, nb);
    return na == nb && !memcmp(a, b, (size_t)na * sizeof *a);
}

static void record_stuck(struct search *s, struct fl_lin_result *res, size_t op, size_t cur_off,
                         int cur_len)
{
    const struct fl_model_ops *m = s->in->model;
    const int64_t *st = s->sbuf + cur_off;

    if (s->sp < res->depth || (s->sp == res->depth && op != res->stuck && res->nstates))
        return;
    if (s->sp > res->depth || !res->nstates) {
        res->depth = s->sp;
        res->stuck = op;
        for (int i = 0; i < res->nstates; i++)
            free(res->states[i]);
        res->nstates = 0;
        res->npath = 0;
        size_t from = s->sp > FL_LIN_MAX_PATH ? s->sp - FL_LIN_MAX_PATH : 0;
        for (size_t i = from; i < s->sp; i++)
            res->path[res->npath++] = s->eop[s->stack[i].entry];
    }
    if (res->nstates >= FL_LIN_MAX_STATES)
        return;
    for (int i = 0; i < res->nstates; i++)
        if (state_equal(m, res->states[i], res->nstate[i], st, cur_len))
            return;
    int64_t *copy = malloc(((size_t)cur_len + 1) * sizeof *copy);
    if (!copy)
        return;
    memcpy(copy, st, (size_t)cur_len * sizeof *copy);
    res->states[res->nstates] = copy;
    res->nstate[res->nstates++] = cur_len;
}

static int run(struct search *s, struct fl_lin_result *res)
{
    const struct fl_lin_input *in = s->in;
    const struct fl_model_ops *m = in->model;
    size_t n = in->n;
    int32_t head = (int32_t)(2 * n);
    size_t remaining = 0;
    size_t cur_off = 0;
    int cur_len;
    uint64_t zob = 0;
    size_t max_bytes = in->max_memo_bytes ? in->max_memo_bytes : (size_t)1 << 30;

    for (size_t i = 0; i < n; i++)
        if (in->ops[i].ret != FL_LIN_NORET)
            remaining++;
    if (state_reserve(s, 64) < 0)
        return -1;
    cur_len = m->init(in->cfg, s->sbuf);
    if (remaining == 0) {
        res->verdict = FL_CHECK_VALID;
        return 0;
    }
    int32_t entry = s->next[head];
    for (;;) {
        if ((++res->steps & 1023) == 0) {
            if (in->deadline_ns && fl_check_now_ns() > in->deadline_ns) {
                res->verdict = FL_CHECK_UNKNOWN;
                res->why_unknown = "the search ran out of time (raise --timeout)";
                return 0;
            }
            if (s->memo.nwords * 8 + s->memo.cap * 16 > max_bytes) {
                res->verdict = FL_CHECK_UNKNOWN;
                res->why_unknown = "the search needs more memory than allowed";
                return 0;
            }
        }
        if (entry >= 0 && s->is_call[entry]) {
            uint32_t op = s->eop[entry];
            const struct fl_mop *mop = &in->mops[in->ops[op].mop];
            size_t at = cur_off + (size_t)cur_len;
            if (state_reserve(s, at + m->max_words((uint32_t)cur_len, mop) + 1) < 0)
                return -1;
            int nl = m->step(s->sbuf + cur_off, cur_len, mop, in->aux, s->sbuf + at);
            if (nl >= 0) {
                int fresh = 1;
                bit_set(s, op);
                zob ^= s->zob[op];
                if (!in->no_memo) {
                    uint64_t hv = zob ^ mix64(state_hash(m, s->sbuf + at, nl));
                    fresh = memo_add(&s->memo, hv, s->bits, s->blo, s->bhi, s->sbuf + at, nl);
                    if (fresh < 0)
                        return -1;
                }
                if (fresh) {
                    s->stack[s->sp++] = (struct frame){entry, cur_off, cur_len};
                    cur_off = at;
                    cur_len = nl;
                    lift(s, entry);
                    if (in->ops[op].ret != FL_LIN_NORET && --remaining == 0) {
                        res->verdict = FL_CHECK_VALID;
                        return 0;
                    }
                    entry = s->next[head];
                    continue;
                }
                bit_clear(s, op);
                zob ^= s->zob[op];
            }
            entry = s->next[entry];
            continue;
        }
        /* a return we cannot get past in this configuration: backtrack */
        if (entry >= 0)
            record_stuck(s, res, s->eop[entry], cur_off, cur_len);
        if (s->sp == 0) {
            res->verdict = FL_CHECK_INVALID;
            return 0;
        }
        struct frame fr = s->stack[--s->sp];
        uint32_t op = s->eop[fr.entry];
        cur_off = fr.off;
        cur_len = fr.len;
        bit_clear(s, op);
        zob ^= s->zob[op];
        if (in->ops[op].ret != FL_LIN_NORET)
            remaining++;
        unlift(s, fr.entry);
        entry = s->next[fr.entry];
    }
}

int fl_check_linearizable(const struct fl_lin_input *in, struct fl_lin_result *res)
{
    size_t n = in->n, ne = 2 * n;
    struct search s = {0};
    struct evkey *keys = NULL;
    int rc = -1;

    memset(res, 0, sizeof *res);
    s.in = in;
    s.next = malloc((ne + 1) * sizeof *s.next);
    s.prev = malloc((ne + 1) * sizeof *s.prev);
    s.match = malloc((ne + 1) * sizeof *s.match);
    s.eop = malloc((ne + 1) * sizeof *s.eop);
    s.is_call = malloc(ne + 1);
    s.stack = malloc((n + 1) * sizeof *s.stack);
    s.memo.nw = (n + 63) / 64;
    s.bits = calloc(s.memo.nw + 1, sizeof *s.bits);
    s.zob = malloc((n + 1) * sizeof *s.zob);
    keys = malloc((ne + 1) * sizeof *keys);
    if (!s.next || !s.prev || !s.match || !s.eop || !s.is_call || !s.stack || !s.bits || !s.zob ||
        !keys)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct fl_lin_op *o = &in->ops[i];
        /* calls sort before returns at the same position; unknown outcomes last */
        keys[2 * i] = (struct evkey){(uint64_t)o->call << 1, (uint32_t)(2 * i)};
        uint64_t rp = o->ret == FL_LIN_NORET ? (UINT64_C(1) << 40) + i : o->ret;
        keys[2 * i + 1] = (struct evkey){rp << 1 | 1, (uint32_t)(2 * i + 1)};
        s.eop[2 * i] = s.eop[2 * i + 1] = (uint32_t)i;
        s.is_call[2 * i] = 1;
        s.is_call[2 * i + 1] = 0;
        s.match[2 * i] = (int32_t)(2 * i + 1);
        s.match[2 * i + 1] = (int32_t)(2 * i);
        s.zob[i] = mix64(i * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL);
    }
    qsort(keys, ne, sizeof *keys, evkey_cmp);
    int32_t head = (int32_t)ne, last = head;
    for (size_t i = 0; i < ne; i++) {
        int32_t e = (int32_t)keys[i].entry;
        s.next[last] = e;
        s.prev[e] = last;
        last = e;
    }
    s.next[last] = -1;
    rc = run(&s, res);
    res->memo_entries = s.memo.n;
    res->memo_bytes = s.memo.nwords * 8 + s.memo.cap * 16;
out:
    free(keys);
    free(s.next);
    free(s.prev);
    free(s.match);
    free(s.eop);
    free(s.is_call);
    free(s.stack);
    free(s.bits);
    free(s.zob);
    free(s.sbuf);
    memo_free(&s.memo);
    if (rc < 0) {
        fl_lin_result_fini(res);
        return -FL_EFAIL;
    }
    return 0;
}

void fl_lin_result_fini(struct fl_lin_result *res)
{
    for (int i = 0; i < res->nstates; i++)
        free(res->states[i]);
    res->nstates = 0;
}
