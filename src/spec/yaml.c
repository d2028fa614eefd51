#include "spec/yaml.h"

#include <ctype.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct builder {
    struct fl_ynode *stack[FL_YAML_MAX_DEPTH + 1];
    int depth;
    size_t nodes;
    struct fl_ynode *root;
    bool env;
    char *err;
    size_t errlen;
    const char *text; /* the whole input, for single-quoted scalars */
    size_t len;
};

static int fail(struct builder *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct builder *b, int line, int col, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(b->err, b->errlen, "%d:%d: ", line, col);

    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < b->errlen)
        vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

void fl_yaml_free(struct fl_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        fl_yaml_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    free(n);
}

/* Expand ${NAME} and ${NAME:-default}; "$$" is a literal "$". */
static char *expand(struct builder *b, const char *s, size_t len, int line, int col)
{
    size_t cap = len + 1, out = 0;
    char *r = malloc(cap);

    if (!r)
        return NULL;
    for (size_t i = 0; i < len;) {
        const char *add = s + i;
        size_t addlen = 1;
        char name[128];

        if (b->env && s[i] == '$' && i + 1 < len && s[i + 1] == '$') {
            i += 2;
        } else if (b->env && s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
            const char *end = memchr(s + i + 2, '}', len - i - 2);
            const char *def = NULL, *val;
            size_t nlen, deflen = 0;

            if (!end) {
                free(r);
                fail(b, line, col,
                     "unterminated ${ in '%.*s': close it with } (write $$ for "
                     "a literal $)",
                     (int)(len > 60 ? 60 : len), s);
                return NULL;
            }
            nlen = (size_t)(end - (s + i + 2));
            for (size_t k = 0; k + 1 < nlen; k++)
                if (s[i + 2 + k] == ':' && s[i + 3 + k] == '-') {
                    def = s + i + 4 + k;
                    deflen = nlen - k - 2;
                    nlen = k;
                    break;
                }
            if (nlen == 0 || nlen >= sizeof name) {
                free(r);
                fail(b, line, col,
                     "bad environment reference in '%.*s': write ${NAME} or "
                     "${NAME:-default}",
                     (int)(len > 60 ? 60 : len), s);
                return NULL;
            }
            memcpy(name, s + i + 2, nlen);
            name[nlen] = '\0';
            val = getenv(name);
            if (val) {
                add = val;
                addlen = strlen(val);
            } else if (def) {
                add = def;
                addlen = deflen;
            } else {
                free(r);
                fail(b, line, col,
                     "environment variable %s is not set: export it, or write "
                     "${%s:-default}",
                     name, name);
                return NULL;
            }
            i = (size_t)(end - s) + 1;
        } else {
            i++;
        }
        if (out + addlen + 1 > cap) {
            char *nr;
            cap = (out + addlen + 1) * 2;
            nr = realloc(r, cap);
            if (!nr) {
                free(r);
                return NULL;
            }
            r = nr;
        }
        memcpy(r + out, add, addlen);
        out += addlen;
    }
    r[out] = '\0';
    return r;
}

static int add_child(struct builder *b, struct fl_ynode *parent, struct fl_ynode *kid)
{
    struct fl_ynode **k = realloc(parent->kids, (parent->n + 1) * sizeof *k);

    if (!k)
        return fail(b, kid->line, kid->col, "out of memory");
    parent->kids = k;
    k[parent->n++] = kid;
    return 0;
}

/* Attach a finished node to the open collection (or make it the root). */
static int attach(struct builder *b, struct fl_ynode *n)
{
    if (b->depth == 0) {
        if (b->root) {
            fl_yaml_free(n);
            return 0;
        }
        b->root = n;
        return 0;
    }
    if (add_child(b, b->stack[b->depth - 1], n)) {
        fl_yaml_free(n);
        return -1;
    }
    return 0;
}

static struct fl_ynode *node_new(struct builder *b, enum fl_ynode_type t, const struct fy_mark *m)
{
    struct fl_ynode *n;

    if (++b->nodes > FL_YAML_MAX_NODES) {
        fail(b, m ? m->line + 1 : 0, m ? m->column + 1 : 0,
             "document too large (more than %d nodes)", FL_YAML_MAX_NODES);
        return NULL;
    }
    n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->type = t;
    n->line = m ? m->line + 1 : 0;
    n->col = m ? m->column + 1 : 0;
    return n;
}

