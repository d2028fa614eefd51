/* faultline's TCP fault proxy: an epoll event loop that forwards TCP links
 * between a listen address and an upstream, applies toxics to them, and is
 * driven by a Toxiproxy-compatible HTTP API.
 *
 * Threads: every proxy, link and toxic belongs to the loop thread. The HTTP
 * server (libmicrohttpd) runs in its own thread and hands each request to the
 * loop through an eventfd, waiting for the answer; fl_px_api_handle therefore
 * always runs on the loop thread (or, without a loop, on the caller's). */
#ifndef FL_PROXY_PROXY_H
#define FL_PROXY_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct fl_px_server;

struct fl_px_options {
    const char *api_listen; /* "127.0.0.1:8474"; NULL: no HTTP server */
    const char *state_path; /* NULL: do not persist */
    bool dry;               /* model only: never open sockets (fuzzing, unit tests) */
};

/* Create the loop (and the HTTP server if api_listen is set). */
struct fl_px_server *fl_px_server_new(const struct fl_px_options *o, struct fl_err *e);
/* Stop the HTTP server, close every listener and link, free everything. */
void fl_px_server_free(struct fl_px_server *s);
/* The HTTP server's bound address ("127.0.0.1:8474"), after fl_px_server_new. */
const char *fl_px_server_api_addr(const struct fl_px_server *s);

/* Load the state file (missing is fine) and then populate from a Toxiproxy-
 * style JSON array file if `config` is set. */
int fl_px_server_load(struct fl_px_server *s, const char *config, struct fl_err *e);

/* Run the loop until `stop_fd` (a signalfd or any fd) becomes readable. */
int fl_px_server_run(struct fl_px_server *s, int stop_fd, struct fl_err *e);

/* Handle one API request; returns the HTTP status, sets *body (malloc'd, may be
 * NULL for 204) and *ctype. Persists the state after a successful change. */
int fl_px_api_handle(struct fl_px_server *s, const char *method, const char *path, const char *body,
                     size_t len, char **out, const char **ctype);

/* Transparent mode: a proxy whose upstream is this literal string connects
 * each accepted connection to the destination the client originally asked
 * for, as recovered from the connection's NAT state (SO_ORIGINAL_DST,
 * IPv4 and IPv6): the connection must have reached the listener through an
 * nftables/iptables `redirect` (see faultline's network.delay & co., or
 * docs/proxy.md "Transparent mode"). Connections that were not redirected
 * (no original destination) are closed at once. Its upstream sockets carry
 * the firewall mark FL_PX_MARK (SO_MARK, needs CAP_NET_ADMIN) so the
 * redirect rule can exempt the proxy's own traffic instead of looping it
 * back into the proxy. */
#define FL_PX_UPSTREAM_TRANSPARENT "transparent"
#define FL_PX_MARK 0xfa170000u

/* The cap on bytes held in user space per link direction (the ring used while
 * a data-touching toxic is active). */
#define FL_PX_BUF_CAP (64 * 1024)
/* The splice pipe's size per direction, used for bulk transfers without a
 * data-touching toxic (kernel memory: page references in flight). 1 MiB is
 * the unprivileged maximum (/proc/sys/fs/pipe-max-size) and needs about a
 * third less proxy CPU per byte than 256 KiB (bench/proxy). A link holds a
 * pipe only while a transfer is in flight; up to FL_PX_PIPE_POOL empty
 * pipes are kept for reuse. */
#define FL_PX_PIPE_CAP (1024 * 1024)
#define FL_PX_PIPE_POOL 16

#endif
