/* Webhooks: when a run ends (any verdict, skipped ones too) the server
 * queues one delivery per webhook: a JSON POST with the experiment, run,
 * verdict, reason, a link, and a Slack-compatible `text`. A thread sends
 * them (libcurl, 5s timeout) outside the server lock and retries failures
 * with exponential backoff (1s, 2s, 4s, 8s) up to 5 attempts; every
 * delivery's status, attempts, HTTP status and last error are stored
 * (srv_deliveries) and listed by the API. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "store/server_store.h"
#include "util/time.h"

#define MAX_ATTEMPTS 5
#define TIMEOUT_MS 5000

void fl_webhooks_event(struct fl_server *s, int64_t run_id, const char *event)
{
    struct fl_err e = {0};
    json_t *hooks = fl_sstore_rows(s->ss, &e,
                                   "SELECT id FROM srv_webhooks WHERE ',' || events || ',' LIKE "
                                   "'%,' || ? || ',%'",
                                   "s", event),
           *h;
    json_t *run = fl_runner_get(s, run_id, false, false), *doc;
    const char *what = !strcmp(event, "run.start")   ? "started"
                       : !strcmp(event, "run.abort") ? "is being aborted"
                                                     : NULL;
    const char *reason = json_string_value(json_object_get(run, "reason"));
    char link[256], text[2048];
    char *payload;
    size_t i;

    if (!json_array_size(hooks) || !run) {
        json_decref(hooks);
        json_decref(run);
        return;
    }
    snprintf(link, sizeof link, "%s/api/v1/runs/%lld", s->base_url, (long long)run_id);
    snprintf(text, sizeof text, "faultline: %s run %lld %s%s%s",
             json_string_value(json_object_get(run, "experiment")), (long long)run_id,
             what ? what : json_string_value(json_object_get(run, "verdict")),
             !what && reason ? ": " : "", !what && reason ? reason : "");
    doc = json_pack("{s:s,s:O,s:I,s:O,s:O,s:O,s:O,s:O,s:s,s:s}", "event", event, "experiment",
                    json_object_get(run, "experiment"), "run", (json_int_t)run_id, "history_run",
                    json_object_get(run, "history_run"), "schedule",
                    json_object_get(run, "schedule"), "verdict", json_object_get(run, "verdict"),
                    "reason", json_object_get(run, "reason"), "exit_code",
                    json_object_get(run, "exit_code"), "link", link, "text", text);
    payload = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_array_foreach (hooks, i, h)
        fl_sstore_exec(s->ss, NULL, &e,
                       "INSERT INTO srv_deliveries (webhook_id, run, event, status, next_ms, "
                       "payload, t_ms) VALUES (?, ?, ?, 'pending', ?, ?, ?)",
                       "IIsIsI", json_integer_value(json_object_get(h, "id")), run_id, event,
                       fl_wall_ms(), payload ? payload : "{}", fl_wall_ms());
    free(payload);
    json_decref(doc);
    json_decref(run);
    json_decref(hooks);
}

void fl_webhooks_run_ended(struct fl_server *s, int64_t run_id)
{
    fl_webhooks_event(s, run_id, "run.end");
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

/* POST payload to url; the HTTP status, or -1 with err filled. */
static long post(const char *url, const char *payload, char *err, size_t len)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *c = curl_easy_init();
    long status = -1;
    CURLcode cc;

    if (!c) {
        curl_slist_free_all(h);
        snprintf(err, len, "cannot create an HTTP client");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, len, "%s", curl_easy_strerror(cc));
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

/* Send the due deliveries once. */
static void deliver_due(struct fl_server *s)
{
    struct fl_err e = {0};
    json_t *due, *d;
    size_t i;

    pthread_mutex_lock(&s->lock);
    due = fl_sstore_rows(s->ss, &e,
                         "SELECT d.id, d.attempts, d.payload, w.url FROM srv_deliveries d JOIN "
                         "srv_webhooks w ON w.id = d.webhook_id WHERE d.status = 'pending' AND "
                         "d.next_ms <= ? ORDER BY d.next_ms LIMIT 20",
                         "I", fl_wall_ms());
    pthread_mutex_unlock(&s->lock);
    json_array_foreach (due, i, d) {
        char err[256] = "";
        long st = post(json_string_value(json_object_get(d, "url")),
                       json_string_value(json_object_get(d, "payload")), err, sizeof err);
        int64_t attempts = json_integer_value(json_object_get(d, "attempts")) + 1;
        bool ok = st >= 200 && st < 300;
        const char *status = ok ? "delivered" : attempts >= MAX_ATTEMPTS ? "failed" : "pending";

        if (!ok && !err[0])
            snprintf(err, sizeof err, "HTTP status %ld", st);
        pthread_mutex_lock(&s->lock);
        if (ok)
            s->m.webhook_deliveries++;
        else
            s->m.webhook_failures++;
        fl_sstore_exec(
            s->ss, NULL, &e,
            "UPDATE srv_deliveries SET status = ?, attempts = ?, http_status = NULLIF(?, -1), "
            "last_error = ?, next_ms = ? WHERE id = ?",
            "sIIsII", status, attempts, (int64_t)st, ok ? NULL : err,
            fl_wall_ms() + (1000LL << (attempts - 1)),
            json_integer_value(json_object_get(d, "id")));
        pthread_mutex_unlock(&s->lock);
    }
    json_decref(due);
}

