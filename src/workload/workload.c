/* Shared parts of workloads: function names, the seeded generator, the op
 * mix, configuration defaults and checks. */
#include "workload/workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const f_names[FL_WL_NF] = {"read",    "write",   "cas",   "transfer", "add",
                                              "enqueue", "dequeue", "drain", "append",   "txn"};

const char *fl_wl_f_name(int f)
{
    return f >= 0 && f < FL_WL_NF ? f_names[f] : "?";
}

int fl_wl_f_find(const char *name)
{
    for (int i = 0; i < FL_WL_NF; i++)
        if (!strcmp(f_names[i], name))
            return i;
    return -1;
}

/* splitmix64: tiny, fast, and every seed gives a good stream. Each worker
 * gets its own stream from (seed, worker), so the op sequence a worker
 * generates does not depend on how the threads interleave. */
uint64_t fl_wl_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fl_wl_rng_seed(uint64_t *rng, uint64_t seed, int worker)
{
    *rng = seed ^ ((uint64_t)(worker + 1) * 0xd1b54a32d192ed03ULL);
    fl_wl_rng_next(rng);
}

uint64_t fl_wl_rng_below(uint64_t *rng, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* rejection sampling keeps it unbiased */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do
        x = fl_wl_rng_next(rng);
    while (x >= lim);
    return x % n;
}

void fl_wl_next_op(const struct fl_wl_cfg *c, uint64_t *rng, int worker, uint64_t seq,
                   struct fl_wl_op *op)
{
    uint64_t sum = 0;
    for (int i = 0; i < FL_WL_NF; i++)
        sum += c->mix[i];
    uint64_t x = fl_wl_rng_below(rng, sum);
    int f = 0;
    for (; f < FL_WL_NF - 1; f++) {
        if (x < c->mix[f])
            break;
        x -= c->mix[f];
    }
    memset(op, 0, sizeof *op);
    op->f = f;
    op->key = -1;
    c->workload->gen(c, rng, worker, seq, op);
}

void fl_wl_cfg_init(struct fl_wl_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->out = "history.jsonl";
    c->concurrency = 5;
    c->rate = 0;
    c->duration_ms = 10000;
    c->timeout_ms = 1000;
    c->keys = 10;
    c->values = 5;
    c->accounts = 5;
    c->total = 1000;
    c->max_transfer = 5;
    c->seed = 0;
    c->ns = "faultline";
    c->isolation = FL_WL_SERIALIZABLE;
    c->txn_len = 4;
    c->max_writes_per_key = 32;
}

int fl_wl_parse_mix(const struct fl_wl_ops *w, const char *s, unsigned mix[FL_WL_NF],
                    struct fl_err *e)
{
    unsigned m[FL_WL_NF] = {0};
    char *dup = strdup(s), *save = NULL;
    int rc = 0;

    if (!dup)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            rc = fl_err_set(e, FL_EUSAGE, "--mix: '%s' is not NAME=WEIGHT (e.g. read=2,write=1)",
                            tok);
            goto out;
        }
        *eq = '\0';
        int f = fl_wl_f_find(tok);
        if (f < 0 || !(w->allowed & (1u << f))) {
            char allowed[128] = "";
            for (int i = 0; i < FL_WL_NF; i++)
                if (w->allowed & (1u << i))
                    snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
                             allowed[0] ? ", " : "", f_names[i]);
            rc =
                fl_err_set(e, FL_EUSAGE, "--mix: the %s workload has no '%s' operation (it has %s)",
                           w->name, tok, allowed);
            goto out;
        }
        char *end;
        unsigned long v = strtoul(eq + 1, &end, 10);
        if (!eq[1] || *end || v > 1000000 || eq[1] == '-') {
            rc = fl_err_set(e, FL_EUSAGE,
                            "--mix: weight of %s must be a whole number 0..1000000, not '%s'", tok,
                            eq + 1);
            goto out;
        }
        m[f] = (unsigned)v;
    }
    unsigned sum = 0;
    for (int i = 0; i < FL_WL_NF; i++)
        sum += m[i];
    if (sum == 0) {
        rc = fl_err_set(e, FL_EUSAGE, "--mix: at least one weight must be above 0");
        goto out;
    }
    memcpy(mix, m, sizeof m);
