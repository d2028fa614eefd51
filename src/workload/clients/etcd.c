/* etcd v3 client over its JSON gRPC gateway (/v3/kv/..., libcurl + jansson).
 * Keys are "<namespace>/<workload>/<n>", values decimal text, both base64
 * on the wire as the gateway wants bytes.
 *
 *   register  range / put / cas = txn comparing the key's VALUE with old
 *   bank      transfer = read both accounts, refuse to overdraw, then one txn
 *             that puts both new balances only if neither account's
 *             mod_revision changed (else fail: a concurrent transfer won);
 *             read = one range over the prefix (a single revision)
 *   set       put "<ns>/set/<v>"; read = range over the prefix, keys only
 *   counter   read-then-txn on mod_revision, like a transfer
 *   list-append, rw-register
 *             optimistic: one read-only txn ranges every key the transaction
 *             touches (one revision), the micro-ops run on that snapshot,
 *             then one txn puts the written keys only if none of the touched
 *             keys' mod_revision changed (else fail). A list is stored as
 *             its elements in decimal, separated by spaces.
 *   queue     put "<ns>/queue/<v>"; a dequeue ranges the oldest key (by
 *             create revision) and deletes it, returning the deleted value
 *             (another consumer took it first: try the next, 5 times, then
 *             fail); the drain is one deleterange over the prefix
 *
 * --target may list several members (URL,URL,...): a connect takes the first
 * healthy one (GET /health: a leader and a quorum) from a rotating start, and
 * a worker whose operation had no answer or a 5xx reconnects, so it fails
 * over to a member on the majority's side.
 *
 * No answer in time or a refused connection is `info`; an HTTP 5xx from the
 * gateway (etcd's "request timed out", "leader changed", no quorum) is
 * `info` too, since a write may still commit; 4xx is `fail`. */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload/clients/httpc.h"
#include "workload/txn.h"
#include "workload/workload.h"

static void ekey(const struct fl_wl_cfg *c, char *buf, size_t len, long long i)
{
    if (i < 0)
        snprintf(buf, len, "%s/%s/", c->ns, c->workload->name);
    else
        snprintf(buf, len, "%s/%s/%lld", c->ns, c->workload->name, i);
}

static json_t *b64j(const char *s)
{
    char *b = fl_b64_encode(s, strlen(s));
    json_t *j = b ? json_string(b) : NULL;
    free(b);
    return j;
}

static json_t *b64int(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return b64j(buf);
}

/* The prefix's range_end: the prefix with its last byte incremented. */
static json_t *prefix_range(const struct fl_wl_cfg *c, bool keys_only)
{
    char p[256], end[256];
    ekey(c, p, sizeof p, -1);
    snprintf(end, sizeof end, "%s", p);
    end[strlen(end) - 1]++;
    json_t *j = json_pack("{s:o,s:o}", "key", b64j(p), "range_end", b64j(end));
    if (j && keys_only)
        json_object_set_new(j, "keys_only", json_true());
    return j;
}

enum { E_OK, E_ERR, E_BROKEN };

/* POST path with req (consumed). E_OK: *resp is the parsed answer (caller
 * decrefs). E_ERR: the server refused (fail). E_BROKEN: unknown (info). */
static int call(struct fl_httpc *h, const char *path, json_t *req, json_t **resp,
                struct fl_wl_result *r)
{
    *resp = NULL;
    if (!req) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return E_ERR;
    }
    int st = fl_httpc_request(h, "POST", path, req, NULL, r->error, sizeof r->error);
    json_decref(req);
    if (st < 0) {
        r->broken = true;
        return E_BROKEN;
    }
    json_t *j = json_loads(h->body, 0, NULL);
    if (st != 200) {
        const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
        if (!msg && j)
            msg = json_string_value(json_object_get(j, "error"));
        snprintf(r->error, sizeof r->error, "HTTP %d: %s", st, msg ? msg : "error");
        json_decref(j);
        if (st < 500)
            return E_ERR;
        /* no leader, no quorum, timed out: unknown; reconnect, perhaps to
         * another member */
        r->broken = true;
        return E_BROKEN;
    }
    if (!j) {
        snprintf(r->error, sizeof r->error, "unreadable answer from %s", path);
        return E_BROKEN;
    }
    *resp = j;
    return E_OK;
}