/* Check a finished mapping for duplicate keys and non-scalar keys. */
static int check_map(struct builder *b, const struct fl_ynode *m)
{
    for (size_t i = 0; i < m->n; i += 2) {
        const struct fl_ynode *k = m->kids[i];
        if (k->type != FL_YSCALAR)
            return fail(b, k->line, k->col, "mapping keys must be plain words, not a %s",
                        fl_yaml_type_name(k));
        for (size_t j = 0; j < i; j += 2)
            if (!strcmp(m->kids[j]->str, k->str))
                return fail(b, k->line, k->col,
                            "duplicate key '%s' (first at line %d): give each key once", k->str,
                            m->kids[j]->line);
    }
    return 0;
}

/* A scalar's text, in a buffer we own. libfyaml 0.7.12's text formatting
 * (fy_token_get_text and the token iterators built on it) leaks its chunk
 * array when a scalar needs many chunks: a single-quoted one with five or
 * more '' escapes, a double-quoted one with many mixed CR/LF breaks (both
 * found by fuzz_spec), and its iterators return wrong text. Flow scalars
 * (plain, single- and double-quoted) are therefore read from the source
 * here, by YAML 1.2's rules for them; block scalars (| and >) still go
 * through libfyaml. The parser has already checked the syntax. */

static bool is_break(char c)
{
    return c == '\n' || c == '\r';
}

/* A line break and the blank lines after it, at *in: folded (one break is a
 * space, N > 1 breaks are N-1 newlines; with escaped, the first break is
 * dropped instead), leading blanks of the next line skipped. */
static size_t fold(const char **inp, const char *stop, char *out, size_t n, bool escaped)
{
    const char *in = *inp;
    size_t breaks = 0;

    for (; in < stop && (is_break(*in) || *in == ' ' || *in == '\t'); in++) {
        if (*in == '\r' && in + 1 < stop && in[1] == '\n')
            in++;
        breaks += is_break(*in);
    }
    *inp = in;
    if (breaks == 1 && !escaped)
        out[n++] = ' ';
    else
        for (; breaks > 1; breaks--) /* an escaped first break yields nothing */
            out[n++] = '\n';
    return n;
}

