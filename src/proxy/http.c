/* The HTTP/1.1 fault engine of one connection (see http.h): parses both
 * directions with http-parser, decides per request which rules apply, and
 * queues each side's bytes as timed segments.
 *
 * Bytes pass unchanged unless a rule changes them: a request's head and body
 * are forwarded as they came (Content-Length or chunked framing kept), an
 * answered request is dropped and its answer queued in the place of its
 * response (pipelined responses stay in order), and only a response whose
 * rule rewrites headers or body gets a new head. The parser is paused at
 * the end of each head and each message, so the engine always knows which
 * raw bytes belong to which part. */
#include <errno.h>
#include <fnmatch.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/http.h"

enum { EV_NONE, EV_HEAD, EV_DONE };

/* A request waiting for its response, in order. */
struct slot {
    bool synth;    /* answered by a rule: bytes are the whole answer */
    bool head_req; /* a HEAD request: its response has no body */
    char *bytes;   /* synth: the answer; else the headers to set ("N: v\r\n"...) */
    size_t len;
    char *names; /* the set headers' names, NUL-separated */
    size_t nnames;
    char *body; /* replacement body */
    size_t body_len;
    bool has_body;
    char *find, *repl; /* body patch: every `find` becomes `repl` */
    size_t find_len, repl_len;
    int64_t at;
};

struct side {
    http_parser hp;
    char *in;                    /* FL_HTTP_HEAD_MAX bytes */
    size_t in_len, parsed, mark; /* in[0, mark) is handled, in[0, parsed) parsed */
    bool in_head, drop, eof;
    bool hold, over;  /* a response held whole to patch its body; past the bound */
    char *held, *dec; /* its raw bytes, and its decoded body */
    size_t held_len, dec_len, held_head;
    int ev;
    int64_t at; /* release time of the current message's bytes */
    char url[FL_HTTP_URL_MAX];
    size_t url_len;
    bool url_over;
    struct fl_http_conn *c;
};

struct fl_http_conn {
    struct side s[2];
    struct fl_http_out out[2];
    struct slot slots[FL_HTTP_PIPELINE_MAX];
    size_t sh, sn;
    bool raw, interim; /* interim: the response being parsed is a 1xx */
    uint64_t stats[4];
};

static int cb_begin(http_parser *hp)
{
    struct side *s = hp->data;

    s->in_head = true;
    s->url_len = 0;
    s->url_over = false;
    return 0;
}

static int cb_url(http_parser *hp, const char *at, size_t n)
{
    struct side *s = hp->data;

    if (s->url_len + n >= sizeof s->url) {
        s->url_over = true;
        return 0;
    }
    memcpy(s->url + s->url_len, at, n);
    s->url_len += n;
    s->url[s->url_len] = 0;
    return 0;
}

static int grow(char **buf, size_t *len, const char *p, size_t n)
{
    char *b;

    if (*len + n > FL_HTTP_PATCH_MAX)
        return -E2BIG;
    if (!(b = realloc(*buf, *len + n + 1)))
        return -ENOMEM;
    memcpy(b + *len, p, n);
    *len += n;
    *buf = b;
    return 0;
}

static int cb_body(http_parser *hp, const char *at, size_t n)
{
    struct side *s = hp->data;

    if (s->hold && !s->over && grow(&s->dec, &s->dec_len, at, n))
        s->over = true; /* too big: emit_body gives up on the patch */
    return 0;
}

static int cb_head(http_parser *hp)
{
    struct side *s = hp->data;
    struct fl_http_conn *c = s->c;

    s->ev = EV_HEAD;
    http_parser_pause(hp, 1);
    /* the response to a HEAD request has no body whatever it says */
    if (hp->type == HTTP_RESPONSE && c->sn && c->slots[c->sh].head_req && hp->status_code >= 200)
        return 1;
    return 0;
}

static int cb_done(http_parser *hp)
{
    struct side *s = hp->data;

    s->ev = EV_DONE;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = cb_begin,
    .on_url = cb_url,
    .on_body = cb_body,
    .on_headers_complete = cb_head,
    .on_message_complete = cb_done,
};

