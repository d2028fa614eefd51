/* Redis client (hiredis). Keys live under "<namespace>:<workload>:...":
 *
 *   register  GET / SET / cas by a Lua script (GET, compare, SET: atomic)
 *   bank      one key per account; transfer by a Lua script that refuses to
 *             overdraw; read = MGET of every account
 *   set       SADD / SMEMBERS on one key
 *   counter   INCRBY / GET on one key
 *   queue     RPUSH / LPOP on one list; the drain is a Lua script (LRANGE,
 *             then DEL: atomic)
 *   list-append, rw-register
 *             one Lua script per transaction (atomic: Redis runs one script
 *             at a time), LRANGE / RPUSH on lists or GET / SET on strings,
 *             one key per key of the workload
 *
 * --target sentinel://H:P,H:P,.../NAME follows Redis Sentinel: every connect
 * asks the sentinels in order for the primary NAME, connects there and
 * checks with ROLE that it is one; an error reply READONLY or MASTERDOWN
 * (the server was demoted), NOREPLICAS (it refuses writes without replicas)
 * or a lost connection makes the worker reconnect, so after a failover the
 * workers (and the final read) go to the new primary.
 *
 * Setup deletes the register, set and queue keys and writes the initial
 * balances and a zero counter. A timeout or lost connection is `info` and the
 * connection is reopened; an error reply (-ERR, -BUSY, -READONLY...) means
 * the command was not executed and is `fail`. */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload/clients/redis.h"
#include "workload/txn.h"
#include "workload/workload.h"

static const char cas_script[] = "local v = redis.call('GET', KEYS[1]) "
                                 "if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) "
                                 "return 1 else return 0 end";

static const char drain_script[] = "local v = redis.call('LRANGE', KEYS[1], 0, -1) "
                                   "redis.call('DEL', KEYS[1]) return v";

static const char transfer_script[] = "local b = tonumber(redis.call('GET', KEYS[1])) "
                                      "local a = tonumber(ARGV[1]) "
                                      "if b == nil or b < a then return 0 end "
                                      "redis.call('DECRBY', KEYS[1], a) "
                                      "redis.call('INCRBY', KEYS[2], a) "
                                      "return 1";

static struct timeval tv_of(int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void key_of(const struct fl_wl_cfg *c, char *buf, size_t len, long long i)
{
    if (i < 0)
        snprintf(buf, len, "%s:%s", c->ns, c->workload->name);
    else
        snprintf(buf, len, "%s:%s:%lld", c->ns, c->workload->name, i);
}

/* Connect to HOST:PORT and PING it. `what` names it in messages. */
static int connect_at(const struct fl_wl_cfg *c, const char *host, int port, const char *what,
                      redisContext **out, struct fl_err *e)
{
    redisContext *ctx = redisConnectWithTimeout(host, port, tv_of(c->timeout_ms));
    if (!ctx)
        return fl_err_set(e, FL_EFAIL, "redis %s:%d: out of memory", host, port);
    if (ctx->err) {
        int rc = fl_err_set(e, FL_EFAIL, "cannot connect to %s at %s:%d: %s", what, host, port,
                            ctx->errstr);
        redisFree(ctx);
        return rc;
    }
    redisSetTimeout(ctx, tv_of(c->timeout_ms));
    redisReply *r = redisCommand(ctx, "PING");
    if (!r || r->type == REDIS_REPLY_ERROR) {
        int rc = fl_err_set(e, FL_EFAIL, "%s at %s:%d does not answer PING: %s", what, host, port,
                            r ? r->str : ctx->errstr);
        if (r)
            freeReplyObject(r);
        redisFree(ctx);
        return rc;
    }
    freeReplyObject(r);
    *out = ctx;
    return 0;
}

int fl_wl_redis_parse_sentinels(const char *target, struct fl_wl_sentinels *s, struct fl_err *e)
{
    const char *p = target, *slash;
    char list[4096], *save = NULL;

    memset(s, 0, sizeof *s);
    if (strncmp(target, "sentinel://", strlen("sentinel://")) != 0)
        return fl_err_set(e, FL_EUSAGE, "--target '%s': a Sentinel target starts with sentinel://",
                          target);
    p += strlen("sentinel://");
    slash = strchr(p, '/');
    if (!slash || !slash[1] || strchr(slash + 1, '/') || strlen(slash + 1) >= sizeof s->name ||
        (size_t)(slash - p) >= sizeof list || slash == p)
        return fl_err_set(e, FL_EUSAGE,
                          "--target '%s': expected sentinel://HOST:PORT[,HOST:PORT...]/NAME, the "
                          "sentinels' addresses and the name they monitor the primary under "
                          "(e.g. sentinel://10.77.0.2:26379,10.77.0.3:26379/mymaster)",
                          target);
    snprintf(s->name, sizeof s->name, "%s", slash + 1);
    memcpy(list, p, (size_t)(slash - p));
    list[slash - p] = '\0';
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (s->n == FL_WL_SENTINEL_MAX)
            return fl_err_set(e, FL_EUSAGE, "--target '%s': at most %d sentinels", target,
                              FL_WL_SENTINEL_MAX);
        struct fl_err pe = {0};
        if (fl_wl_split_hostport(tok, s->host[s->n], sizeof s->host[0], &s->port[s->n], &pe) < 0)
            return fl_err_set(e, FL_EUSAGE,
                              "--target '%s': sentinel '%s' is not HOST:PORT (e.g. "
                              "10.77.0.2:26379)",
                              target, tok);
        s->n++;
    }
    if (s->n == 0)
        return fl_err_set(e, FL_EUSAGE, "--target '%s': no sentinel HOST:PORT before /%s", target,
                          s->name);
    return 0;
}

