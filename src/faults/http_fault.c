/* http.fault: HTTP/1.1-aware faults on TCP connections to a target, through
 * faultline's userspace proxy in transparent mode (the machinery of
 * network.delay, proxy_common.h) with one `http` toxic: answer matching
 * requests with a status, delay them, or rewrite their responses' headers
 * and body. --percent is drawn per request. Connections that do not speak
 * HTTP/1.1 pass unchanged. See docs/faults-network.md. */
#include <stdio.h>
#include <string.h>

#include "faults/proxy_common.h"
#include "proxy/http.h"

static const struct fl_opt opts[] = {
    /* proxy_common.h's options without --direction (a rule reads requests and
     * rewrites responses), and --percent per request */
    FL_NETNS_OPTS,
    {"target", FL_OPT_STRING, FL_OPT_MULTI, "ADDR[/PREFIX][:PORT]",
     "intercept new TCP connections to this address (or network), and port if given, made in "
     "or through the scope; repeat for more (required, or --endpoint)",
     NULL, 0, 0},
    {"endpoint", FL_OPT_STRING, FL_OPT_MULTI, "ADDR[/PREFIX][:PORT]",
     "the same as --target, under the name experiment files use", NULL, 0, 0},
    {"percent", FL_OPT_PERCENT, 0, "PERCENT",
     "share of matching requests affected, drawn per request (default 100)", NULL, 0, 0},
    {"hard-stop", FL_OPT_DURATION, 0, "DURATION",
     "the proxy stops (and its redirect goes) by "
     "itself after this long even if nothing reverts the fault (default: --duration or a "
     "detached --lease, + 30s; else 1h)",
     NULL, 1, 0},
    {"method", FL_OPT_STRING, 0, "METHOD", "match only this request method (GET, POST, ...)", NULL,
     0, 0},
    {"path", FL_OPT_STRING, 0, "GLOB",
     "match request paths (without the query) against this "
     "glob: '/api/*'",
     NULL, 0, 0},
    {"path-regex", FL_OPT_STRING, 0, "REGEX",
     "match request paths against this POSIX "
     "extended regular expression",
     NULL, 0, 0},
    {"header", FL_OPT_STRING, 0, "NAME[: GLOB]",
     "match requests that carry this header (with "
     "a value matching GLOB)",
     NULL, 0, 0},
    {"status", FL_OPT_INT, 0, "CODE",
     "answer matching requests with this HTTP status (100-599) "
     "instead of forwarding them; the server never sees them",
     NULL, 100, 599},
    {"body", FL_OPT_STRING, 0, "TEXT",
     "with --status: the answer's body; without: replace the "
     "body of the responses to matching requests",
     NULL, 0, 0},
    {"delay", FL_OPT_DURATION, 0, "DURATION",
     "hold matching requests (or the --status answer) "
     "this long",
     NULL, 0, 0},
    {"find", FL_OPT_STRING, 0, "TEXT",
     "with --replace: patch the bodies of the responses to "
     "matching requests, every TEXT becomes --replace's (responses up to 1 MiB)",
     NULL, 0, 0},
    {"replace", FL_OPT_STRING, 0, "TEXT", "what --find's TEXT becomes (may be empty)", NULL, 0, 0},
    {"set-header", FL_OPT_STRING, FL_OPT_MULTI, "NAME: VALUE",
     "add or replace this header in "
     "the responses to matching requests (and in --status answers); repeatable",
     NULL, 0, 0},
    FL_OPT_END,
};

static int set_headers(const json_t *v, json_t *out, struct fl_err *e)
{
    size_t i;
    json_t *x;

    json_array_foreach (v, i, x) {
        const char *s = json_string_value(x), *colon = s ? strchr(s, ':') : NULL;
        if (!colon || colon == s)
            return fl_err_set(e, FL_EUSAGE, "--set-header '%s' must be 'Name: value'", s ? s : "?");
        const char *val = colon + 1;
        while (*val == ' ')
            val++;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(colon - s), s);
        json_object_set_new(out, name, json_string(val));
    }
    return 0;
}

