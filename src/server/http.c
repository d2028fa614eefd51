/* The server's HTTP side: libmicrohttpd glue, the route table, request
 * bodies (JSON, at most FL_SERVER_MAX_BODY bytes), bearer-token roles,
 * the audit row of every request that changes something, and the one
 * JSON error body every failure uses (docs/api.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fl_config.h"
#include "server/console.h"
#include "server/server.h"
#include "store/server_store.h"
#include "util/listen.h"
#include "util/parse.h"
#include "util/time.h"

struct route { /* NOLINT(clang-analyzer-optin.performance.Padding): a small static table */
    const char *method, *pattern; /* {} matches one path segment */
    fl_handler fn;
    enum fl_role role; /* the least role that may call it */
    const char *summary;
    int status; /* on success */
};

static int fl_api_openapi(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs);

static const struct route routes[] = {
    {"GET", "/api/v1/experiments", fl_api_experiments_list, FL_ROLE_VIEWER,
     "List stored experiments", 200},
    {"POST", "/api/v1/experiments", fl_api_experiments_create, FL_ROLE_OPERATOR,
     "Store a new experiment (validated)", 201},
    {"POST", "/api/v1/experiments/validate", fl_api_experiments_validate, FL_ROLE_VIEWER,
     "Validate an experiment's YAML without storing it", 200},
    {"GET", "/api/v1/experiments/{}", fl_api_experiments_get, FL_ROLE_VIEWER,
     "One stored experiment with its YAML", 200},
    {"PUT", "/api/v1/experiments/{}", fl_api_experiments_put, FL_ROLE_OPERATOR,
     "Create or replace an experiment (validated)", 200},
    {"DELETE", "/api/v1/experiments/{}", fl_api_experiments_delete, FL_ROLE_OPERATOR,
     "Remove an experiment without schedules or running runs", 200},
    {"POST", "/api/v1/experiments/{}/runs", fl_api_runs_start, FL_ROLE_OPERATOR,
     "Start a run of the experiment now", 202},
    {"POST", "/api/v1/experiments/{}/dry-run", fl_api_experiments_dry_run, FL_ROLE_VIEWER,
     "The resolved plan of a run (stored or given text); touches nothing", 200},
    {"GET", "/api/v1/experiments/{}/trend", fl_api_experiments_trend, FL_ROLE_VIEWER,
     "Finished runs with availability and time to recover, oldest first", 200},
    {"POST", "/api/v1/runs", fl_api_runs_start, FL_ROLE_OPERATOR, "Start a run of {experiment} now",
     202},
    {"GET", "/api/v1/runs", fl_api_runs_list, FL_ROLE_VIEWER,
     "Runs, newest first, with filters and pagination", 200},
    {"GET", "/api/v1/runs/{}", fl_api_runs_get, FL_ROLE_VIEWER,
     "One run with its history-store record and output", 200},
    {"POST", "/api/v1/runs/{}/abort", fl_api_runs_abort, FL_ROLE_OPERATOR,
     "Abort a running run (it reverts and records aborted)", 202},
    {"GET", "/api/v1/runs/{}/events", fl_api_runs_stream, FL_ROLE_VIEWER,
     "The run's events live, as Server-Sent Events", 200},
    {"GET", "/api/v1/runs/{}/series", fl_api_runs_series, FL_ROLE_VIEWER,
     "The run's probe series downsampled to ?width= buckets (min/max/mean)", 200},
    {"GET", "/api/v1/runs/{}/check.html", fl_api_runs_check_html, FL_ROLE_VIEWER,
     "The HTML timeline of a workload run's consistency check (?check=N)", 200},
    {"GET", "/api/v1/whoami", fl_api_whoami, FL_ROLE_VIEWER, "The caller's token name and role",
     200},
    {"GET", "/api/v1/runs/{}/logs", fl_api_runs_logs, FL_ROLE_VIEWER,
     "The target logs captured with the run, and its events, by time (?source=NAME)", 200},
    {"GET", "/api/v1/schedules", fl_api_schedules_list, FL_ROLE_VIEWER, "List schedules", 200},
    {"POST", "/api/v1/schedules", fl_api_schedules_create, FL_ROLE_OPERATOR, "Create a schedule",
     201},
    {"GET", "/api/v1/schedules/{}", fl_api_schedules_get, FL_ROLE_VIEWER, "One schedule", 200},
    {"PATCH", "/api/v1/schedules/{}", fl_api_schedules_update, FL_ROLE_OPERATOR,
     "Change fields of a schedule", 200},
    {"DELETE", "/api/v1/schedules/{}", fl_api_schedules_delete, FL_ROLE_OPERATOR,
     "Remove a schedule", 200},
    {"POST", "/api/v1/schedules/{}/pause", fl_api_schedules_pause, FL_ROLE_OPERATOR,
     "Pause a schedule", 200},
    {"POST", "/api/v1/schedules/{}/resume", fl_api_schedules_resume, FL_ROLE_OPERATOR,
     "Resume a schedule (next slot from now)", 200},
    {"GET", "/api/v1/schedules/{}/next", fl_api_schedules_next, FL_ROLE_VIEWER,
     "The next fire times of a schedule", 200},
    {"GET", "/api/v1/cron/next", fl_api_cron_next, FL_ROLE_VIEWER,
     "The next fire times of a schedule expression (?cron=EXPR)", 200},
    {"GET", "/api/v1/audit", fl_api_audit_list, FL_ROLE_ADMIN,
     "The audit log of changes, newest first", 200},
    {"GET", "/api/v1/faults", fl_api_faults_list, FL_ROLE_VIEWER,
     "Faults applied now under the runs' state directory", 200},
    {"POST", "/api/v1/faults/{}/recover", fl_api_faults_recover, FL_ROLE_OPERATOR,
     "Revert an active fault now", 200},
    {"GET", "/api/v1/bulletins", fl_api_bulletins_list, FL_ROLE_VIEWER,
     "Known-limit bulletins, with search and status filters", 200},
    {"POST", "/api/v1/bulletins", fl_api_bulletins_create, FL_ROLE_OPERATOR, "Create a bulletin",
     201},
    {"GET", "/api/v1/bulletins/{}", fl_api_bulletins_get, FL_ROLE_VIEWER, "One bulletin", 200},
    {"PATCH", "/api/v1/bulletins/{}", fl_api_bulletins_update, FL_ROLE_OPERATOR,
     "Change fields of a bulletin", 200},
    {"DELETE", "/api/v1/bulletins/{}", fl_api_bulletins_delete, FL_ROLE_OPERATOR,
     "Remove a bulletin", 200},
    {"GET", "/api/v1/bulletins/{}/markdown", fl_api_bulletins_markdown, FL_ROLE_VIEWER,
     "A bulletin as Markdown", 200},
    {"POST", "/api/v1/runs/{}/bulletin", fl_api_bulletins_from_run, FL_ROLE_OPERATOR,
     "Create a bulletin about a finished run", 201},
    {"GET", "/api/v1/webhooks", fl_api_webhooks_list, FL_ROLE_VIEWER, "List webhooks", 200},
    {"POST", "/api/v1/webhooks", fl_api_webhooks_create, FL_ROLE_ADMIN, "Register a webhook", 201},
    {"DELETE", "/api/v1/webhooks/{}", fl_api_webhooks_delete, FL_ROLE_ADMIN, "Remove a webhook",
     200},
    {"GET", "/api/v1/webhooks/{}/deliveries", fl_api_webhooks_deliveries, FL_ROLE_VIEWER,
     "A webhook's deliveries and their status", 200},
    {"GET", "/metrics", fl_api_metrics, FL_ROLE_VIEWER, "Prometheus metrics (text format)", 200},
    {"GET", "/api/v1/openapi.json", fl_api_openapi, FL_ROLE_VIEWER,
     "This API as an OpenAPI 3.0 description", 200},
};

