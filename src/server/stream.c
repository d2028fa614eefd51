/* GET /api/v1/runs/ID/events: a run's live progress as Server-Sent Events,
 * from the same events the CLI prints (the history store's events table,
 * written by the run process). Each event is
 *   id: SEQ / event: event / data: {"seq","t_ms","phase","message"}
 * and when the run is done one `event: end` carries the run as
 * GET /api/v1/runs/ID shows it (without `run` and `log`); then the stream
 * closes. A comment line every 10 s keeps idle connections open; a client
 * that reconnects with Last-Event-ID gets the events after that one. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "store/server_store.h"
#include "util/parse.h"
#include "util/time.h"

#define POLL_MS 200
#define HEARTBEAT_MS 10000

struct stream {
    struct fl_server *s;
    int64_t run, last_seq;
    char *pending; /* formatted, not yet sent */
    size_t len, off;
    bool ended;
};

static void stream_free(void *p)
{
    struct stream *st = p;

    free(st->pending);
    free(st);
}

static void append(struct stream *st, const char *fmt_event, json_t *data, int64_t id)
{
    char *js = json_dumps(data, JSON_COMPACT), *add = NULL;
    int n;

    if (!js)
        return;
    n = id > 0 ? asprintf(&add, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)id, fmt_event, js)
               : asprintf(&add, "event: %s\ndata: %s\n\n", fmt_event, js);
    free(js);
    if (n < 0)
        return;
    char *np = realloc(st->pending, st->len + (size_t)n + 1);
    if (np) {
        memcpy(np + st->len, add, (size_t)n + 1);
        st->pending = np;
        st->len += (size_t)n;
    }
    free(add);
}

/* New events and, once the run is done, the end event (lock held). */
static void collect(struct stream *st)
{
    struct fl_err e = {0};
    json_t *run = fl_runner_get(st->s, st->run, false, false), *evs, *ev;
    int64_t hr = json_integer_value(json_object_get(run, "history_run"));
    bool done = !run || !strcmp(json_string_value(json_object_get(run, "state")), "done");
    size_t i;

    if (hr) {
        evs = fl_sstore_rows(st->s->ss, &e,
                             "SELECT seq, t_ms, phase, message FROM events WHERE run_id = ? AND "
                             "seq > ? ORDER BY seq LIMIT 500",
                             "II", hr, st->last_seq);
        json_array_foreach (evs, i, ev) {
            st->last_seq = json_integer_value(json_object_get(ev, "seq"));
            append(st, "event", ev, st->last_seq);
        }
        if (json_array_size(evs) == 500)
            done = false; /* more to send first */
        json_decref(evs);
    }
    if (done && run) {
        append(st, "end", run, 0);
        st->ended = true;
    } else if (!run) {
        st->ended = true;
    }
    json_decref(run);
}

static ssize_t reader(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = ctx;
    int64_t waited = 0;

    while (st->off == st->len) {
        free(st->pending);
        st->pending = NULL;
        st->len = st->off = 0;
        if (st->ended || st->s->stop)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&st->s->lock);
        collect(st);
        pthread_mutex_unlock(&st->s->lock);
        if (st->len)
            break;
        if (waited >= HEARTBEAT_MS) {
            static const char beat[] = ": waiting for the run\n\n";
            size_t n = sizeof beat - 1 < max ? sizeof beat - 1 : max;
            memcpy(buf, beat, n);
            return (ssize_t)n;
        }
        fl_sleep_ms(POLL_MS);
        waited += POLL_MS;
    }
    size_t n = st->len - st->off < max ? st->len - st->off : max;
    memcpy(buf, st->pending + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

int fl_api_runs_stream(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    const char *last =
        rq->conn ? MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Last-Event-ID") : NULL;
    struct fl_err e = {0};
    struct stream *st;
    long long id, from = 0;
    json_t *run;

    if (fl_parse_int(rq->arg[0], 1, 1LL << 53, &id, &e))
        return fl_http_error(rs, 400, "invalid_id", "run id '%s': %s", rq->arg[0], e.msg);
    if (last && fl_parse_int(last, 0, 1LL << 53, &from, &e))
        return fl_http_error(rs, 400, "invalid_header", "Last-Event-ID '%.30s': %s", last, e.msg);
    if (!(run = fl_runner_get(s, id, false, false)))
        return fl_http_error(rs, 404, "not_found", "no run %lld", id);
    json_decref(run);
    if (!(st = calloc(1, sizeof *st)))
        return fl_http_error(rs, 500, "memory", "out of memory");
    st->s = s;
    st->run = id;
    st->last_seq = from;
    rs->status = 200;
    rs->ctype = "text/event-stream";
    rs->reader = reader;
    rs->reader_free = stream_free;
    rs->reader_ctx = st;
    return 0;
}
