/* A link driven by the HTTP engine (http_link.c); link.c's only way in. */
#ifndef FL_PROXY_HTTP_LINK_H
#define FL_PROXY_HTTP_LINK_H

#include <stdbool.h>

struct fl_px_link;
struct fl_px_proxy;

/* Does p have an http toxic (new links go through the HTTP engine)? */
bool fl_px_http_wanted(const struct fl_px_proxy *p);
/* Move what can be moved on l (l->http is set). */
void fl_px_http_pump(struct fl_px_link *l);

#endif
