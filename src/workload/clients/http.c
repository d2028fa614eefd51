/* Generic HTTP client: maps each operation to a request against a team's own
 * service, so the same workloads and checkers apply to any API that offers
 * these endpoints (relative to the --target base URL):
 *
 *   POST /reset               {"workload":"bank","keys":K,"accounts":A,"total":T}
 *                             once at start; 404/405 = the service has none
 *   register  GET  /register/K          -> 200 v (JSON integer or {"value": v}); 404 = nil
 *             PUT  /register/K          v
 *             POST /register/K/cas      {"old": a, "new": b}
 *   bank      POST /bank/transfer       {"from": a, "to": b, "amount": n}
 *             GET  /bank/balances       -> [b0, b1, ...] or {"0": b0, ...}
 *   set       POST /set                 {"value": v}
 *             GET  /set                 -> [v, ...]
 *   counter   POST /counter             {"amount": n}
 *             GET  /counter             -> n or {"value": n}
 *   list-append, rw-register
 *             POST /txn                 {"value": [["r", k, null], ["append", k, v], ...]}
 *                                       -> the same micro-ops with what each read saw
 *                                       (a list, an integer or null), as an array or
 *                                       {"value": [...]}; 409 = aborted (fail)
 *
 * 2xx is ok; 4xx means the service refused (cas mismatch, insufficient
 * funds): fail; 5xx, timeouts and connection errors are info, since the
 * service may have applied the operation before failing to answer. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload/clients/httpc.h"
#include "workload/txn.h"
#include "workload/workload.h"

/* Send one request and classify the status. */
static int req(struct fl_httpc *h, const char *method, const char *path, json_t *body,
               struct fl_wl_result *r)
{
    int st = fl_httpc_request(h, method, path, body, NULL, r->error, sizeof r->error);
    json_decref(body);
    if (st < 0) {
        r->type = FL_WL_INFO;
        r->broken = true;
        return st;
    }
    if (st >= 200 && st < 300) {
        r->type = FL_WL_OK;
    } else {
        r->type = st >= 500 ? FL_WL_INFO : FL_WL_FAIL;
        char snippet[100];
        snprintf(snippet, sizeof snippet, "%s", h->body);
        snippet[strcspn(snippet, "\r\n")] = '\0';
        snprintf(r->error, sizeof r->error, "HTTP %d%s%s", st, snippet[0] ? ": " : "", snippet);
    }
    return st;
}

static bool int_of(const json_t *j, int64_t *out)
{
    if (json_is_object(j))
        j = json_object_get(j, "value");
    if (!json_is_integer(j))
        return false;
    *out = json_integer_value(j);
    return true;
}

static void unreadable(struct fl_wl_result *r, const char *what)
{
    r->type = FL_WL_INFO;
    snprintf(r->error, sizeof r->error, "unreadable %s answer", what);
}

static void read_list(struct fl_httpc *h, const struct fl_wl_cfg *c, const char *method,
                      const char *path, bool bank, struct fl_wl_result *r)
{
    if (req(h, method, path, NULL, r) < 0 || r->type != FL_WL_OK)
        return;
    json_t *j = json_loads(h->body, JSON_DECODE_ANY, NULL);
    size_t n = json_is_array(j) ? json_array_size(j) : json_is_object(j) ? json_object_size(j) : 0;
    if (bank && (size_t)c->accounts > n)
        n = (size_t)c->accounts;
    if ((!json_is_array(j) && !(bank && json_is_object(j))) ||
        !(r->vals = calloc(n + 1, sizeof *r->vals))) {
        json_decref(j);
        return unreadable(r, path);
    }
    r->is_list = true;
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach (j, i, v) {
            if (!json_is_integer(v)) {
                json_decref(j);
                return unreadable(r, path);
            }
            r->vals[r->nvals++] = json_integer_value(v);
        }
    } else {
        /* {"0": b0, "1": b1, ...}: a missing account reads 0 */
        const char *k;
        json_t *v;
        r->nvals = (size_t)c->accounts;
        json_object_foreach (j, k, v) {
            char *end;
            long idx = strtol(k, &end, 10);
            if (*end || idx < 0 || idx >= c->accounts || !json_is_integer(v)) {
                json_decref(j);
                return unreadable(r, path);
            }
            r->vals[idx] = json_integer_value(v);
        }
    }
    json_decref(j);
}

