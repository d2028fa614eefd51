#include "check/history.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check/edn.h"

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

/* Prefault the part of a big growing array that is about to be written,
 * 4 MB at a time: one madvise instead of a thousand page faults (a
 * million-op history fills a few hundred MB). *done is how far, in bytes,
 * it has been prefaulted; realloc moves big arrays with their pages, so it
 * stays true. A hint only: errors are ignored. */
static void prefault(void *base, size_t used, size_t cap, size_t *done)
{
    const size_t step = 4u << 20;

    if (!base || cap < 2 * step || used + step / 2 < *done)
        return;
    size_t from = used > *done ? used : *done, to = used + step < cap ? used + step : cap;
    uintptr_t a = ((uintptr_t)base + from + 4095) & ~(uintptr_t)4095;
    uintptr_t z = ((uintptr_t)base + to) & ~(uintptr_t)4095;
    if (z > a)
        madvise((void *)a, z - a, MADV_POPULATE_WRITE);
    *done = to;
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

/* ---- pairing invocations with completions ---- */

struct pending {
    int64_t *proc; /* open addressing process -> op index */
    uint32_t *op;  /* op index + 1, 0 empty */
    size_t cap, n;
};

static uint32_t *pending_slot(struct pending *p, int64_t proc)
{
    size_t i = (size_t)((uint64_t)proc * 0x9E3779B97F4A7C15ULL >> 17) & (p->cap - 1);
    while (p->op[i] && p->proc[i] != proc)
        i = (i + 1) & (p->cap - 1);
    p->proc[i] = proc;
    return &p->op[i];
}

/* The op index + 1 pending for proc, 0 if none (inserts nothing). */
static uint32_t pending_find(const struct pending *p, int64_t proc)
{
    if (!p->cap)
        return 0;
    size_t i = (size_t)((uint64_t)proc * 0x9E3779B97F4A7C15ULL >> 17) & (p->cap - 1);
    while (p->op[i] && p->proc[i] != proc)
        i = (i + 1) & (p->cap - 1);
    return p->op[i];
}

static int pending_grow(struct pending *p)
{
    if (p->n * 2 < p->cap)
        return 0;
    struct pending q = {0};
    q.cap = p->cap ? p->cap * 2 : 64;
    q.proc = calloc(q.cap, sizeof *q.proc);
    q.op = calloc(q.cap, sizeof *q.op);
    if (!q.proc || !q.op) {
        free(q.proc);
        free(q.op);
        return -1;
    }
    for (size_t i = 0; i < p->cap; i++)
        if (p->op[i])
            *pending_slot(&q, p->proc[i]) = p->op[i];
    q.n = p->n;
    free(p->proc);
    free(p->op);
    *p = q;
    return 0;
}

static void pending_del(struct pending *p, int64_t proc)
{
    /* backward-shift deletion keeps probe chains intact */
    size_t i = (size_t)((uint64_t)proc * 0x9E3779B97F4A7C15ULL >> 17) & (p->cap - 1);
    while (p->op[i] && p->proc[i] != proc)
        i = (i + 1) & (p->cap - 1);
    if (!p->op[i])
        return;
    p->op[i] = 0;
    p->n--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & (p->cap - 1);
        if (!p->op[j])
            break;
        size_t k = (size_t)((uint64_t)p->proc[j] * 0x9E3779B97F4A7C15ULL >> 17) & (p->cap - 1);
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            p->proc[i] = p->proc[j];
            p->op[i] = p->op[j];
            p->op[j] = 0;
            i = j;
        }
    }
}

enum {
    K_PROCESS,
    K_TYPE,
    K_F,
    K_VALUE,
    K_KEY,
    K_ERROR,
    K_TIME,
    K_INVOKE,
    K_OK,
    K_FAIL,
    K_INFO,
    K_N
};
static const char *const field_names[K_N] = {"process", "type",   "f",  "value", "key", "error",
                                             "time",    "invoke", "ok", "fail",  "info"};

struct builder {
    struct fl_history *h;
    struct pending pend;
    struct fl_err *e;
    int64_t id[K_N]; /* interned ids of the field and type names: compare ids, not text */
    /* JSON Lines: the text of each invocation's value, by op index, so a
     * completion that repeats it (a write, a transfer) shares the parsed
     * value instead of parsing and storing it again. */
    const char **inv_text;
    uint32_t *inv_len;
    size_t cap_text;
    const char *cur_text; /* the value text of the event being added, or NULL */
    uint32_t cur_len;
    size_t prefaulted_vals, prefaulted_ops; /* see prefault() */
    size_t max_op;                          /* bytes of one operation's text */
};

