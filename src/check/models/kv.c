/* kv: independent cas-registers, one per key. The key comes from the
 * operation's "key" field, or else the value is a [key value] tuple (Jepsen's
 * independent histories: [:write [k v]], [:cas [k [old new]]]). Keys are
 * checked separately, which keeps the search small (P-compositionality).
 *
 * It also speaks Porcupine's kv vocabulary: get (a read where a missing key
 * reads as ""), put (a write) and append (concatenates a string; a missing
 * key starts as ""). To concatenate without the text, a string value is
 * represented by a polynomial hash of its bytes modulo 2^61 - 1, above every
 * integer code: hash(s + t) = hash(s) * B^len(t) + hash(t), so a state stays
 * one word. Two different strings share a hash with probability about
 * 2^-61 per comparison. */
#include <string.h>

#include "check/models/models.h"

enum { KV_GET = FL_REG_CAS + 1, KV_APPEND };

#define KV_P ((UINT64_C(1) << 61) - 1)
#define KV_B UINT64_C(1000003)
/* string states: KV_STR + hash, past every integer code */
#define KV_STR (FL_CODE_INT_MAX + 1)

static const char *const kv_fs[] = {"read", "write", "cas", "get", "put", "append", NULL};

static uint64_t mulmod(uint64_t a, uint64_t b)
{
    unsigned __int128 x = (unsigned __int128)a * b;
    uint64_t r = (uint64_t)(x & KV_P) + (uint64_t)(x >> 61);
    return r >= KV_P ? r - KV_P : r;
}

static uint64_t text_hash(const char *s, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        h = mulmod(h, KV_B) + (unsigned char)s[i] + 1;
        if (h >= KV_P)
            h -= KV_P;
    }
    return h;
}

static uint64_t pow_b(size_t n)
{
    uint64_t r = 1, b = KV_B;
    for (; n; n >>= 1) {
        if (n & 1)
            r = mulmod(r, b);
        b = mulmod(b, b);
    }
    return r;
}

static bool is_text(const struct fl_val *v)
{
    return v->kind == FL_V_STR || v->kind == FL_V_KW || v->kind == FL_V_SYM;
}

static bool is_str_state(int64_t s)
{
    return s >= KV_STR;
}

/* The word a value is in this model: strings by their hash, the rest by
 * their code. */
static int64_t kv_code(struct fl_history *h, const struct fl_val *v)
{
    size_t n;
    const char *s;

    if (!is_text(v))
        return fl_history_code(h, v);
    s = fl_history_str(h, v->x, &n);
    return KV_STR + (int64_t)text_hash(s, n);
}

/* --initial arrives as a value code: a string's is its interned id. */
static int64_t value_of_code(struct fl_history *h, int64_t code)
{
    if (code < FL_CODE_ATOM0 || code >= FL_CODE_INT_MIN)
        return code;
    int64_t id = code - FL_CODE_ATOM0;
    if ((size_t)id >= h->nstr)
        return code;
    if (h->strkind[id] != FL_V_STR && h->strkind[id] != FL_V_KW && h->strkind[id] != FL_V_SYM)
        return code;
    struct fl_val v = {FL_V_STR, 0, id};
    return kv_code(h, &v);
}

static int prep_value(struct fl_prep *p, const struct fl_hop *op, const struct fl_val *v,
                      struct fl_mop *out)
{
    int f = fl_check_f_index(p->h, op, kv_fs);

    if (f < 0)
        return fl_prep_fail(p, op,
                            "unknown function for this model; expected read, write, cas, or "
                            "Porcupine's get, put, append");
    out->f = f == 3 ? KV_GET : f == 4 ? FL_REG_WRITE : f == 5 ? KV_APPEND : (uint32_t)f;
    switch (out->f) {
    case FL_REG_READ:
    case KV_GET:
        if (op->type != FL_OP_OK)
            return FL_PREP_SKIP;
        out->a = kv_code(p->h, v);
        return 0;
    case FL_REG_WRITE:
        out->a = kv_code(p->h, v);
        return 0;
    case KV_APPEND: {
        size_t n;
        if (!is_text(v))
            return fl_prep_fail(p, op, "append takes a string value to add at the end");
        const char *s = fl_history_str(p->h, v->x, &n);
        out->a = (int64_t)text_hash(s, n);
        out->b = (int64_t)pow_b(n);
        return 0;
    }
    default:
        if ((v->kind != FL_V_VEC && v->kind != FL_V_LIST) || v->n != 2)
            return fl_prep_fail(p, op, "cas value must be a pair [old new]");
        out->a = kv_code(p->h, fl_history_child(p->h, v, 0));
        out->b = kv_code(p->h, fl_history_child(p->h, v, 1));
        return 0;
    }
}

