/* The web console's static files, served from the table that
 * scripts/gen-web-assets generates out of web/ (and uPlot's dist files) at
 * build time: nothing is read from disk or fetched at run time. Assets need
 * no token (they hold no data; every API call the pages make does), carry
 * an ETag so a browser revalidates instead of downloading again, and a
 * Content-Security-Policy that allows only this origin. */
#include <microhttpd.h>
#include <string.h>

#include "fl_config.h"
#include "server/console.h"
#include "server/server.h"

#define CSP                                                                                        \
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "                 \
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

bool fl_console_owns(const char *method, const char *path)
{
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return false;
    if (!strncmp(path, "/api/", 5) || !strcmp(path, "/api") || !strcmp(path, "/metrics"))
        return false;
    return true;
}

static const struct fl_web_asset *exact(const char *path)
{
    for (unsigned long i = 0; i < fl_web_assets_count; i++)
        if (!strcmp(fl_web_assets[i].path, path))
            return &fl_web_assets[i];
    return NULL;
}

const struct fl_web_asset *fl_console_find(const char *path)
{
    const struct fl_web_asset *a = exact(path);
    const char *last = strrchr(path, '/');

    if (a)
        return a;
    if (last && strchr(last, '.'))
        return NULL; /* a file that is not there, not a view */
    return exact("/index.html");
}

static int queue(struct MHD_Connection *c, unsigned status, const void *data, size_t len,
                 const char *ctype, const char *etag)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    int ret;

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy", CSP);
    if (etag)
        MHD_add_response_header(r, "ETag", etag);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

int fl_console_reply(struct MHD_Connection *c, const char *path)
{
    static const char missing[] = "no such file in the console; its pages start at /\n";
    const struct fl_web_asset *a = fl_console_find(path);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");

    if (!a)
        return queue(c, 404, missing, sizeof missing - 1, "text/plain; charset=utf-8", NULL);
    if (inm && strstr(inm, a->etag))
        return queue(c, 304, "", 0, a->ctype, a->etag);
    return queue(c, 200, a->data, a->len, a->ctype, a->etag);
}

/* GET /api/v1/whoami: the caller's token name and role, so the console shows
 * no button the server would refuse; `auth` is false when the server runs
 * without tokens (everyone is admin on loopback). */
int fl_api_whoami(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    return fl_http_ok(rs, 200,
                      json_pack("{s:s,s:s,s:b,s:s}", "who", rq->who ? rq->who : "-", "role",
                                fl_role_name(rq->role), "auth", s->auth != NULL, "version",
                                FL_VERSION));
}