static bool is_name(const struct fl_val *v, int64_t id)
{
    return v && (v->kind == FL_V_STR || v->kind == FL_V_KW || v->kind == FL_V_SYM) && v->x == id;
}

static int type_of(const struct builder *b, const struct fl_val *t)
{
    if (is_name(t, b->id[K_INVOKE]))
        return 3;
    if (is_name(t, b->id[K_OK]))
        return FL_OP_OK;
    if (is_name(t, b->id[K_FAIL]))
        return FL_OP_FAIL;
    if (is_name(t, b->id[K_INFO]))
        return FL_OP_INFO;
    return -1;
}

/* Turn one event into an invocation or a completion. field[] holds the
 * values of the fields by K_* index (NULL: absent); t is the type (3 for
 * invoke, an enum fl_optype, -1 when missing or not one of those). */
static int add_event_fields(struct builder *b, const struct fl_val *const *field, int t,
                            uint32_t line, uint32_t col)
{
    struct fl_history *h = b->h;
    const char *nm = h->name;
    struct fl_val nil = {FL_V_NIL, 0, 0};
    const struct fl_val *proc = field[K_PROCESS], *f = field[K_F];
    const struct fl_val *val = field[K_VALUE], *key = field[K_KEY], *err = field[K_ERROR];
    const struct fl_val *tm = field[K_TIME];

    if (!proc)
        return fl_err_set(b->e, FL_EUSAGE, "%s:%u:%u: operation has no \"process\" field", nm, line,
                          col);
    if (proc->kind == FL_V_NUM || (proc->kind == FL_V_INT && proc->x < 0)) {
        char txt[48];
        if (proc->kind == FL_V_INT)
            snprintf(txt, sizeof txt, "%" PRId64, proc->x);
        else
            snprintf(txt, sizeof txt, "%.40s", fl_history_str(h, proc->x, NULL));
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: process %s is not a client process id: ids are integers "
                          "from 0 to 2^62 (a name such as \"nemesis\" marks a non-client "
                          "process, whose events are not checked)",
                          nm, line, col, txt);
    }
    if (proc->kind != FL_V_INT)
        return 0; /* the nemesis and other non-client processes are not checked */
    if (t < 0)
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: \"type\" must be one of invoke, ok, fail, info", nm, line,
                          col);
    if (!f || (f->kind != FL_V_KW && f->kind != FL_V_STR && f->kind != FL_V_SYM))
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: operation needs an \"f\" naming the function (read, "
                          "write, cas, ...)",
                          nm, line, col);
    int64_t time = tm && tm->kind == FL_V_INT ? tm->x : -1;
    if (pending_grow(&b->pend) < 0)
        return fl_err_set(b->e, FL_EFAIL, "%s: out of memory", nm);
    uint32_t *slot = pending_slot(&b->pend, proc->x);

    if (t == 3) {
        if (*slot) /* a process that invokes again gave up on its last op: unknown outcome */
            *slot = 0;
        else
            b->pend.n++;
        if (h->nops == h->capops) {
            size_t cap = h->capops ? h->capops * 2 : 1024;
            struct fl_hop *o = realloc(h->ops, cap * sizeof *o);
            if (!o)
                return fl_err_set(b->e, FL_EFAIL, "%s: out of memory", nm);
            h->ops = o;
            h->capops = cap;
        }
        if (h->nops >= UINT32_MAX - 2 || h->nevents >= UINT32_MAX - 2)
            return fl_err_set(b->e, FL_EUSAGE, "%s: too many operations", nm);
        struct fl_hop *op = &h->ops[h->nops];
        memset(op, 0, sizeof *op);
        op->process = proc->x;
        op->f = (uint32_t)f->x;
        op->type = FL_OP_INFO;
        op->call = h->nevents++;
        op->ret = FL_HOP_NORET;
        op->call_line = line;
        op->call_col = col;
        op->error = -1;
        op->inv = val ? *val : nil;
        op->comp = nil;
        op->key = key ? *key : nil;
        op->call_time = time;
        op->ret_time = -1;
        if (time < 0)
            h->have_time = false;
        if (b->cur_text) {
            if (h->nops >= b->cap_text) {
                size_t cap = h->capops;
                const char **t = realloc(b->inv_text, cap * sizeof *t);
                if (t)
                    b->inv_text = t;
                uint32_t *l = t ? realloc(b->inv_len, cap * sizeof *l) : NULL;
                if (!l)
                    return fl_err_set(b->e, FL_EFAIL, "%s: out of memory", nm);
                memset(l + b->cap_text, 0, (cap - b->cap_text) * sizeof *l);
                b->inv_len = l;
                b->cap_text = cap;
            }
            b->inv_text[h->nops] = b->cur_text;
            b->inv_len[h->nops] = b->cur_len;
        } else if (h->nops < b->cap_text) {
            b->inv_len[h->nops] = 0;
        }
        *slot = (uint32_t)++h->nops;
        return 0;
    }
    if (!*slot) {
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: completion (%s) for process %" PRId64
                          " which has no pending invocation; every ok/fail/info must follow "
                          "an invoke by the same process",
                          nm, line, col,
                          t == FL_OP_OK     ? "ok"
                          : t == FL_OP_FAIL ? "fail"
                                            : "info",
                          proc->x);
    }
    struct fl_hop *op = &h->ops[*slot - 1];
    if ((int64_t)op->f != f->x) {
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: completion has f %s but process %" PRId64
                          " invoked %s at line %u",
                          nm, line, col, fl_history_str(h, f->x, NULL), proc->x,
                          fl_history_str(h, op->f, NULL), op->call_line);
    }
    op->type = (uint32_t)t;
    op->ret = h->nevents++;
    op->ret_line = line;
    op->comp = val ? *val : nil;
    op->ret_time = time;
    if (time < 0)
        h->have_time = false;
    if (key && op->key.kind == FL_V_NIL)
        op->key = *key;
    if (err) {
        int64_t c = fl_history_code(h, err);
        if (fl_code_is_int(c)) { /* an error code: keep its text */
            char num[32];
            int n = snprintf(num, sizeof num, "%" PRId64, c);
            c = FL_CODE_ATOM0 + fl_history_intern(h, num, (size_t)n, FL_V_NUM);
        }
        op->error = c >= FL_CODE_ATOM0 && c - FL_CODE_ATOM0 <= INT32_MAX
                        ? (int32_t)(c - FL_CODE_ATOM0)
                        : -1;
    }
    pending_del(&b->pend, proc->x);
    return 0;
}

