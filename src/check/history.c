/* The history data model: the value arena, interned strings, value codes,
 * printing values as EDN or JSON, and writing a history back out. The
 * readers that build a history are in readers/. */
#include "check/history.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Intern classes: strings, keywords and symbols with the same text are the
 * same atom ("read" == :read); number text and compound text live apart. */
static int intern_class(int kind)
{
    if (kind == FL_V_NUM)
        return 1;
    if (kind >= FL_V_VEC)
        return 2;
    return 0;
}

static uint64_t hash_bytes(const char *s, size_t n, int cls)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)cls;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

struct fl_history *fl_history_new(const char *name)
{
    struct fl_history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->name = strdup(name ? name : "<history>");
    if (!h->name) {
        free(h);
        return NULL;
    }
    h->have_time = true;
    return h;
}

void fl_history_free(struct fl_history *h)
{
    if (!h)
        return;
    free(h->name);
    free(h->ops);
    free(h->vals);
    free(h->strbuf);
    free(h->stroff);
    free(h->strlen_of);
    free(h->strkind);
    free(h->strhash);
    free(h);
}

static int rehash(struct fl_history *h, size_t cap)
{
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t id = 0; id < h->nstr; id++) {
        uint64_t hv =
            hash_bytes(h->strbuf + h->stroff[id], h->strlen_of[id], intern_class(h->strkind[id]));
        size_t i = hv & (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = (uint32_t)id + 1;
    }
    free(h->strhash);
    h->strhash = t;
    h->hashcap = cap;
    return 0;
}

int64_t fl_history_intern(struct fl_history *h, const char *s, size_t n, int kind)
{
    int cls = intern_class(kind);
    if (h->nstr * 2 >= h->hashcap && rehash(h, h->hashcap ? h->hashcap * 2 : 1024) < 0)
        return -1;
    uint64_t hv = hash_bytes(s, n, cls);
    size_t i = hv & (h->hashcap - 1);
    while (h->strhash[i]) {
        uint32_t id = h->strhash[i] - 1;
        if (h->strlen_of[id] == n && intern_class(h->strkind[id]) == cls &&
            !memcmp(h->strbuf + h->stroff[id], s, n))
            return id;
        i = (i + 1) & (h->hashcap - 1);
    }
    if (h->nstr == h->capstr) {
        size_t cap = h->capstr ? h->capstr * 2 : 256;
        uint32_t *o = realloc(h->stroff, cap * sizeof *o);
        if (!o)
            return -1;
        h->stroff = o;
        uint32_t *l = realloc(h->strlen_of, cap * sizeof *l);
        if (!l)
            return -1;
        h->strlen_of = l;
        uint8_t *k = realloc(h->strkind, cap);
        if (!k)
            return -1;
        h->strkind = k;
        h->capstr = cap;
    }
    if (h->strlen_ + n + 1 > h->strcap) {
        size_t cap = h->strcap ? h->strcap : 4096;
        while (cap < h->strlen_ + n + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return -1;
        char *b = realloc(h->strbuf, cap);
        if (!b)
            return -1;
        h->strbuf = b;
        h->strcap = cap;
    }
    size_t id = h->nstr++;
    h->stroff[id] = (uint32_t)h->strlen_;
    h->strlen_of[id] = (uint32_t)n;
    h->strkind[id] = (uint8_t)kind;
    if (n)
        memcpy(h->strbuf + h->strlen_, s, n);
    h->strbuf[h->strlen_ + n] = 0;
    h->strlen_ += n + 1;
    h->strhash[i] = (uint32_t)id + 1;
    return (int64_t)id;
}

const char *fl_history_str(const struct fl_history *h, int64_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= h->nstr) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = h->strlen_of[id];
    return h->strbuf + h->stroff[id];
}

bool fl_history_fis(const struct fl_history *h, const struct fl_hop *op, const char *name)
{
    return !strcmp(fl_history_str(h, op->f, NULL), name);
}

int64_t fl_history_push_vals(struct fl_history *h, const struct fl_val *v, size_t n)
{
    if (h->nvals + n > h->capvals) {
        size_t cap = h->capvals ? h->capvals : 1024;
        while (cap < h->nvals + n)
            cap *= 2;
        struct fl_val *a = realloc(h->vals, cap * sizeof *a);
        if (!a)
            return -1;
        h->vals = a;
        h->capvals = cap;
    }
    memcpy(h->vals + h->nvals, v, n * sizeof *v);
    h->nvals += n;
    return (int64_t)(h->nvals - n);
}

static bool key_is(const struct fl_history *h, const struct fl_val *k, const char *name)
{
    if (k->kind != FL_V_STR && k->kind != FL_V_KW && k->kind != FL_V_SYM)
        return false;
    return !strcmp(fl_history_str(h, k->x, NULL), name);
}

