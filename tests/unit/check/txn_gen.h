/* Generated transactional histories for the list-append / rw-register
 * checker: the property tests (tests/unit/check/test_check_txn.c) and the
 * benchmark (bench/check/bench_txn.c) share it.
 *
 * Transactions of random reads and appends (or writes) over a window of
 * keys run against an in-memory store, each one atomically at its
 * invocation, while several processes interleave invocations and
 * completions; so the history is strict-serializable by construction. A key
 * retires after max_writes writes and a fresh one takes its place (Jepsen's
 * key rotation), which keeps lists short. Optionally one anomaly is planted
 * at the end, by hand, after every process is idle. JSON Lines to out. */
#ifndef FL_TEST_TXN_GEN_H
#define FL_TEST_TXN_GEN_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum txn_plant { TG_NONE, TG_G2, TG_GSINGLE, TG_G1C, TG_LOST, TG_STALE, TG_LONGFORK };

struct txn_gen {
    uint64_t seed;
    size_t ntx, nkeys, nproc, maxlen, max_writes;
    unsigned read_pct; /* share of micro-ops that are reads */
    bool registers;    /* rw-register instead of list-append */
    int plant;
    /* state */
    int64_t *list;   /* per key id: values, max_writes each */
    uint32_t *nlist; /* per key id: how many */
    uint32_t *active;
    uint32_t nextkey, capkeys;
    int64_t nextval;
    char **pending; /* per process: the completion line, NULL when idle */
};

static inline uint64_t tg_rnd(struct txn_gen *g)
{
    g->seed ^= g->seed << 13;
    g->seed ^= g->seed >> 7;
    g->seed ^= g->seed << 17;
    return g->seed;
}

static inline int tg_grow(struct txn_gen *g, uint32_t key)
{
    if (key < g->capkeys)
        return 0;
    uint32_t cap = g->capkeys ? g->capkeys * 2 : 1024;
    while (cap <= key)
        cap *= 2;
    int64_t *l = realloc(g->list, (size_t)cap * g->max_writes * sizeof *l);
    uint32_t *n = realloc(g->nlist, cap * sizeof *n);
    if (l)
        g->list = l;
    if (n)
        g->nlist = n;
    if (!l || !n)
        return -1;
    memset(g->nlist + g->capkeys, 0, (cap - g->capkeys) * sizeof *n);
    g->capkeys = cap;
    return 0;
}

/* The value of key as the checker sees it in a read. */
static inline void tg_print_read(struct txn_gen *g, uint32_t key, FILE *f)
{
    uint32_t n = g->nlist[key];
    if (g->registers) {
        if (n)
            fprintf(f, "%" PRId64, g->list[(size_t)key * g->max_writes + n - 1]);
        else
            fputs("null", f);
        return;
    }
    fputc('[', f);
    for (uint32_t i = 0; i < n; i++)
        fprintf(f, "%s%" PRId64, i ? "," : "", g->list[(size_t)key * g->max_writes + i]);
    fputc(']', f);
}

static inline void tg_write(struct txn_gen *g, uint32_t key, int64_t v)
{
    g->list[(size_t)key * g->max_writes + g->nlist[key]++] = v;
}

static inline const char *tg_wf(const struct txn_gen *g)
{
    return g->registers ? "w" : "append";
}

/* Run one random transaction now; print its invocation, keep its completion. */
static inline int tg_txn(struct txn_gen *g, size_t p, FILE *out)
{
    char *inv = NULL, *ok = NULL;
    size_t ni = 0, no = 0;
    FILE *fi = open_memstream(&inv, &ni), *fo = open_memstream(&ok, &no);
    if (!fi || !fo)
        return -1;
    size_t len = 1 + tg_rnd(g) % g->maxlen;
    for (size_t i = 0; i < len; i++) {
        uint32_t slot = (uint32_t)(tg_rnd(g) % g->nkeys), key = g->active[slot];
        const char *sep = i ? ", " : "";
        if (tg_rnd(g) % 100 < g->read_pct) {
            fprintf(fi, "%s[\"r\", %u, null]", sep, key);
            fprintf(fo, "%s[\"r\", %u, ", sep, key);
            tg_print_read(g, key, fo);
            fputc(']', fo);
            continue;
        }
        if (g->nlist[key] >= g->max_writes) {
            /* retire the key: a fresh one takes its slot */
            key = g->active[slot] = g->nextkey++;
            if (tg_grow(g, key) < 0)
                return -1;
        }
        int64_t v = g->nextval++;
        tg_write(g, key, v);
        fprintf(fi, "%s[\"%s\", %u, %" PRId64 "]", sep, tg_wf(g), key, v);
        fprintf(fo, "%s[\"%s\", %u, %" PRId64 "]", sep, tg_wf(g), key, v);
    }
    fclose(fi);
    fclose(fo);
    fprintf(out, "{\"process\": %zu, \"type\": \"invoke\", \"f\": \"txn\", \"value\": [%s]}\n", p,
            inv);
    free(inv);
    g->pending[p] = ok;
    return 0;
}