struct fl_http_conn *fl_http_conn_new(void)
{
    struct fl_http_conn *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    for (int i = 0; i < 2; i++) {
        struct side *s = &c->s[i];
        http_parser_init(&s->hp, i ? HTTP_RESPONSE : HTTP_REQUEST);
        s->hp.data = s;
        s->c = c;
        s->in_head = true;
        if (!(s->in = malloc(FL_HTTP_HEAD_MAX))) {
            fl_http_conn_free(c);
            return NULL;
        }
    }
    return c;
}

static void slot_clear(struct slot *sl)
{
    free(sl->bytes);
    free(sl->names);
    free(sl->body);
    free(sl->find);
    free(sl->repl);
    memset(sl, 0, sizeof *sl);
}

void fl_http_conn_free(struct fl_http_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < 2; i++) {
        free(c->s[i].in);
        free(c->s[i].held);
        free(c->s[i].dec);
        free(c->out[i].buf);
        free(c->out[i].seg);
    }
    for (size_t i = 0; i < c->sn; i++)
        slot_clear(&c->slots[(c->sh + i) % FL_HTTP_PIPELINE_MAX]);
    free(c);
}

struct fl_http_out *fl_http_conn_out(struct fl_http_conn *c, int dir)
{
    return &c->out[dir];
}

bool fl_http_conn_raw(const struct fl_http_conn *c)
{
    return c->raw;
}

void fl_http_conn_stats(const struct fl_http_conn *c, uint64_t v[4])
{
    memcpy(v, c->stats, sizeof c->stats);
}

static int out_push(struct fl_http_out *o, const char *p, size_t n, int64_t at)
{
    if (!n)
        return 0;
    if (o->off && o->off + o->len + n > o->cap) {
        memmove(o->buf, o->buf + o->off, o->len);
        o->off = 0;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 16384;
        while (cap < o->len + n)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b)
            return -ENOMEM;
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->off + o->len, p, n);
    o->len += n;
    if (at < o->last_at)
        at = o->last_at;
    o->last_at = at;
    if (o->sn && o->seg[o->sh + o->sn - 1].at == at) {
        o->seg[o->sh + o->sn - 1].len += n;
        return 0;
    }
    if (o->sh && o->sh + o->sn == o->scap) {
        memmove(o->seg, o->seg + o->sh, o->sn * sizeof *o->seg);
        o->sh = 0;
    }
    if (o->sh + o->sn == o->scap) {
        size_t cap = o->scap ? o->scap * 2 : 16;
        struct fl_http_seg *v = realloc(o->seg, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        o->seg = v;
        o->scap = cap;
    }
    o->seg[o->sh + o->sn++] = (struct fl_http_seg){n, at};
    return 0;
}

void fl_http_out_consume(struct fl_http_out *o, size_t n)
{
    o->off += n;
    o->len -= n;
    while (n && o->sn) {
        struct fl_http_seg *sg = &o->seg[o->sh];
        size_t k = n < sg->len ? n : sg->len;
        sg->len -= k;
        n -= k;
        if (!sg->len)
            o->sh++, o->sn--;
    }
    if (!o->len)
        o->off = 0, o->sh = 0, o->sn = 0;
}

size_t fl_http_conn_space(const struct fl_http_conn *c, int dir)
{
    const struct side *s = &c->s[dir];

    if (c->out[dir].len >= FL_HTTP_OUT_MAX)
        return 0;
    if (c->raw)
        return FL_HTTP_OUT_MAX - c->out[dir].len;
    if (dir == 0 && (c->sn >= FL_HTTP_PIPELINE_MAX || c->out[1].len >= FL_HTTP_OUT_MAX))
        return 0;
    return FL_HTTP_HEAD_MAX - s->in_len;
}

/* Queue the answers at the front of the pipeline (their turn has come). */
static int release_synth(struct fl_http_conn *c)
{
    while (c->sn && c->slots[c->sh].synth) {
        struct slot *sl = &c->slots[c->sh];
        if (out_push(&c->out[1], sl->bytes, sl->len, sl->at))
            return -ENOMEM;
        slot_clear(sl);
        c->sh = (c->sh + 1) % FL_HTTP_PIPELINE_MAX;
        c->sn--;
    }
    return 0;
}

