/* GET /metrics: the server in the Prometheus text format (version 0.0.4),
 * checked by `promtool check metrics` in the e2e tests. Counts come from
 * the server's tables and counters; active faults from the journal files
 * of the runs' state directory. Metric names are listed in docs/server.md. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/journal.h"
#include "server/server.h"
#include "store/server_store.h"

static const double buckets[] = {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};

/* A label value with \, " and newline escaped. */
static void label(FILE *f, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void runs(struct fl_server *s, FILE *f)
{
    struct fl_err e = {0};
    json_t *rows = fl_sstore_rows(s->ss, &e,
                                  "SELECT experiment, verdict, COUNT(*) AS n FROM srv_runs GROUP "
                                  "BY experiment, verdict ORDER BY experiment, verdict",
                                  NULL),
           *r;
    size_t i;

    head(f, "faultline_runs", "gauge",
         "Runs the server keeps (each schedule keeps its newest N), by experiment and verdict.");
    json_array_foreach (rows, i, r) {
        fputs("faultline_runs{experiment=\"", f);
        label(f, json_string_value(json_object_get(r, "experiment")));
        fputs("\",verdict=\"", f);
        label(f, json_string_value(json_object_get(r, "verdict")));
        fprintf(f, "\"} %lld\n", (long long)json_integer_value(json_object_get(r, "n")));
    }
    json_decref(rows);
}

static void durations(struct fl_server *s, FILE *f)
{
    struct fl_err e = {0};
    json_t *rows = fl_sstore_rows(s->ss, &e,
                                  "SELECT (ended_ms - created_ms) / 1000.0 AS d FROM srv_runs "
                                  "WHERE state = 'done' AND verdict != 'skipped' AND ended_ms "
                                  "IS NOT NULL",
                                  NULL),
           *r;
    size_t n = sizeof buckets / sizeof buckets[0], i;
    long long count[sizeof buckets / sizeof buckets[0]] = {0};
    double sum = 0;

    json_array_foreach (rows, i, r) {
        double d = json_number_value(json_object_get(r, "d"));
        sum += d;
        for (size_t b = 0; b < n; b++)
            count[b] += d <= buckets[b];
    }
    head(f, "faultline_run_duration_seconds", "histogram",
         "Wall-clock duration of finished runs, from start to verdict.");
    for (size_t b = 0; b < n; b++)
        fprintf(f, "faultline_run_duration_seconds_bucket{le=\"%g\"} %lld\n", buckets[b], count[b]);
    fprintf(f, "faultline_run_duration_seconds_bucket{le=\"+Inf\"} %zu\n", json_array_size(rows));
    fprintf(f, "faultline_run_duration_seconds_sum %.3f\n", sum);
    fprintf(f, "faultline_run_duration_seconds_count %zu\n", json_array_size(rows));
    json_decref(rows);
}

/* The probes of each experiment's newest finished run (history store tables). */
static void last_probes(struct fl_server *s, FILE *f)
{
    struct fl_err e = {0};
    json_t *rows = fl_sstore_rows(s->ss, &e,
                                  "SELECT r.experiment, p.name, p.availability, "
                                  "p.time_to_recover_ms FROM srv_runs r JOIN probes p ON "
                                  "p.run_id = r.history_run WHERE r.id IN (SELECT MAX(id) FROM "
                                  "srv_runs WHERE state = 'done' AND history_run IS NOT NULL "
                                  "GROUP BY experiment) ORDER BY r.experiment, p.probe_id",
                                  NULL),
           *r;
    size_t i;

    head(f, "faultline_probe_availability_ratio", "gauge",
         "Share of good samples of each probe in the experiment's newest finished run.");
    json_array_foreach (rows, i, r) {
        json_t *a = json_object_get(r, "availability");
        if (!json_is_number(a))
            continue;
        fputs("faultline_probe_availability_ratio{experiment=\"", f);
        label(f, json_string_value(json_object_get(r, "experiment")));
        fputs("\",probe=\"", f);
        label(f, json_string_value(json_object_get(r, "name")));
        fprintf(f, "\"} %g\n", json_number_value(a) / 100.0);
    }
    head(f, "faultline_time_to_recover_seconds", "gauge",
         "Time each probe took to recover after the faults, in the newest finished run.");
    json_array_foreach (rows, i, r) {
        json_t *t = json_object_get(r, "time_to_recover_ms");
        if (!json_is_integer(t))
            continue;
        fputs("faultline_time_to_recover_seconds{experiment=\"", f);
        label(f, json_string_value(json_object_get(r, "experiment")));
        fputs("\",probe=\"", f);
        label(f, json_string_value(json_object_get(r, "name")));
        fprintf(f, "\"} %.3f\n", json_integer_value(t) / 1000.0);
    }
    json_decref(rows);
}

/* Journal records under the runs' state directory, by fault kind. */
static void active_faults(struct fl_server *s, FILE *f)
{
    const char *state = fl_server_state_dir(s);
    char dir[PATH_MAX + 16], path[PATH_MAX + 300];
    json_t *kinds = json_object(), *n;
    struct dirent *de;
    const char *k;
    DIR *d;

    snprintf(dir, sizeof dir, "%s/faults", state);
    if ((d = opendir(dir))) {
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            json_t *rec;
            if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            if ((rec = json_load_file(path, 0, NULL))) {
                const char *kind = json_string_value(json_object_get(rec, "kind"));
                if (kind)
                    json_object_set_new(
                        kinds, kind,
                        json_integer(json_integer_value(json_object_get(kinds, kind)) + 1));
                json_decref(rec);
            }
        }
        closedir(d);
    }
    head(f, "faultline_active_faults", "gauge",
         "Faults applied now (journaled) under the runs' state directory, by kind.");
    json_object_foreach (kinds, k, n) {
        fputs("faultline_active_faults{kind=\"", f);
        label(f, k);
        fprintf(f, "\"} %lld\n", (long long)json_integer_value(n));
    }
    json_decref(kinds);
}