static inline void tg_line(FILE *out, int p, const char *type, const char *value)
{
    fprintf(out, "{\"process\": %d, \"type\": \"%s\", \"f\": \"txn\", \"value\": [%s]}\n", p, type,
            value);
}

static inline void tg_read_text(struct txn_gen *g, uint32_t key, char *buf, size_t cap)
{
    FILE *f = fmemopen(buf, cap, "w");
    tg_print_read(g, key, f);
    fclose(f);
}

/* A planted transaction: its micro-ops ('r' or 'w' key value), read now
 * into inv/ok text without applying its writes (the caller applies them
 * when the anomaly needs). With registers, a write first reads its key, so
 * the checker can order the versions (rw-register infers order from a
 * read followed by a write in one transaction). */
struct tg_mop {
    char f;
    uint32_t key;
    int64_t v;
};

static inline void tg_exec(struct txn_gen *g, const struct tg_mop *m, size_t n, bool blind,
                           char *inv, char *ok, size_t cap)
{
    FILE *fi = fmemopen(inv, cap, "w"), *fo = fmemopen(ok, cap, "w");
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? ", " : "";
        if (m[i].f == 'r' || (g->registers && !blind)) {
            fprintf(fi, "%s[\"r\", %u, null]", sep, m[i].key);
            fprintf(fo, "%s[\"r\", %u, ", sep, m[i].key);
            tg_print_read(g, m[i].key, fo);
            fputc(']', fo);
            sep = ", ";
        }
        if (m[i].f == 'w') {
            fprintf(fi, "%s[\"%s\", %u, %" PRId64 "]", sep, tg_wf(g), m[i].key, m[i].v);
            fprintf(fo, "%s[\"%s\", %u, %" PRId64 "]", sep, tg_wf(g), m[i].key, m[i].v);
        }
    }
    fclose(fi);
    fclose(fo);
}

