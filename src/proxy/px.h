/* Internals of the proxy shared by its files: the objects (server, proxy,
 * link) and the model's functions (model.c). What the loop and the data path
 * offer is in loop.h and link.h. */
#ifndef FL_PROXY_PX_H
#define FL_PROXY_PX_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/heap.h"
#include "proxy/proxy.h"
#include "proxy/toxic.h"

enum fl_px_kind { FL_PX_LISTENER = 1, FL_PX_SIDE, FL_PX_WAKE, FL_PX_STOP };

/* What an epoll event points at. */
struct fl_px_ev {
    int kind;
};

struct fl_px_side {
    struct fl_px_ev ev;
    int fd;
    bool rd, wr; /* edge-triggered readiness not yet consumed */
    bool rdhup;  /* the peer's EOF or an error was reported: read to the end */
    struct fl_px_link *link;
};

/* One direction of a link: bytes from `src` to `dst`. Without a data-touching
 * toxic, bytes go src -> pipe -> dst with splice(); with one, they are read
 * into a ring of FL_PX_BUF_CAP bytes and leave as timed segments. */
struct fl_px_dir {
    struct fl_px_side *src, *dst;
    int pipe[2];
    size_t piped, pipe_cap;
    char *ring;
    size_t head, len;    /* ring bytes [head, head+len) modulo FL_PX_BUF_CAP */
    struct fl_px_seg *q; /* queued segments over the ring bytes, in order */
    size_t qh, qn, qcap;
    int64_t last_at;
    bool eof, shut, close_after, fin_wait;
    bool bulk;                /* the last fast-path read filled the scratch buffer: splice */
    struct fl_px_timer timer; /* release of the head segment, or slow_close */
    struct fl_px_tinst **ti;  /* active toxic instances, in the proxy's order */
    size_t nti;
    int data_toxics;
};

struct fl_px_link {
    struct fl_px_proxy *px;
    struct fl_px_link *prev, *next;
    struct fl_px_side cli, srv;
    bool connected, dead, ready;
    struct fl_px_link *rnext;  /* server's ready list */
    struct fl_px_dir d[2];     /* 0 upstream (client->server), 1 downstream */
    struct fl_http_conn *http; /* the HTTP engine (proxy/http.h) drives this link, or NULL */
};

struct fl_px_proxy {
    struct fl_px_ev ev;
    struct fl_px_server *srv;
    char *name, *listen, *upstream;
    bool enabled;
    struct fl_px_toxic **toxics;
    size_t ntoxics;
    int lfd;
    struct fl_px_timer retry; /* re-enables the listener after EMFILE */
    struct sockaddr_storage up;
    socklen_t uplen;
    bool transparent; /* upstream FL_PX_UPSTREAM_TRANSPARENT: SO_ORIGINAL_DST */
    char uperr[400];  /* why the upstream did not resolve at start, or "" */
    struct fl_px_link *links;
    struct fl_px_proxy *dnext; /* server's graveyard */
    uint64_t bytes[2], conns_total, conns_active;
};

struct fl_px_call;
struct fl_http_conn;

struct fl_px_server {
    int epfd;
    struct fl_px_ev wake_ev, stop_ev;
    int wakefd;
    struct fl_px_heap heap;
    struct fl_px_proxy **px;
    size_t npx;
    struct fl_px_link *grave, *ready;
    struct fl_px_proxy *pgrave;
    char *state_path;
    bool dry;
    /* the HTTP thread's hand-off */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fl_px_call *calls;
    bool stopping;
    struct MHD_Daemon *mhd;
    char api_addr[128];
    /* Called by the loop when wakefd fires: the API runs the requests the
     * HTTP thread queued (api.c sets it). */
    void (*on_wake)(struct fl_px_server *s);
    char scratch[16384]; /* the data path's small-read fast path (link.c) */
    /* Empty splice pipes kept for the next burst (link.c): a link holds a
     * pipe only while a bulk transfer is in flight. */
    struct fl_px_pipe {
        int fd[2];
        size_t cap;
    } pipes[FL_PX_PIPE_POOL];
    size_t npipes;
};

int64_t fl_px_now(void);

/* model.c: proxies and toxics as API objects */
struct fl_px_proxy *fl_px_find(struct fl_px_server *s, const char *name);
struct fl_px_toxic *fl_px_toxic_find(struct fl_px_proxy *p, const char *name, size_t *idx);
json_t *fl_px_proxy_json(const struct fl_px_proxy *p);
json_t *fl_px_toxic_json(const struct fl_px_toxic *t);
/* The proxy's toxics, upstream ones first (Toxiproxy's order). */
json_t *fl_px_toxics_json(const struct fl_px_proxy *p);
json_t *fl_px_state_json(const struct fl_px_server *s);
/* Parse a toxic from API JSON; with `base` it is an update that keeps every
 * unspecified field. Returns 0 or an HTTP status with msg filled. */
int fl_px_toxic_parse(const json_t *in, const struct fl_px_toxic *base, struct fl_px_toxic *out,
                      char *msg, size_t msglen);
void fl_px_toxic_free(struct fl_px_toxic *t);
/* Release what a parsed toxic owns (name, cfg) without freeing t itself. */
void fl_px_toxic_clear(struct fl_px_toxic *t);
/* Parse a proxy spec {name, listen, upstream, enabled}; base as above. */
struct fl_px_spec {
    char name[256], listen[256], upstream[256];
    bool enabled;
};
int fl_px_spec_parse(const json_t *in, const struct fl_px_spec *base, struct fl_px_spec *out,
                     char *msg, size_t msglen);
/* Parse "host:port" into a socket address (resolving host); -1 with msg
 * saying what is wrong (Go's words where it has them: "missing port in
 * address", "lookup HOST: ..."). */
int fl_px_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *msg,
                     size_t msglen);
/* Write an address as Go does: "127.0.0.1:8474", "[::1]:8474". */
void fl_px_addr_format(const struct sockaddr_storage *ss, char *out, size_t cap);
/* Parse and write back: the numeric form of "localhost:8474". */
int fl_px_addr_resolve(const char *s, char *out, size_t cap, char *msg, size_t msglen);

/* Free a proxy's memory (it must be stopped); model.c. */
void fl_px_proxy_free(struct fl_px_proxy *p);

#endif