static void outcome(int q, struct fl_wl_result *r)
{
    r->type = q == E_BROKEN ? FL_WL_INFO : FL_WL_FAIL;
}

/* int64 fields come as JSON strings from the gateway. */
static int64_t jint(const json_t *j)
{
    if (json_is_integer(j))
        return json_integer_value(j);
    const char *s = json_string_value(j);
    return s ? strtoll(s, NULL, 10) : 0;
}

static bool decode_int(const json_t *b64v, int64_t *out)
{
    const char *s = json_string_value(b64v);
    size_t n;
    char *d = s ? fl_b64_decode(s, &n) : NULL;
    if (!d)
        return false;
    char *end;
    long long v = strtoll(d, &end, 10);
    bool ok = n > 0 && !*end;
    free(d);
    *out = v;
    return ok;
}

/* Range one key: value (nil when absent) and mod_revision. */
static int get1(struct fl_httpc *h, const char *key, bool *nil, int64_t *v, int64_t *mod,
                struct fl_wl_result *r)
{
    json_t *resp;
    int q = call(h, "/v3/kv/range", json_pack("{s:o}", "key", b64j(key)), &resp, r);
    if (q != E_OK)
        return q;
    json_t *kv = json_array_get(json_object_get(resp, "kvs"), 0);
    *nil = !kv;
    *mod = 0;
    if (kv) {
        *mod = jint(json_object_get(kv, "mod_revision"));
        if (!decode_int(json_object_get(kv, "value"), v)) {
            snprintf(r->error, sizeof r->error, "%s does not hold an integer", key);
            json_decref(resp);
            return E_BROKEN;
        }
    }
    json_decref(resp);
    return E_OK;
}

static json_t *cmp_mod(const char *key, int64_t mod)
{
    return json_pack("{s:o,s:s,s:s,s:I}", "key", b64j(key), "result", "EQUAL", "target", "MOD",
                     "mod_revision", (json_int_t)mod);
}

static json_t *put_op(const char *key, int64_t v)
{
    return json_pack("{s:{s:o,s:o}}", "request_put", "key", b64j(key), "value", b64int(v));
}

/* Run a txn; ok when it succeeded, fail with `why` when a compare failed. */
static void txn(struct fl_httpc *h, json_t *req, const char *why, struct fl_wl_result *r)
{
    json_t *resp;
    int q = call(h, "/v3/kv/txn", req, &resp, r);
    if (q != E_OK)
        return outcome(q, r);
    if (!json_is_true(json_object_get(resp, "succeeded"))) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "%s", why);
    }
    json_decref(resp);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Range over the workload's prefix: bank balances by account, or set
 * elements (from the key names). */
static void read_prefix(struct fl_httpc *h, const struct fl_wl_cfg *c, bool bank,
                        struct fl_wl_result *r)
{
    json_t *resp;
    char p[256];
    int q = call(h, "/v3/kv/range", prefix_range(c, !bank), &resp, r);
    if (q != E_OK)
        return outcome(q, r);
    ekey(c, p, sizeof p, -1);
    json_t *kvs = json_object_get(resp, "kvs");
    size_t n = bank ? (size_t)c->accounts : json_array_size(kvs);
    r->vals = calloc(n + 1, sizeof *r->vals);
    if (!r->vals) {
        json_decref(resp);
        r->type = FL_WL_FAIL;
        return;
    }
    r->is_list = true;
    r->nvals = bank ? n : 0;
    size_t i;
    json_t *kv;
    json_array_foreach (kvs, i, kv) {
        size_t kl;
        char *k = fl_b64_decode(json_string_value(json_object_get(kv, "key")) ?: "", &kl);
        long long idx = k && kl > strlen(p) ? strtoll(k + strlen(p), NULL, 10) : -1;
        free(k);
        if (bank) {
            int64_t v;
            if (idx >= 0 && (size_t)idx < n && decode_int(json_object_get(kv, "value"), &v))
                r->vals[idx] = v; /* a missing account stays 0: money vanished */
        } else if (idx >= 0) {
            r->vals[r->nvals++] = idx;
        }
    }
    if (!bank)
        qsort(r->vals, r->nvals, sizeof *r->vals, cmp64);
    json_decref(resp);
}

