/* Transparent interception for the proxy (intercept.h): the transparent
 * proxy plus the nft redirect that feeds it. */
#include "proxy/intercept.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/nft.h"
#include "net/redirect.h"
#include "util/log.h"

/* One API call on the server, on the caller's thread; 0 or an error. */
static int call(struct fl_px_server *s, const char *method, const char *path, json_t *body,
                json_t **out, int *status, struct fl_err *e)
{
    char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL, *res = NULL;
    const char *ctype = NULL;
    int st = fl_px_api_handle(s, method, path, txt, txt ? strlen(txt) : 0, &res, &ctype);
    json_t *j = res ? json_loads(res, 0, NULL) : NULL;

    free(txt);
    free(res);
    if (status)
        *status = st;
    if (st >= 300) {
        fl_err_set(e, st == 400 ? FL_EUSAGE : FL_EFAIL, "proxy %s %s: %s", method, path,
                   json_string_value(json_object_get(j, "error"))
                       ? json_string_value(json_object_get(j, "error"))
                       : "failed");
        json_decref(j);
        return -e->code;
    }
    if (out)
        *out = j;
    else
        json_decref(j);
    return 0;
}

static int port_of(const json_t *proxy)
{
    const char *listen = json_string_value(json_object_get(proxy, "listen"));
    const char *colon = listen ? strrchr(listen, ':') : NULL;

    return colon ? atoi(colon + 1) : 0;
}

int fl_px_intercept_proxy(struct fl_px_server *s, const char *name, bool v6, struct fl_err *e)
{
    char path[300];
    json_t *p = NULL, *body;
    int st = 0, port;

    snprintf(path, sizeof path, "/proxies/%s", name);
    if (call(s, "GET", path, NULL, &p, &st, e) == 0) {
        const char *up = json_string_value(json_object_get(p, "upstream"));
        if (!up || strcmp(up, FL_PX_UPSTREAM_TRANSPARENT) ||
            !json_is_true(json_object_get(p, "enabled"))) {
            json_decref(p);
            return fl_err_set(e, FL_EUSAGE,
                              "proxy '%s' already exists and is not an enabled transparent "
                              "proxy: pick another name, or delete it",
                              name);
        }
    } else if (st != 404) {
        return -e->code;
    } else {
        body = json_pack("{s:s, s:s, s:s}", "name", name, "listen", v6 ? "[::]:0" : "0.0.0.0:0",
                         "upstream", FL_PX_UPSTREAM_TRANSPARENT);
        st = call(s, "POST", "/proxies", body, &p, NULL, e);
        json_decref(body);
        if (st)
            return st;
    }
    port = port_of(p);
    json_decref(p);
    if (port <= 0)
        return fl_err_set(e, FL_EFAIL, "proxy '%s' reported no listen port", name);
    return port;
}

int fl_px_intercept_redirect(struct fl_px_intercept *ic, const char *table,
                             const struct fl_net_peer *targets, size_t n, int port, bool prerouting,
                             struct fl_err *e)
{
    struct fl_redirect_spec spec = {
        .table = table,
        .targets = targets,
        .ntargets = n,
        .listen_port = port,
        .mark = FL_PX_MARK,
        .owner = true,
        .prerouting = prerouting,
    };
    char *script = NULL;
    int r;

    memset(ic, 0, sizeof *ic);
    snprintf(ic->table, sizeof ic->table, "%s", table);
    if ((r = fl_redirect_render(&spec, &script, e)))
        return r;
    /* Our own context, kept open until stop: it owns the table. */
    if (!(ic->nft = fl_nft_new(e))) {
        free(script);
        return -e->code;
    }
    r = fl_nft_run(ic->nft, script, e);
    free(script);
    if (r)
        return fl_err_prefix(e, "cannot add the redirect (table inet %s)", table);
    ic->added = true;
    return 0;
}

void fl_px_intercept_stop(struct fl_px_intercept *ic)
{
    if (ic->added) {
        struct fl_err e = {0};
        if (fl_nft_delete_table(ic->nft, "inet", ic->table, &e) < 0)
            fl_warn("redirect %s: %s (the kernel drops it when this process exits)", ic->table,
                    e.msg);
        ic->added = false;
    }
    fl_nft_free(ic->nft);
    ic->nft = NULL;
}