/* register: GET (404 = nil) / PUT / POST .../cas. */
static void exec_register(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                          struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;
    char path[64];

    snprintf(path, sizeof path, "/register/%d", op->key);
    if (op->f == FL_WL_WRITE) {
        req(h, "PUT", path, json_integer(op->a), r);
        return;
    }
    if (op->f == FL_WL_CAS) {
        snprintf(path, sizeof path, "/register/%d/cas", op->key);
        req(h, "POST", path,
            json_pack("{s:I,s:I}", "old", (json_int_t)op->a, "new", (json_int_t)op->b), r);
        return;
    }
    int st = req(h, "GET", path, NULL, r);
    if (st == 404) {
        r->type = FL_WL_OK;
        r->nil = true;
        r->error[0] = '\0';
    } else if (r->type == FL_WL_OK) {
        json_t *j = json_loads(h->body, JSON_DECODE_ANY, NULL);
        if (json_is_null(j) || (json_is_object(j) && json_is_null(json_object_get(j, "value"))))
            r->nil = true;
        else if (!int_of(j, &r->value))
            unreadable(r, path);
        json_decref(j);
    }
}

/* bank: POST /bank/transfer; GET /bank/balances. */
static void exec_bank(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                      struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;

    if (op->f == FL_WL_READ)
        return read_list(h, c, "GET", "/bank/balances", true, r);
    req(h, "POST", "/bank/transfer",
        json_pack("{s:I,s:I,s:I}", "from", (json_int_t)op->a, "to", (json_int_t)op->b, "amount",
                  (json_int_t)op->c),
        r);
}

/* set: POST /set; GET /set. */
static void exec_set(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;

    if (op->f == FL_WL_READ)
        return read_list(h, c, "GET", "/set", false, r);
    req(h, "POST", "/set", json_pack("{s:I}", "value", (json_int_t)op->a), r);
}

/* queue: POST /queue; POST /queue/dequeue (204 or null = empty); POST
 * /queue/drain. */
static void exec_queue(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                       struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;

    if (op->f == FL_WL_ENQUEUE) {
        req(h, "POST", "/queue", json_pack("{s:I}", "value", (json_int_t)op->a), r);
        return;
    }
    if (op->f == FL_WL_DRAIN)
        return read_list(h, c, "POST", "/queue/drain", false, r);
    int st = req(h, "POST", "/queue/dequeue", NULL, r);
    if (r->type != FL_WL_OK)
        return;
    json_t *j = st == 204 ? NULL : json_loads(h->body, JSON_DECODE_ANY, NULL);
    if (st == 204 || json_is_null(j) ||
        (json_is_object(j) && json_is_null(json_object_get(j, "value"))))
        r->nil = true; /* the queue was empty */
    else if (!int_of(j, &r->value))
        unreadable(r, "/queue/dequeue");
    json_decref(j);
}

/* counter: POST /counter; GET /counter. */
static void exec_counter(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                         struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;

    if (op->f == FL_WL_ADD) {
        req(h, "POST", "/counter", json_pack("{s:I}", "amount", (json_int_t)op->a), r);
        return;
    }
    if (req(h, "GET", "/counter", NULL, r) < 0 || r->type != FL_WL_OK)
        return;
    json_t *j = json_loads(h->body, JSON_DECODE_ANY, NULL);
    if (!int_of(j, &r->value))
        unreadable(r, "/counter");
    json_decref(j);
}

/* What read i of a /txn answer saw, as JSON text; NULL when the answer is
 * not the transaction it was sent. */