/* Stop holding a response for a patch: what was held goes on unchanged. */
static int unhold(struct fl_http_conn *c, bool emit)
{
    struct side *s = &c->s[1];
    int r = 0;

    if (!s->hold)
        return 0;
    if (emit)
        r = out_push(&c->out[1], s->held, s->held_len, s->at);
    free(s->held);
    free(s->dec);
    s->held = s->dec = NULL;
    s->held_len = s->dec_len = 0;
    s->hold = s->over = false;
    return r;
}

/* Not HTTP/1.1 (or no longer): from here on both directions pass unchanged. */
static int go_raw(struct fl_http_conn *c, int64_t now)
{
    if (unhold(c, true) || release_synth(c))
        return -ENOMEM;
    c->raw = true;
    for (int i = 0; i < 2; i++) {
        struct side *s = &c->s[i];
        if (s->mark < s->in_len && out_push(&c->out[i], s->in + s->mark, s->in_len - s->mark,
                                            s->drop ? now : (s->at > now ? s->at : now)))
            return -ENOMEM;
        s->in_len = s->mark = s->parsed = 0;
    }
    return 0;
}

/* The body bytes parsed since the last call: forwarded or dropped. */
static int emit_body(struct fl_http_conn *c, int dir)
{
    struct side *s = &c->s[dir];
    int r = 0;

    if (s->in_head || s->parsed <= s->mark)
        return 0;
    if (s->hold && !s->over &&
        !(r = grow(&s->held, &s->held_len, s->in + s->mark, s->parsed - s->mark))) {
        s->mark = s->parsed;
        return 0;
    }
    if (r == -ENOMEM)
        return r;
    if (s->hold) {
        /* past FL_HTTP_PATCH_MAX: the response goes on unpatched */
        if (unhold(c, true))
            return -ENOMEM;
        s->drop = false;
        r = 0;
    }
    if (!s->drop)
        r = out_push(&c->out[dir], s->in + s->mark, s->parsed - s->mark, s->at);
    s->mark = s->parsed;
    return r;
}

static bool name_in(const char *names, size_t len, const char *name, size_t nl)
{
    for (size_t i = 0; i < len; i += strlen(names + i) + 1)
        if (strlen(names + i) == nl && !strncasecmp(names + i, name, nl))
            return true;
    return false;
}

/* The answer a rule gives instead of forwarding the request. */
static char *synth_answer(int status, const char *body, size_t blen, const char *hdrs, size_t hlen,
                          bool head_req, bool own_type, size_t *len)
{
    const char *reason = http_status_str((enum http_status)status);
    char top[256];
    int n;
    char *out;

    if (!strcmp(reason, "<unknown>"))
        reason = "Injected";
    n = snprintf(top, sizeof top,
                 "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\nX-Faultline: http.fault\r\n", status,
                 reason, own_type ? "" : "Content-Type: text/plain\r\n", blen);
    if (!(out = malloc((size_t)n + hlen + 2 + blen)))
        return NULL;
    memcpy(out, top, (size_t)n);
    memcpy(out + n, hdrs, hlen);
    memcpy(out + n + hlen, "\r\n", 2);
    *len = (size_t)n + hlen + 2;
    if (!head_req) {
        memcpy(out + *len, body, blen);
        *len += blen;
    }
    return out;
}

static int append(char **buf, size_t *len, const char *p, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);

    if (!b)
        return -ENOMEM;
    memcpy(b + *len, p, n);
    *len += n;
    b[*len] = 0;
    *buf = b;
    return 0;
}

