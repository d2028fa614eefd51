/* The web console's side of the server (docs/console.md): the static files
 * of web/, embedded at build time by scripts/gen-web-assets, served with
 * their Content-Type and an ETag; any other path outside the API falls back
 * to index.html so that every view's URL can be pasted and reloaded. */
#ifndef FL_SERVER_CONSOLE_H
#define FL_SERVER_CONSOLE_H

#include <stdbool.h>

struct MHD_Connection;

struct fl_web_asset {
    const char *path;  /* the URL path, e.g. "/js/app.js" */
    const char *ctype; /* its Content-Type */
    const unsigned char *data;
    unsigned long len;
    const char *etag; /* a quoted strong ETag (content hash) */
};

/* The generated table (web_assets.c). */
extern const struct fl_web_asset fl_web_assets[];
extern const unsigned long fl_web_assets_count;

/* Whether a GET/HEAD of path is the console's (not the API's, not /metrics). */
bool fl_console_owns(const char *method, const char *path);
/* The asset a path names: an exact match, else index.html for a view's URL
 * (a last segment without a dot); NULL for a missing file. */
const struct fl_web_asset *fl_console_find(const char *path);
/* Queue the reply for path on c (200, 304 on a matching If-None-Match, or 404);
 * returns libmicrohttpd's MHD_YES/MHD_NO as an int. */
int fl_console_reply(struct MHD_Connection *c, const char *path);

#endif
