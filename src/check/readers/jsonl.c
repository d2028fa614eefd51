/* The faultline JSON Lines reader: one event per line. Most lines take a
 * scanner that picks the operation's fields out of a flat object without
 * building it; others go through the EDN reader in JSON mode, and what that
 * does not accept through jansson, whose messages say what is wrong. */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check/edn.h"
#include "check/readers/read.h"

static int json_to_val(struct fl_history *h, json_t *j, struct fl_val *out, int depth)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        *out = (struct fl_val){FL_V_NIL, 0, 0};
        return 0;
    case JSON_TRUE:
        *out = (struct fl_val){FL_V_BOOL, 0, 1};
        return 0;
    case JSON_FALSE:
        *out = (struct fl_val){FL_V_BOOL, 0, 0};
        return 0;
    case JSON_INTEGER: {
        json_int_t v = json_integer_value(j);
        if (v >= FL_CODE_INT_MIN && v <= FL_CODE_INT_MAX) {
            *out = (struct fl_val){FL_V_INT, 0, v};
            return 0;
        }
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, v);
        int64_t id = fl_history_intern(h, tmp, (size_t)n, FL_V_NUM);
        *out = (struct fl_val){FL_V_NUM, 0, id};
        return id < 0 ? -1 : 0;
    }
    case JSON_REAL: {
        char tmp[40];
        int n = snprintf(tmp, sizeof tmp, "%.17g", json_real_value(j));
        int64_t id = fl_history_intern(h, tmp, (size_t)n, FL_V_NUM);
        *out = (struct fl_val){FL_V_NUM, 0, id};
        return id < 0 ? -1 : 0;
    }
    case JSON_STRING: {
        int64_t id = fl_history_intern(h, json_string_value(j), json_string_length(j), FL_V_STR);
        *out = (struct fl_val){FL_V_STR, 0, id};
        return id < 0 ? -1 : 0;
    }
    default:
        break;
    }
    bool obj = json_is_object(j);
    size_t n = obj ? json_object_size(j) * 2 : json_array_size(j);
    struct fl_val small[16];
    struct fl_val *kids = n <= 16 ? small : malloc(n * sizeof *kids);
    if (!kids)
        return -1;
    size_t k = 0;
    int rc = 0;
    if (obj) {
        const char *key;
        json_t *v;
        json_object_foreach (j, key, v) {
            int64_t id = fl_history_intern(h, key, strlen(key), FL_V_STR);
            if (id < 0 || json_to_val(h, v, &kids[k + 1], depth + 1) < 0) {
                rc = -1;
                break;
            }
            kids[k] = (struct fl_val){FL_V_STR, 0, id};
            k += 2;
        }
    } else {
        for (k = 0; k < n; k++)
            if (json_to_val(h, json_array_get(j, k), &kids[k], depth + 1) < 0) {
                rc = -1;
                break;
            }
    }
    int64_t at = 0;
    if (rc == 0 && n)
        at = fl_history_push_vals(h, kids, n);
    if (kids != small)
        free(kids);
    if (rc < 0 || at < 0)
        return -1;
    *out = (struct fl_val){obj ? FL_V_MAP : FL_V_VEC, (uint32_t)(obj ? n / 2 : n), at};
    return 0;
}

/* The fast path: the EDN reader in JSON mode reads most lines several times
 * faster than building a jansson tree. Anything it does not accept is read
 * again by jansson, whose messages say what is wrong. */