/* Turn one event map (EDN, or a JSON line read by jansson) into an
 * invocation or a completion. */
static int add_event(struct builder *b, const struct fl_val *m, uint32_t line, uint32_t col)
{
    struct fl_history *h = b->h;
    const struct fl_val *field[K_TIME + 1] = {NULL};

    if (m->kind != FL_V_MAP)
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: expected an operation map like {\"process\":0,"
                          "\"type\":\"invoke\",\"f\":\"read\"}, got something else",
                          h->name, line, col);
    for (uint32_t i = 0; i < m->n; i++) {
        const struct fl_val *k = fl_history_child(h, m, 2 * i);
        for (int j = 0; j <= K_TIME; j++)
            if (!field[j] && is_name(k, b->id[j])) {
                field[j] = fl_history_child(h, m, 2 * i + 1);
                break;
            }
    }
    return add_event_fields(b, field, type_of(b, field[K_TYPE]), line, col);
}

/* ---- JSON Lines ---- */

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
        json_object_foreach(j, key, v)
        {
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
static int fast_line(struct builder *b, struct fl_edn *r, const char *p, const char *le,
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
        return k[0] == 'f' ? K_F : -1;
    case 3:
        return !memcmp(k, "key", 3) ? K_KEY : -1;
    case 4:
        return !memcmp(k, "type", 4) ? K_TYPE : !memcmp(k, "time", 4) ? K_TIME : -1;
    case 5:
        return !memcmp(k, "value", 5) ? K_VALUE : !memcmp(k, "error", 5) ? K_ERROR : -1;
    case 7:
        return !memcmp(k, "process", 7) ? K_PROCESS : -1;
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
static bool echoes_invocation(struct builder *b, const struct fl_val *proc, int t, const char *p,
                              const char *le, struct fl_val *v)
{
    uint32_t idx, n;
    const char *after;

    if (!proc || proc->kind != FL_V_INT || t < 0 || t == 3 ||
        !(idx = pending_find(&b->pend, proc->x)) || idx - 1 >= b->cap_text ||
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
static int scan_line(struct builder *b, struct fl_edn *r, const char *p, const char *le,
                     uint32_t line, uint32_t col, int *rc)
{
    struct fl_history *h = b->h;
    struct fl_val vals[K_TIME + 1];
    const struct fl_val *field[K_TIME + 1] = {NULL};
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
        if (j == K_TYPE && !field[j]) {
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
        if (j == K_VALUE && !field[j] && echoes_invocation(b, field[K_PROCESS], t, p, le, &v)) {
            p += b->cur_len;
            b->cur_text = NULL;
        } else {
            r->p = p;
            if (p < le && (*p == '{' || *p == '[') && fl_edn_read_flat(r, &v) == 0)
                ;
            else if (fl_edn_read(r, &v) < 0)
                goto fallback;
            if (j == K_VALUE && !field[j] && r->p - p < UINT32_MAX) {
                b->cur_text = p;
                b->cur_len = (uint32_t)(r->p - p);
            }
            p = r->p;
        }
        if (j >= 0 && !field[j]) {
            if (j == K_TYPE)
                t = type_of(b, &v);
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
    *rc = add_event_fields(b, field, t, line, col);
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

static int parse_jsonl(struct builder *b, const char *buf, size_t len)
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
            prefault(h->vals, h->nvals * sizeof *h->vals, h->capvals * sizeof *h->vals,
                     &b->prefaulted_vals);
            prefault(h->ops, h->nops * sizeof *h->ops, h->capops * sizeof *h->ops,
                     &b->prefaulted_ops);
            if (scan_line(b, &fast, q, le, line, (uint32_t)(q - p) + 1, &rc) == 0) {
                if (rc < 0)
                    goto out;
                p = nl ? nl + 1 : end;
                continue;
            }
            if (fast_line(b, &fast, q, le, line, &v) == 0) {
                if ((rc = add_event(b, &v, line, (uint32_t)(q - p) + 1)) < 0)
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
            if ((rc = add_event(b, &v, line, (uint32_t)(q - p) + 1)) < 0)
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

/* Read one event form, reading no further than b->max_op bytes: a form
 * that does not end by then is refused before it fills memory. */
static int read_bounded(struct builder *b, struct fl_edn *r, struct fl_val *v, uint32_t line,
                        uint32_t col)
{
    const char *end = r->end;
    bool capped = (size_t)(end - r->p) > b->max_op;
    int rc;

    if (capped)
        r->end = r->p + b->max_op;
    rc = fl_edn_read(r, v);
    if (capped && rc < 0 && r->p >= r->end)
        rc = fl_err_set(b->e, FL_EUSAGE,
                        "%s:%u:%u: the operation starting here is longer than the limit of %zu "
                        "bytes for one operation; is this a history? (raise it with "
                        "--max-op-size)",
                        b->h->name, line, col, b->max_op);
    r->end = end;
    return rc;
}

static int parse_edn(struct builder *b, const char *buf, size_t len)
{
    struct fl_history *h = b->h;
    struct fl_edn r;
    int rc = 0;
    int close = -1;

    fl_edn_init(&r, h, buf, len, h->name, b->e);
    int c = fl_edn_peek(&r);
    if (c == '[' || c == '(') {
        close = c == '[' ? ']' : ')';
        fl_edn_advance(&r);
    }
    for (;;) {
        if ((rc = fl_edn_skip_discards(&r)) < 0)
            break;
        c = fl_edn_peek(&r);
        if (c < 0) {
            if (close >= 0)
                rc = fl_err_set(b->e, FL_EUSAGE, "%s:%u:%u: history ends without the closing '%c'",
                                h->name, fl_edn_line(&r), fl_edn_col(&r), close);
            break;
        }
        if (c == close) {
            fl_edn_advance(&r);
            if (fl_edn_peek(&r) >= 0)
                rc = fl_err_set(b->e, FL_EUSAGE,
                                "%s:%u:%u: unexpected text after the end of the history", h->name,
                                fl_edn_line(&r), fl_edn_col(&r));
            break;
        }
        uint32_t line = fl_edn_line(&r), col = fl_edn_col(&r);
        struct fl_val v;
        if ((rc = read_bounded(b, &r, &v, line, col)) < 0)
            break;
        if ((rc = add_event(b, &v, line, col)) < 0)
            break;
        if (v.kind == FL_V_MAP && v.n && (size_t)v.x + 2 * v.n == h->nvals)
            h->nvals = (size_t)v.x;
    }
    fl_edn_fini(&r);
    return rc;
}

/* The model named by a "model=NAME" word in the comment lines (# or ;)
 * before the first event, as `faultline workload` writes them. */
static void read_header_model(struct fl_history *h, const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        le = le ? le : end;
        while (p < le && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p < le && *p != '#' && *p != ';')
            return; /* the first event: the header is over */
        for (const char *w = p; w + 6 < le; w++) {
            if ((w == p || w[-1] == ' ' || w[-1] == '\t') && !memcmp(w, "model=", 6)) {
                size_t n = 0;
                w += 6;
                while (w + n < le && n + 1 < sizeof h->model &&
                       (isalnum((unsigned char)w[n]) || w[n] == '-' || w[n] == '_'))
                    n++;
                memcpy(h->model, w, n);
                h->model[n] = '\0';
                return;
            }
        }
        p = le + 1;
    }
}

int fl_history_parse(const char *buf, size_t len, enum fl_hist_format fmt, const char *name,
                     struct fl_history **out, struct fl_err *e)
{
    return fl_history_parse_max(buf, len, fmt, name, FL_HISTORY_MAX_OP_BYTES, out, e);
}

int fl_history_parse_max(const char *buf, size_t len, enum fl_hist_format fmt, const char *name,
                         size_t max_op, struct fl_history **out, struct fl_err *e)
{
    struct builder b = {.max_op = max_op};
    int rc;

    *out = NULL;
    b.h = fl_history_new(name);
    b.e = e;
    if (!b.h)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (int i = 0; i < K_N; i++)
        if ((b.id[i] = fl_history_intern(b.h, field_names[i], strlen(field_names[i]), FL_V_STR)) <
            0) {
            fl_history_free(b.h);
            return fl_err_set(e, FL_EFAIL, "out of memory");
        }
    if (fmt == FL_FMT_AUTO) {
        size_t i = 0;
        while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r'))
            i++;
        fmt = FL_FMT_JSONL;
        if (i < len && (buf[i] == '[' || buf[i] == '(' || buf[i] == ';' ||
                        (buf[i] == '{' && i + 1 < len && buf[i + 1] == ':')))
            fmt = FL_FMT_EDN;
    }
    read_header_model(b.h, buf, len);
    rc = fmt == FL_FMT_EDN ? parse_edn(&b, buf, len) : parse_jsonl(&b, buf, len);
    free(b.pend.proc);
    free(b.pend.op);
    free(b.inv_text);
    free(b.inv_len);
    if (rc < 0) {
        fl_history_free(b.h);
        return rc;
    }
    if (b.h->nops == 0)
        b.h->have_time = false;
    *out = b.h;
    return 0;
}

/* The file being read through a mapping. If another program truncates it
 * meanwhile, the next read of a page past its new end raises SIGBUS: the
 * process then ends with an input error (exit 3, as `check` and `workload`
 * document) and says why, instead of crashing. A SIGBUS anywhere else is
 * not ours to explain: it is raised again with the default action. Only
 * async-signal-safe calls. */
static struct {
    const char *volatile path;
    const char *volatile base;
    volatile size_t len;
} mapped;

static void mapped_file_shrank(int sig, siginfo_t *si, void *uc)
{
    static const char pre[] = "faultline: error: ";
    static const char post[] = ": the history file shrank while it was being read (another "
                               "program truncated or rewrote it); check a copy that nothing "
                               "writes to\n";
    const char *addr = si->si_addr;
    ssize_t w;

    if (!mapped.path || addr < mapped.base || addr >= mapped.base + mapped.len) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    w = write(2, pre, sizeof pre - 1);
    w = write(2, mapped.path, strlen(mapped.path));
    w = write(2, post, sizeof post - 1);
    (void)w;
    _exit(3);
}

/* A regular file is mapped rather than read: no copy of a history that can
 * be hundreds of MB, and no buffer to fault in. Returns 1 when the path is
 * not a regular non-empty file (or cannot be mapped): the caller reads it. */
static int load_mapped(const char *path, enum fl_hist_format fmt, size_t max_op,
                       struct fl_history **out, struct fl_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct sigaction old;
    struct stat st;
    void *map;
    int rc;

    if (fd < 0)
        return fl_err_set(e, FL_EUSAGE, "%s: cannot open history: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        close(fd);
        return fl_err_set(e, FL_EUSAGE, "%s: cannot read history: %s", path, strerror(errno));
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode)) {
        close(fd);
        return fl_err_set(e, FL_EUSAGE,
                          "%s: is a %s, not a history file; give a file, or - to read standard "
                          "input",
                          path, S_ISDIR(st.st_mode) ? "directory" : "device");
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return 1; /* not a regular non-empty file: read it */
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return 1;
    madvise(map, (size_t)st.st_size, MADV_WILLNEED);
    mapped.base = map;
    mapped.len = (size_t)st.st_size;
    mapped.path = path;
    sigaction(SIGBUS,
              &(struct sigaction){.sa_sigaction = mapped_file_shrank, .sa_flags = SA_SIGINFO},
              &old);
    rc = fl_history_parse_max(map, (size_t)st.st_size, fmt, path, max_op, out, e);
    sigaction(SIGBUS, &old, NULL);
    mapped.path = NULL;
    munmap(map, (size_t)st.st_size);
    return rc;
}

static size_t count_lines(const char *buf, size_t len)
{
    size_t n = 1;
    for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf))); p++)
        n++;
    return n;
}

/* Read a pipe or stdin whole into *buf, within the bounds: no line longer
 * than max_op bytes (so endless input without newlines, like /dev/zero,
 * ends at once) and FL_HISTORY_MAX_STREAM_BYTES in all. */
static int read_stream(FILE *f, const char *path, size_t max_op, char **buf, size_t *len,
                       struct fl_err *e)
{
    size_t cap = 0, since_nl = 0;

    *buf = NULL;
    *len = 0;
    for (;;) {
        if (cap - *len < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(*buf, cap);
            if (!nb)
                return fl_err_set(e, FL_EFAIL, "%s: out of memory reading the history", path);
            *buf = nb;
        }
        size_t want = cap - *len < (1 << 20) ? cap - *len : (1 << 20);
        size_t n = fread(*buf + *len, 1, want, f);
        const char *nl = n ? memrchr(*buf + *len, '\n', n) : NULL;
        since_nl = nl ? (size_t)(*buf + *len + n - (nl + 1)) : since_nl + n;
        *len += n;
        if (since_nl > max_op)
            return fl_err_set(e, FL_EUSAGE,
                              "%s:%zu:1: this line is longer than the limit of %zu bytes for one "
                              "operation (input that is not a regular file is read line by "
                              "line); is this a history? (raise it with --max-op-size)",
                              path, count_lines(*buf, *len), max_op);
        if (*len > FL_HISTORY_MAX_STREAM_BYTES)
            return fl_err_set(e, FL_EUSAGE,
                              "%s: more than %zu bytes of history from a pipe or standard input; "
                              "write it to a file and check the file",
                              path, FL_HISTORY_MAX_STREAM_BYTES);
        if (n == 0)
            break;
    }
    if (ferror(f))
        return fl_err_set(e, FL_EUSAGE, "%s: cannot read history: %s", path, strerror(errno));
    return 0;
}

int fl_history_load(const char *path, enum fl_hist_format fmt, struct fl_history **out,
                    struct fl_err *e)
{
    return fl_history_load_max(path, fmt, FL_HISTORY_MAX_OP_BYTES, out, e);
}

int fl_history_load_max(const char *path, enum fl_hist_format fmt, size_t max_op,
                        struct fl_history **out, struct fl_err *e)
{
    FILE *f;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (strcmp(path, "-") && (rc = load_mapped(path, fmt, max_op, out, e)) <= 0)
        return rc;
    f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return fl_err_set(e, FL_EUSAGE, "%s: cannot open history: %s", path, strerror(errno));
    rc = read_stream(f, path, max_op, &buf, &len, e);
    if (f != stdin)
        fclose(f);
    if (rc == 0)
        rc = fl_history_parse_max(buf, len, fmt, path, max_op, out, e);
    free(buf);
    return rc;
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
