/* HTTP/1.1 faults in the proxy: the rules of the `http` toxic (one rule per
 * toxic: what requests it matches, what it does to them) and the engine that
 * applies them to one connection.
 *
 * The engine (http.c) knows no sockets: it is fed the bytes read from each
 * side, parses them with http-parser (Debian's libhttp-parser, the Node.js
 * parser before llhttp) and queues what each side must receive, as timed
 * segments. link.c / http_link.c move the bytes. Everything it holds is
 * bounded by the FL_HTTP_* limits below (docs/proxy.md). Bytes that are not
 * HTTP/1.1 (a parse error, an Upgrade or CONNECT) make the connection a
 * plain pipe from that point on: they pass unchanged. */
#ifndef FL_PROXY_HTTP_H
#define FL_PROXY_HTTP_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_HTTP_HEAD_MAX (64 * 1024) /* a request's or response's head */
#define FL_HTTP_BODY_MAX (64 * 1024) /* an injected or replacement body */
#define FL_HTTP_URL_MAX 8192         /* longer request targets match no path rule */
#define FL_HTTP_PIPELINE_MAX 64      /* requests waiting for their response */
#define FL_HTTP_OUT_MAX (256 * 1024) /* queued output before reading pauses */
#define FL_HTTP_SET_HEADERS_MAX 32   /* set_headers entries */
#define FL_HTTP_DELAY_MAX_MS 3600000LL
#define FL_HTTP_PATCH_MAX (1024 * 1024)       /* a response held whole to patch its body */
#define FL_HTTP_PATCHED_MAX (4 * 1024 * 1024) /* the patched body */

/* One rule (the attributes of one `http` toxic). */
struct fl_http_rule {
    json_t *attrs; /* the attributes as given (written back by the API) */
    char *method;  /* exact, case-sensitive; NULL: any */
    char *path;    /* fnmatch glob over the path (no query); NULL: any */
    regex_t re;    /* path_regex (POSIX extended) over the path */
    bool has_re;
    char *hname;  /* header that must be present (case-insensitive) */
    char *hvalue; /* ... with a value matching this glob; NULL: any value */
    int status;   /* answer with this status instead of forwarding; 0: forward */
    char *body;   /* the answer's body, or the response body's replacement */
    size_t body_len;
    bool has_body;
    int64_t delay_ms;  /* hold the request (or the answer) this long */
    char *find, *repl; /* patch: every `find` in the response body becomes `repl` */
    size_t find_len, repl_len;
    char **set_names; /* response headers to add or replace */
    char **set_values;
    size_t nset;
};

int fl_http_rule_parse(const json_t *attrs, struct fl_http_rule **out, char *msg, size_t msglen);
void fl_http_rule_free(struct fl_http_rule *r);
/* Does a request (method, path without the query, raw head) match? */
bool fl_http_rule_match(const struct fl_http_rule *r, const char *method, const char *path,
                        const char *head, size_t head_len);

/* A rule in force for one request: the rule and its toxicity, drawn per
 * request by the engine through `draw` (a uniform [0,1) source). */
struct fl_http_active {
    const struct fl_http_rule *rule;
    float toxicity;
};

struct fl_http_seg {
    size_t len;
    int64_t at; /* CLOCK_MONOTONIC ns */
};

/* What one side must receive: bytes in order, released per segment. */
struct fl_http_out {
    char *buf;
    size_t off, len; /* pending bytes are buf[off, off+len) */
    size_t cap;
    struct fl_http_seg *seg;
    size_t sh, sn, scap;
    int64_t last_at;
};

struct fl_http_conn;

struct fl_http_conn *fl_http_conn_new(void);
void fl_http_conn_free(struct fl_http_conn *c);
/* How many bytes from side `dir` (0 client, 1 server) may be fed now: 0
 * when its output or pipeline is full (read later). */
size_t fl_http_conn_space(const struct fl_http_conn *c, int dir);
/* Feed bytes read from side `dir`; rules are read only during the call.
 * Returns 0, or -ENOMEM (the caller closes the connection). */
int fl_http_conn_feed(struct fl_http_conn *c, int dir, const char *p, size_t n, int64_t now,
                      const struct fl_http_active *rules, size_t nrules, double (*draw)(void));
/* Side `dir` reached EOF (a response delimited by the close ends here). */
int fl_http_conn_eof(struct fl_http_conn *c, int dir, int64_t now);
/* The queue of direction `dir`: 0 upstream (to the server), 1 downstream (to the client). */
struct fl_http_out *fl_http_conn_out(struct fl_http_conn *c, int dir);
/* Drop n bytes from the head of a queue (they were written). */
void fl_http_out_consume(struct fl_http_out *o, size_t n);
/* Counters: requests seen, answered by a rule, delayed, rewritten. */
void fl_http_conn_stats(const struct fl_http_conn *c, uint64_t v[4]);
/* True once the connection passes bytes unchanged (not HTTP/1.1). */
bool fl_http_conn_raw(const struct fl_http_conn *c);

#endif