/* The planted anomaly, over keys x and y, then a final read of both. */
static inline void tg_plant(struct txn_gen *g, FILE *out)
{
    int64_t a = g->nextval++, b = g->nextval++;
    char inv[2][4096], ok[2][4096];

    for (size_t i = 0; i < 2; i++) /* room for two more writes (nkeys >= 2) */
        if (g->nlist[g->active[i]] + 2 > g->max_writes) {
            g->active[i] = g->nextkey++;
            if (tg_grow(g, g->active[i]) < 0)
                return;
        }
    uint32_t x = g->active[0], y = g->active[1];
    switch (g->plant) {
    case TG_G2: { /* each reads the key the other writes, neither sees it */
        struct tg_mop t0[] = {{'r', x, 0}, {'w', y, a}}, t1[] = {{'r', y, 0}, {'w', x, b}};
        tg_exec(g, t0, 2, false, inv[0], ok[0], sizeof inv[0]);
        tg_exec(g, t1, 2, false, inv[1], ok[1], sizeof inv[1]);
        tg_line(out, 0, "invoke", inv[0]);
        tg_line(out, 1, "invoke", inv[1]);
        tg_line(out, 0, "ok", ok[0]);
        tg_line(out, 1, "ok", ok[1]);
        tg_write(g, y, a);
        tg_write(g, x, b);
        break;
    }
    case TG_GSINGLE: { /* a reader sees one of the two writes of one transaction */
        struct tg_mop t0[] = {{'w', x, a}, {'w', y, b}}, t1[] = {{'r', x, 0}, {'r', y, 0}};
        tg_exec(g, t0, 2, false, inv[0], ok[0], sizeof inv[0]);
        tg_exec(g, t1, 2, false, inv[1], ok[1], sizeof inv[1]);
        tg_line(out, 1, "invoke", inv[1]);
        tg_line(out, 0, "invoke", inv[0]);
        tg_line(out, 0, "ok", ok[0]);
        tg_write(g, x, a);
        tg_exec(g, t1, 2, false, inv[1], ok[1], sizeof inv[1]);
        tg_write(g, y, b);
        tg_line(out, 1, "ok", ok[1]);
        break;
    }
    case TG_G1C: { /* each sees the other's write */
        struct tg_mop t0[] = {{'w', x, a}, {'r', y, 0}}, t1[] = {{'w', y, b}, {'r', x, 0}};
        tg_write(g, x, a);
        tg_write(g, y, b);
        tg_exec(g, t0, 2, true, inv[0], ok[0], sizeof inv[0]);
        tg_exec(g, t1, 2, true, inv[1], ok[1], sizeof inv[1]);
        tg_line(out, 0, "invoke", inv[0]);
        tg_line(out, 1, "invoke", inv[1]);
        tg_line(out, 0, "ok", ok[0]);
        tg_line(out, 1, "ok", ok[1]);
        break;
    }
    case TG_LOST: { /* both read x at the same version and write it */
        struct tg_mop t0[] = {{'r', x, 0}, {'w', x, a}}, t1[] = {{'r', x, 0}, {'w', x, b}};
        tg_exec(g, t0, 2, false, inv[0], ok[0], sizeof inv[0]);
        tg_exec(g, t1, 2, false, inv[1], ok[1], sizeof inv[1]);
        tg_line(out, 0, "invoke", inv[0]);
        tg_line(out, 1, "invoke", inv[1]);
        tg_line(out, 0, "ok", ok[0]);
        tg_line(out, 1, "ok", ok[1]);
        tg_write(g, x, a);
        tg_write(g, x, b);
        break;
    }
    case TG_LONGFORK: { /* two readers see two independent writers in opposite orders */
        uint32_t z = g->nextkey++, w = g->nextkey++;
        if (tg_grow(g, w) < 0)
            return;
        struct tg_mop t0[] = {{'w', x, a}, {'w', y, a}}, t1[] = {{'w', z, b}, {'w', w, b}};
        char before[2][2048], after[2][2048], rinv[256];
        tg_exec(g, t0, 2, false, inv[0], ok[0], sizeof inv[0]);
        tg_exec(g, t1, 2, false, inv[1], ok[1], sizeof inv[1]);
        tg_read_text(g, x, before[0], sizeof before[0]);
        tg_read_text(g, z, before[1], sizeof before[1]);
        tg_write(g, x, a);
        tg_write(g, y, a);
        tg_write(g, z, b);
        tg_write(g, w, b);
        tg_read_text(g, w, after[0], sizeof after[0]);
        tg_read_text(g, y, after[1], sizeof after[1]);
        tg_line(out, 0, "invoke", inv[0]);
        tg_line(out, 1, "invoke", inv[1]);
        snprintf(rinv, sizeof rinv, "[\"r\", %u, null], [\"r\", %u, null]", x, w);
        tg_line(out, 2, "invoke", rinv);
        snprintf(rinv, sizeof rinv, "[\"r\", %u, null], [\"r\", %u, null]", y, z);
        tg_line(out, 3, "invoke", rinv);
        tg_line(out, 0, "ok", ok[0]);
        tg_line(out, 1, "ok", ok[1]);
        fprintf(out,
                "{\"process\": 2, \"type\": \"ok\", \"f\": \"txn\", \"value\": [[\"r\", %u, %s], "
                "[\"r\", %u, %s]]}\n",
                x, before[0], w, after[0]);
        fprintf(out,
                "{\"process\": 3, \"type\": \"ok\", \"f\": \"txn\", \"value\": [[\"r\", %u, %s], "
                "[\"r\", %u, %s]]}\n",
                y, after[1], z, before[1]);
        x = z; /* the final read shows z and w */
        y = w;
        break;
    }
    case TG_STALE: { /* a read after a completed write misses it */
        struct tg_mop t0[] = {{'w', x, a}}, t1[] = {{'r', x, 0}};
        tg_exec(g, t0, 1, false, inv[0], ok[0], sizeof inv[0]);
        tg_exec(g, t1, 1, false, inv[1], ok[1], sizeof inv[1]);
        tg_line(out, 0, "invoke", inv[0]);
        tg_line(out, 0, "ok", ok[0]);
        tg_line(out, 1, "invoke", inv[1]);
        tg_line(out, 1, "ok", ok[1]);
        tg_write(g, x, a);
        break;
    }
    }
    struct tg_mop fin[] = {{'r', x, 0}, {'r', y, 0}};
    tg_exec(g, fin, 2, false, inv[0], ok[0], sizeof inv[0]);
    tg_line(out, 2, "invoke", inv[0]);
    tg_line(out, 2, "ok", ok[0]);
}

static inline void tg_free(struct txn_gen *g)
{
    for (size_t p = 0; g->pending && p < g->nproc; p++)
        free(g->pending[p]);
    free(g->pending);
    free(g->list);
    free(g->nlist);
    free(g->active);
}

/* The whole history into out; 0 or -1 (out of memory). */
static inline int tg_generate(struct txn_gen *g, FILE *out)
{
    size_t invoked = 0, busy = 0;
    g->pending = calloc(g->nproc, sizeof *g->pending);
    g->active = malloc(g->nkeys * sizeof *g->active);
    g->nextval = 1;
    if (!g->pending || !g->active || tg_grow(g, (uint32_t)g->nkeys) < 0)
        return -1;
    for (uint32_t k = 0; k < g->nkeys; k++)
        g->active[k] = k;
    g->nextkey = (uint32_t)g->nkeys;
    while (invoked < g->ntx || busy) {
        size_t p = tg_rnd(g) % g->nproc;
        if (g->pending[p]) {
            tg_line(out, (int)p, "ok", g->pending[p]);
            free(g->pending[p]);
            g->pending[p] = NULL;
            busy--;
        } else if (invoked < g->ntx) {
            if (tg_txn(g, p, out) < 0)
                return -1;
            invoked++;
            busy++;
        }
    }
    if (g->plant != TG_NONE)
        tg_plant(g, out);
    return 0;
}

#endif