/* Ask one sentinel where the primary NAME is: 0 with host/port, or -1 with
 * why in err. */
static int ask_sentinel(const struct fl_wl_cfg *c, const struct fl_wl_sentinels *s, int i,
                        char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
    struct fl_err e = {0};
    redisContext *ctx = NULL;

    if (connect_at(c, s->host[i], s->port[i], "sentinel", &ctx, &e) < 0) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    redisReply *r = redisCommand(ctx, "SENTINEL get-master-addr-by-name %s", s->name);
    int rc = -1;
    if (!r)
        snprintf(err, errlen, "sentinel %s:%d: %s", s->host[i], s->port[i], ctx->errstr);
    else if (r->type == REDIS_REPLY_NIL)
        snprintf(err, errlen, "sentinel %s:%d monitors no primary named '%s'", s->host[i],
                 s->port[i], s->name);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !r->element[0]->str ||
             !r->element[1]->str)
        snprintf(err, errlen, "sentinel %s:%d: unexpected answer to get-master-addr-by-name%s%s",
                 s->host[i], s->port[i], r->type == REDIS_REPLY_ERROR ? ": " : "",
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    else {
        char *end;
        long pt = strtol(r->element[1]->str, &end, 10);
        snprintf(host, hostlen, "%s", r->element[0]->str);
        *port = (int)pt;
        if (*end || pt < 1 || pt > 65535)
            snprintf(err, errlen, "sentinel %s:%d names the primary at port '%s'", s->host[i],
                     s->port[i], r->element[1]->str);
        else
            rc = 0;
    }
    if (r)
        freeReplyObject(r);
    redisFree(ctx);
    return rc;
}

/* Is ctx's server a primary? (ROLE's first element, as Sentinel clients
 * check after connecting, since a failover may be under way.) */
static bool is_primary(redisContext *ctx)
{
    redisReply *r = redisCommand(ctx, "ROLE");
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->str &&
              !strcmp(r->element[0]->str, "master");
    if (r)
        freeReplyObject(r);
    return ok;
}

/* Connect to the primary the sentinels name, asking them in order until one
 * names a server that answers as a primary (Redis' guidelines for Sentinel
 * clients). */