const struct fl_val *fl_history_map_get(const struct fl_history *h, const struct fl_val *map,
                                        const char *name)
{
    if (map->kind != FL_V_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->n; i++)
        if (key_is(h, fl_history_child(h, map, 2 * i), name))
            return fl_history_child(h, map, 2 * i + 1);
    return NULL;
}

/* ---- printing ---- */

static void print_str_escaped(const char *s, size_t n, FILE *out)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static bool json_number_text(const char *s)
{
    char *end;
    if (!*s)
        return false;
    errno = 0;
    strtod(s, &end);
    return *end == 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'));
}

void fl_history_print_val(const struct fl_history *h, const struct fl_val *v, bool json, FILE *out)
{
    size_t n;
    const char *s;

    switch (v->kind) {
    case FL_V_NIL:
        fputs(json ? "null" : "nil", out);
        return;
    case FL_V_BOOL:
        fputs(v->x ? "true" : "false", out);
        return;
    case FL_V_INT:
        fprintf(out, "%" PRId64, v->x);
        return;
    case FL_V_NUM:
        s = fl_history_str(h, v->x, &n);
        if (json && !json_number_text(s))
            print_str_escaped(s, n, out);
        else
            fwrite(s, 1, n, out);
        return;
    case FL_V_STR:
        s = fl_history_str(h, v->x, &n);
        print_str_escaped(s, n, out);
        return;
    case FL_V_KW:
    case FL_V_SYM:
        s = fl_history_str(h, v->x, &n);
        if (json) {
            print_str_escaped(s, n, out);
        } else {
            if (v->kind == FL_V_KW)
                fputc(':', out);
            fwrite(s, 1, n, out);
        }
        return;
    case FL_V_MAP:
        fputc('{', out);
        for (uint32_t i = 0; i < v->n; i++) {
            const struct fl_val *k = fl_history_child(h, v, 2 * i);
            if (i)
                fputs(", ", out);
            if (json && k->kind != FL_V_STR) {
                /* JSON keys are strings: write the key's text */
                if (k->kind == FL_V_KW || k->kind == FL_V_SYM || k->kind == FL_V_NUM) {
                    s = fl_history_str(h, k->x, &n);
                    print_str_escaped(s, n, out);
                } else if (k->kind == FL_V_INT) {
                    fprintf(out, "\"%" PRId64 "\"", k->x);
                } else {
                    char *buf = NULL;
                    size_t blen = 0;
                    FILE *m = open_memstream(&buf, &blen);
                    if (m) {
                        fl_history_print_val(h, k, false, m);
                        fclose(m);
                        print_str_escaped(buf, blen, out);
                    }
                    free(buf);
                }
            } else {
                fl_history_print_val(h, k, json, out);
            }
            fputs(json ? ": " : " ", out);
            fl_history_print_val(h, fl_history_child(h, v, 2 * i + 1), json, out);
        }
        fputc('}', out);
        return;
    default: {
        const char *open = json                   ? "["
                           : v->kind == FL_V_LIST ? "("
                           : v->kind == FL_V_SET  ? "#{"
                                                  : "[";
        const char *close = json                   ? "]"
                            : v->kind == FL_V_LIST ? ")"
                            : v->kind == FL_V_SET  ? "}"
                                                   : "]";
        fputs(open, out);
        for (uint32_t i = 0; i < v->n; i++) {
            if (i)
                fputs(json ? ", " : " ", out);
            fl_history_print_val(h, fl_history_child(h, v, i), json, out);
        }
        fputs(close, out);
    }
    }
}

void fl_history_print_code(const struct fl_history *h, int64_t code, FILE *out)
{
    if (code == FL_CODE_NIL) {
        fputs("nil", out);
    } else if (code == FL_CODE_UNKNOWN) {
        fputs("?", out);
    } else if (fl_code_is_int(code)) {
        fprintf(out, "%" PRId64, code);
    } else {
        int64_t id = code - FL_CODE_ATOM0;
        size_t n;
        const char *s = fl_history_str(h, id, &n);
        int kind = id >= 0 && (size_t)id < h->nstr ? h->strkind[id] : FL_V_SYM;
        if (kind == FL_V_STR) {
            print_str_escaped(s, n, out);
        } else {
            if (kind == FL_V_KW)
                fputc(':', out);
            fwrite(s, 1, n, out);
        }
    }
}