static int prepare(struct fl_prep *p, const struct fl_hop *op, struct fl_mop *out)
{
    const struct fl_val *v = fl_prep_value(op);

    if (op->key.kind != FL_V_NIL) {
        out->key = fl_history_code(p->h, &op->key);
    } else {
        if ((v->kind != FL_V_VEC && v->kind != FL_V_LIST) || v->n != 2) {
            /* an unknown read may carry only [k nil] or nothing at all */
            if (op->type != FL_OP_OK &&
                (fl_history_fis(p->h, op, "read") || fl_history_fis(p->h, op, "get")))
                return FL_PREP_SKIP;
            return fl_prep_fail(p, op, "kv operations need a \"key\" field or a [key value] value");
        }
        out->key = fl_history_code(p->h, fl_history_child(p->h, v, 0));
        v = fl_history_child(p->h, v, 1);
    }
    return prep_value(p, op, v, out);
}

static int step(const int64_t *s, int n, const struct fl_mop *op, const int64_t *aux, int64_t *out)
{
    int64_t empty = KV_STR; /* the hash of "" is 0 */

    switch (op->f) {
    case KV_GET: {
        int64_t have = s[0] == FL_CODE_NIL ? empty : s[0];
        int64_t want = op->a == FL_CODE_NIL ? empty : op->a;
        if (op->a != FL_CODE_UNKNOWN && have != want)
            return -1;
        out[0] = s[0];
        return 1;
    }
    case KV_APPEND: {
        int64_t cur = s[0] == FL_CODE_NIL ? empty : s[0];
        if (!is_str_state(cur))
            return -1; /* a number or another value: nothing to append to */
        uint64_t hv = mulmod((uint64_t)(cur - KV_STR), (uint64_t)op->b) + (uint64_t)op->a;
        out[0] = KV_STR + (int64_t)(hv >= KV_P ? hv - KV_P : hv);
        return 1;
    }
    default:
        return fl_model_register_step(s, n, op, aux, out);
    }
}

static bool readonly(const struct fl_mop *op, const int64_t *aux)
{
    return op->f == FL_REG_READ || op->f == KV_GET;
}

/* A string state is a hash: name the string when some operation wrote or
 * read exactly that text (only on failures, so the scan is affordable). */
static void describe(const struct fl_history *h, const int64_t *s, int n, FILE *out)
{
    if (!is_str_state(s[0])) {
        fl_model_register_describe(h, s, n, out);
        return;
    }
    for (size_t id = 0; id < h->nstr; id++) {
        size_t len;
        const char *t = fl_history_str(h, (int64_t)id, &len);
        if (KV_STR + (int64_t)text_hash(t, len) == s[0]) {
            struct fl_val v = {FL_V_STR, 0, (int64_t)id};
            fputs("value = ", out);
            fl_history_print_val(h, &v, false, out);
            return;
        }
    }
    fputs("value = a string no operation wrote or read whole (the result of appends)", out);
}

const struct fl_model_ops fl_model_kv = {
    .name = "kv",
    .summary = "independent cas-registers per key (\"key\" field or [k v] values); also "
               "get/put/append of strings",
    .per_key = true,
    .prepare = prepare,
    .init = fl_model_register_init,
    .max_words = fl_model_register_max_words,
    .step = step,
    .readonly = readonly,
    .describe_state = describe,
    .anomaly = fl_model_register_anomaly,
    .value = value_of_code,
};
