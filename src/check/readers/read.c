/* Reading a history, whatever its format: pairing each invocation with its
 * completion into one struct fl_hop, and fl_history_parse, which detects
 * the format, reads the header's model= and calls the format's reader
 * (jsonl.c, edn_history.c). */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check/readers/read.h"

/* Prefault the part of a big growing array that is about to be written,
 * 4 MB at a time: one madvise instead of a thousand page faults (a
 * million-op history fills a few hundred MB). *done is how far, in bytes,
 * it has been prefaulted; realloc moves big arrays with their pages, so it
 * stays true. A hint only: errors are ignored. */
void fl_read_prefault(void *base, size_t used, size_t cap, size_t *done)
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

static uint32_t *pending_slot(struct fl_read_pending *p, int64_t proc)
{
    size_t i = (size_t)((uint64_t)proc * 0x9E3779B97F4A7C15ULL >> 17) & (p->cap - 1);
    while (p->op[i] && p->proc[i] != proc)
        i = (i + 1) & (p->cap - 1);
    p->proc[i] = proc;
    return &p->op[i];
}

/* The op index + 1 pending for proc, 0 if none (inserts nothing). */
uint32_t fl_read_pending_find(const struct fl_read_pending *p, int64_t proc)
{
    if (!p->cap)
        return 0;
    size_t i = (size_t)((uint64_t)proc * 0x9E3779B97F4A7C15ULL >> 17) & (p->cap - 1);
    while (p->op[i] && p->proc[i] != proc)
        i = (i + 1) & (p->cap - 1);
    return p->op[i];
}

static int pending_grow(struct fl_read_pending *p)
{
    if (p->n * 2 < p->cap)
        return 0;
    struct fl_read_pending q = {0};
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

static void pending_del(struct fl_read_pending *p, int64_t proc)
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

static bool is_name(const struct fl_val *v, int64_t id)
{
    return v && (v->kind == FL_V_STR || v->kind == FL_V_KW || v->kind == FL_V_SYM) && v->x == id;
}

int fl_read_type_of(const struct fl_read *b, const struct fl_val *t)
{
    if (is_name(t, b->id[FL_RK_INVOKE]))
        return 3;
    if (is_name(t, b->id[FL_RK_OK]))
        return FL_OP_OK;
    if (is_name(t, b->id[FL_RK_FAIL]))
        return FL_OP_FAIL;
    if (is_name(t, b->id[FL_RK_INFO]))
        return FL_OP_INFO;
    return -1;
}

/* A process is a client id (an integer from 0 to 2^62) or a name (the
 * nemesis): any other number is refused rather than taken for a name. */
static int bad_process(struct fl_read *b, const struct fl_val *proc, uint32_t line, uint32_t col)
{
    struct fl_history *h = b->h;
    const char *nm = h->name;

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
    return 0;
}

/* Keep the invocation's source text (for counterexamples), by op index. */
static int keep_text(struct fl_read *b)
{
    struct fl_history *h = b->h;

    if (b->cur_text) {
        if (h->nops >= b->cap_text) {
            size_t cap = h->capops;
            const char **t = realloc(b->inv_text, cap * sizeof *t);
            if (t)
                b->inv_text = t;
            uint32_t *l = t ? realloc(b->inv_len, cap * sizeof *l) : NULL;
            if (!l)
                return fl_err_set(b->e, FL_EFAIL, "%s: out of memory", h->name);
            memset(l + b->cap_text, 0, (cap - b->cap_text) * sizeof *l);
            b->inv_len = l;
            b->cap_text = cap;
        }
        b->inv_text[h->nops] = b->cur_text;
        b->inv_len[h->nops] = b->cur_len;
    } else if (h->nops < b->cap_text) {
        b->inv_len[h->nops] = 0;
    }
    return 0;
}

/* A new operation from an invoke event; *slot is the process's pending op. */
static int add_invoke(struct fl_read *b, const struct fl_val *const *field, int64_t time,
                      uint32_t *slot, uint32_t line, uint32_t col)
{
    struct fl_history *h = b->h;
    const struct fl_val nil = {FL_V_NIL, 0, 0};
    const struct fl_val *val = field[FL_RK_VALUE], *key = field[FL_RK_KEY];

    if (*slot) /* a process that invokes again gave up on its last op: unknown outcome */
        *slot = 0;
    else
        b->pend.n++;
    if (h->nops == h->capops) {
        size_t cap = h->capops ? h->capops * 2 : 1024;
        struct fl_hop *o = realloc(h->ops, cap * sizeof *o);
        if (!o)
            return fl_err_set(b->e, FL_EFAIL, "%s: out of memory", h->name);
        h->ops = o;
        h->capops = cap;
    }
    if (h->nops >= UINT32_MAX - 2 || h->nevents >= UINT32_MAX - 2)
        return fl_err_set(b->e, FL_EUSAGE, "%s: too many operations", h->name);
    struct fl_hop *op = &h->ops[h->nops];
    memset(op, 0, sizeof *op);
    op->process = field[FL_RK_PROCESS]->x;
    op->f = (uint32_t)field[FL_RK_F]->x;
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
    int rc = keep_text(b);
    if (rc < 0)
        return rc;
    *slot = (uint32_t)++h->nops;
    return 0;
}

/* Complete the process's pending operation (slot) with an ok, fail or info
 * event of type t. */
static int add_completion(struct fl_read *b, const struct fl_val *const *field, int t, int64_t time,
                          uint32_t slot, uint32_t line, uint32_t col)
{
    struct fl_history *h = b->h;
    const struct fl_val nil = {FL_V_NIL, 0, 0};
    const struct fl_val *proc = field[FL_RK_PROCESS], *f = field[FL_RK_F];
    const struct fl_val *val = field[FL_RK_VALUE], *key = field[FL_RK_KEY],
                        *err = field[FL_RK_ERROR];

    if (!slot)
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: completion (%s) for process %" PRId64
                          " which has no pending invocation; every ok/fail/info must follow "
                          "an invoke by the same process",
                          h->name, line, col,
                          t == FL_OP_OK     ? "ok"
                          : t == FL_OP_FAIL ? "fail"
                                            : "info",
                          proc->x);
    struct fl_hop *op = &h->ops[slot - 1];
    if ((int64_t)op->f != f->x)
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: completion has f %s but process %" PRId64
                          " invoked %s at line %u",
                          h->name, line, col, fl_history_str(h, f->x, NULL), proc->x,
                          fl_history_str(h, op->f, NULL), op->call_line);
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

