/* Toxics: one file per type under src/proxy/toxics/ behind one small ops table,
 * registered by one line in toxics/registry.c (Toxiproxy's toxics/ directory shape).
 *
 * Every attribute of every Toxiproxy toxic is an integer, so a type declares
 * its attributes as (name, default, bound) triples and the model parses,
 * merges and prints them generically. The data path calls the hooks below on a per-link,
 * per-direction instance (struct fl_px_tinst) that exists only when the toxic
 * won its toxicity draw for that link. */
#ifndef FL_PROXY_TOXIC_H
#define FL_PROXY_TOXIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/heap.h"

#define FL_PX_MAX_ATTRS 4

struct fl_px_link;
struct fl_px_toxic;

/* One piece of freshly read data: `len` bytes released to the other side at
 * CLOCK_MONOTONIC `at` ns. A chain of toxics turns the segments of one read
 * into new segments; the output always covers a prefix of the input in order
 * (toxics split, delay, truncate or drop the tail, never reorder). */
struct fl_px_seg {
    uint32_t len;
    int64_t at;
};

struct fl_px_segs {
    struct fl_px_seg *v;
    size_t n, cap;
    int64_t now;
    bool close; /* close the link once the kept bytes are delivered (limit_data) */
};

/* A toxic active on one direction of one link. */
struct fl_px_tinst {
    const struct fl_px_toxic *toxic;
    struct fl_px_link *link;
    int dir;                  /* 0 upstream (client->server), 1 downstream */
    struct fl_px_timer timer; /* armed with fl_px_tinst_arm; fires ops->timer */
    void *state;              /* ops->state_size zeroed bytes, or NULL */
};

/* The documented bound of most attributes: values outside -bound..bound are
 * refused, so that milliseconds (or microseconds, or KB/s) times their unit
 * and the sums of several toxics stay far from int64 overflow (10^12 ms is
 * about 31 years). */
#define FL_PX_ATTR_BOUND 1000000000000LL

struct fl_px_attr_def {
    const char *name;
    int64_t def;
    int64_t bound; /* |value| <= bound; 0: any 64-bit integer */
};

struct fl_px_toxic_ops {
    const char *type;
    struct fl_px_attr_def attrs[FL_PX_MAX_ATTRS + 1]; /* ends with {NULL} */
    bool touches_data; /* needs the buffered path (no splice) while active */
    bool keep_state;   /* the per-link state survives an update of the toxic (limit_data) */
    size_t state_size;
    /* The toxic became active on a link direction (link accepted, or toxic
     * added to a live link): arm timers here. */
    void (*start)(struct fl_px_tinst *ti);
    /* Transform the segments of one read (see struct fl_px_segs). */
    void (*data)(struct fl_px_tinst *ti, struct fl_px_segs *s);
    /* Nanoseconds to wait before passing an EOF on (slow_close). */
    int64_t (*eof_delay)(struct fl_px_tinst *ti);
    /* The instance timer fired. */
    void (*timer)(struct fl_px_tinst *ti);
    /* A toxic whose attributes are not integers (faultline's http toxic)
     * parses its whole attributes object here into *cfg (NULL attrs: the
     * defaults); returns 0 or an HTTP status with msg filled. config_json
     * writes it back and config_free releases it. */
    int (*config)(const void *json_attrs, void **cfg, char *msg, size_t msglen);
    void *(*config_json)(const void *cfg);
    void (*config_free)(void *cfg);
    /* The toxic works on HTTP/1.1 messages (proxy/http.h): a link accepted
     * while the proxy has one is driven by the HTTP engine, and its
     * toxicity is drawn per request rather than per link. */
    bool http;
};

/* A configured toxic (the API object). */
struct fl_px_toxic {
    char *name;
    const struct fl_px_toxic_ops *ops;
    int stream;           /* 0 upstream, 1 downstream */
    char stream_name[12]; /* as the client spelled it ("Upstream"), as Toxiproxy echoes it */
    float toxicity;       /* a float32, like Toxiproxy's: drawn as rand < toxicity */
    int64_t attr[FL_PX_MAX_ATTRS];
    void *cfg; /* ops->config's result, or NULL */
};

/* Registry: NULL if unknown. */
const struct fl_px_toxic_ops *fl_px_toxic_lookup(const char *type);
/* The NULL-terminated list of every registered type. */
extern const struct fl_px_toxic_ops *const fl_px_toxic_types[];

/* Helpers the hooks may call. */
int fl_px_segs_push(struct fl_px_segs *s, uint32_t len, int64_t at);
void fl_px_segs_swap(struct fl_px_segs *a, struct fl_px_segs *b);
void fl_px_tinst_arm(struct fl_px_tinst *ti, int64_t delay_ns);
/* Close both sides of the link now; rst sends a TCP reset (SO_LINGER 0). */
void fl_px_link_abort(struct fl_px_link *l, bool rst);
/* Uniform random double in [0,1) and integer in [-span, span], from the
 * server's generator (the loop thread is the only user). */
double fl_px_rand(void);
int64_t fl_px_rand_span(int64_t span);

#define FL_PX_MS 1000000LL

/* a + b, saturated at the int64 bounds (chains of delaying toxics). */
static inline int64_t fl_px_sat_add(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

#endif