static int sentinel_connect(const struct fl_wl_cfg *c, redisContext **out, struct fl_err *e)
{
    struct fl_wl_sentinels s;
    char why[FL_WL_SENTINEL_MAX][200];

    if (fl_wl_redis_parse_sentinels(c->target, &s, e) < 0)
        return -FL_EUSAGE;
    for (int i = 0; i < s.n; i++) {
        char host[256];
        int port;
        struct fl_err ce = {0};
        redisContext *ctx = NULL;

        if (ask_sentinel(c, &s, i, host, sizeof host, &port, why[i], sizeof why[i]) < 0)
            continue;
        if (connect_at(c, host, port, "the primary", &ctx, &ce) < 0) {
            snprintf(why[i], sizeof why[i], "sentinel %s:%d names %s:%d: %s", s.host[i], s.port[i],
                     host, port, ce.msg);
            continue;
        }
        if (!is_primary(ctx)) {
            snprintf(why[i], sizeof why[i],
                     "sentinel %s:%d names %s:%d, which is not a primary (yet)", s.host[i],
                     s.port[i], host, port);
            redisFree(ctx);
            continue;
        }
        *out = ctx;
        return 0;
    }
    char all[1200] = "";
    for (int i = 0; i < s.n; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? "; " : "", why[i]);
    return fl_err_set(e, FL_EFAIL,
                      "cannot find the primary '%s' through the sentinels of %s: %s; are the "
                      "sentinels running and monitoring '%s' (sentinel monitor %s HOST PORT "
                      "QUORUM)?",
                      s.name, c->target, all, s.name, s.name);
}

static int rconnect(const struct fl_wl_cfg *c, void **conn, struct fl_err *e)
{
    char host[256];
    int port;
    redisContext *ctx = NULL;
    int rc;

    if (!strncmp(c->target, "sentinel://", strlen("sentinel://")))
        rc = sentinel_connect(c, &ctx, e);
    else if (fl_wl_split_hostport(c->target, host, sizeof host, &port, e) < 0)
        return -FL_EUSAGE;
    else if ((rc = connect_at(c, host, port, "redis", &ctx, e)) < 0 && !strstr(e->msg, "PING"))
        snprintf(e->msg + strlen(e->msg), sizeof e->msg - strlen(e->msg),
                 "; is redis-server running there? (check --target)");
    if (rc < 0)
        return rc;
    *conn = ctx;
    return 0;
}

static void rclose(void *conn)
{
    if (conn)
        redisFree(conn);
}

/* A reply as r sees it: NULL when the connection is broken or the server
 * answered an error (r says which). */
static redisReply *checked(redisContext *ctx, redisReply *rep, struct fl_wl_result *r)
{
    if (!rep) {
        r->type = FL_WL_INFO;
        r->broken = true;
        if (ctx->err == REDIS_ERR_IO && strstr(ctx->errstr, "temporarily unavailable"))
            snprintf(r->error, sizeof r->error, "timeout");
        else
            snprintf(r->error, sizeof r->error, "connection: %s", ctx->errstr);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "%s", rep->str);
        /* not the primary (any more): reconnect, asking the sentinels again */
        r->broken = !strncmp(rep->str, "READONLY", 8) || !strncmp(rep->str, "MASTERDOWN", 10) ||
                    !strncmp(rep->str, "NOREPLICAS", 10);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* Run one command (printf-style as hiredis takes it); see checked(). */
static redisReply *cmd(redisContext *ctx, struct fl_wl_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    return checked(ctx, rep, r);
}

static bool reply_int(const redisReply *rep, int64_t *out)
{
    if (rep->type == REDIS_REPLY_INTEGER) {
        *out = rep->integer;
        return true;
    }
    if (rep->type == REDIS_REPLY_STRING) {
        char *end;
        long long v = strtoll(rep->str, &end, 10);
        if (rep->len == 0 || *end)
            return false;
        *out = v;
        return true;
    }
    return false;
}

static void unexpected(struct fl_wl_result *r, const redisReply *rep)
{
    /* The command ran but answered something we cannot read: unknown. */
    r->type = FL_WL_INFO;
    snprintf(r->error, sizeof r->error, "unexpected reply type %d", rep->type);
}

/* An array reply of integers as r->vals (in order). False when it is not one. */
static bool reply_list(const redisReply *rep, struct fl_wl_result *r)
{
    if (rep->type != REDIS_REPLY_ARRAY) {
        unexpected(r, rep);
        return false;
    }
    r->vals = calloc(rep->elements + 1, sizeof *r->vals);
    r->is_list = true;
    if (!r->vals) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "out of memory");
        return false;
    }
    for (size_t i = 0; i < rep->elements; i++)
        if (reply_int(rep->element[i], &r->vals[r->nvals]))
            r->nvals++;
    return true;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* register: GET / SET / cas by a Lua script. */
