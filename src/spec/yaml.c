/* The experiment loader's YAML reader: libyaml's event stream (the C core
 * PyYAML uses) built into the small fl_ynode tree of yaml.h, with the line
 * and column of every node, limits on depth and size, no anchors or aliases,
 * and ${NAME} substitution in scalars. */
#include "spec/yaml.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct builder {
    struct fl_ynode *stack[FL_YAML_MAX_DEPTH + 1];
    int depth;
    size_t nodes;
    struct fl_ynode *root;
    enum fl_yaml_env env;
    char *err;
    size_t errlen;
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
    free(n->unset_env);
    free(n);
}

/* Expand ${NAME} and ${NAME:-default}; "$$" is a literal "$". A lenient
 * parse leaves an unset NAME empty and names the first in *unset. */
static char *expand(struct builder *b, const char *s, size_t len, int line, int col, char **unset)
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
            } else if (b->env == FL_YAML_ENV_LENIENT) {
                addlen = 0;
                if (!*unset && !(*unset = strdup(name))) {
                    free(r);
                    return NULL;
                }
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
static struct fl_ynode *node_new(struct builder *b, enum fl_ynode_type t, yaml_mark_t m)
{
    struct fl_ynode *n;
    int line = (int)m.line + 1, col = (int)m.column + 1;

    if (++b->nodes > FL_YAML_MAX_NODES) {
        fail(b, line, col, "document too large (more than %d nodes)", FL_YAML_MAX_NODES);
        return NULL;
    }
    n = calloc(1, sizeof *n);
    if (!n) {
        fail(b, line, col, "out of memory");
        return NULL;
    }
    n->type = t;
    n->line = line;
    n->col = col;
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

/* A scalar event becomes a scalar node: libyaml has already folded and
 * unescaped the text (value holds `length` bytes and may contain a NUL from
 * a "\0" escape, which is refused). */
static int on_scalar(struct builder *b, const yaml_event_t *ev, int line, int col)
{
    const char *txt = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    struct fl_ynode *n;

    if (ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
        ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
        col++; /* errors point at the text inside the quote, as they always have */
    if (ev->data.scalar.anchor)
        return fail(b, line, col, "YAML anchors (&name) are not supported");
    if (memchr(txt, '\0', len))
        return fail(b, line, col, "a NUL character (\\0) in a value is not supported: remove it");
    if (!(n = node_new(b, FL_YSCALAR, ev->start_mark)))
        return -1;
    n->col = col;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->str = expand(b, txt, len, line, col, &n->unset_env);
    if (!n->str) {
        if (!b->err[0])
            fail(b, line, col, "out of memory");
        fl_yaml_free(n);
        return -1;
    }
    return attach(b, n);
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    bool map = ev->type == YAML_MAPPING_START_EVENT;
    struct fl_ynode *n;

    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return fail(b, line, col, "YAML aliases (*name) are not supported: repeat the value");
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, line, col);
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if (map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor)
            return fail(b, line, col, "YAML anchors (&name) are not supported");
        if (b->depth >= FL_YAML_MAX_DEPTH)
            return fail(b, line, col, "nested too deeply (more than %d levels)", FL_YAML_MAX_DEPTH);
        if (!(n = node_new(b, map ? FL_YMAP : FL_YSEQ, ev->start_mark)))
            return -1;
        b->stack[b->depth++] = n;
        return 0;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
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

/* YAML must be UTF-8, and libyaml reports invalid UTF-8 with a byte offset
 * only: check first, so the error says line and column. */
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

/* libyaml's syntax error as "LINE:COL: YAML syntax error: PROBLEM (while
 * CONTEXT that starts at LINE:COL)". */
static void syntax_error(struct builder *b, const yaml_parser_t *p)
{
    const yaml_mark_t *m = &p->problem_mark;
    const char *problem = p->problem ? p->problem : "unreadable";

    if (p->error == YAML_MEMORY_ERROR) {
        fail(b, 1, 1, "out of memory while reading the YAML");
    } else if (p->context) {
        fail(b, (int)m->line + 1, (int)m->column + 1,
             "YAML syntax error: %s (%s that starts at %d:%d)", problem, p->context,
             (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    } else {
        fail(b, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s", problem);
    }
}

struct fl_ynode *fl_yaml_parse(const char *text, size_t len, enum fl_yaml_env env, char *err,
                               size_t errlen)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct builder b = {.env = env, .err = err, .errlen = errlen};
    int docs = 0, r = 0;
    bool done = false;

    err[0] = '\0';
    if (check_utf8(&b, text, len))
        return NULL;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "1:1: out of memory: cannot create the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (r == 0 && !done) {
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(&b, &p);
            r = -1;
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1)
            r = fail(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                     "more than one YAML document: an experiment file holds one");
        else
            r = on_event(&b, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    while (b.depth > 0)
        fl_yaml_free(b.stack[--b.depth]);
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
