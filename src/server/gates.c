/* Gates: conditions a schedule checks before each run. A closed gate turns
 * the run into verdict `skipped` with the gate's reason (docs/server.md):
 *   {"type": "prometheus", "url": U, "query": Q, "min": X, "max": Y}
 *       open while the query's value is within [min, max] (either may be
 *       left out), e.g. error budget remaining >= 25, burn rate <= 1; the
 *       query runs through the prometheus probe (probes/probe_prometheus.c);
 *   {"type": "command", "command": C, "timeout": "10s"}  open when C exits 0;
 *   {"type": "previous_run_passed"}  open when this experiment's last
 *       finished (not skipped) run passed, or it has none. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "probes/probe.h"
#include "server/server.h"
#include "store/server_store.h"
#include "util/parse.h"

#define GATE_TIMEOUT_MS 5000

static int allowed(json_t *g, const char *const *keys, struct fl_err *e, size_t i)
{
    const char *k;
    json_t *v;

    json_object_foreach (g, k, v) {
        size_t j;
        for (j = 0; keys[j] && strcmp(keys[j], k); j++)
            ;
        if (!keys[j])
            return fl_err_set(e, FL_EUSAGE, "gate %zu: unknown field '%s'", i + 1, k);
    }
    return 0;
}

int fl_gates_validate(json_t *gates, struct fl_err *e)
{
    static const char *const prom[] = {"type", "url", "query", "min", "max", NULL};
    static const char *const cmd[] = {"type", "command", "timeout", NULL};
    static const char *const prev[] = {"type", NULL};
    size_t i;
    json_t *g;

    if (!json_is_array(gates) || json_array_size(gates) > 16)
        return fl_err_set(e, FL_EUSAGE, "gates must be an array of at most 16 gate objects");
    json_array_foreach (gates, i, g) {
        const char *type = json_string_value(json_object_get(g, "type"));
        json_t *min = json_object_get(g, "min"), *max = json_object_get(g, "max");
        const char *t = json_string_value(json_object_get(g, "timeout"));
        int64_t ms;

        if (!json_is_object(g) || !type)
            return fl_err_set(e, FL_EUSAGE,
                              "gate %zu: an object with a \"type\": prometheus, command or "
                              "previous_run_passed",
                              i + 1);
        if (!strcmp(type, "prometheus")) {
            if (allowed(g, prom, e, i))
                return -FL_EUSAGE;
            if (!json_is_string(json_object_get(g, "url")) ||
                !json_is_string(json_object_get(g, "query")))
                return fl_err_set(e, FL_EUSAGE, "gate %zu: prometheus needs \"url\" and \"query\"",
                                  i + 1);
            if ((min && !json_is_number(min)) || (max && !json_is_number(max)) || (!min && !max))
                return fl_err_set(e, FL_EUSAGE,
                                  "gate %zu: prometheus needs a number \"min\" and/or \"max\" "
                                  "(the range in which the gate is open)",
                                  i + 1);
        } else if (!strcmp(type, "command")) {
            if (allowed(g, cmd, e, i))
                return -FL_EUSAGE;
            if (!json_is_string(json_object_get(g, "command")))
                return fl_err_set(e, FL_EUSAGE, "gate %zu: command needs \"command\"", i + 1);
            if (t && fl_parse_duration_ms(t, &ms, e))
                return fl_err_prefix(e, "gate %zu: timeout", i + 1);
        } else if (!strcmp(type, "previous_run_passed")) {
            if (allowed(g, prev, e, i))
                return -FL_EUSAGE;
        } else {
            return fl_err_set(e, FL_EUSAGE,
                              "gate %zu: unknown type '%s'; use prometheus, command or "
                              "previous_run_passed",
                              i + 1, type);
        }
    }
    return 0;
}

static int prometheus(json_t *g, char *reason, size_t len)
{
    const struct fl_probe_ops *ops = fl_probe_lookup("prometheus");
    json_t *params = json_pack("{s:O,s:O}", "url", json_object_get(g, "url"), "query",
                               json_object_get(g, "query"));
    struct fl_probe p = {.ops = ops, .params = params, .timeout_ms = GATE_TIMEOUT_MS};
    struct fl_probe_result r = {0};
    struct fl_err e = {0};
    json_t *min = json_object_get(g, "min"), *max = json_object_get(g, "max");
    const char *q = json_string_value(json_object_get(g, "query"));
    int closed = 0;

    if (ops->open(&p, &e)) {
        json_decref(params);
        snprintf(reason, len, "gate prometheus %s: %s", q, e.msg);
        return 1;
    }
    ops->sample(&p, &r);
    ops->close(&p);
    json_decref(params);
    if (!r.ok || !r.has_value || isnan(r.value)) {
        snprintf(reason, len, "gate prometheus '%s' has no value: %s (closed)", q, r.detail);
        return 1;
    }
    if (min && r.value < json_number_value(min)) {
        snprintf(reason, len, "gate prometheus '%s' = %g, below the minimum %g", q, r.value,
                 json_number_value(min));
        closed = 1;
    } else if (max && r.value > json_number_value(max)) {
        snprintf(reason, len, "gate prometheus '%s' = %g, above the maximum %g", q, r.value,
                 json_number_value(max));
        closed = 1;
    }
    return closed;
}

static int command(json_t *g, char *reason, size_t len)
{
    const char *cmd = json_string_value(json_object_get(g, "command"));
    const char *t = json_string_value(json_object_get(g, "timeout"));
    int64_t timeout = 10000;
    struct fl_err e = {0};
    char out[256];
    int rc;

    if (t)
        fl_parse_duration_ms(t, &timeout, &e);
    rc = fl_probe_run_command(cmd, timeout, out, sizeof out);
    if (rc == 0)
        return 0;
    if (rc == -ETIMEDOUT)
        snprintf(reason, len, "gate command '%s' timed out after %lldms", cmd, (long long)timeout);
    else
        snprintf(reason, len, "gate command '%s' exited with %d", cmd, rc);
    return 1;
}

static int previous(struct fl_server *s, const char *experiment, char *reason, size_t len)
{
    struct fl_err e = {0};
    json_t *r = fl_sstore_row(s->ss, &e,
                              "SELECT id, verdict FROM srv_runs WHERE experiment = ? AND state = "
                              "'done' AND verdict != 'skipped' ORDER BY id DESC LIMIT 1",
                              "s", experiment);
    const char *v = json_string_value(json_object_get(r, "verdict"));
    int closed = v && strcmp(v, "passed");

    if (closed)
        snprintf(reason, len, "gate previous_run_passed: run %lld of %s ended %s",
                 (long long)json_integer_value(json_object_get(r, "id")), experiment, v);
    json_decref(r);
    return closed;
}

int fl_gates_check(struct fl_server *s, json_t *gates, const char *experiment, char *reason,
                   size_t len)
{
    size_t i;
    json_t *g;

    json_array_foreach (gates, i, g) {
        const char *type = json_string_value(json_object_get(g, "type"));
        int closed;
        if (!type)
            return -1;
        if (!strcmp(type, "prometheus"))
            closed = prometheus(g, reason, len);
        else if (!strcmp(type, "command"))
            closed = command(g, reason, len);
        else if (!strcmp(type, "previous_run_passed"))
            closed = previous(s, experiment, reason, len);
        else
            return -1;
        if (closed)
            return 1;
    }
    return 0;
}
