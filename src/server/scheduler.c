/* The scheduler: each tick (the server's main loop, lock held) fires the
 * schedules whose time has come, applying the concurrency policy (forbid:
 * skip while the previous run lives; replace: abort it; allow) and then
 * plans the next slot. A slot is the cron time; the fire time adds a random
 * jitter in [0, jitter]. Slots only move forward and are planned from
 * max(slot, now), so a late tick, a clock jump forward or a server that was
 * down fires once, not once per missed slot (catch_up: once), or not at all
 * (catch_up: skip, applied at start). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "server/cron.h"
#include "server/server.h"
#include "store/server_store.h"
#include "util/time.h"

static int64_t jitter(int64_t max_ms)
{
    uint64_t r = 0;

    if (max_ms <= 0)
        return 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (uint64_t)fl_mono_ns();
    return (int64_t)(r % (uint64_t)(max_ms + 1));
}

/* The first slot strictly after max(slot, now); -1 if the spec never fires. */
static int64_t next_slot(const char *spec, int64_t slot, int64_t now)
{
    struct fl_cron c;
    struct fl_err e = {0};

    if (fl_cron_parse(spec, &c, &e))
        return -1;
    if (c.every_ms > 0) {
        if (slot <= 0)
            return now + c.every_ms;
        slot += c.every_ms;
        return slot > now ? slot : now + c.every_ms;
    }
    return fl_cron_next(&c, slot > now ? slot : now);
}

static void plan(struct fl_server *s, const char *name, const char *spec, int64_t slot,
                 int64_t jitter_ms, int64_t now)
{
    struct fl_err e = {0};
    int64_t next = next_slot(spec, slot, now);

    fl_sstore_exec(s->ss, NULL, &e,
                   "UPDATE srv_schedules SET next_ms = ?, fire_ms = ? WHERE name = ?", "IIs", next,
                   next < 0 ? next : next + jitter(jitter_ms), name);
}

static void fire(struct fl_server *s, json_t *sc)
{
    const char *name = json_string_value(json_object_get(sc, "name"));
    const char *exp = json_string_value(json_object_get(sc, "experiment"));
    const char *policy = json_string_value(json_object_get(sc, "concurrency"));
    struct fl_err e = {0};
    json_t *running = fl_sstore_rows(s->ss, &e,
                                     "SELECT id FROM srv_runs WHERE schedule = ? AND state IN "
                                     "('starting', 'running') ORDER BY id",
                                     "s", name),
           *r, *gates;
    char reason[FL_ERR_MSG + 64];
    int64_t id;
    size_t i;
    int closed;

    gates = json_loads(json_string_value(json_object_get(sc, "blackouts")), 0, NULL);
    closed = fl_blackouts_check(gates, fl_wall_ms(), reason, sizeof reason);
    json_decref(gates);
    if (closed) {
        fl_runner_skip(s, exp, name, reason, &id);
        json_decref(running);
        return;
    }
    if (json_array_size(running) && !strcmp(policy, "forbid")) {
        snprintf(
            reason, sizeof reason, "run %lld of schedule %s is still running (concurrency: forbid)",
            (long long)json_integer_value(json_object_get(json_array_get(running, 0), "id")), name);
        fl_runner_skip(s, exp, name, reason, &id);
        json_decref(running);
        return;
    }
    gates = json_loads(json_string_value(json_object_get(sc, "gates")), 0, NULL);
    closed = fl_gates_check(s, gates, exp, reason, sizeof reason);
    json_decref(gates);
    if (closed) {
        if (closed < 0)
            snprintf(reason, sizeof reason, "schedule %s has a malformed gate", name);
        s->m.gate_skips++;
        fl_runner_skip(s, exp, name, reason, &id);
        json_decref(running);
        return;
    }
    if (!strcmp(policy, "replace"))
        json_array_foreach (running, i, r)
            fl_runner_abort(s, json_integer_value(json_object_get(r, "id")), &e);
    json_decref(running);
    if (fl_runner_start(s, exp, name, "schedule", "scheduler", &id, &e) == -FL_ENOTARGET) {
        snprintf(reason, sizeof reason, "cannot start: %s", e.msg);
        fl_runner_skip(s, exp, name, reason, &id);
    }
}

void fl_scheduler_tick(struct fl_server *s)
{
    int64_t now = fl_wall_ms();
    struct fl_err e = {0};
    json_t *due = fl_sstore_rows(
               s->ss, &e,
               "SELECT name, experiment, spec, jitter_ms, concurrency, gates, blackouts, "
               "next_ms, fire_ms FROM srv_schedules WHERE paused = 0 AND "
               "fire_ms IS NOT NULL AND fire_ms >= 0 AND fire_ms <= ? "
               "ORDER BY fire_ms",
               "I", now),
           *sc;
    size_t i;

    /* one transaction for the whole tick: a thousand fires are one commit */
    if (json_array_size(due))
        fl_sstore_exec(s->ss, NULL, &e, "BEGIN IMMEDIATE", NULL);
    json_array_foreach (due, i, sc) {
        int64_t lag = now - json_integer_value(json_object_get(sc, "fire_ms"));
        s->m.sched_fires++;
        s->m.sched_lag_ms_sum += lag;
        if (lag > s->m.sched_lag_ms_max)
            s->m.sched_lag_ms_max = lag;
        fire(s, sc);
        fl_sstore_exec(s->ss, NULL, &e, "UPDATE srv_schedules SET last_fire_ms = ? WHERE name = ?",
                       "Is", now, json_string_value(json_object_get(sc, "name")));
        plan(s, json_string_value(json_object_get(sc, "name")),
             json_string_value(json_object_get(sc, "spec")),
             json_integer_value(json_object_get(sc, "next_ms")),
             json_integer_value(json_object_get(sc, "jitter_ms")), now);
    }
    if (json_array_size(due))
        fl_sstore_exec(s->ss, NULL, &e, "COMMIT", NULL);
    json_decref(due);
}

void fl_scheduler_recover(struct fl_server *s)
{
    int64_t now = fl_wall_ms();
    struct fl_err e = {0};
    json_t *missed = fl_sstore_rows(s->ss, &e,
                                    "SELECT name, spec, jitter_ms FROM srv_schedules WHERE "
                                    "catch_up = 'skip' AND fire_ms IS NOT NULL AND fire_ms >= 0 "
                                    "AND fire_ms <= ?",
                                    "I", now),
           *sc;
    size_t i;

    json_array_foreach (missed, i, sc)
        plan(s, json_string_value(json_object_get(sc, "name")),
             json_string_value(json_object_get(sc, "spec")), now,
             json_integer_value(json_object_get(sc, "jitter_ms")), now);
    json_decref(missed);
}

void fl_scheduler_resume(struct fl_server *s, const char *name, const char *spec, int64_t jitter_ms)
{
    int64_t now = fl_wall_ms();

    plan(s, name, spec, 0, jitter_ms, now);
}

int64_t fl_scheduler_wait_ms(struct fl_server *s, int64_t max_ms)
{
    struct fl_err e = {0};
    json_t *r = fl_sstore_row(s->ss, &e,
                              "SELECT MIN(fire_ms) AS t FROM srv_schedules WHERE paused = 0 AND "
                              "fire_ms >= 0",
                              NULL);
    json_t *t = json_object_get(r, "t");
    int64_t wait = max_ms;

    if (json_is_integer(t)) {
        wait = json_integer_value(t) - fl_wall_ms();
        wait = wait < 1 ? 1 : wait > max_ms ? max_ms : wait;
    }
    json_decref(r);
    return wait;
}