static void exec_register(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                          struct fl_wl_result *r)
{
    redisContext *ctx = conn;
    char key[300];
    redisReply *rep;
    int64_t v;

    key_of(c, key, sizeof key, op->key);
    if (op->f == FL_WL_READ) {
        if (!(rep = cmd(ctx, r, "GET %s", key)))
            return;
        if (rep->type == REDIS_REPLY_NIL)
            r->nil = true;
        else if (!reply_int(rep, &r->value))
            unexpected(r, rep);
    } else if (op->f == FL_WL_WRITE) {
        if (!(rep = cmd(ctx, r, "SET %s %lld", key, (long long)op->a)))
            return;
    } else {
        if (!(rep = cmd(ctx, r, "EVAL %s 1 %s %lld %lld", cas_script, key, (long long)op->a,
                        (long long)op->b)))
            return;
        if (!reply_int(rep, &v)) {
            unexpected(r, rep);
        } else if (v == 0) {
            r->type = FL_WL_FAIL;
            snprintf(r->error, sizeof r->error, "value differs");
        }
    }
    freeReplyObject(rep);
}

/* bank read: MGET of every account; a missing account reads as 0, so the
 * checker sees money vanish. */
static void bank_read(redisContext *ctx, const struct fl_wl_cfg *c, struct fl_wl_result *r)
{
    size_t n = (size_t)c->accounts;
    const char **argv = calloc(n + 1, sizeof *argv);
    char *keys = calloc(n, 300);
    redisReply *rep;

    if (!argv || !keys) {
        free(argv);
        free(keys);
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "out of memory");
        return;
    }
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        key_of(c, keys + i * 300, 300, (long long)i);
        argv[i + 1] = keys + i * 300;
    }
    rep = redisCommandArgv(ctx, (int)n + 1, argv, NULL);
    free(argv);
    free(keys);
    if (!rep) {
        r->type = FL_WL_INFO;
        r->broken = true;
        snprintf(r->error, sizeof r->error, "%s", ctx->errstr);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "%s", rep->str);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        unexpected(r, rep);
    } else if (!(r->vals = calloc(n, sizeof *r->vals))) {
        r->type = FL_WL_FAIL;
    } else {
        r->is_list = true;
        r->nvals = n;
        for (size_t i = 0; i < n; i++)
            if (rep->element[i]->type != REDIS_REPLY_NIL &&
                !reply_int(rep->element[i], &r->vals[i]))
                unexpected(r, rep->element[i]);
    }
    freeReplyObject(rep);
}

/* bank: transfers by a Lua script that refuses to overdraw; read = MGET. */
static void exec_bank(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                      struct fl_wl_result *r)
{
    redisContext *ctx = conn;
    char key[300], key2[300];
    redisReply *rep;
    int64_t v;

    if (op->f != FL_WL_TRANSFER)
        return bank_read(ctx, c, r);
    key_of(c, key, sizeof key, op->a);
    key_of(c, key2, sizeof key2, op->b);
    if (!(rep = cmd(ctx, r, "EVAL %s 2 %s %s %lld", transfer_script, key, key2, (long long)op->c)))
        return;
    if (!reply_int(rep, &v)) {
        unexpected(r, rep);
    } else if (v == 0) {
        r->type = FL_WL_FAIL;
        snprintf(r->error, sizeof r->error, "insufficient funds");
    }
    freeReplyObject(rep);
}

/* set: SADD / SMEMBERS on one key. */
static void exec_set(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    redisContext *ctx = conn;
    char key[300];
    redisReply *rep;

    key_of(c, key, sizeof key, -1);
    if (op->f == FL_WL_ADD) {
        if (!(rep = cmd(ctx, r, "SADD %s %lld", key, (long long)op->a)))
            return;
    } else {
        if (!(rep = cmd(ctx, r, "SMEMBERS %s", key)))
            return;
        if (reply_list(rep, r))
            qsort(r->vals, r->nvals, sizeof *r->vals, cmp64);
    }
    freeReplyObject(rep);
}