/* The values of the kvs a deleterange with prev_kv removed: r->vals. */
static void deleted_values(json_t *resp, struct fl_wl_result *r)
{
    json_t *kvs = json_object_get(resp, "prev_kvs"), *kv;
    size_t i;

    r->vals = calloc(json_array_size(kvs) + 1, sizeof *r->vals);
    if (!r->vals) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "out of memory");
        return;
    }
    r->is_list = true;
    json_array_foreach (kvs, i, kv) {
        if (decode_int(json_object_get(kv, "value"), &r->vals[r->nvals]))
            r->nvals++;
    }
}

/* queue: put under a per-value key; dequeue = range the oldest key, delete
 * it with prev_kv (retried when another consumer took it first); drain =
 * one deleterange. */
static void exec_queue(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                       struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;
    char key[256];
    json_t *resp;
    int q;

    if (op->f == FL_WL_ENQUEUE) {
        ekey(c, key, sizeof key, op->a);
        q = call(h, "/v3/kv/put", json_pack("{s:o,s:o}", "key", b64j(key), "value", b64int(op->a)),
                 &resp, r);
        if (q != E_OK)
            return outcome(q, r);
        json_decref(resp);
        return;
    }
    if (op->f == FL_WL_DRAIN) {
        json_t *req = prefix_range(c, false);
        if (req)
            json_object_set_new(req, "prev_kv", json_true());
        if ((q = call(h, "/v3/kv/deleterange", req, &resp, r)) != E_OK)
            return outcome(q, r);
        deleted_values(resp, r);
        json_decref(resp);
        return;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        json_t *req = prefix_range(c, false);
        if (req) {
            json_object_set_new(req, "limit", json_integer(1));
            json_object_set_new(req, "sort_order", json_string("ASCEND"));
            json_object_set_new(req, "sort_target", json_string("CREATE"));
        }
        if ((q = call(h, "/v3/kv/range", req, &resp, r)) != E_OK)
            return outcome(q, r);
        json_t *head = json_array_get(json_object_get(resp, "kvs"), 0);
        json_t *k = json_incref(json_object_get(head, "key"));
        json_decref(resp);
        if (!k) {
            r->nil = true; /* empty */
            return;
        }
        q = call(h, "/v3/kv/deleterange", json_pack("{s:o,s:b}", "key", k, "prev_kv", 1), &resp, r);
        if (q != E_OK)
            return outcome(q, r);
        json_t *prev = json_array_get(json_object_get(resp, "prev_kvs"), 0);
        bool took = jint(json_object_get(resp, "deleted")) == 1;
        if (took && !decode_int(json_object_get(prev, "value"), &r->value)) {
            r->type = FL_WL_INFO; /* it took something, but what? */
            snprintf(r->error, sizeof r->error, "unreadable dequeued value");
        }
        json_decref(resp);
        if (took)
            return;
    }
    r->type = FL_WL_FAIL;
    snprintf(r->error, sizeof r->error, "other consumers took the head 5 times");
}

/* register: range / put / cas as a txn comparing the value. */
static void exec_register(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                          struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;
    char key[256];
    json_t *resp;
    int q;

    ekey(c, key, sizeof key, op->key);
    if (op->f == FL_WL_READ) {
        int64_t mod;
        if ((q = get1(h, key, &r->nil, &r->value, &mod, r)) != E_OK)
            outcome(q, r);
    } else if (op->f == FL_WL_WRITE) {
        q = call(h, "/v3/kv/put", json_pack("{s:o,s:o}", "key", b64j(key), "value", b64int(op->a)),
                 &resp, r);
        if (q != E_OK)
            return outcome(q, r);
        json_decref(resp);
    } else {
        json_t *req = json_pack("{s:[{s:o,s:s,s:s,s:o}],s:[o]}", "compare", "key", b64j(key),
                                "result", "EQUAL", "target", "VALUE", "value", b64int(op->a),
                                "success", put_op(key, op->b));
        txn(h, req, "value differs", r);
    }
}

/* bank: read both balances, then a txn that writes both only if neither
 * changed since (mod revisions); read = range over the prefix. */
