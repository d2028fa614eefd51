/* Transactional isolation checking (Elle-style), internal surface shared by
 * txn.c (reading micro-ops, inferring dependencies, non-cyclic anomalies),
 * txn_graph.c (the dependency graph, strongly connected components and short
 * cycles) and txn_explain.c (naming and explaining what was found).
 *
 * The technique follows Kingsbury & Alvaro, "Elle: Inferring Isolation
 * Anomalies from Experimental Observations" (VLDB 2020): with unique written
 * values, a read tells which transaction wrote what it saw (wr), a list read
 * also reveals the order of every append before it (ww, and rw to the append
 * that came next). A cycle in that graph is an anomaly named after the kinds
 * of its edges (Adya's G0, G1c, G-single, G2-item).
 */
#ifndef FL_CHECK_TXN_H
#define FL_CHECK_TXN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "check/check.h"

enum { TXN_LIST_APPEND, TXN_RW_REGISTER };

/* micro-op functions */
enum { MOP_READ, MOP_APPEND, MOP_WRITE };

/* dependency edge kinds, a bit mask (two transactions may be related both ways) */
enum { DEP_WW = 1, DEP_WR = 2, DEP_RW = 4, DEP_RT = 8 };

/* Consistency models a history can be held to, as a bit mask. */
enum {
    CM_READ_COMMITTED = 1,
    CM_REPEATABLE_READ = 2,
    CM_SNAPSHOT_ISOLATION = 4,
    CM_SERIALIZABLE = 8,
    CM_STRICT_SERIALIZABLE = 16,
    CM_ALL = 31,
};

/* Anomaly classes, in the order reports list them. */
enum txn_anomaly {
    AN_G0,
    AN_G1A,
    AN_G1B,
    AN_G1C,
    AN_GSINGLE,
    AN_GNONADJ,
    AN_G2ITEM,
    AN_G0_RT,
    AN_G1C_RT,
    AN_GSINGLE_RT,
    AN_G2ITEM_RT,
    AN_LOST_UPDATE,
    AN_INTERNAL,
    AN_DUPLICATE,
    AN_INCOMPATIBLE,
    AN_UNWRITTEN,
    AN_COUNT,
};

/* One micro-op. A list read keeps its elements in the history's value arena:
 * val = index of the first child, n = how many (n = UINT32_MAX: not known,
 * the transaction's outcome is unknown or it failed). A register read or a
 * write/append keeps the value's code in val. */
struct txn_mop {
    int64_t key;
    int64_t val;
    uint32_t n;
    uint8_t f;
};

struct txn {
    uint32_t op;   /* index in the history's ops */
    uint32_t mop0; /* first micro-op */
    uint32_t nmop;
    uint8_t type; /* enum fl_optype */
};

/* (key, value) -> the transaction that wrote it and, for list-append, its
 * position in the key's version order (UINT32_MAX: never read). */
struct txn_wslot {
    int64_t key, val;
    uint32_t txn; /* UINT32_MAX: empty slot */
    uint32_t pos;
};

/* A key's version order (list-append: the longest read; its elements are in
 * the history arena). */
struct txn_key {
    int64_t key;
    uint32_t first, n; /* arena index and length of the longest read */
    uint32_t reader;   /* transaction that read it, UINT32_MAX if none */
    bool used;         /* slot taken */
};

/* A cycle or a non-cyclic finding, ready to explain. */
struct txn_finding {
    int anomaly;
    uint32_t len;     /* transactions in the cycle (or involved) */
    uint32_t *txns;   /* len transactions */
    uint8_t *edges;   /* cycle only: edge kind from txns[i] to txns[(i+1) % len] */
    int64_t key, val; /* non-cyclic findings: the key and value concerned */
};

/* Everything the checker knows about one history. */
struct txn_ctx {
    struct fl_history *h;
    int kind;        /* TXN_LIST_APPEND / TXN_RW_REGISTER */
    unsigned models; /* CM_* asked for */
    struct txn *tx;
    size_t ntx;
    struct txn_mop *mops;
    size_t nmops;
    struct txn_wslot *w; /* open addressing, capacity wcap (power of two) */
    size_t wcap;
    struct txn_key *keys; /* open addressing by key, capacity kcap */
    size_t kcap;
    /* edges as collected (src, dst, kind), then the CSR graph */
    uint32_t *esrc, *edst;
    uint8_t *ekind;
    size_t nedges, capedges;
    uint32_t *off;  /* ntx + 1 */
    uint32_t *adj;  /* successor per edge */
    uint8_t *akind; /* kind per edge */
    /* findings */
    struct txn_finding *found;
    size_t nfound, capfound;
    size_t count[AN_COUNT]; /* all occurrences, even beyond the examples kept */
    bool capped;            /* a cycle search hit its budget */
};

/* txn.c */
struct txn_wslot *fl_txn_writer(const struct txn_ctx *c, int64_t key, int64_t val);
struct txn_key *fl_txn_key(const struct txn_ctx *c, int64_t key);
struct txn_key *fl_txn_key_add(struct txn_ctx *c, int64_t key); /* c->keys has room */
int64_t fl_txn_elem(const struct txn_ctx *c, uint32_t first, uint32_t i);
/* The first read of key in transaction t before t wrote it; NULL if none. */
const struct txn_mop *fl_txn_ext_read(const struct txn_ctx *c, const struct txn *t, int64_t key);
/* Record a finding (takes ownership of txns/edges); -1 when out of memory. */
int fl_txn_note(struct txn_ctx *c, int anomaly, uint32_t *txns, uint8_t *edges, uint32_t len,
                int64_t key, int64_t val);
int fl_txn_note1(struct txn_ctx *c, int anomaly, uint32_t a, uint32_t b, int64_t key, int64_t val);

/* txn_graph.c: build the graph from c->esrc/edst/ekind, then look for
 * cycles; findings go through fl_txn_note. 0 or -1 (out of memory). */
int fl_txn_add_edge(struct txn_ctx *c, uint32_t src, uint32_t dst, uint8_t kind);
int fl_txn_graph_build(struct txn_ctx *c);
int fl_txn_find_cycles(struct txn_ctx *c);

/* txn_explain.c */
const char *fl_txn_anomaly_name(int anomaly);
unsigned fl_txn_anomaly_rules_out(int anomaly); /* CM_* mask */
const char *fl_txn_model_name(unsigned cm);
int fl_txn_report(struct txn_ctx *c, struct fl_check_report *r);

#endif
