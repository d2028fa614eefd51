/* The EDN reader for Jepsen histories (the subset and its limits: edn.h). */
#include "check/edn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fl_edn_init(struct fl_edn *r, struct fl_history *h, const char *buf, size_t len,
                 const char *name, struct fl_err *e)
{
    memset(r, 0, sizeof *r);
    r->h = h;
    r->name = name ? name : "<edn>";
    r->p = buf;
    r->end = buf + len;
    r->line_start = buf;
    r->line = 1;
    r->e = e;
}

void fl_edn_fini(struct fl_edn *r)
{
    free(r->stack);
    free(r->sbuf);
    r->stack = NULL;
    r->sbuf = NULL;
}

uint32_t fl_edn_line(const struct fl_edn *r)
{
    return r->line;
}

uint32_t fl_edn_col(const struct fl_edn *r)
{
    return (uint32_t)(r->p - r->line_start) + 1;
}

static int fail(struct fl_edn *r, const char *what)
{
    return fl_err_set(r->e, FL_EUSAGE, "%s:%u:%u: %s", r->name, fl_edn_line(r), fl_edn_col(r),
                      what);
}

int fl_edn_peek(struct fl_edn *r)
{
    while (r->p < r->end) {
        char c = *r->p;
        if (c == '\n') {
            r->p++;
            r->line++;
            r->line_start = r->p;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\f' ||
                   (c == ':' && r->json)) {
            r->p++;
        } else if (c == ';') {
            while (r->p < r->end && *r->p != '\n')
                r->p++;
        } else {
            return (unsigned char)c;
        }
    }
    return -1;
}

void fl_edn_advance(struct fl_edn *r)
{
    if (r->p < r->end)
        r->p++;
}

static bool is_sym_char(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '.':
    case '*':
    case '+':
    case '!':
    case '-':
    case '_':
    case '?':
    case '$':
    case '%':
    case '&':
    case '=':
    case '<':
    case '>':
    case '/':
    case ':':
    case '#':
    case '\'':
        return true;
    default:
        return false;
    }
}

static int push_child(struct fl_edn *r, const struct fl_val *v)
{
    if (r->nstack == r->capstack) {
        size_t cap = r->capstack ? r->capstack * 2 : 64;
        struct fl_val *s = realloc(r->stack, cap * sizeof *s);
        if (!s)
            return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
        r->stack = s;
        r->capstack = cap;
    }
    r->stack[r->nstack++] = *v;
    return 0;
}

static int read_depth(struct fl_edn *r, struct fl_val *out, int depth);
int fl_edn_skip_discards(struct fl_edn *r);

static int read_coll(struct fl_edn *r, struct fl_val *out, int kind, char close, int depth)
{
    size_t base = r->nstack;
    uint32_t line = fl_edn_line(r), col = fl_edn_col(r);
    int rc;

    for (;;) {
        if ((rc = fl_edn_skip_discards(r)) < 0) {
            r->nstack = base;
            return rc;
        }
        int c = fl_edn_peek(r);
        if (c < 0) {
            r->nstack = base;
            return fl_err_set(r->e, FL_EUSAGE,
                              "%s:%u:%u: '%c' opened here is never closed (missing '%c')", r->name,
                              line, col > 1 ? col - 1 : col,
                              close == ']'   ? '['
                              : close == ')' ? '('
                                             : '{',
                              close);
        }
        if (c == close) {
            fl_edn_advance(r);
            break;
        }
        if (c == ']' || c == ')' || c == '}') {
            r->nstack = base;
            char msg[96];
            snprintf(msg, sizeof msg, "unexpected '%c', expected '%c'", c, close);
            return fail(r, msg);
        }
        struct fl_val v;
        if ((rc = read_depth(r, &v, depth + 1)) < 0) {
            r->nstack = base;
            return rc;
        }
        if ((rc = push_child(r, &v)) < 0) {
            r->nstack = base;
            return rc;
        }
    }
    size_t n = r->nstack - base;
    if (kind == FL_V_MAP && n % 2) {
        r->nstack = base;
        return fail(r, "map literal has an odd number of forms (a key without a value)");
    }
    int64_t at = n ? fl_history_push_vals(r->h, r->stack + base, n) : 0;
    r->nstack = base;
    if (at < 0)
        return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
    out->kind = kind;
    out->n = (uint32_t)(kind == FL_V_MAP ? n / 2 : n);
    out->x = at;
    return 0;
}