static void *loop(void *arg)
{
    struct fl_server *s = arg;

    while (!s->stop) {
        deliver_due(s);
        fl_sleep_ms(200);
    }
    return NULL;
}

int fl_webhooks_start(struct fl_server *s, pthread_t *th)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return pthread_create(th, NULL, loop, s) ? -FL_EFAIL : 0;
}

int fl_api_webhooks_create(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    static const char *const fields[] = {"url", "events", NULL};
    const char *url = json_string_value(json_object_get(rq->body, "url"));
    json_t *events = json_object_get(rq->body, "events"), *ev;
    char list[64] = "";
    struct fl_err e = {0};
    int64_t id = 0;
    size_t i;

    if (fl_http_fields(rs, rq->body, fields))
        return 0;
    if (events && (!json_is_array(events) || !json_array_size(events)))
        return fl_http_error(rs, 400, "invalid_field",
                             "'events' is a non-empty array of run.start, run.end, run.abort");
    json_array_foreach (events, i, ev) {
        const char *v = json_string_value(ev);
        if (!v || (strcmp(v, "run.start") && strcmp(v, "run.end") && strcmp(v, "run.abort")))
            return fl_http_error(rs, 400, "invalid_field",
                                 "events[%zu]: use run.start, run.end or run.abort", i);
        if (!strstr(list, v))
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? "," : "", v);
    }
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || strlen(url) > 2000)
        return fl_http_error(rs, 400, "invalid_field",
                             "'url' must be an http:// or https:// URL (at most 2000 bytes)");
    if (fl_sstore_exec(s->ss, &id, &e,
                       "INSERT INTO srv_webhooks (url, events, created_ms) VALUES (?, ?, ?)", "ssI",
                       url, *list ? list : "run.end", fl_wall_ms()) < 0)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    return fl_http_ok(rs, 201,
                      fl_sstore_row(s->ss, &e,
                                    "SELECT id, url, events, created_ms FROM srv_webhooks "
                                    "WHERE id = ?",
                                    "I", id));
}

int fl_api_webhooks_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    json_t *all = fl_sstore_rows(s->ss, &e,
                                 "SELECT w.id, w.url, w.events, w.created_ms, (SELECT COUNT(*) "
                                 "FROM srv_deliveries d WHERE d.webhook_id = w.id AND d.status = "
                                 "'failed') AS failed FROM srv_webhooks w ORDER BY w.id",
                                 NULL);

    if (!all)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    return fl_http_ok(rs, 200, json_pack("{s:o}", "webhooks", all));
}

static int hook_id(struct fl_req *rq, struct fl_resp *rs, int64_t *id)
{
    char *end;
    long long v = strtoll(rq->arg[0], &end, 10);

    if (*end || v < 1) {
        fl_http_error(rs, 400, "invalid_id", "webhook id '%s' is not a positive number",
                      rq->arg[0]);
        return -1;
    }
    *id = v;
    return 0;
}

int fl_api_webhooks_delete(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    int64_t id;
    int n;

    if (hook_id(rq, rs, &id))
        return 0;
    n = fl_sstore_exec(s->ss, NULL, &e, "DELETE FROM srv_webhooks WHERE id = ?", "I", id);
    if (n < 0)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    if (!n)
        return fl_http_error(rs, 404, "not_found", "no webhook %lld", (long long)id);
    fl_sstore_exec(s->ss, NULL, &e,
                   "UPDATE srv_deliveries SET status = 'failed', last_error = 'webhook removed' "
                   "WHERE webhook_id = ? AND status = 'pending'",
                   "I", id);
    return fl_http_ok(rs, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
}

int fl_api_webhooks_deliveries(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_err e = {0};
    json_t *all;
    int64_t id;

    if (hook_id(rq, rs, &id))
        return 0;
    all = fl_sstore_rows(s->ss, &e,
                         "SELECT id, run, event, status, attempts, http_status, last_error, "
                         "payload, t_ms FROM srv_deliveries WHERE webhook_id = ? ORDER BY id DESC "
                         "LIMIT 1000",
                         "I", id);
    if (!all)
        return fl_http_error(rs, 500, "store", "%s", e.msg);
    return fl_http_ok(rs, 200,
                      json_pack("{s:I,s:o}", "webhook", (json_int_t)id, "deliveries", all));
}