static void exec_bank(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                      struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;
    char key[256], key2[256];
    bool nil1, nil2;
    int64_t b1, b2, m1, m2;
    int q;

    if (op->f == FL_WL_READ)
        return read_prefix(h, c, true, r);
    ekey(c, key, sizeof key, op->a);
    ekey(c, key2, sizeof key2, op->b);
    if ((q = get1(h, key, &nil1, &b1, &m1, r)) != E_OK ||
        (q = get1(h, key2, &nil2, &b2, &m2, r)) != E_OK)
        return outcome(q, r);
    if (nil1 || nil2 || b1 < op->c) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error,
                 nil1 || nil2 ? "no such account" : "insufficient funds");
        return;
    }
    json_t *req = json_pack("{s:[o,o],s:[o,o]}", "compare", cmp_mod(key, m1), cmp_mod(key2, m2),
                            "success", put_op(key, b1 - op->c), put_op(key2, b2 + op->c));
    txn(h, req, "concurrent transfer", r);
}

/* set: one key per element; read = range over the prefix (keys only). */
static void exec_set(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;
    char key[256];
    json_t *resp;
    int q;

    if (op->f == FL_WL_READ)
        return read_prefix(h, c, false, r);
    ekey(c, key, sizeof key, op->a);
    q = call(h, "/v3/kv/put", json_pack("{s:o,s:o}", "key", b64j(key), "value", b64j("1")), &resp,
             r);
    if (q != E_OK)
        return outcome(q, r);
    json_decref(resp);
}

/* counter: read, then a txn that writes the sum only if the key did not
 * change since. */
static void exec_counter(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                         struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;
    char key[256];
    bool nil;
    int64_t v, mod;
    int q;

    ekey(c, key, sizeof key, 0);
    if ((q = get1(h, key, &nil, &v, &mod, r)) != E_OK)
        return outcome(q, r);
    if (op->f == FL_WL_READ) {
        r->value = nil ? 0 : v;
        return;
    }
    json_t *req = json_pack("{s:[o],s:[o]}", "compare", cmp_mod(key, mod), "success",
                            put_op(key, (nil ? 0 : v) + op->a));
    txn(h, req, "concurrent increment", r);
}

/* The keys a transaction touches, each once, with what the snapshot holds. */
struct tkey {
    int64_t k, mod;
    char name[256];
    char *val; /* the snapshot's value, then the transaction's (malloc'd); NULL: none */
    bool written;
};

static int tkey_find(struct tkey *t, int *n, const struct fl_wl_cfg *c, int64_t k)
{
    for (int i = 0; i < *n; i++)
        if (t[i].k == k)
            return i;
    memset(&t[*n], 0, sizeof t[*n]);
    t[*n].k = k;
    ekey(c, t[*n].name, sizeof t[*n].name, (long long)k);
    return (*n)++;
}

/* Range every key in one read-only txn: one revision for all of them. */
static int snapshot(struct fl_httpc *h, struct tkey *t, int n, struct fl_wl_result *r)
{
    json_t *ops = json_array(), *resp, *rs;
    int q;

    for (int i = 0; i < n; i++)
        json_array_append_new(ops, json_pack("{s:{s:o}}", "request_range", "key", b64j(t[i].name)));
    if ((q = call(h, "/v3/kv/txn", json_pack("{s:o}", "success", ops), &resp, r)) != E_OK)
        return q;
    rs = json_object_get(resp, "responses");
    for (int i = 0; i < n; i++) {
        json_t *kv = json_array_get(
            json_object_get(json_object_get(json_array_get(rs, (size_t)i), "response_range"),
                            "kvs"),
            0);
        const char *v = json_string_value(json_object_get(kv, "value"));
        size_t len;

        t[i].mod = kv ? jint(json_object_get(kv, "mod_revision")) : 0;
        t[i].val = v ? fl_b64_decode(v, &len) : NULL;
        if (kv && !t[i].val) {
            snprintf(r->error, sizeof r->error, "%s: unreadable value", t[i].name);
            json_decref(resp);
            return E_BROKEN;
        }
    }
    json_decref(resp);
    return E_OK;
}

/* A stored value as the history shows a read of it: "[1 2]" -> "[1,2]". */
static char *read_json(const char *val, bool list)
{
    char *s;

    if (!val)
        return strdup(list ? "[]" : "null");
    if (!list)
        return strdup(val);
    if (!(s = malloc(strlen(val) + 3)))
        return NULL;
    sprintf(s, "[%s]", val);
    for (char *p = s + 1; *p; p++)
        if (*p == ' ')
            *p = ',';
    return s;
}

/* One micro-op on the snapshot: a read records what it sees, an append or
 * a write changes the key's value. False when out of memory. */