/* queue: RPUSH / LPOP on one list; the drain is a Lua script. */
static void exec_queue(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                       struct fl_wl_result *r)
{
    redisContext *ctx = conn;
    char key[300];
    redisReply *rep;

    key_of(c, key, sizeof key, -1);
    if (op->f == FL_WL_ENQUEUE) {
        if (!(rep = cmd(ctx, r, "RPUSH %s %lld", key, (long long)op->a)))
            return;
    } else if (op->f == FL_WL_DEQUEUE) {
        if (!(rep = cmd(ctx, r, "LPOP %s", key)))
            return;
        if (rep->type == REDIS_REPLY_NIL)
            r->nil = true;
        else if (!reply_int(rep, &r->value))
            unexpected(r, rep);
    } else {
        if (!(rep = cmd(ctx, r, "EVAL %s 1 %s", drain_script, key)))
            return;
        reply_list(rep, r);
    }
    freeReplyObject(rep);
}

/* counter: INCRBY / GET on one key. */
static void exec_counter(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                         struct fl_wl_result *r)
{
    redisContext *ctx = conn;
    char key[300];
    redisReply *rep;

    key_of(c, key, sizeof key, -1);
    if (op->f == FL_WL_ADD) {
        if (!(rep = cmd(ctx, r, "INCRBY %s %lld", key, (long long)op->a)))
            return;
    } else {
        if (!(rep = cmd(ctx, r, "GET %s", key)))
            return;
        r->value = 0;
        if (rep->type != REDIS_REPLY_NIL && !reply_int(rep, &r->value))
            unexpected(r, rep);
    }
    freeReplyObject(rep);
}

static int simple(redisContext *ctx, struct fl_err *e, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        int rc = fl_err_set(e, FL_EFAIL, "redis setup (%s) failed: %s", what,
                            rep ? rep->str : ctx->errstr);
        if (rep)
            freeReplyObject(rep);
        return rc;
    }
    freeReplyObject(rep);
    return 0;
}

static int setup_register(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    char key[300];

    for (int i = 0; i < c->keys; i++) {
        key_of(c, key, sizeof key, i);
        if (simple(conn, e, "DEL", "DEL %s", key) < 0)
            return -FL_EFAIL;
    }
    return 0;
}

static int setup_bank(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    int64_t each = c->total / c->accounts, rest = c->total % c->accounts;
    char key[300];

    for (int i = 0; i < c->accounts; i++) {
        key_of(c, key, sizeof key, i);
        if (simple(conn, e, "SET", "SET %s %lld", key, (long long)each + (i == 0 ? rest : 0)) < 0)
            return -FL_EFAIL;
    }
    return 0;
}

/* set and queue: delete the one key. */
static int setup_del(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    char key[300];

    key_of(c, key, sizeof key, -1);
    return simple(conn, e, "DEL", "DEL %s", key);
}

static int setup_counter(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    char key[300];

    key_of(c, key, sizeof key, -1);
    return simple(conn, e, "SET", "SET %s 0", key);
}

/* One transaction, atomically: KEYS are the micro-ops' keys, ARGV their
 * (f, value) pairs and last "l" (lists) or "s" (strings). A read answers
 * the list, or {} / {value} for a string; a write answers {}. */
static const char txn_script[] =
    "local out, lists = {}, ARGV[#ARGV] == 'l' "
    "for i = 1, #KEYS do "
    "  local f, v = ARGV[2 * i - 1], ARGV[2 * i] "
    "  if f == 'r' and lists then out[i] = redis.call('LRANGE', KEYS[i], 0, -1) "
    "  elseif f == 'r' then local x = redis.call('GET', KEYS[i]) "
    "    if x then out[i] = {x} else out[i] = {} end "
    "  elseif lists then redis.call('RPUSH', KEYS[i], v) out[i] = {} "
    "  else redis.call('SET', KEYS[i], v) out[i] = {} end "
    "end return out";

/* What read i saw, as JSON: "[1,2]" for a list, the value or null for a
 * string. NULL when the element is not what the script returns. */