static void scalar(FILE *f, const char *name, const char *type, const char *help, double v)
{
    head(f, name, type, help);
    fprintf(f, "%s %.17g\n", name, v);
}

static void counters(struct fl_server *s, FILE *f)
{
    struct fl_err e = {0};
    json_t *c = fl_sstore_row(s->ss, &e,
                              "SELECT (SELECT COUNT(*) FROM srv_runs WHERE state = 'running') AS "
                              "running, (SELECT COUNT(*) FROM srv_schedules WHERE paused = 0) AS "
                              "active, (SELECT COUNT(*) FROM srv_schedules WHERE paused = 1) AS "
                              "paused",
                              NULL);

    scalar(f, "faultline_runs_running", "gauge", "Runs whose process is running now.",
           (double)json_integer_value(json_object_get(c, "running")));
    head(f, "faultline_schedules", "gauge", "Schedules by state.");
    fprintf(f, "faultline_schedules{state=\"active\"} %lld\n",
            (long long)json_integer_value(json_object_get(c, "active")));
    fprintf(f, "faultline_schedules{state=\"paused\"} %lld\n",
            (long long)json_integer_value(json_object_get(c, "paused")));
    json_decref(c);
    scalar(f, "faultline_runs_started_total", "counter", "Run processes started since start.",
           (double)s->m.runs_started);
    scalar(f, "faultline_scheduler_fires_total", "counter", "Schedule slots fired since start.",
           (double)s->m.sched_fires);
    scalar(f, "faultline_scheduler_lag_seconds_total", "counter",
           "Sum of how late each fire was against its planned time.",
           s->m.sched_lag_ms_sum / 1000.0);
    scalar(f, "faultline_scheduler_lag_seconds_max", "gauge",
           "The latest fire against its planned time since start.", s->m.sched_lag_ms_max / 1000.0);
    scalar(f, "faultline_gate_skips_total", "counter", "Scheduled runs a closed gate skipped.",
           (double)s->m.gate_skips);
    scalar(f, "faultline_webhook_deliveries_total", "counter", "Webhook POSTs answered 2xx.",
           (double)s->m.webhook_deliveries);
    scalar(f, "faultline_webhook_failures_total", "counter",
           "Webhook POSTs that failed (each retry counts).", (double)s->m.webhook_failures);
    scalar(f, "faultline_http_requests_total", "counter", "API requests served.",
           (double)s->m.requests);
    scalar(f, "faultline_server_start_time_seconds", "gauge", "When the server started (epoch).",
           s->started_ms / 1000.0);
}

int fl_api_metrics(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return fl_http_error(rs, 500, "metrics", "out of memory");
    runs(s, f);
    durations(s, f);
    last_probes(s, f);
    active_faults(s, f);
    counters(s, f);
    fclose(f);
    rs->status = 200;
    rs->text = buf;
    rs->ctype = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}
