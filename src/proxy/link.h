/* The link data path (link.c): what the loop (loop.c) and the API (api.c)
 * may ask of the links. Every function runs on the loop thread. */
#ifndef FL_PROXY_LINK_H
#define FL_PROXY_LINK_H

#include <stdint.h>

struct fl_px_link;
struct fl_px_proxy;
struct fl_px_server;
struct fl_px_side;
struct fl_px_toxic;

/* A connection accepted on p's listener (cfd, non-blocking): connect it
 * upstream and start moving bytes; cfd is closed on failure (logged). */
void fl_px_link_new(struct fl_px_proxy *p, int cfd);
/* epoll reported `events` on one side of a link. */
void fl_px_link_event(struct fl_px_side *sd, uint32_t events);
/* Move what can be moved now (the loop's ready list calls it again for a
 * link that had more to do than one turn allows). */
void fl_px_link_pump(struct fl_px_link *l);
/* Free a link that fl_px_link_abort put in the server's graveyard. */
void fl_px_link_free(struct fl_px_server *s, struct fl_px_link *l);

/* The toxic list of p changed: add toxic `t` to every live link. */
void fl_px_links_toxic_added(struct fl_px_proxy *p, struct fl_px_toxic *t);
/* Toxic t is about to be freed: drop its instances from every live link. */
void fl_px_links_toxic_removed(struct fl_px_proxy *p, struct fl_px_toxic *t);
/* Toxic t changed in place (toxicity, attributes): every live link draws
 * its toxicity anew and restarts its instance where it was in the chain,
 * as Toxiproxy restarts the toxic; a keep_state toxic (limit_data) keeps its
 * per-link state, as Toxiproxy's stateful toxics do. */
void fl_px_links_toxic_updated(struct fl_px_proxy *p, struct fl_px_toxic *t);
/* Pump every live link of p (after a toxic was removed and freed). */
void fl_px_links_pump(struct fl_px_proxy *p);

#endif