/* Merge what the rules that fired do to one request into its slot. */
static int apply_rules(struct slot *sl, int *status, int64_t *delay_ms, const char *method,
                       const char *path, const char *head, size_t hlen,
                       const struct fl_http_active *rules, size_t nrules, double (*draw)(void))
{
    bool any = false;

    for (size_t i = 0; i < nrules; i++) {
        const struct fl_http_rule *r = rules[i].rule;
        if (!fl_http_rule_match(r, method, path, head, hlen))
            continue;
        if (!(rules[i].toxicity >= 1.0f || draw() < rules[i].toxicity))
            continue;
        any = true;
        *delay_ms += r->delay_ms;
        if (*delay_ms > FL_HTTP_DELAY_MAX_MS)
            *delay_ms = FL_HTTP_DELAY_MAX_MS;
        if (!*status && r->status)
            *status = r->status;
        for (size_t k = 0; k < r->nset; k++) {
            size_t nl = strlen(r->set_names[k]), vl = strlen(r->set_values[k]);
            if (append(&sl->bytes, &sl->len, r->set_names[k], nl) ||
                append(&sl->bytes, &sl->len, ": ", 2) ||
                append(&sl->bytes, &sl->len, r->set_values[k], vl) ||
                append(&sl->bytes, &sl->len, "\r\n", 2) ||
                append(&sl->names, &sl->nnames, r->set_names[k], nl + 1))
                return -ENOMEM;
        }
        if (r->find) {
            free(sl->find);
            free(sl->repl);
            sl->find = malloc(r->find_len + 1);
            sl->repl = malloc(r->repl_len + 1);
            if (!sl->find || !sl->repl)
                return -ENOMEM;
            memcpy(sl->find, r->find, r->find_len);
            memcpy(sl->repl, r->repl, r->repl_len);
            sl->find_len = r->find_len;
            sl->repl_len = r->repl_len;
        }
        if (r->has_body) {
            free(sl->body);
            if (!(sl->body = malloc(r->body_len + 1)))
                return -ENOMEM;
            memcpy(sl->body, r->body, r->body_len);
            sl->body_len = r->body_len;
            sl->has_body = true;
        }
    }
    return any;
}

/* A request's head is complete (in[mark, end)): decide, forward or answer. */
static int request_head(struct fl_http_conn *c, size_t end, int64_t now,
                        const struct fl_http_active *rules, size_t nrules, double (*draw)(void))
{
    struct side *s = &c->s[0];
    struct slot sl = {0};
    const char *method = http_method_str((enum http_method)s->hp.method);
    char *q = s->url_over ? NULL : strchr(s->url, '?');
    int status = 0, r;
    int64_t delay = 0;

    if (q)
        *q = 0;
    c->stats[0]++;
    sl.head_req = s->hp.method == HTTP_HEAD;
    r = apply_rules(&sl, &status, &delay, method, s->url_over ? NULL : s->url, s->in + s->mark,
                    end - s->mark, rules, nrules, draw);
    if (r < 0)
        goto fail;
    sl.at = now + delay * 1000000LL;
    if (delay)
        c->stats[2]++;
    if (status) {
        char dflt[96];
        const char *body = sl.body;
        size_t blen = sl.body_len, hlen = sl.len;
        char *ans;
        if (!sl.has_body) {
            blen = (size_t)snprintf(dflt, sizeof dflt, "faultline: injected HTTP %d\n", status);
            body = dflt;
        }
        if (!(ans = synth_answer(status, body, blen, sl.bytes ? sl.bytes : "", hlen, sl.head_req,
                                 name_in(sl.names, sl.nnames, "Content-Type", 12), &sl.len)))
            goto fail;
        free(sl.bytes);
        sl.bytes = ans;
        sl.synth = true;
        s->drop = true;
        c->stats[1]++;
    } else {
        s->drop = false;
        s->at = sl.at;
        if (out_push(&c->out[0], s->in + s->mark, end - s->mark, sl.at))
            goto fail;
    }
    s->mark = end;
    c->slots[(c->sh + c->sn) % FL_HTTP_PIPELINE_MAX] = sl;
    c->sn++;
    return release_synth(c);
fail:
    slot_clear(&sl);
    return -ENOMEM;
}

/* The response head in[mark, end), rewritten: the slot's headers replace
 * those of the same name, and a replaced body gets a new Content-Length. */