/* What one connection accumulates while its body arrives. */
int fl_http_error(struct fl_resp *rs, int status, const char *code, const char *fmt, ...)
{
    char msg[FL_ERR_MSG];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(rs->json);
    rs->status = status;
    rs->json =
        json_pack("{s:{s:i,s:s,s:s}}", "error", "status", status, "code", code, "message", msg);
    return 0;
}

int fl_http_ok(struct fl_resp *rs, int status, json_t *body)
{
    json_decref(rs->json);
    rs->status = status;
    rs->json = body;
    return 0;
}

const char *fl_http_query(struct fl_req *rq, const char *key)
{
    return rq->conn ? MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key) : NULL;
}

int fl_http_fields(struct fl_resp *rs, json_t *body, const char *const *allowed)
{
    const char *k;
    json_t *v;

    json_object_foreach (body, k, v) {
        size_t i;
        for (i = 0; allowed[i] && strcmp(allowed[i], k); i++)
            ;
        if (!allowed[i]) {
            fl_http_error(rs, 400, "unknown_field",
                          "unknown field '%s' in the request body; docs/api.md lists the "
                          "fields",
                          k);
            return -1;
        }
    }
    return 0;
}

/* Match path against pattern, capturing {} segments into rq->arg. */
static bool match(const char *pattern, const char *path, struct fl_req *rq)
{
    int n = 0;

    while (*pattern && *path) {
        if (!strncmp(pattern, "{}", 2)) {
            size_t len = strcspn(path, "/");
            if (!len || len >= sizeof rq->arg[0] || n >= 2)
                return false;
            memcpy(rq->arg[n], path, len);
            rq->arg[n++][len] = '\0';
            path += len;
            pattern += 2;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return !*pattern && !*path;
}

static void authenticate(struct fl_server *s, struct fl_req *rq)
{
    const char *h =
        rq->conn ? MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization") : NULL;

    if (!s->auth) {
        rq->who = "anonymous";
        rq->role = FL_ROLE_ADMIN;
        return;
    }
    rq->who = "-";
    rq->role = FL_ROLE_NONE;
    if (h && !strncasecmp(h, "Bearer ", 7))
        rq->role = fl_auth_check(s->auth, h + 7, &rq->who);
}

/* Route rq; fills rs; returns the route (NULL when none matched). Called
 * with s->lock held. */
static const struct route *dispatch(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs,
                                    struct fl_body *cx)
{
    const struct route *rt = NULL;
    bool path_known = false;
    json_error_t jerr;

    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !rt; i++) {
        memset(rq->arg, 0, sizeof rq->arg);
        if (match(routes[i].pattern, rq->path, rq)) {
            path_known = true;
            if (!strcmp(routes[i].method, rq->method))
                rt = &routes[i];
        }
    }
    if (!rt) {
        if (path_known)
            fl_http_error(rs, 405, "method_not_allowed", "%s is not allowed on %s", rq->method,
                          rq->path);
        else
            fl_http_error(rs, 404, "not_found", "no such endpoint %s; docs/api.md lists them",
                          rq->path);
        return NULL;
    }
    authenticate(s, rq);
    if (rq->role == FL_ROLE_NONE) {
        fl_http_error(rs, 401, "unauthenticated",
                      "a valid bearer token is required (Authorization: Bearer TOKEN)");
        return rt;
    }
    if (rq->role < rt->role) {
        fl_http_error(rs, 403, "forbidden", "%s %s needs the %s role; token '%s' is %s", rq->method,
                      rt->pattern, fl_role_name(rt->role), rq->who, fl_role_name(rq->role));
        return rt;
    }
    if (cx->too_large) {
        fl_http_error(rs, 413, "body_too_large", "the request body exceeds the limit of %d bytes",
                      FL_SERVER_MAX_BODY);
        return rt;
    }
    if (cx->len) {
        rq->body = json_loadb(cx->buf, cx->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!rq->body || !json_is_object(rq->body)) {
            fl_http_error(rs, 400, "invalid_json",
                          "the request body must be a JSON object: %s (line %d, column %d)",
                          rq->body ? "not an object" : jerr.text, jerr.line, jerr.column);
            return rt;
        }
    } else if (strcmp(rq->method, "GET") && strcmp(rq->method, "DELETE")) {
        rq->body = json_object();
    }
    rt->fn(s, rq, rs);
    return rt;
}

/* The POSTs that change nothing (previews, api_preview.c): no audit row. */
static bool reads_only(const struct route *rt)
{
    return rt && (rt->fn == fl_api_experiments_validate || rt->fn == fl_api_experiments_dry_run);
}

static void audit(struct fl_server *s, const struct route *rt, struct fl_req *rq, int status)
{
    struct fl_err e = {0};

    if (!strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD") || reads_only(rt))
        return;
    fl_sstore_exec(s->ss, NULL, &e,
                   "INSERT INTO srv_audit (t_ms, who, role, method, path, status) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   "Issssi", fl_wall_ms(), rq->who ? rq->who : "-",
                   rq->role ? fl_role_name(rq->role) : NULL, rq->method, rq->path, status);
}

/* The body of rs as text (malloc'd); frees rs->json. */
static char *body_text(struct fl_resp *rs)
{
    char *out = rs->text;

    if (!out) {
        out = rs->json ? json_dumps(rs->json, JSON_COMPACT) : strdup("{}");
        rs->ctype = "application/json";
    }
    json_decref(rs->json);
    rs->json = NULL;
    return out;
}

static void handle(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs, struct fl_body *cx)
{
    const struct route *rt;

    pthread_mutex_lock(&s->lock);
    s->m.requests++;
    rt = dispatch(s, rq, rs, cx);
    audit(s, rt, rq, rs->status);
    pthread_mutex_unlock(&s->lock);
    json_decref(rq->body);
}

void fl_http_handle(struct fl_server *s, const char *method, const char *path, const char *body,
                    size_t len, char **out, int *status)
{
    struct fl_body cx = {.buf = (char *)body, .len = len, .too_large = len > FL_SERVER_MAX_BODY};
    struct fl_req rq = {.method = method, .path = path};
    struct fl_resp rs = {.status = 200};

    if (cx.too_large)
        cx.len = 0;
    handle(s, &rq, &rs, &cx);
    if (rs.reader) {
        rs.reader_free(rs.reader_ctx);
        rs.reader = NULL;
    }
    *status = rs.status;
    *out = body_text(&rs);
}

static enum MHD_Result reply(struct MHD_Connection *c, struct fl_resp *rs)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *out;

    if (rs->reader) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
                                                 (MHD_ContentReaderCallback)rs->reader,
                                                 rs->reader_ctx, rs->reader_free);
        if (!resp) {
            rs->reader_free(rs->reader_ctx);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", rs->ctype);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        ret = MHD_queue_response(c, (unsigned)rs->status, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    if (!(out = body_text(rs)))
        return MHD_NO;
    resp = MHD_create_response_from_buffer(strlen(out), out, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(out);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", rs->ctype);
    ret = MHD_queue_response(c, (unsigned)rs->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct fl_server *s = cls;
    struct fl_body *cx = *con_cls;
    struct fl_req rq = {.method = method, .path = url, .conn = conn};
    struct fl_resp rs = {.status = 200};

    if (!cx) {
        if (!(cx = calloc(1, sizeof *cx)))
            return MHD_NO;
        *con_cls = cx;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (fl_body_append(cx, upload_data, *upload_data_size, FL_SERVER_MAX_BODY))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (fl_console_owns(method, url))
        return (enum MHD_Result)fl_console_reply(conn, url);
    handle(s, &rq, &rs, cx);
    return reply(conn, &rs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct fl_body *cx = *con_cls;

    if (cx) {
        free(cx->buf);
        free(cx);
        *con_cls = NULL;
    }
}

static int load_tls(struct fl_server *s, const struct fl_server_opts *o, struct fl_err *e)
{
    if (!o->tls_cert && !o->tls_key)
        return 0;
    if (!o->tls_cert || !o->tls_key)
        return fl_err_set(e, FL_EUSAGE, "--tls-cert and --tls-key go together");
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        return fl_err_set(e, FL_EUNSUPPORTED,
                          "this libmicrohttpd was built without TLS (GnuTLS); serve plain HTTP "
                          "behind a TLS proxy instead");
    if (!(s->tls_cert = fl_pem_read(o->tls_cert, "--tls-cert", e)) ||
        !(s->tls_key = fl_pem_read(o->tls_key, "--tls-key", e)))
        return -FL_EUSAGE;
    return 0;
}

int fl_http_start(struct fl_server *s, const struct fl_server_opts *o, struct fl_err *e)
{
    const char *listen = o->listen ? o->listen : FL_SERVER_DEFAULT_LISTEN;
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    bool loopback = false;
    char host[INET6_ADDRSTRLEN];
    int r;

    if ((r = fl_listen_parse(listen, FL_SERVER_DEFAULT_LISTEN, &ss, &loopback, e)) ||
        (r = load_tls(s, o, e)))
        return r;
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
                                   {MHD_OPTION_END, 0, NULL}},
                          none[] = {{MHD_OPTION_END, 0, NULL}};
    if (!loopback && !s->auth)
        return fl_err_set(e, FL_EREFUSED,
                          "refusing to listen on %s without --tokens: anyone who can reach "
                          "it could inject faults; give --tokens FILE or listen on "
                          "127.0.0.1",
                          listen);
    /* a thread per connection: a live stream (runs/ID/events) blocks only its own */
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
            (s->tls_cert ? MHD_USE_TLS : 0) | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_LIMIT,
        FL_SERVER_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, 30, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_ARRAY, s->tls_cert ? tls : none, MHD_OPTION_END);
    if (!s->mhd)
        return fl_err_set(e, FL_EFAIL,
                          "cannot listen on %s (address in use, not on this host, or a TLS "
                          "certificate and key that do not load or match?); choose another "
                          "with --listen",
                          listen);
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        snprintf(s->base_url, sizeof s->base_url, "%s://[%s]:%d", s->tls_cert ? "https" : "http",
                 host, s->port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        snprintf(s->base_url, sizeof s->base_url, "%s://%s:%d", s->tls_cert ? "https" : "http",
                 host, s->port);
    }
    return 0;
}

/* The OpenAPI description, made from the route table so it cannot drift:
 * each {} segment becomes {name} or {id}, each operation has its summary,
 * the least role (x-faultline-role), its success status and the shared
 * error body. */
static int fl_api_openapi(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    json_t *paths = json_object();
    json_t *error =
        json_loads("{\"description\": \"the error body (docs/api.md)\", \"content\": "
                   "{\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\": "
                   "{\"error\": {\"type\": \"object\", \"properties\": {\"status\": {\"type\": "
                   "\"integer\"}, \"code\": {\"type\": \"string\"}, \"message\": {\"type\": "
                   "\"string\"}}}}}}}}",
                   0, NULL);

    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *rt = &routes[i];
        char path[128], method[16], code[8];
        const char *p = rt->pattern;
        json_t *params = json_array(), *op, *item;
        size_t n = 0;

        for (; *p && n + 8 < sizeof path; p++) {
            if (!strncmp(p, "{}", 2)) {
                const char *nm =
                    strstr(rt->pattern, "experiments/{}") || strstr(rt->pattern, "schedules/{}")
                        ? "name"
                        : "id";
                n += (size_t)snprintf(path + n, sizeof path - n, "{%s}", nm);
                json_array_append_new(params,
                                      json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", nm, "in", "path",
                                                "required", 1, "schema", "type", "string"));
                p++;
            } else {
                path[n++] = *p;
            }
        }
        path[n] = '\0';
        for (n = 0; rt->method[n] && n + 1 < sizeof method; n++)
            method[n] = (char)(rt->method[n] - 'A' + 'a');
        method[n] = '\0';
        snprintf(code, sizeof code, "%d", rt->status);
        op = json_pack("{s:s,s:s,s:o,s:{s:{s:s},s:O}}", "summary", rt->summary, "x-faultline-role",
                       fl_role_name(rt->role), "parameters", params, "responses", code,
                       "description", "success", "default", error);
        if (!(item = json_object_get(paths, path)))
            json_object_set_new(paths, path, item = json_object());
        json_object_set_new(item, method, op);
    }
    json_decref(error);
    return fl_http_ok(rs, 200,
                      json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:{s:{s:s,s:s}}},s:[{s:[]}]}",
                                "openapi", "3.0.3", "info", "title", "faultline server API",
                                "version", FL_VERSION, "description", "See docs/api.md.", "paths",
                                paths, "components", "securitySchemes", "bearer", "type", "http",
                                "scheme", "bearer", "security", "bearer"));
}