static bool apply_mop(struct tkey *tk, const struct fl_wl_mop *m, bool list, char **read)
{
    char *nv;

    if (m->f == FL_WL_READ)
        return (*read = read_json(tk->val, list)) != NULL;
    if (list && tk->val && *tk->val) {
        if (!(nv = malloc(strlen(tk->val) + 24)))
            return false;
        sprintf(nv, "%s %lld", tk->val, (long long)m->v);
    } else {
        if (!(nv = malloc(24)))
            return false;
        sprintf(nv, "%lld", (long long)m->v);
    }
    free(tk->val);
    tk->val = nv;
    tk->written = true;
    return true;
}

static void exec_txn(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    bool list = !strcmp(c->workload->name, "list-append");
    struct tkey t[FL_WL_TXN_MAX];
    char *reads[FL_WL_TXN_MAX] = {0};
    int n = 0, q;

    for (int i = 0; i < op->nmops; i++)
        tkey_find(t, &n, c, op->mops[i].key);
    if ((q = snapshot(conn, t, n, r)) != E_OK) {
        outcome(q, r);
        goto out;
    }
    for (int i = 0; i < op->nmops; i++) {
        if (!apply_mop(&t[tkey_find(t, &n, c, op->mops[i].key)], &op->mops[i], list, &reads[i])) {
            r->type = FL_WL_FAIL;
            snprintf(r->error, sizeof r->error, "out of memory");
            goto out;
        }
    }
    /* commit: every touched key still as the snapshot saw it */
    json_t *cmp = json_array(), *puts = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(cmp, cmp_mod(t[i].name, t[i].mod));
        if (t[i].written)
            json_array_append_new(puts, json_pack("{s:{s:o,s:o}}", "request_put", "key",
                                                  b64j(t[i].name), "value", b64j(t[i].val)));
    }
    txn(conn, json_pack("{s:o,s:o}", "compare", cmp, "success", puts),
        "a concurrent transaction changed a key", r);
    if (r->type == FL_WL_OK && !(r->txn = fl_wl_txn_render(op, reads))) {
        r->type = FL_WL_INFO;
        snprintf(r->error, sizeof r->error, "out of memory");
    }
out:
    for (int i = 0; i < op->nmops; i++)
        free(reads[i]);
    for (int i = 0; i < n; i++)
        free(t[i].val);
}

static int simple(struct fl_httpc *h, const char *path, json_t *req, struct fl_err *e)
{
    struct fl_wl_result r = {0};
    json_t *resp;
    if (call(h, path, req, &resp, &r) != E_OK)
        return fl_err_set(e, FL_EFAIL, "etcd setup (%s) failed: %s", path, r.error);
    json_decref(resp);
    return 0;
}

/* Every workload starts by deleting its prefix (register, set, queue need
 * nothing more). */
static int setup_clear(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    return simple(conn, "/v3/kv/deleterange", prefix_range(c, false), e);
}

static int setup_bank(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    int64_t each = c->total / c->accounts, rest = c->total % c->accounts;
    char key[256];

    if (setup_clear(conn, c, e) < 0)
        return -FL_EFAIL;
    for (int i = 0; i < c->accounts; i++) {
        ekey(c, key, sizeof key, i);
        if (simple(conn, "/v3/kv/put",
                   json_pack("{s:o,s:o}", "key", b64j(key), "value",
                             b64int(each + (i == 0 ? rest : 0))),
                   e) < 0)
            return -FL_EFAIL;
    }
    return 0;
}

static int setup_counter(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    char key[256];

    if (setup_clear(conn, c, e) < 0)
        return -FL_EFAIL;
    ekey(c, key, sizeof key, 0);
    return simple(conn, "/v3/kv/put", json_pack("{s:o,s:o}", "key", b64j(key), "value", b64int(0)),
                  e);
}

static const struct fl_wl_client_impl impls[] = {
    {.workload = "register", .setup = setup_clear, .exec = exec_register},
    {.workload = "bank", .setup = setup_bank, .exec = exec_bank},
    {.workload = "set", .setup = setup_clear, .exec = exec_set},
    {.workload = "counter", .setup = setup_counter, .exec = exec_counter},
    {.workload = "queue", .setup = setup_clear, .exec = exec_queue},
    {.workload = "list-append", .setup = setup_clear, .exec = exec_txn},
    {.workload = "rw-register", .setup = setup_clear, .exec = exec_txn},
    {0},
};