/* Turn one event into an invocation or a completion. field[] holds the
 * values of the fields by FL_RK_* index (NULL: absent); t is the type (3 for
 * invoke, an enum fl_optype, -1 when missing or not one of those). */
int fl_read_add_fields(struct fl_read *b, const struct fl_val *const *field, int t, uint32_t line,
                       uint32_t col)
{
    const char *nm = b->h->name;
    const struct fl_val *proc = field[FL_RK_PROCESS], *f = field[FL_RK_F];
    const struct fl_val *tm = field[FL_RK_TIME];

    if (!proc)
        return fl_err_set(b->e, FL_EUSAGE, "%s:%u:%u: operation has no \"process\" field", nm, line,
                          col);
    int rc = bad_process(b, proc, line, col);
    if (rc < 0)
        return rc;
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
    if (t == 3)
        return add_invoke(b, field, time, slot, line, col);
    return add_completion(b, field, t, time, *slot, line, col);
}

/* Turn one event map (EDN, or a JSON line read by jansson) into an
 * invocation or a completion. */
int fl_read_add_event(struct fl_read *b, const struct fl_val *m, uint32_t line, uint32_t col)
{
    struct fl_history *h = b->h;
    const struct fl_val *field[FL_RK_TIME + 1] = {NULL};

    if (m->kind != FL_V_MAP)
        return fl_err_set(b->e, FL_EUSAGE,
                          "%s:%u:%u: expected an operation map like {\"process\":0,"
                          "\"type\":\"invoke\",\"f\":\"read\"}, got something else",
                          h->name, line, col);
    for (uint32_t i = 0; i < m->n; i++) {
        const struct fl_val *k = fl_history_child(h, m, 2 * i);
        for (int j = 0; j <= FL_RK_TIME; j++)
            if (!field[j] && is_name(k, b->id[j])) {
                field[j] = fl_history_child(h, m, 2 * i + 1);
                break;
            }
    }
    return fl_read_add_fields(b, field, fl_read_type_of(b, field[FL_RK_TYPE]), line, col);
}

static const char *const field_names[FL_RK_N] = {"process", "type",   "f",  "value", "key", "error",
                                                 "time",    "invoke", "ok", "fail",  "info"};

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
    struct fl_read b = {.max_op = max_op};
    int rc;

    *out = NULL;
    b.h = fl_history_new(name);
    b.e = e;
    if (!b.h)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (int i = 0; i < FL_RK_N; i++)
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
    rc = fmt == FL_FMT_EDN ? fl_read_edn(&b, buf, len) : fl_read_jsonl(&b, buf, len);
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