static int sbuf_put(struct fl_edn *r, size_t *n, char c)
{
    if (*n + 1 >= r->sbufcap) {
        size_t cap = r->sbufcap ? r->sbufcap * 2 : 256;
        char *s = realloc(r->sbuf, cap);
        if (!s)
            return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
        r->sbuf = s;
        r->sbufcap = cap;
    }
    r->sbuf[(*n)++] = c;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The fast path: a string with no escapes and no newlines is interned in
 * place (short ones through a small cache). 1 when read, 0 when the string
 * needs the slow path, negative on error. r->p is past the opening quote. */
static int read_plain_string(struct fl_edn *r, struct fl_val *out)
{
    for (const char *q = r->p; q < r->end && *q != '\\' && *q != '\n'; q++) {
        if (*q == '"' && q - r->p <= 7) {
            uint64_t key = 0;
            size_t n8 = (size_t)(q - r->p), slot;
            for (size_t i = 0; i < n8; i++) /* low 7 bytes: the text; top: length + 1 */
                key |= (uint64_t)(unsigned char)r->p[i] << (8 * i);
            key |= (uint64_t)(n8 + 1) << 56;
            slot = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 58);
            if (r->short_key[slot] != key) {
                int64_t id = fl_history_intern(r->h, r->p, n8, FL_V_STR);
                if (id < 0)
                    return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
                r->short_key[slot] = key;
                r->short_id[slot] = id;
            }
            r->p = q + 1;
            *out = (struct fl_val){FL_V_STR, 0, r->short_id[slot]};
            return 1;
        }
        if (*q == '"') {
            int64_t id = fl_history_intern(r->h, r->p, (size_t)(q - r->p), FL_V_STR);
            if (id < 0)
                return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
            r->p = q + 1;
            *out = (struct fl_val){FL_V_STR, 0, id};
            return 1;
        }
    }
    return 0;
}

/* The character an escape after a backslash stands for, into *c; a \uXXXX
 * beyond ASCII puts its leading UTF-8 bytes into sbuf and leaves the last
 * one in *c. r->p is at the escape letter. */
static int read_escape(struct fl_edn *r, size_t *n, char *c)
{
    char esc = *r->p++;
    unsigned cp = 0;
    int rc;

    switch (esc) {
    case 'n':
        *c = '\n';
        return 0;
    case 't':
        *c = '\t';
        return 0;
    case 'r':
        *c = '\r';
        return 0;
    case 'b':
        *c = '\b';
        return 0;
    case 'f':
        *c = '\f';
        return 0;
    case 'u':
        break;
    default:
        *c = esc;
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        int d = r->p < r->end ? hexval(*r->p) : -1;
        if (d < 0)
            return fail(r, "bad \\u escape in string: expected 4 hex digits");
        cp = cp * 16 + (unsigned)d;
        r->p++;
    }
    if (cp < 0x80) {
        *c = (char)cp;
    } else if (cp < 0x800) {
        if ((rc = sbuf_put(r, n, (char)(0xC0 | (cp >> 6)))) < 0)
            return rc;
        *c = (char)(0x80 | (cp & 0x3F));
    } else {
        if ((rc = sbuf_put(r, n, (char)(0xE0 | (cp >> 12)))) < 0 ||
            (rc = sbuf_put(r, n, (char)(0x80 | ((cp >> 6) & 0x3F)))) < 0)
            return rc;
        *c = (char)(0x80 | (cp & 0x3F));
    }
    return 0;
}

static int read_string(struct fl_edn *r, struct fl_val *out)
{
    uint32_t line = fl_edn_line(r), col = fl_edn_col(r);
    size_t n = 0;
    int rc;

    fl_edn_advance(r); /* opening quote */
    if ((rc = read_plain_string(r, out)) != 0)
        return rc < 0 ? rc : 0;
    for (;;) {
        if (r->p >= r->end)
            return fl_err_set(r->e, FL_EUSAGE,
                              "%s:%u:%u: string starting here is never closed (missing '\"')",
                              r->name, line, col);
        char c = *r->p++;
        if (c == '"')
            break;
        if (c == '\n') {
            r->line++;
            r->line_start = r->p;
        }
        if (c == '\\') {
            if (r->p >= r->end)
                continue;
            if ((rc = read_escape(r, &n, &c)) < 0)
                return rc;
        }
        if ((rc = sbuf_put(r, &n, c)) < 0)
            return rc;
    }
    int64_t id = fl_history_intern(r->h, n ? r->sbuf : "", n, FL_V_STR);
    if (id < 0)
        return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
    out->kind = FL_V_STR;
    out->n = 0;
    out->x = id;
    return 0;
}