static char *txn_read_json(const redisReply *el, bool list)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (el->type != REDIS_REPLY_ARRAY || (!list && el->elements > 1))
        return NULL;
    if (!list)
        return el->elements ? strdup(el->element[0]->str ? el->element[0]->str : "null")
                            : strdup("null");
    if (!(f = open_memstream(&buf, &len)))
        return NULL;
    fputc('[', f);
    for (size_t i = 0; i < el->elements; i++)
        fprintf(f, "%s%s", i ? "," : "", el->element[i]->str ? el->element[i]->str : "null");
    fputc(']', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void exec_txn(void *conn, const struct fl_wl_cfg *c, const struct fl_wl_op *op,
                     struct fl_wl_result *r)
{
    bool list = !strcmp(c->workload->name, "list-append");
    char num[16], keys[FL_WL_TXN_MAX][300], vals[FL_WL_TXN_MAX][24];
    const char *argv[3 + 3 * FL_WL_TXN_MAX + 1];
    char *reads[FL_WL_TXN_MAX] = {0};
    int n = op->nmops, a = 0;
    redisReply *rep;

    argv[a++] = "EVAL";
    argv[a++] = txn_script;
    snprintf(num, sizeof num, "%d", n);
    argv[a++] = num;
    for (int i = 0; i < n; i++) {
        key_of(c, keys[i], sizeof keys[i], (long long)op->mops[i].key);
        argv[a++] = keys[i];
    }
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], sizeof vals[i], "%lld", (long long)op->mops[i].v);
        argv[a++] = op->mops[i].f == FL_WL_READ ? "r" : "w";
        argv[a++] = vals[i];
    }
    argv[a++] = list ? "l" : "s";
    rep = checked(conn, redisCommandArgv(conn, a, argv, NULL), r);
    if (!rep) {
        /* a script that failed half-way keeps the writes it made: unknown */
        if (r->type == FL_WL_FAIL)
            r->type = FL_WL_INFO;
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)n) {
        unexpected(r, rep);
        freeReplyObject(rep);
        return;
    }
    for (int i = 0; i < n && r->type == FL_WL_OK; i++)
        if (op->mops[i].f == FL_WL_READ && !(reads[i] = txn_read_json(rep->element[i], list)))
            unexpected(r, rep->element[i]);
    if (r->type == FL_WL_OK && !(r->txn = fl_wl_txn_render(op, reads))) {
        r->type = FL_WL_INFO;
        snprintf(r->error, sizeof r->error, "out of memory");
    }
    for (int i = 0; i < n; i++)
        free(reads[i]);
    freeReplyObject(rep);
}

/* list-append, rw-register: delete every key of the workload (keys rotate,
 * so they are found by SCAN). */
static int setup_txn(void *conn, const struct fl_wl_cfg *c, struct fl_err *e)
{
    char pattern[300], cursor[32] = "0";

    key_of(c, pattern, sizeof pattern, -1);
    strncat(pattern, ":*", sizeof pattern - strlen(pattern) - 1);
    do {
        redisReply *rep = redisCommand(conn, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);

        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            fl_err_set(e, FL_EFAIL, "redis SCAN %s: %s", pattern,
                       rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                             : ((redisContext *)conn)->errstr);
            if (rep)
                freeReplyObject(rep);
            return -FL_EFAIL;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str ? rep->element[0]->str : "0");
        for (size_t i = 0; i < rep->element[1]->elements; i++)
            if (simple(conn, e, "DEL", "DEL %s", rep->element[1]->element[i]->str) < 0) {
                freeReplyObject(rep);
                return -FL_EFAIL;
            }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0"));
    return 0;
}

static const struct fl_wl_client_impl impls[] = {
    {.workload = "register", .setup = setup_register, .exec = exec_register},
    {.workload = "bank", .setup = setup_bank, .exec = exec_bank},
    {.workload = "set", .setup = setup_del, .exec = exec_set},
    {.workload = "counter", .setup = setup_counter, .exec = exec_counter},
    {.workload = "queue", .setup = setup_del, .exec = exec_queue},
    {.workload = "list-append", .setup = setup_txn, .exec = exec_txn},
    {.workload = "rw-register", .setup = setup_txn, .exec = exec_txn},
    {0},
};

const struct fl_wl_client_ops fl_wl_client_redis = {
    .name = "redis",
    .summary = "Redis via hiredis; cas and transfers are Lua scripts",
    .target_help = "HOST:PORT of the Redis server (--target 127.0.0.1:6379), or its sentinels "
                   "and the primary's name: sentinel://HOST:PORT[,HOST:PORT...]/NAME",
    .impls = impls,
    .connect = rconnect,
    .close = rclose,
};