static int fast_line(struct fl_read *b, struct fl_edn *r, const char *p, const char *le,
                     uint32_t line, struct fl_val *v)
{
    struct fl_err scratch;
    r->p = p;
    r->end = le;
    r->line_start = p;
    r->line = line;
    r->e = &scratch;
    size_t mark = b->h->nvals;
    if (fl_edn_peek(r) != '{' || fl_edn_read(r, v) < 0 || fl_edn_peek(r) >= 0) {
        r->e = b->e;
        b->h->nvals = mark;
        return -1;
    }
    r->e = b->e;
    return 0;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

/* The K_* index of a field name (the text between the quotes), or -1. */
static int field_index(const char *k, size_t n)
{
    switch (n) {
    case 1:
        return k[0] == 'f' ? FL_RK_F : -1;
    case 3:
        return !memcmp(k, "key", 3) ? FL_RK_KEY : -1;
    case 4:
        return !memcmp(k, "type", 4) ? FL_RK_TYPE : !memcmp(k, "time", 4) ? FL_RK_TIME : -1;
    case 5:
        return !memcmp(k, "value", 5) ? FL_RK_VALUE : !memcmp(k, "error", 5) ? FL_RK_ERROR : -1;
    case 7:
        return !memcmp(k, "process", 7) ? FL_RK_PROCESS : -1;
    default:
        return -1;
    }
}

/* The type named by a plain string value at p ("invoke", "ok", ...): its
 * code, with *after just past the closing quote; -2 when p holds anything
 * else (escapes, not a string), so the caller reads it as a value. */
static int plain_type(const char *p, const char *end, const char **after)
{
    static const struct {
        const char *s;
        size_t n;
        int t;
    } types[] = {
        {"invoke", 6, 3}, {"ok", 2, FL_OP_OK}, {"fail", 4, FL_OP_FAIL}, {"info", 4, FL_OP_INFO}};
    const char *q;

    if (p >= end || *p != '"')
        return -2;
    for (q = p + 1; q < end && *q != '"' && *q != '\\'; q++)
        ;
    if (q >= end || *q != '"')
        return -2;
    *after = q + 1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if ((size_t)(q - p - 1) == types[i].n && !memcmp(p + 1, types[i].s, types[i].n))
            return types[i].t;
    return -1;
}

/* A completion's value that is the same text as its invocation's (a write,
 * a transfer, an enqueue: most completions echo what was asked) is the same
 * value: share the parsed one. Known only when "process" and "type" come
 * before "value" on the line, as faultline writes them; otherwise the value
 * is simply parsed. On a match *v is the invocation's value and
 * b->cur_len the length of the text to skip. */
static bool echoes_invocation(struct fl_read *b, const struct fl_val *proc, int t, const char *p,
                              const char *le, struct fl_val *v)
{
    uint32_t idx, n;
    const char *after;

    if (!proc || proc->kind != FL_V_INT || t < 0 || t == 3 ||
        !(idx = fl_read_pending_find(&b->pend, proc->x)) || idx - 1 >= b->cap_text ||
        !(n = b->inv_len[idx - 1]) || (size_t)(le - p) < n || memcmp(p, b->inv_text[idx - 1], n))
        return false;
    after = p + n;
    if (after < le && *after != ' ' && *after != '\t' && *after != '\r' && *after != ',' &&
        *after != '}')
        return false; /* "12" is a prefix of "123" */
    *v = b->h->ops[idx - 1].inv;
    b->cur_len = n;
    return true;
}

/* The fastest path, for the lines faultline's own recorder writes (and most
 * others): one flat JSON object with quoted, unescaped keys. The fields an
 * operation has are picked out while scanning, so the event's own map is
 * never built and its keys and type are never interned; values go through
 * the EDN reader in JSON mode. This is not a general JSON parser: any line
 * it does not recognise (returns -1, having consumed nothing that stays in
 * the history) takes the paths below it, the generic reader and then
 * jansson. On success the event has been added (or its error set: rc < 0
 * in *rc). */
static int scan_line(struct fl_read *b, struct fl_edn *r, const char *p, const char *le,
                     uint32_t line, uint32_t col, int *rc)
{
    struct fl_history *h = b->h;
    struct fl_val vals[FL_RK_TIME + 1];
    const struct fl_val *field[FL_RK_TIME + 1] = {NULL};
    struct fl_err scratch;
    size_t mark = h->nvals;
    int t = -1;

    r->end = le;
    r->line_start = p - (col - 1);
    r->line = line;
    r->e = &scratch;
    b->cur_text = NULL;
    if (p >= le || *p != '{')
        goto fallback;
    p = skip_ws(p + 1, le);
    if (p < le && *p == '}') {
        p++;
        goto done;
    }
    for (;;) {
        const char *k, *ke;
        int j;
        struct fl_val v;

        if (p >= le || *p != '"')
            goto fallback;
        for (k = ke = p + 1; ke < le && *ke != '"' && *ke != '\\'; ke++)
            ;
        if (ke >= le || *ke != '"')
            goto fallback;
        p = skip_ws(ke + 1, le);
        if (p >= le || *p != ':')
            goto fallback;
        p = skip_ws(p + 1, le);
        j = field_index(k, (size_t)(ke - k));
        if (j == FL_RK_TYPE && !field[j]) {
            const char *after;
            int pt = plain_type(p, le, &after);
            if (pt != -2) {
                t = pt;
                vals[j] = (struct fl_val){FL_V_NIL, 0, 0}; /* present; t says which */
                field[j] = &vals[j];
                p = after;
                goto next;
            }
        }
        if (j == FL_RK_VALUE && !field[j] &&
            echoes_invocation(b, field[FL_RK_PROCESS], t, p, le, &v)) {
            p += b->cur_len;
            b->cur_text = NULL;
        } else {
            r->p = p;
            if (p < le && (*p == '{' || *p == '[') && fl_edn_read_flat(r, &v) == 0)
                ;
            else if (fl_edn_read(r, &v) < 0)
                goto fallback;
            if (j == FL_RK_VALUE && !field[j] && r->p - p < UINT32_MAX) {
                b->cur_text = p;
                b->cur_len = (uint32_t)(r->p - p);
            }
            p = r->p;
        }
        if (j >= 0 && !field[j]) {
            if (j == FL_RK_TYPE)
                t = fl_read_type_of(b, &v);
            vals[j] = v;
            field[j] = &vals[j];
        }
    next:
        p = skip_ws(p, le);
        if (p < le && *p == ',') {
            p = skip_ws(p + 1, le);
            continue;
        }
        if (p < le && *p == '}') {
            p++;
            break;
        }
        goto fallback;
    }
done:
    if (skip_ws(p, le) != le)
        goto fallback;
    r->e = b->e;
    if (t != 3)
        b->cur_text = NULL; /* only invocations are remembered */
    *rc = fl_read_add_fields(b, field, t, line, col);
    b->cur_text = NULL;
    return 0;
fallback:
    /* Strings interned on the way stay interned (harmless: ids are only
     * names for text); values read on the way are dropped. */
    b->cur_text = NULL;
    r->e = b->e;
    h->nvals = mark;
    return -1;
}

int fl_read_jsonl(struct fl_read *b, const char *buf, size_t len)
{
    struct fl_history *h = b->h;
    uint32_t line = 0;
    const char *p = buf, *end = buf + len;
    int rc;
    struct fl_edn fast;

    fl_edn_init(&fast, h, buf, len, h->name, b->e);
    fast.json = true;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        if ((size_t)(le - p) > b->max_op) {
            rc = fl_err_set(b->e, FL_EUSAGE,
                            "%s:%u:1: this line is %zu bytes, over the limit of %zu bytes for one "
                            "operation; is this a history? (raise it with --max-op-size)",
                            h->name, line, (size_t)(le - p), b->max_op);
            goto out;
        }
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < le && *q != '#') {
            struct fl_val v;
            size_t mark = h->nvals;
            fl_read_prefault(h->vals, h->nvals * sizeof *h->vals, h->capvals * sizeof *h->vals,
                             &b->prefaulted_vals);
            fl_read_prefault(h->ops, h->nops * sizeof *h->ops, h->capops * sizeof *h->ops,
                             &b->prefaulted_ops);
            if (scan_line(b, &fast, q, le, line, (uint32_t)(q - p) + 1, &rc) == 0) {
                if (rc < 0)
                    goto out;
                p = nl ? nl + 1 : end;
                continue;
            }
            if (fast_line(b, &fast, q, le, line, &v) == 0) {
                if ((rc = fl_read_add_event(b, &v, line, (uint32_t)(q - p) + 1)) < 0)
                    goto out;
                if (v.n && (size_t)v.x + 2 * v.n == h->nvals && (size_t)v.x >= mark)
                    h->nvals = (size_t)v.x;
                p = nl ? nl + 1 : end;
                continue;
            }
            json_error_t je;
            json_t *j = json_loadb(p, (size_t)(le - p), JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            if (!j) {
                rc = fl_err_set(b->e, FL_EUSAGE, "%s:%u:%d: invalid JSON: %s", h->name, line,
                                je.column > 0 ? je.column : 1, je.text);
                goto out;
            }
            if (!json_is_object(j)) {
                json_decref(j);
                rc = fl_err_set(b->e, FL_EUSAGE,
                                "%s:%u:%u: each line must be one JSON object (an operation)",
                                h->name, line, (unsigned)(q - p) + 1);
                goto out;
            }
            rc = json_to_val(h, j, &v, 0);
            json_decref(j);
            if (rc < 0) {
                rc = fl_err_set(b->e, FL_EFAIL, "%s: out of memory", h->name);
                goto out;
            }
            if ((rc = fl_read_add_event(b, &v, line, (uint32_t)(q - p) + 1)) < 0)
                goto out;
            /* the operation's own map is no longer needed; its values are */
            if (v.n && (size_t)v.x + 2 * v.n == h->nvals && (size_t)v.x >= mark)
                h->nvals = (size_t)v.x;
        }
        p = nl ? nl + 1 : end;
    }
    rc = 0;
out:
    fl_edn_fini(&fast);
    return rc;
}