/* Numbers: a plain decimal integer that fits becomes FL_V_INT; anything else
 * numeric (1.5, 1e9, 12N, 3M, huge) is kept as text. */
static int read_number(struct fl_edn *r, struct fl_val *out)
{
    const char *s = r->p;
    /* the common case first: up to 18 digits (< 2^62), then a delimiter */
    const char *q = s + (*s == '-' || *s == '+'), *d = q;
    int64_t fast = 0;
    while (q < r->end && *q >= '0' && *q <= '9' && q - d < 18)
        fast = fast * 10 + (*q++ - '0');
    if (q > d && (q == r->end || !is_sym_char(*q))) {
        r->p = q;
        *out = (struct fl_val){FL_V_INT, 0, *s == '-' ? -fast : fast};
        return 0;
    }
    while (r->p < r->end && is_sym_char(*r->p))
        r->p++;
    size_t n = (size_t)(r->p - s);
    bool plain = true;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i == n)
        plain = false;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            plain = false;
    if (plain && n < 19) { /* at most 18 digits: cannot overflow */
        bool neg = s[0] == '-';
        int64_t v = 0;
        for (size_t k = (s[0] == '-' || s[0] == '+'); k < n; k++)
            v = v * 10 + (s[k] - '0');
        if (neg)
            v = -v;
        *out = (struct fl_val){FL_V_INT, 0, v};
        return 0;
    }
    if (plain && n < 40) {
        char tmp[48];
        memcpy(tmp, s, n);
        tmp[n] = 0;
        errno = 0;
        long long v = strtoll(tmp, NULL, 10);
        if (errno == 0 && v >= FL_CODE_INT_MIN && v <= FL_CODE_INT_MAX) {
            *out = (struct fl_val){FL_V_INT, 0, v};
            return 0;
        }
    }
    int64_t id = fl_history_intern(r->h, s, n, FL_V_NUM);
    if (id < 0)
        return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
    out->kind = FL_V_NUM;
    out->n = 0;
    out->x = id;
    return 0;
}

static int read_symbolish(struct fl_edn *r, struct fl_val *out, int kind)
{
    const char *s = r->p;
    while (r->p < r->end && is_sym_char(*r->p))
        r->p++;
    size_t n = (size_t)(r->p - s);
    if (n == 0) {
        char msg[64];
        unsigned char c = r->p < r->end ? (unsigned char)*r->p : 0;
        if (c >= 0x20 && c < 0x7f)
            snprintf(msg, sizeof msg, "unexpected character '%c'", c);
        else
            snprintf(msg, sizeof msg, "unexpected byte 0x%02x", c);
        return fail(r, kind == FL_V_KW ? "keyword has no name after ':'" : msg);
    }
    if (kind == FL_V_SYM) {
        if (n == (r->json ? 4u : 3u) && !memcmp(s, r->json ? "null" : "nil", n)) {
            *out = (struct fl_val){FL_V_NIL, 0, 0};
            return 0;
        }
        if (n == 4 && !memcmp(s, "true", 4)) {
            *out = (struct fl_val){FL_V_BOOL, 0, 1};
            return 0;
        }
        if (n == 5 && !memcmp(s, "false", 5)) {
            *out = (struct fl_val){FL_V_BOOL, 0, 0};
            return 0;
        }
    }
    int64_t id = fl_history_intern(r->h, s, n, kind);
    if (id < 0)
        return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
    out->kind = (uint32_t)kind;
    out->n = 0;
    out->x = id;
    return 0;
}