static int rewrite_head(struct fl_http_conn *c, const struct slot *sl, const char *p, size_t hlen,
                        bool body, size_t blen, int64_t at)
{
    const char *e = p + hlen;
    struct fl_http_out *o = &c->out[1];
    bool first = true, skip = false;
    char cl[64];

    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t ll = (size_t)(nl - p) + 1, nlen;
        const char *colon = memchr(p, ':', ll);
        if (ll <= 2 && (*p == '\r' || *p == '\n'))
            break; /* the empty line that ends the head */
        if (first || !colon) {
            skip = !first && skip && (*p == ' ' || *p == '\t'); /* a folded line */
        } else {
            nlen = (size_t)(colon - p);
            skip = name_in(sl->names, sl->nnames, p, nlen) ||
                   (body && ((nlen == 14 && !strncasecmp(p, "content-length", 14)) ||
                             (nlen == 17 && !strncasecmp(p, "transfer-encoding", 17))));
        }
        if (!skip && out_push(o, p, ll, at))
            return -ENOMEM;
        first = false;
        p += ll;
    }
    if (sl->len && out_push(o, sl->bytes, sl->len, at))
        return -ENOMEM;
    if (body &&
        out_push(o, cl, (size_t)snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", blen), at))
        return -ENOMEM;
    c->stats[3]++;
    return out_push(o, "\r\n", 2, at);
}

static int response_head(struct fl_http_conn *c, size_t end, int64_t now)
{
    struct side *s = &c->s[1];
    struct slot *sl = c->sn ? &c->slots[c->sh] : NULL;
    unsigned st = s->hp.status_code;
    bool body;
    int r;

    c->interim = st < 200 && st != 101;
    s->drop = false;
    s->at = now;
    body = sl && sl->has_body && !c->interim && st != 101 && st != 204 && st != 304;
    if (sl && sl->find && !body && !c->interim && st != 101 && st != 204 && st != 304 &&
        !sl->head_req) {
        /* patch: hold the whole response, head included (it gets a new length) */
        s->hold = true;
        s->held_head = end - s->mark;
        r = grow(&s->held, &s->held_len, s->in + s->mark, end - s->mark);
        s->mark = end;
        return r;
    }
    if (!sl || c->interim || (!sl->len && !body))
        r = out_push(&c->out[1], s->in + s->mark, end - s->mark, now);
    else
        r = rewrite_head(c, sl, s->in + s->mark, end - s->mark, body, sl->body_len, now);
    s->drop = body;
    s->mark = end;
    return r;
}

/* Every `find` in the held body becomes `repl`; the response leaves with
 * its new length. A result past FL_HTTP_PATCHED_MAX leaves unpatched. */
static int patch_out(struct fl_http_conn *c, const struct slot *sl)
{
    struct side *s = &c->s[1];
    size_t hits = 0, len;
    char *out, *o;
    const char *p, *e = s->dec ? s->dec + s->dec_len : NULL;
    int r;

    for (p = s->dec; s->dec_len && (p = memmem(p, (size_t)(e - p), sl->find, sl->find_len));
         p += sl->find_len)
        hits++;
    len = s->dec_len - hits * sl->find_len;
    if (hits && sl->repl_len > (FL_HTTP_PATCHED_MAX - len) / hits)
        return unhold(c, true);
    len += hits * sl->repl_len;
    if (!(o = out = malloc(len + 1)))
        return -ENOMEM;
    for (p = s->dec; p < e;) {
        const char *h = memmem(p, (size_t)(e - p), sl->find, sl->find_len);
        size_t k = h ? (size_t)(h - p) : (size_t)(e - p);
        memcpy(o, p, k);
        o += k;
        p += k;
        if (h) {
            memcpy(o, sl->repl, sl->repl_len);
            o += sl->repl_len;
            p += sl->find_len;
        }
    }
    r = rewrite_head(c, sl, s->held, s->held_head, true, len, s->at);
    if (!r)
        r = out_push(&c->out[1], out, len, s->at);
    free(out);
    if (!r)
        r = unhold(c, false);
    return r;
}

static int response_done(struct fl_http_conn *c, int64_t now)
{
    struct slot *sl;

    if (c->interim || !c->sn)
        return 0;
    sl = &c->slots[c->sh];
    if (c->s[1].hold && patch_out(c, sl))
        return -ENOMEM;
    if (c->s[1].drop && !sl->head_req && out_push(&c->out[1], sl->body, sl->body_len, now))
        return -ENOMEM;
    slot_clear(sl);
    c->sh = (c->sh + 1) % FL_HTTP_PIPELINE_MAX;
    c->sn--;
    return release_synth(c);
}

static int on_event(struct fl_http_conn *c, int dir, int64_t now,
                    const struct fl_http_active *rules, size_t nrules, double (*draw)(void))
{
    struct side *s = &c->s[dir];

    if (s->ev == EV_HEAD) {
        size_t end = s->parsed + 1;
        if (s->parsed >= s->in_len || s->in[s->parsed] != '\n')
            return go_raw(c, now);
        s->in_head = false;
        return dir ? response_head(c, end, now) : request_head(c, end, now, rules, nrules, draw);
    }
    if (s->ev == EV_DONE) {
        int r = emit_body(c, dir);
        if (!r && dir)
            r = response_done(c, now);
        s->in_head = true;
        s->drop = false;
        if (!r && s->hp.upgrade)
            r = go_raw(c, now); /* Upgrade or CONNECT: the rest is another protocol */
        return r;
    }
    return 0;
}

static int process(struct fl_http_conn *c, int dir, int64_t now, const struct fl_http_active *rules,
                   size_t nrules, double (*draw)(void))
{
    struct side *s = &c->s[dir];
    int r = 0;

    /* a request waits (unparsed) while FL_HTTP_PIPELINE_MAX others wait for
     * their responses; a response that completes resumes it (fl_http_conn_feed) */
    while (!c->raw && s->parsed < s->in_len &&
           !(dir == 0 && s->in_head && c->sn >= FL_HTTP_PIPELINE_MAX)) {
        size_t k;
        enum http_errno e;

        s->ev = EV_NONE;
        k = http_parser_execute(&s->hp, &settings, s->in + s->parsed, s->in_len - s->parsed);
        s->parsed += k;
        e = HTTP_PARSER_ERRNO(&s->hp);
        if (e == HPE_PAUSED) {
            http_parser_pause(&s->hp, 0);
            if ((r = on_event(c, dir, now, rules, nrules, draw)))
                return r;
            continue;
        }
        if (e != HPE_OK || !k)
            return go_raw(c, now);
    }
    if (c->raw)
        return 0;
    if ((r = emit_body(c, dir)))
        return r;
    if (s->in_head && s->mark == 0 && s->in_len == FL_HTTP_HEAD_MAX && s->parsed == s->in_len)
        return go_raw(c, now); /* a head past the bound: not faulted, passed on */
    /* drop what is handled; the mark passes the parser by one byte (the
     * head's last LF) when parsing stopped right after a head */
    size_t done = s->mark < s->parsed ? s->mark : s->parsed;
    if (done) {
        memmove(s->in, s->in + done, s->in_len - done);
        s->in_len -= done;
        s->parsed -= done;
        s->mark -= done;
    }
    return 0;
}

int fl_http_conn_feed(struct fl_http_conn *c, int dir, const char *p, size_t n, int64_t now,
                      const struct fl_http_active *rules, size_t nrules, double (*draw)(void))
{
    struct side *s = &c->s[dir];

    if (c->raw)
        return out_push(&c->out[dir], p, n, now);
    while (n) {
        size_t k = FL_HTTP_HEAD_MAX - s->in_len;
        int r;
        if (k > n)
            k = n;
        memcpy(s->in + s->in_len, p, k);
        s->in_len += k;
        p += k;
        n -= k;
        if ((r = process(c, dir, now, rules, nrules, draw)))
            return r;
        if (c->raw)
            return out_push(&c->out[dir], p, n, now);
    }
    if (dir == 1 && c->s[0].parsed < c->s[0].in_len && c->sn < FL_HTTP_PIPELINE_MAX)
        return process(c, 0, now, rules, nrules, draw);
    return 0;
}

int fl_http_conn_eof(struct fl_http_conn *c, int dir, int64_t now)
{
    struct side *s = &c->s[dir];

    if (c->raw || s->eof)
        return 0;
    s->eof = true;
    if (dir == 1 && !s->in_head) {
        /* a response delimited by the connection's end completes now */
        s->ev = EV_NONE;
        http_parser_execute(&s->hp, &settings, NULL, 0);
        if (s->ev == EV_DONE) {
            int r;
            http_parser_pause(&s->hp, 0);
            if ((r = on_event(c, dir, now, NULL, 0, NULL)) || c->raw)
                return r;
        }
    }
    /* an unfinished head: pass it on as it is */
    if (s->mark < s->in_len && out_push(&c->out[dir], s->in + s->mark, s->in_len - s->mark, now))
        return -ENOMEM;
    s->in_len = s->mark = s->parsed = 0;
    return 0;
}