/* One code point as UTF-8. */
static size_t put_utf8(char *out, size_t n, unsigned long cp)
{
    if (cp < 0x80) {
        out[n++] = (char)cp;
    } else if (cp < 0x800) {
        out[n++] = (char)(0xc0 | (cp >> 6));
        out[n++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[n++] = (char)(0xe0 | (cp >> 12));
        out[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[n++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[n++] = (char)(0xf0 | ((cp >> 18) & 0x07));
        out[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[n++] = (char)(0x80 | (cp & 0x3f));
    }
    return n;
}

/* The escape after a backslash at *inp (which points past it). */
static size_t escape(const char **inp, const char *stop, char *out, size_t n)
{
    static const char from[] = "0abtnvfre \"/\\\t", to[] = "\0\a\b\t\n\v\f\r\033 \"/\\\t";
    const char *in = *inp, *hit;
    int digits = 0;
    unsigned long cp = 0;

    if (in >= stop)
        return n;
    if ((hit = memchr(from, *in, sizeof from - 1))) {
        out[n++] = to[hit - from];
        *inp = in + 1;
        return n;
    }
    switch (*in) {
    case 'N':
        cp = 0x85;
        break;
    case '_':
        cp = 0xa0;
        break;
    case 'L':
        cp = 0x2028;
        break;
    case 'P':
        cp = 0x2029;
        break;
    case 'x':
        digits = 2;
        break;
    case 'u':
        digits = 4;
        break;
    case 'U':
        digits = 8;
        break;
    default: /* not an escape YAML has: kept as written */
        out[n++] = '\\';
        out[n++] = *in;
        *inp = in + 1;
        return n;
    }
    in++;
    for (; digits > 0 && in < stop && isxdigit((unsigned char)*in); digits--, in++)
        cp = cp * 16 +
             (unsigned long)(isdigit((unsigned char)*in) ? *in - '0' : (*in | 0x20) - 'a' + 10);
    *inp = in;
    return put_utf8(out, n, cp > 0x10ffff ? 0xfffd : cp);
}

/* A flow scalar's content between in and stop: plain, '...' (where '' is ')
 * or "..." (with escapes). Trailing blanks before a break go, except those
 * an escape wrote. */
static char *flow_scalar(const char *in, const char *stop, char style, size_t *len)
{
    char *out = malloc((size_t)(stop - in) * 2 + 8); /* \L, \P: 2 bytes in, 3 out */
    size_t n = 0, keep = 0;

    if (!out)
        return NULL;
    while (in < stop) {
        if (is_break(*in)) {
            n = keep;
            n = keep = fold(&in, stop, out, n, false);
        } else if (style == '"' && *in == '\\' && in + 1 < stop && is_break(in[1])) {
            in++;
            n = keep = fold(&in, stop, out, n, true);
        } else if (style == '"' && *in == '\\') {
            in++;
            n = keep = escape(&in, stop, out, n);
        } else if (style == '\'' && *in == '\'' && in + 1 < stop && in[1] == '\'') {
            out[n++] = '\'';
            keep = n;
            in += 2;
        } else {
            out[n++] = *in;
            if (*in != ' ' && *in != '\t')
                keep = n;
            in++;
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

static char *token_text(struct builder *b, struct fy_token *t, size_t *len)
{
    const struct fy_mark *s = fy_token_start_mark(t), *e = fy_token_end_mark(t);
    enum fy_scalar_style style = fy_token_scalar_style(t);
    const char *txt;
    char q = style == FYSS_SINGLE_QUOTED ? '\'' : style == FYSS_DOUBLE_QUOTED ? '"' : 0;

    if (s && e && s->input_pos <= e->input_pos && e->input_pos <= b->len) {
        /* the marks of a quoted scalar span its content, between the quotes */
        if (q && s->input_pos >= 1 && e->input_pos < b->len && b->text[s->input_pos - 1] == q &&
            b->text[e->input_pos] == q)
            return flow_scalar(b->text + s->input_pos, b->text + e->input_pos, q, len);
        if (style == FYSS_PLAIN)
            return flow_scalar(b->text + s->input_pos, b->text + e->input_pos, 0, len);
    }
    txt = fy_token_get_text(t, len);
    if (!txt) {
        *len = 0;
        return strdup("");
    }
    /* all *len bytes: a "\0" escape puts a NUL inside, which the caller refuses */
    char *copy = malloc(*len + 1);
    if (copy) {
        memcpy(copy, txt, *len);
        copy[*len] = '\0';
    }
    return copy;
}

static int on_event(struct builder *b, struct fy_event *ev)
{
    const struct fy_mark *m = fy_event_start_mark(ev);
    int line = m ? m->line + 1 : 0, col = m ? m->column + 1 : 0;
    struct fl_ynode *n;

    switch (ev->type) {
    case FYET_ALIAS:
        return fail(b, line, col, "YAML aliases (*name) are not supported: repeat the value");
    case FYET_SCALAR: {
        size_t len;
        char *txt;
        if (ev->scalar.anchor)
            return fail(b, line, col, "YAML anchors (&name) are not supported");
        if (!(txt = token_text(b, ev->scalar.value, &len)))
            return fail(b, line, col, "cannot read this scalar");
        if (memchr(txt, '\0', len)) {
            free(txt);
            return fail(b, line, col,
                        "a NUL character (\\0) in a value is not supported: remove it");
        }
        if (!(n = node_new(b, FL_YSCALAR, m))) {
            free(txt);
            return -1;
        }
        n->plain = fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN;
        n->str = expand(b, txt, len, line, col);
        free(txt);
        if (!n->str) {
            fl_yaml_free(n);
            return -1;
        }
        return attach(b, n);
    }
    case FYET_MAPPING_START:
    case FYET_SEQUENCE_START:
        if ((ev->type == FYET_MAPPING_START ? ev->mapping_start.anchor : ev->sequence_start.anchor))
            return fail(b, line, col, "YAML anchors (&name) are not supported");
        if (b->depth >= FL_YAML_MAX_DEPTH)
            return fail(b, line, col, "nested too deeply (more than %d levels)", FL_YAML_MAX_DEPTH);
        if (!(n = node_new(b, ev->type == FYET_MAPPING_START ? FL_YMAP : FL_YSEQ, m)))
            return -1;
        b->stack[b->depth++] = n;
        return 0;
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        if (b->depth == 0)
            return fail(b, line, col, "unbalanced collection");
        n = b->stack[--b->depth];
        if (n->type == FL_YMAP && check_map(b, n)) {
            fl_yaml_free(n);
            return -1;
        }
        return attach(b, n);
    default:
        return 0;
    }
}

/* libfyaml reports syntax errors through this callback (collecting them
 * instead leaks in 0.7.x); keep the first message. */
struct diag_capture {
    char msg[256];
};

static void on_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    struct diag_capture *c = user;

    if (c->msg[0])
        return;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        len--;
    snprintf(c->msg, sizeof c->msg, "%.*s", (int)len, buf);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    size_t n;
    unsigned c = s[0];
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* libfyaml 0.7 can loop forever on some invalid UTF-8 (found by
 * tests/fuzz/fuzz_spec.c), and YAML must be UTF-8 anyway: check first. */
static int check_utf8(struct builder *b, const char *text, size_t len)
{
    int line = 1, col = 1;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_len((const unsigned char *)text + i, len - i);
        if (!n)
            return fail(b, line, col, "the file is not valid UTF-8 here: save it as UTF-8");
        if (text[i] == '\n')
            line++, col = 1;
        else
            col++;
        i += n;
    }
    return 0;
}

struct fl_ynode *fl_yaml_parse(const char *text, size_t len, bool env, char *err, size_t errlen)
{
    struct fy_diag_cfg dcfg;
    struct fy_diag *diag;
    struct fy_parse_cfg cfg = {0};
    struct fy_parser *fyp;
    struct fy_event *ev;
    struct builder b = {.env = env, .err = err, .errlen = errlen, .text = text, .len = len};
    struct diag_capture cap = {{0}};
    int docs = 0, r = 0;

    err[0] = '\0';
    if (check_utf8(&b, text, len))
        return NULL;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = on_diag;
    dcfg.user = &cap;
    dcfg.colorize = false;
    dcfg.show_source = false;
    dcfg.show_position = true;
    dcfg.show_type = false;
    dcfg.show_module = false;
    dcfg.level = FYET_ERROR;
    diag = fy_diag_create(&dcfg);
    if (!diag) {
        snprintf(err, errlen, "1:1: cannot create the YAML parser");
        return NULL;
    }
    cfg.flags = FYPCF_QUIET | FYPCF_DISABLE_RECYCLING;
    cfg.diag = diag;
    fyp = fy_parser_create(&cfg);
    if (!fyp || fy_parser_set_string(fyp, text, len)) {
        snprintf(err, errlen, "1:1: cannot create the YAML parser");
        if (fyp)
            fy_parser_destroy(fyp);
        fy_diag_unref(diag);
        return NULL;
    }
    while (r == 0 && (ev = fy_parser_parse(fyp))) {
        if (ev->type == FYET_DOCUMENT_START && ++docs > 1) {
            const struct fy_mark *m = fy_event_start_mark(ev);
            r = fail(&b, m ? m->line + 1 : 0, m ? m->column + 1 : 0,
                     "more than one YAML document: an experiment file holds one");
        } else {
            r = on_event(&b, ev);
        }
        fy_parser_event_free(fyp, ev);
    }
    if (r == 0 && fy_parser_get_stream_error(fyp)) {
        /* "<memory-@0x...>:LINE:COL: error: MESSAGE" */
        const char *at = strstr(cap.msg, ">:");
        int line = 0, col = 0, used = 0;
        at = at ? at + 2 : cap.msg;
        if (sscanf(at, "%d:%d: error: %n", &line, &col, &used) >= 2 && used > 0)
            fail(&b, line, col, "YAML syntax error: %s", at + used);
        else
            fail(&b, 1, 1, "YAML syntax error: %s", cap.msg[0] ? cap.msg : "unreadable");
        r = -1;
    }
    while (b.depth > 0)
        fl_yaml_free(b.stack[--b.depth]);
    fy_parser_destroy(fyp);
    fy_diag_unref(diag);
    if (r) {
        fl_yaml_free(b.root);
        return NULL;
    }
    if (!b.root) {
        snprintf(err, errlen,
                 "1:1: the file is empty: an experiment needs at least "
                 "title, steady_state and method");
        return NULL;
    }
    return b.root;
}

struct fl_ynode *fl_yaml_get(const struct fl_ynode *map, const char *key)
{
    if (!map || map->type != FL_YMAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (!strcmp(map->kids[i]->str, key))
            return map->kids[i + 1];
    return NULL;
}

bool fl_yaml_is_null(const struct fl_ynode *n)
{
    return n && n->type == FL_YSCALAR && n->plain &&
           (!n->str[0] || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
            !strcmp(n->str, "Null") || !strcmp(n->str, "NULL"));
}

const char *fl_yaml_type_name(const struct fl_ynode *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case FL_YSCALAR:
        return "scalar";
    case FL_YMAP:
        return "mapping";
    case FL_YSEQ:
        return "list";
    }
    return "?";
}