static int read_depth(struct fl_edn *r, struct fl_val *out, int depth)
{
    int c = fl_edn_peek(r);

    if (depth > FL_EDN_MAX_DEPTH)
        return fail(r, "values nested too deeply (more than 200 levels)");
    if (c < 0)
        return fail(r, "unexpected end of input, expected a value");
    switch (c) {
    case '[':
        fl_edn_advance(r);
        return read_coll(r, out, FL_V_VEC, ']', depth);
    case '(':
        fl_edn_advance(r);
        return read_coll(r, out, FL_V_LIST, ')', depth);
    case '{':
        fl_edn_advance(r);
        return read_coll(r, out, FL_V_MAP, '}', depth);
    case '"':
        return read_string(r, out);
    case ':':
        fl_edn_advance(r);
        return read_symbolish(r, out, FL_V_KW);
    case '\\': { /* character literal: keep as a one-char (or named) string */
        fl_edn_advance(r);
        const char *s = r->p;
        if (r->p < r->end)
            r->p++;
        while (r->p < r->end && is_sym_char(*r->p) && is_sym_char(*s))
            r->p++;
        int64_t id = fl_history_intern(r->h, s, (size_t)(r->p - s), FL_V_STR);
        if (id < 0)
            return fl_err_set(r->e, FL_EFAIL, "%s: out of memory reading EDN", r->name);
        *out = (struct fl_val){FL_V_STR, 0, id};
        return 0;
    }
    case '#': {
        fl_edn_advance(r);
        if (r->p < r->end && *r->p == '{') {
            fl_edn_advance(r);
            return read_coll(r, out, FL_V_SET, '}', depth);
        }
        if (r->p < r->end && *r->p == '_') {
            struct fl_val skip;
            int rc;
            fl_edn_advance(r);
            if ((rc = read_depth(r, &skip, depth + 1)) < 0)
                return rc;
            return read_depth(r, out, depth + 1);
        }
        struct fl_val tag;
        int rc = read_symbolish(r, &tag, FL_V_SYM);
        if (rc < 0)
            return rc;
        return read_depth(r, out, depth + 1);
    }
    case ']':
    case ')':
    case '}': {
        char msg[64];
        snprintf(msg, sizeof msg, "unexpected '%c' with nothing open", c);
        return fail(r, msg);
    }
    default:
        break;
    }
    if ((c >= '0' && c <= '9') ||
        ((c == '-' || c == '+') && r->p + 1 < r->end && r->p[1] >= '0' && r->p[1] <= '9'))
        return read_number(r, out);
    return read_symbolish(r, out, FL_V_SYM);
}

int fl_edn_skip_discards(struct fl_edn *r)
{
    while (fl_edn_peek(r) == '#' && r->p + 1 < r->end && r->p[1] == '_') {
        struct fl_val skip;
        int rc;
        r->p += 2;
        if ((rc = read_depth(r, &skip, 1)) < 0)
            return rc;
    }
    return 0;
}

int fl_edn_read(struct fl_edn *r, struct fl_val *out)
{
    return read_depth(r, out, 0);
}

/* Spaces and tabs inside a JSON line (fl_edn_read_flat). */
static void json_ws(struct fl_edn *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r'))
        r->p++;
}

int fl_edn_read_flat(struct fl_edn *r, struct fl_val *out)
{
    const char *start = r->p;
    struct fl_val kids[2 * FL_EDN_FLAT_MAX];
    size_t n = 0;

    if (!r->json || r->p >= r->end || (*r->p != '{' && *r->p != '['))
        return 1;
    bool obj = *r->p == '{';
    char close = obj ? '}' : ']';
    r->p++;
    json_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        *out = (struct fl_val){obj ? FL_V_MAP : FL_V_VEC, 0, 0};
        return 0;
    }
    for (;;) {
        if (n + 2 > sizeof kids / sizeof kids[0])
            goto general;
        if (obj) {
            if (r->p >= r->end || *r->p != '"' || read_string(r, &kids[n]) < 0)
                goto general;
            n++;
            json_ws(r);
            if (r->p >= r->end || *r->p != ':')
                goto general;
            r->p++;
            json_ws(r);
        }
        if (r->p >= r->end)
            goto general;
        /* the same dispatch as read_depth, for scalars only */
        char c = *r->p;
        int rc;
        if ((c >= '0' && c <= '9') ||
            ((c == '-' || c == '+') && r->p + 1 < r->end && r->p[1] >= '0' && r->p[1] <= '9'))
            rc = read_number(r, &kids[n]);
        else if (c == '"')
            rc = read_string(r, &kids[n]);
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            rc = read_symbolish(r, &kids[n], FL_V_SYM);
        else
            goto general;
        if (rc < 0)
            goto general;
        n++;
        json_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            json_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            break;
        }
        goto general;
    }
    int64_t at = fl_history_push_vals(r->h, kids, n);
    if (at < 0)
        goto general;
    *out = (struct fl_val){obj ? FL_V_MAP : FL_V_VEC, (uint32_t)(obj ? n / 2 : n), at};
    return 0;
general:
    r->p = start;
    return 1;
}