/* Which endpoint the next connect tries first. Process-wide on purpose:
 * workers spread over the endpoints, and a worker that reconnects (after a
 * timeout or a 5xx) starts further along the list. */
static atomic_uint next_endpoint;

#define ENDPOINTS_MAX 16

/* Open endpoint url and check it is etcd (GET /version); with `health`,
 * also that it has a leader and a quorum (GET /health). 0, or -1 with why
 * in err. */
static int open_endpoint(const struct fl_wl_cfg *c, const char *url, bool health,
                         struct fl_httpc *h, char *err, size_t errlen)
{
    char why[160];
    struct fl_err e = {0};

    if (fl_httpc_open(h, url, c->timeout_ms, &e) < 0) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    int st = fl_httpc_request(h, "GET", "/version", NULL, NULL, why, sizeof why);
    if (st != 200 || !strstr(h->body, "etcdserver")) {
        snprintf(err, errlen, "%s: %s", h->base,
                 st < 0 ? why : "GET /version did not answer like etcd");
        fl_httpc_close(h);
        return -1;
    }
    if (health) {
        st = fl_httpc_request(h, "GET", "/health", NULL, NULL, why, sizeof why);
        if (st != 200 || !strstr(h->body, "\"true\"")) {
            snprintf(err, errlen, "%s: not healthy (GET /health: %s)", h->base,
                     st < 0 ? why : h->body);
            err[strcspn(err, "\n")] = '\0';
            fl_httpc_close(h);
            return -1;
        }
    }
    return 0;
}

/* --target URL[,URL...]: one endpoint, or several members of a cluster.
 * With several, the first healthy one (a leader and a quorum behind it)
 * from a rotating start. */
static int econnect(const struct fl_wl_cfg *c, void **out, struct fl_err *e)
{
    char list[4096], *urls[ENDPOINTS_MAX], *save = NULL;
    char why[ENDPOINTS_MAX][200];
    int n = 0;

    if (strlen(c->target) >= sizeof list)
        return fl_err_set(e, FL_EUSAGE, "--target is too long (at most %zu bytes)",
                          sizeof list - 1);
    snprintf(list, sizeof list, "%s", c->target);
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == ENDPOINTS_MAX)
            return fl_err_set(e, FL_EUSAGE, "--target: at most %d etcd endpoints", ENDPOINTS_MAX);
        urls[n++] = tok;
    }
    if (n == 0)
        return fl_err_set(e, FL_EUSAGE,
                          "--target '%s': expected etcd's client URL, or several separated by "
                          "commas (http://10.77.0.2:2379,http://10.77.0.3:2379)",
                          c->target);
    struct fl_httpc *h = calloc(1, sizeof *h);
    if (!h)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    unsigned start = atomic_fetch_add(&next_endpoint, 1);
    for (int k = 0; k < n; k++) {
        int i = (int)((start + (unsigned)k) % (unsigned)n);
        if (open_endpoint(c, urls[i], n > 1, h, why[i], sizeof why[i]) == 0) {
            *out = h;
            return 0;
        }
    }
    free(h);
    if (n == 1)
        return fl_err_set(e, FL_EFAIL,
                          "cannot reach etcd at %s; is etcd listening there (its client URL, "
                          "e.g. http://127.0.0.1:2379)? check --target",
                          why[0]);
    char all[1500] = "";
    for (int i = 0; i < n; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? "; " : "", why[i]);
    return fl_err_set(e, FL_EFAIL,
                      "no healthy etcd member among the %d endpoints of --target: %s; is the "
                      "cluster running and does a majority of its members reach each other?",
                      n, all);
}

static void eclose(void *conn)
{
    if (conn) {
        fl_httpc_close(conn);
        free(conn);
    }
}

const struct fl_wl_client_ops fl_wl_client_etcd = {
    .name = "etcd",
    .summary = "etcd v3 via its JSON gateway (libcurl); cas and transfers are txns",
    .target_help = "the client URL, e.g. --target http://127.0.0.1:2379 (or HOST:PORT); several "
                   "members separated by commas fail over between them",
    .impls = impls,
    .global = fl_httpc_global,
    .connect = econnect,
    .close = eclose,
};