out:
    free(dup);
    return rc;
}

int fl_wl_cfg_validate(const struct fl_wl_cfg *c, struct fl_err *e)
{
    char list[256];

    if (!c->client) {
        fl_wl_client_names(list, sizeof list);
        return fl_err_set(e, FL_EUSAGE, "--client is required (%s)", list);
    }
    if (!c->workload) {
        fl_wl_workload_names(list, sizeof list);
        return fl_err_set(e, FL_EUSAGE, "--workload is required (%s)", list);
    }
    if (!fl_wl_client_supports(c->client, c->workload->name)) {
        fl_wl_client_workload_names(c->client, list, sizeof list);
        return fl_err_set(e, FL_EUSAGE, "the %s client cannot run the %s workload (it runs %s)",
                          c->client->name, c->workload->name, list);
    }
    if (!c->target || !*c->target)
        return fl_err_set(e, FL_EUSAGE, "--target is required: %s", c->client->target_help);
    if (c->concurrency < 1 || c->concurrency > 1024)
        return fl_err_set(e, FL_EUSAGE, "--concurrency must be 1..1024");
    if (c->rate < 0)
        return fl_err_set(e, FL_EUSAGE, "--rate must be 0 (unlimited) or more");
    if (c->duration_ms <= 0)
        return fl_err_set(e, FL_EUSAGE, "--duration must be above 0");
    if (c->timeout_ms < 10)
        return fl_err_set(e, FL_EUSAGE, "--timeout must be at least 10ms");
    if (c->keys < 1)
        return fl_err_set(e, FL_EUSAGE, "--keys must be at least 1");
    if (c->txn_len < 1 || c->txn_len > FL_WL_TXN_MAX)
        return fl_err_set(e, FL_EUSAGE, "--txn-length must be 1..%d", FL_WL_TXN_MAX);
    if (c->max_writes_per_key < 1)
        return fl_err_set(e, FL_EUSAGE, "--max-writes-per-key must be at least 1");
    if (c->accounts < 2)
        return fl_err_set(e, FL_EUSAGE, "--accounts must be at least 2 (money moves between them)");
    if (c->total < 0)
        return fl_err_set(e, FL_EUSAGE, "--total must not be negative");
    unsigned sum = 0;
    for (int i = 0; i < FL_WL_NF; i++) {
        if (c->mix[i] && !(c->workload->allowed & (1u << i)))
            return fl_err_set(e, FL_EUSAGE, "the %s workload has no %s operation",
                              c->workload->name, f_names[i]);
        sum += c->mix[i];
    }
    if (!sum)
        return fl_err_set(e, FL_EUSAGE, "--mix: at least one weight must be above 0");
    for (const char *p = c->ns; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= '0' && *p <= '9' && p != c->ns)))
            return fl_err_set(e, FL_EUSAGE,
                              "--namespace '%s': use lowercase letters, digits and '_', starting "
                              "with a letter (it names keys and tables)",
                              c->ns);
    if (!*c->ns)
        return fl_err_set(e, FL_EUSAGE, "--namespace must not be empty");
    return 0;
}

void fl_wl_result_fini(struct fl_wl_result *r)
{
    free(r->txn);
    r->txn = NULL;
    free(r->vals);
    r->vals = NULL;
    r->nvals = 0;
}

int fl_wl_split_hostport(const char *target, char *host, size_t hostlen, int *port,
                         struct fl_err *e)
{
    const char *colon, *orig = target;
    size_t hl;

    if (target[0] == '[') {
        const char *rb = strchr(target, ']');
        if (!rb || rb[1] != ':')
            goto bad;
        hl = (size_t)(rb - target - 1);
        target++;
        colon = rb + 1;
    } else {
        colon = strrchr(target, ':');
        if (!colon)
            goto bad;
        hl = (size_t)(colon - target);
    }
    if (hl == 0 || hl >= hostlen)
        goto bad;
    memcpy(host, target, hl);
    host[hl] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 1 || p > 65535)
        goto bad;
    *port = (int)p;
    return 0;
bad:
    return fl_err_set(e, FL_EUSAGE, "--target '%s': expected HOST:PORT (e.g. 127.0.0.1:6379)",
                      orig);
}