static int attributes(const json_t *params, json_t **attrs, struct fl_err *e)
{
    static const char *const map[][2] = {
        {"method", "method"}, {"path", "path"},     {"path-regex", "path_regex"},
        {"header", "header"}, {"status", "status"}, {"body", "body"},
        {"delay", "delay"}};
    json_t *a = json_object(), *sh = json_object_get(params, "set-header");
    struct fl_http_rule *r = NULL;
    char msg[512];

    if (json_object_get(params, "direction"))
        return json_decref(a), fl_err_set(e, FL_EUSAGE,
                                          "--direction does not apply: http.fault reads the "
                                          "requests and rewrites their responses");
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        json_t *v = json_object_get(params, map[i][0]);
        if (v)
            json_object_set(a, map[i][1], v);
    }
    if (sh) {
        json_t *o = json_object();
        json_object_set_new(a, "set_headers", o);
        if (set_headers(sh, o, e))
            return json_decref(a), FL_EUSAGE;
    }
    if (!json_object_get(params, "find") != !json_object_get(params, "replace"))
        return json_decref(a), fl_err_set(e, FL_EUSAGE,
                                          "--find TEXT and --replace TEXT go together (patch "
                                          "the response body)");
    if (json_object_get(params, "find"))
        json_object_set_new(a, "patch",
                            json_pack("{s:O, s:O}", "find", json_object_get(params, "find"),
                                      "replace", json_object_get(params, "replace")));
    if (!json_object_get(a, "status") && !json_object_get(a, "delay") &&
        !json_object_get(a, "body") && !json_object_get(a, "patch") && !sh)
        return json_decref(a), fl_err_set(e, FL_EUSAGE,
                                          "say what to do to matching requests: --status CODE, "
                                          "--delay DURATION, --body TEXT, --find TEXT "
                                          "--replace TEXT or --set-header 'Name: value'");
    if (fl_http_rule_parse(a, &r, msg, sizeof msg)) {
        json_decref(a);
        const char *why = msg;
        if (!strncmp(why, "bad request body: ", 18))
            why += 18; /* the API's wording; here it is the command line */
        return fl_err_set(e, FL_EUSAGE, "%s", why);
    }
    fl_http_rule_free(r);
    *attrs = a;
    return 0;
}

static void effect(const json_t *params, char *buf, size_t len)
{
    long long st = fl_param_int(params, "status", 0), d = fl_param_int(params, "delay", 0);
    const char *path = fl_param_str(params, "path", fl_param_str(params, "path-regex", "*"));
    char ds[32];

    fl_pxfault_format_ms(d, ds, sizeof ds);
    if (st)
        snprintf(buf, len, "HTTP %lld%s%s for %s", st, d ? " after " : "", d ? ds : "", path);
    else if (d)
        snprintf(buf, len, "HTTP delay %s for %s", ds, path);
    else
        snprintf(buf, len, "HTTP response rewrite for %s", path);
}

/* The shared description, naming what http.fault acts on (requests; a
 * --percent share "of them" is of the requests) instead of a direction's data. */
static void describe(const struct fl_fault *f, char *buf, size_t len)
{
    static const char from[] = " on the server-to-client data of new TCP connections";
    char tmp[1024], *at;

    fl_pxfault_describe(f, tmp, sizeof tmp);
    if (!(at = strstr(tmp, from))) {
        snprintf(buf, len, "%s", tmp);
        return;
    }
    *at = 0;
    snprintf(buf, len, "%s on the HTTP requests of new TCP connections%s", tmp, at + strlen(from));
}

static const struct fl_pxfault_kind k = {"http.fault", "http", attributes, effect};

const struct fl_fault_ops fl_fault_http_fault = {
    .kind = "http.fault",
    .summary = "HTTP/1.1 faults on new TCP connections to a target: answer with a status, "
               "delay, rewrite headers or body (userspace proxy)",
    .opts = opts,
    .validate = fl_pxfault_validate,
    .plan = fl_pxfault_plan,
    .inject = fl_pxfault_inject,
    .revert = fl_pxfault_revert,
    .describe = describe,
    .claims = fl_pxfault_claims,
    .impl = &k,
};