int64_t fl_history_code(struct fl_history *h, const struct fl_val *v)
{
    switch (v->kind) {
    case FL_V_NIL:
        return FL_CODE_NIL;
    case FL_V_INT:
        return v->x;
    case FL_V_BOOL: {
        int64_t id = fl_history_intern(h, v->x ? "true" : "false", v->x ? 4 : 5, FL_V_SYM);
        return id < 0 ? FL_CODE_UNKNOWN : FL_CODE_ATOM0 + id;
    }
    case FL_V_NUM:
    case FL_V_STR:
    case FL_V_KW:
    case FL_V_SYM:
        return FL_CODE_ATOM0 + v->x;
    default: {
        char *buf = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&buf, &n);
        if (!m)
            return FL_CODE_UNKNOWN;
        fl_history_print_val(h, v, false, m);
        fclose(m);
        int64_t id = fl_history_intern(h, buf, n, (int)v->kind);
        free(buf);
        return id < 0 ? FL_CODE_UNKNOWN : FL_CODE_ATOM0 + id;
    }
    }
}

/* ---- writers ---- */

struct ev {
    uint32_t at, op;
    bool call;
};

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static int write_events(const struct fl_history *h, const bool *only, FILE *out, bool json)
{
    struct ev *evs = malloc((2 * h->nops + 1) * sizeof *evs);
    size_t n = 0;
    static const char *const tn[] = {"ok", "fail", "info"};

    if (!evs)
        return -FL_EFAIL;
    for (size_t i = 0; i < h->nops; i++) {
        if (only && !only[i])
            continue;
        evs[n++] = (struct ev){h->ops[i].call, (uint32_t)i, true};
        if (h->ops[i].ret != FL_HOP_NORET)
            evs[n++] = (struct ev){h->ops[i].ret, (uint32_t)i, false};
    }
    qsort(evs, n, sizeof *evs, ev_cmp);
    if (!json)
        fputs("[", out);
    for (size_t i = 0; i < n; i++) {
        const struct fl_hop *op = &h->ops[evs[i].op];
        const char *type = evs[i].call ? "invoke" : tn[op->type];
        const struct fl_val *v = evs[i].call ? &op->inv : &op->comp;
        int64_t t = evs[i].call ? op->call_time : op->ret_time;
        const char *f = fl_history_str(h, op->f, NULL);
        if (json) {
            fprintf(out, "{\"process\": %" PRId64 ", \"type\": \"%s\", \"f\": ", op->process, type);
            print_str_escaped(f, strlen(f), out);
            fputs(", \"value\": ", out);
            fl_history_print_val(h, v, true, out);
            if (op->key.kind != FL_V_NIL) {
                fputs(", \"key\": ", out);
                fl_history_print_val(h, &op->key, true, out);
            }
            if (t >= 0)
                fprintf(out, ", \"time\": %" PRId64, t);
            if (!evs[i].call && op->error >= 0) {
                size_t el;
                const char *es = fl_history_str(h, op->error, &el);
                fputs(", \"error\": ", out);
                print_str_escaped(es, el, out);
            }
            fputs("}\n", out);
        } else {
            size_t fl;
            const char *fs = fl_history_str(h, op->f, &fl);
            bool kw = fl > 0 && !(fs[0] >= '0' && fs[0] <= '9');
            for (size_t k = 0; k < fl && kw; k++)
                kw = (fs[k] >= 'a' && fs[k] <= 'z') || (fs[k] >= 'A' && fs[k] <= 'Z') ||
                     (fs[k] >= '0' && fs[k] <= '9') || (fs[k] && strchr("*+!-_?<>=", fs[k]));
            fprintf(out, "%s{:process %" PRId64 ", :type :%s, :f ", i ? " " : "", op->process,
                    type);
            if (kw)
                fprintf(out, ":%s", f);
            else
                print_str_escaped(fs, fl, out);
            fputs(", :value ", out);
            fl_history_print_val(h, v, false, out);
            if (op->key.kind != FL_V_NIL) {
                fputs(", :key ", out);
                fl_history_print_val(h, &op->key, false, out);
            }
            if (t >= 0)
                fprintf(out, ", :time %" PRId64, t);
            if (!evs[i].call && op->error >= 0) {
                size_t el;
                const char *es = fl_history_str(h, op->error, &el);
                fputs(", :error ", out);
                print_str_escaped(es, el, out);
            }
            fputs(i + 1 < n ? "}\n" : "}", out);
        }
    }
    if (!json)
        fputs("]\n", out);
    free(evs);
    return ferror(out) ? -FL_EFAIL : 0;
}

int fl_history_write_edn(const struct fl_history *h, const bool *only, FILE *out)
{
    return write_events(h, only, out, false);
}

int fl_history_write_jsonl(const struct fl_history *h, const bool *only, FILE *out)
{
    return write_events(h, only, out, true);
}
