/* The event loop's side of the proxies (loop.c), as the API (api.c) uses
 * it: start and stop a proxy's listener, and free what was closed. The loop
 * knows nothing of the API: it calls the server's on_wake hook when the
 * API's eventfd fires. */
#ifndef FL_PROXY_LOOP_H
#define FL_PROXY_LOOP_H

#include <stddef.h>

struct fl_px_proxy;
struct fl_px_server;

/* Listen on p->listen (p->listen becomes the bound address) and resolve its
 * upstream. Returns 0, or an HTTP status (500) with msg saying why. */
int fl_px_proxy_start(struct fl_px_proxy *p, char *msg, size_t msglen);
/* Close p's listener and every live link. */
void fl_px_proxy_stop(struct fl_px_proxy *p);
/* Free what was closed during this loop iteration (links, deleted proxies). */
void fl_px_reap(struct fl_px_server *s);

#endif