static char *txn_read(const json_t *ans, size_t i, const struct fl_wl_mop *m)
{
    const json_t *mop = json_array_get(ans, i), *v = json_array_get(mop, 2);

    if (json_array_size(mop) != 3 || json_integer_value(json_array_get(mop, 1)) != m->key ||
        !(json_is_array(v) || json_is_integer(v) || json_is_null(v)))
        return NULL;
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void exec_txn(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    struct fl_httpc *h = conn;
    char *sent = fl_wl_txn_render(op, NULL), *reads[FL_WL_TXN_MAX] = {0};
    json_t *body = sent ? json_loads(sent, 0, NULL) : NULL, *j, *ans;

    (void)c;
    free(sent);
    if (!body) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "out of memory");
        return;
    }
    if (req(h, "POST", "/txn", json_pack("{s:o}", "value", body), r) < 0 || r->type != FL_WL_OK)
        return;
    j = json_loads(h->body, 0, NULL);
    ans = json_is_object(j) ? json_object_get(j, "value") : j;
    if (json_array_size(ans) != (size_t)op->nmops) {
        unreadable(r, "/txn");
    } else {
        for (int i = 0; i < op->nmops && r->type == FL_WL_OK; i++)
            if (op->mops[i].f == FL_WL_READ && !(reads[i] = txn_read(ans, (size_t)i, &op->mops[i])))
                unreadable(r, "/txn");
        if (r->type == FL_WL_OK && !(r->txn = fl_wl_txn_render(op, reads)))
            unreadable(r, "/txn");
    }
    for (int i = 0; i < op->nmops; i++)
        free(reads[i]);
    json_decref(j);
}

static int hsetup(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    struct fl_httpc *h = conn;
    struct fl_wl_result r = {0};
    json_t *body = json_pack("{s:s,s:i,s:i,s:I}", "workload", c->workload->name, "keys", c->keys,
                             "accounts", c->accounts, "total", (json_int_t)c->total);
    int st = req(h, "POST", "/reset", body, &r);
    if (st < 0)
        return fl_err_set(e, FL_EFAIL,
                          "cannot reach the service at %s: %s; is it listening there? check "
                          "--target",
                          h->base, r.error);
    if (st == 404 || st == 405) {
        if (!c->quiet)
            fprintf(stderr,
                    "faultline workload: %s has no POST /reset (HTTP %d): make sure the "
                    "service starts from an empty state\n",
                    h->base, st);
        return 0;
    }
    if (st >= 200 && st < 300)
        return 0;
    return fl_err_set(e, FL_EFAIL, "the service at %s refused POST /reset: %s", h->base, r.error);
}

/* Every workload resets through the one POST /reset. */
static const struct fl_wl_client_impl impls[] = {
    {.workload = "register", .setup = hsetup, .exec = exec_register},
    {.workload = "bank", .setup = hsetup, .exec = exec_bank},
    {.workload = "set", .setup = hsetup, .exec = exec_set},
    {.workload = "counter", .setup = hsetup, .exec = exec_counter},
    {.workload = "queue", .setup = hsetup, .exec = exec_queue},
    {.workload = "list-append", .setup = hsetup, .exec = exec_txn},
    {.workload = "rw-register", .setup = hsetup, .exec = exec_txn},
    {0},
};

static int hconnect(const struct fl_wl_cfg *c, void **out, struct fl_err *e)
{
    struct fl_httpc *h = calloc(1, sizeof *h);
    if (!h)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (fl_httpc_open(h, c->target, c->timeout_ms, e) < 0) {
        free(h);
        return -FL_EFAIL;
    }
    *out = h;
    return 0;
}

static void hclose(void *conn)
{
    if (conn) {
        fl_httpc_close(conn);
        free(conn);
    }
}

const struct fl_wl_client_ops fl_wl_client_http = {
    .name = "http",
    .summary = "a team's own HTTP service: one request per operation (docs/workload.md)",
    .target_help = "the service's base URL, e.g. --target http://127.0.0.1:8080/api",
    .impls = impls,
    .global = fl_httpc_global,
    .connect = hconnect,
    .close = hclose,
};
