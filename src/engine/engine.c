/* The experiment engine: one run of a loaded spec, preflight to verdict
 * (the state machine and its guarantees are described in engine.h). */
#include "engine/engine.h"
#include "engine/history_run.h"
#include "engine/logs.h"
#include "engine/remote_probe.h"
#include "engine/status.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agent/apply.h"
#include "agent/journal.h"
#include "engine/cluster.h"
#include "lab/lab.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/time.h"

#define TICK_MS 50
#define LEASE_MS 15000
#define FLUSH_EVERY_MS 1000

/* The signal that asked the run to stop; set by the handler, read by the
 * main loop. Process-wide because signals are. */
static volatile sig_atomic_t engine_stop;

static void on_signal(int sig)
{
    engine_stop = sig;
}

const char *fl_verdict_str(enum fl_verdict v)
{
    switch (v) {
    case FL_VERDICT_PASSED:
        return "passed";
    case FL_VERDICT_FAILED:
        return "failed";
    case FL_VERDICT_ABORTED:
        return "aborted";
    case FL_VERDICT_NOT_STEADY:
        return "not started: system not steady";
    case FL_VERDICT_ERROR:
        return "error";
    }
    return "?";
}

/* ---- probe threads ----------------------------------------------------- */

struct probe_rt {
    const struct fl_spec_probe *sp;
    int id;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* signalled with mu held when stop is set */
    struct fl_sample *s; /* guarded by mu */
    size_t n, cap;       /* guarded by mu */
    size_t stored;       /* main thread only */
    int64_t covered_ms;  /* guarded by mu: every tick before this one is recorded */
    char last[160];      /* guarded by mu: the last sample's detail */
    atomic_bool stop;
    int64_t t0_ns;
    int64_t detect_ms, recover_ms;
    /* a probe on an agent host: a job of that agent (remote_probe.h) */
    struct fl_remote_probe *remote;
    size_t from_agent;  /* guarded by mu: samples read back from the agent */
    size_t late;        /* guarded by mu: arrived after their ticks were counted as no data */
    size_t bad;         /* guarded by mu: lines of the job's output that were not samples */
    int64_t down_since; /* guarded by mu: the agent could not be reached since (ms), or -1 */
    char down_why[200]; /* guarded by mu */
    bool eof;           /* guarded by mu: the job ended and all it printed was read */
    bool down_told;     /* main thread: the event about down_since was written */
};

static int64_t rel_ms(int64_t t0_ns)
{
    return (fl_mono_ns() - t0_ns) / 1000000;
}

/* With p->mu held. */
static void push_locked(struct probe_rt *p, const struct fl_sample *s, const char *detail)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        struct fl_sample *ns = realloc(p->s, cap * sizeof *ns);
        if (!ns)
            return;
        p->s = ns;
        p->cap = cap;
    }
    p->s[p->n++] = *s;
    snprintf(p->last, sizeof p->last, "%s", detail);
}

static void push(struct probe_rt *p, const struct fl_sample *s, const char *detail)
{
    pthread_mutex_lock(&p->mu);
    push_locked(p, s, detail);
    pthread_mutex_unlock(&p->mu);
}

/* Record the ticks that came due while a slow sample ran, from *next up
 * to end_ms. The probe is never asked twice at once, so such a tick is a
 * "missed" sample: it carries the outcome and value of the sample that was
 * running (a timeout fails every tick it covered; a slow success does not
 * fail them), and as latency how long it waited for that sample to end,
 * so latency tolerances see the slowness. Then everything before *next is
 * accounted for. */
static void record_missed(struct probe_rt *p, int64_t *next, int64_t end_ms,
                          const struct fl_sample *running, const char *detail)
{
    char why[160];

    snprintf(why, sizeof why, "missed (the previous sample took %.0fms; interval %lldms): %s",
             running->latency_ms, (long long)p->sp->interval_ms, detail);
    while (*next < end_ms) {
        struct fl_sample m = *running;
        m.t_ms = *next;
        m.latency_ms = (double)(end_ms - *next);
        push(p, &m, why);
        *next += p->sp->interval_ms;
    }
    pthread_mutex_lock(&p->mu);
    p->covered_ms = *next;
    pthread_mutex_unlock(&p->mu);
}

/* Sleep until `until` (ms from t0) or until stop_probes wakes us. */
static void wait_tick(struct probe_rt *p, int64_t until)
{
    int64_t now = rel_ms(p->t0_ns), ns;
    struct timespec ts;

    if (now >= until)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ns = ts.tv_nsec + (until - now) * 1000000;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&p->mu);
    if (!atomic_load(&p->stop))
        pthread_cond_timedwait(&p->wake, &p->mu, &ts);
    pthread_mutex_unlock(&p->mu);
}

/* One probe's thread: a sample is due at every multiple of the interval;
 * each is recorded at its tick, and the ticks a slow sample overran are
 * recorded as missed (failed), so every report counts the same ticks. */
static void *probe_main(void *arg)
{
    struct probe_rt *p = arg;
    struct fl_probe probe = {
        .ops = p->sp->ops, .params = p->sp->params, .timeout_ms = p->sp->timeout_ms};
    struct fl_err e = {0};
    char broken[200] = "";
    int64_t next;

    if (p->sp->netns) {
        char path[320];
        int fd;
        snprintf(path, sizeof path, "/run/netns/%s", p->sp->netns);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET))
            snprintf(broken, sizeof broken, "cannot enter netns %s: %s", p->sp->netns,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    if (!broken[0] && probe.ops->open && probe.ops->open(&probe, &e))
        snprintf(broken, sizeof broken, "%s", e.msg);
    next = rel_ms(p->t0_ns);
    while (!atomic_load(&p->stop)) {
        struct fl_probe_result r = {0};
        struct fl_sample s;
        int64_t start, end;

        if (rel_ms(p->t0_ns) < next) {
            wait_tick(p, next);
            continue;
        }
        start = fl_mono_ns();
        s.t_ms = next;
        if (broken[0])
            snprintf(r.detail, sizeof r.detail, "%s", broken);
        else
            probe.ops->sample(&probe, &r);
        s.latency_ms = (double)(fl_mono_ns() - start) / 1e6;
        s.value = r.has_value ? r.value : NAN;
        s.probe_ok = r.ok;
        s.ok = fl_tolerance_sample_ok(&p->sp->tol, r.ok, s.value);
        push(p, &s, r.detail);
        next += p->sp->interval_ms;
        end = rel_ms(p->t0_ns);
        record_missed(p, &next, end, &s, r.detail);
    }
    if (!broken[0] && probe.ops->close)
        probe.ops->close(&probe);
    return NULL;
}

/* Put samples read back from an agent into p; a sample whose tick was
 * already counted as no data (it came too late) is dropped, not reordered. */
static void push_remote(struct probe_rt *p, const struct fl_probe_line *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct fl_sample s = {.t_ms = l[i].t_ms,
                              .value = l[i].value,
                              .probe_ok = l[i].ok,
                              .latency_ms = l[i].latency_ms};

        s.ok = fl_tolerance_sample_ok(&p->sp->tol, s.probe_ok, s.value);
        pthread_mutex_lock(&p->mu);
        if (l[i].t_ms < p->covered_ms) {
            p->late++;
        } else {
            push_locked(p, &s, l[i].detail[0] ? l[i].detail : (l[i].ok ? "ok" : "failed"));
            p->from_agent++;
            p->covered_ms = l[i].t_ms + p->sp->interval_ms;
        }
        pthread_mutex_unlock(&p->mu);
    }
}

/* The job ended: say why in the probe's last detail (the stderr of
 * `faultline probe` says what it refused). */
static void remote_ended(struct probe_rt *p)
{
    struct fl_err e = {0};
    json_t *st = NULL;
    char why[160] = "";

    if (fl_agent_client_job_status(fl_remote_probe_client(p->remote),
                                   fl_remote_probe_job(p->remote), &st, &e) == 0) {
        const char *tail = json_string_value(json_object_get(st, "stderr_tail"));
        const char *state = json_string_value(json_object_get(st, "state"));
        json_t *sig = json_object_get(st, "signal");
        char how[48] = "";
        if (json_is_integer(sig))
            snprintf(how, sizeof how, ", signal %lld", (long long)json_integer_value(sig));
        else if (json_is_integer(json_object_get(st, "exit")))
            snprintf(how, sizeof how, ", exit %lld",
                     (long long)json_integer_value(json_object_get(st, "exit")));
        snprintf(why, sizeof why, "the probe's job on host %s ended (%s%s)%s%.100s", p->sp->host,
                 state ? state : "?", how, tail && *tail ? ": " : "", tail ? tail : "");
        json_decref(st);
    } else {
        snprintf(why, sizeof why, "the probe's job on host %s ended", p->sp->host);
    }
    pthread_mutex_lock(&p->mu);
    p->eof = true;
    snprintf(p->last, sizeof p->last, "%s", why);
    pthread_mutex_unlock(&p->mu);
}

/* A probe on an agent host: read the job's samples back every poll until
 * the job ends or the run stops (one last read then). While the agent
 * cannot be reached its samples wait in the job's output. */
static void *remote_probe_main(void *arg)
{
    struct probe_rt *p = arg;
    int64_t poll = p->sp->interval_ms / 2 < 200 ? p->sp->interval_ms / 2 : 200;

    for (;;) {
        bool stop = atomic_load(&p->stop), eof = false;
        struct fl_probe_line *lines = NULL;
        struct fl_err e = {0};
        size_t n = 0, bad = 0;
        int64_t asked = rel_ms(p->t0_ns); /* a request may hang until its timeout */
        int rc = fl_remote_probe_fetch(p->remote, 0, &lines, &n, &bad, &eof, &e);

        pthread_mutex_lock(&p->mu);
        p->bad += bad;
        if (rc && e.code == FL_ENOTARGET) { /* the agent answers, the job is gone */
            p->down_since = -1;
            p->eof = true;
            snprintf(p->last, sizeof p->last,
                     "the agent no longer has the probe's job (deleted, or the agent "
                     "restarted)");
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        if (rc && p->down_since < 0) {
            p->down_since = asked;
            snprintf(p->down_why, sizeof p->down_why, "%s", e.msg);
        } else if (!rc) {
            p->down_since = -1;
        }
        pthread_mutex_unlock(&p->mu);
        push_remote(p, lines, n);
        free(lines);
        if (eof)
            remote_ended(p);
        if (eof || stop)
            return NULL;
        wait_tick(p, rel_ms(p->t0_ns) + poll);
    }
}

/* ---- the run ----------------------------------------------------------- */

enum step_state { STEP_PENDING, STEP_ACTIVE, STEP_DONE };

struct step {
    const struct fl_spec_action *a;
    enum step_state state;
    struct fl_fault f;
    bool has_fault;
    char restart_job[FL_AGENT_JOB_ID_LEN]; /* an agent host's restart: the agent's job */
    int64_t end_ms;                        /* relative to t0 */
    int64_t next_renew;
    pthread_t cmd_th;
    bool cmd_started;
    atomic_int cmd_rc;
    atomic_bool cmd_done;
    atomic_bool restart_hurry; /* an agent host's restart: run it now (the run ends) */
    /* process.kill's restart: pending from the kill until restart_at, then
     * running in cmd_th (its output in restart_out), then done */
    enum { RESTART_NONE, RESTART_PENDING, RESTART_RUNNING, RESTART_DONE } restart;
    int64_t restart_at;
    int64_t restart_due; /* an agent host's restart: when its job is due (fl_now_ms) */
    char restart_out[512];
    const struct fl_spec *spec;
    const char *state_dir;
    const char *host; /* the host it acted on (host:, or what host_from gave), or NULL */
    /* a fault on an agent host: applied and reverted by that agent */
    struct fl_agent_client *remote;
    /* applied ahead by apply_together() (several hosts at once) */
    bool pre;
    int pre_rc;
    struct fl_err pre_err;
    json_t *pre_params, *pre_record;
    char pre_id[FL_FAULT_ID_LEN];
    /* the restart's journal record (process.restart), written before the
     * kill, so that if this run dies first the guardian or recover runs it */
    char restart_id[FL_FAULT_ID_LEN];
    int64_t applied_ns;  /* when the apply returned (monotonic), 0 if not applied */
    int64_t reverted_ns; /* when the revert returned (monotonic), 0 if not reverted */
};

struct run {
    struct fl_logcap *logs; /* target logs, NULL when the experiment names none */
    const struct fl_spec *spec;
    const struct fl_engine_opts *o;
    struct fl_run_result *res;
    struct fl_journal j;
    bool journal_open;
    int64_t t0_ns, wall0;
    int64_t run_id;
    struct probe_rt *probes;
    struct step *steps;
    uint64_t seed;
    const char *phase;
    int64_t inject_ms, revert_end_ms, last_flush;
    int64_t last_revert_ms;       /* when the last fault was actually reverted, or -1 */
    char gaps[512];               /* faults an agent restart took away for a while, for the
                                     verdict's explanation ("" when none) */
    struct fl_status status;      /* the terminal status line */
    long *guard_since;            /* per guardrail: violation start, or -1 */
    struct fl_workload_child *wl; /* one per workload */
    bool *wl_started;
    struct fl_agent_client **agents; /* per host of hosts: (NULL: a lab host) */
    struct fl_agent_renewer *renewer;
};

static void event(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_verdict(struct run *r, enum fl_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void event(struct run *r, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    int64_t t = rel_ms(r->t0_ns);

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fl_status_clear(&r->status);
    fprintf(r->o->out, "[%7.3fs] %-9s %s\n", (double)t / 1000.0, r->phase, msg);
    fflush(r->o->out);
    if (r->o->store && r->run_id)
        fl_store_event(r->o->store, r->run_id, t, r->phase, msg);
}

static void draw_status(struct run *r)
{
    char line[1024];
    size_t off = 0;
    int64_t now = rel_ms(r->t0_ns);
    char active[256] = "";
    size_t aoff = 0;

    if (!fl_status_due(&r->status, now))
        return;
    for (size_t i = 0; i < r->spec->nactions && aoff < sizeof active; i++)
        if (r->steps[i].state == STEP_ACTIVE)
            aoff += (size_t)snprintf(active + aoff, sizeof active - aoff, "%s%s", aoff ? "," : "",
                                     r->steps[i].a->name);
    if (r->inject_ms >= 0 && r->revert_end_ms < 0) {
        int64_t el = now - r->inject_ms, left = r->spec->duration_ms - el;
        off += (size_t)snprintf(line + off, sizeof line - off, "%s %.1fs, %.1fs left | active: %s",
                                r->phase, (double)el / 1000.0,
                                (double)(left > 0 ? left : 0) / 1000.0, aoff ? active : "none");
    } else
        off += (size_t)snprintf(line + off, sizeof line - off, "%s %.1fs", r->phase,
                                (double)now / 1000.0);
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        size_t ok = 0;
        pthread_mutex_lock(&p->mu);
        for (size_t k = 0; k < p->n; k++)
            ok += p->s[k].ok;
        fl_status_probe(line, sizeof line, &off, p->sp->name, p->n, ok,
                        p->n ? p->s[p->n - 1].value : NAN, p->n && p->s[p->n - 1].ok);
        pthread_mutex_unlock(&p->mu);
    }
    fl_status_show(&r->status, line);
}

static void flush_samples(struct run *r, bool force)
{
    int64_t now = rel_ms(r->t0_ns);

    if (!r->o->store || (!force && now - r->last_flush < FLUSH_EVERY_MS))
        return;
    r->last_flush = now;
    fl_store_begin(r->o->store);
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        pthread_mutex_lock(&p->mu);
        if (p->n > p->stored && fl_store_samples(r->o->store, r->run_id, p->id, p->s + p->stored,
                                                 p->n - p->stored) == 0)
            p->stored = p->n;
        pthread_mutex_unlock(&p->mu);
    }
    fl_store_commit(r->o->store);
}

static const char *sig_name(int sig)
{
    return sig == SIGINT    ? "SIGINT"
           : sig == SIGTERM ? "SIGTERM"
           : sig == SIGHUP  ? "SIGHUP"
                            : "a signal";
}

static bool stopping(struct run *r)
{
    return engine_stop != 0;
}

/* Probes on agent hosts become jobs of their agents: every agent is asked
 * first whether it can run its probe (a command probe needs
 * --allow-commands), then the jobs start. A refusal or a failure ends the
 * run as `error` before anything is injected (finish_remote_probes deletes
 * the jobs that did start). */
static bool start_remote_probes(struct run *r)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->spec->nprobes; i++) {
            struct probe_rt *p = &r->probes[i];
            struct fl_agent_client *c = fl_cluster_agent_of(r->spec, r->agents, p->sp->host);
            struct fl_err e = {0};
            int rc;

            if (!p->sp->host)
                continue;
            if (!c)
                rc = fl_err_set(&e, FL_EFAIL, "host %s has no agent client", p->sp->host);
            else if (pass == 0)
                rc = fl_remote_probe_check(c, p->sp, &e);
            else
                rc = fl_remote_probe_start(c, p->sp, r->t0_ns, &p->remote, &e);
            if (rc) {
                event(r, "probe %s on host %s: %s", p->sp->name, p->sp->host, e.msg);
                set_verdict(r, FL_VERDICT_ERROR,
                            "probe %s cannot run on host %s: %s; nothing was "
                            "injected",
                            p->sp->name, p->sp->host, e.msg);
                r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
                return false;
            }
            if (pass == 1)
                event(r, "probe %s runs on host %s through its agent (job %s, started at +%.3fs)",
                      p->sp->name, p->sp->host, fl_remote_probe_job(p->remote),
                      (double)fl_remote_probe_started_ms(p->remote) / 1000.0);
        }
    return true;
}

static bool start_probes(struct run *r)
{
    if (!start_remote_probes(r))
        return false;
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        p->started =
            pthread_create(&p->th, NULL, p->remote ? remote_probe_main : probe_main, p) == 0;
        if (!p->started)
            event(r, "probe %s could not start a thread", p->sp->name);
    }
    return true;
}

/* Tell when a probe's agent stops answering and when it answers again
 * (its samples are read late then, never invented). */
static void report_remote(struct run *r)
{
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        int64_t since;
        char why[200];

        if (!p->remote)
            continue;
        pthread_mutex_lock(&p->mu);
        since = p->down_since;
        snprintf(why, sizeof why, "%s", p->down_why);
        pthread_mutex_unlock(&p->mu);
        if (since >= 0 && !p->down_told)
            event(r,
                  "probe %s: host %s's agent cannot be reached since +%.1fs (%s); its samples "
                  "wait on the agent and are read when it answers again",
                  p->sp->name, p->sp->host, (double)since / 1000.0, why);
        else if (since < 0 && p->down_told)
            event(r, "probe %s: host %s's agent answers again; its samples are read late",
                  p->sp->name, p->sp->host);
        else
            continue;
        p->down_told = since >= 0;
    }
}

/* The jobs of probes on agent hosts are deleted (killed if they run), and
 * the run says how many samples each gave. */
static void finish_remote_probes(struct run *r)
{
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        struct fl_err e = {0};
        json_t *final = NULL;
        int rc;

        if (!p->remote)
            continue;
        rc = fl_remote_probe_delete(p->remote, &final, &e);
        if (rc && e.code == FL_ENOTARGET)
            event(r, "probe %s: its job %s on host %s was already gone", p->sp->name,
                  fl_remote_probe_job(p->remote), p->sp->host);
        else if (rc)
            event(r,
                  "probe %s: its job %s on host %s could not be deleted (%s); the agent kills it "
                  "when this run's lease ends",
                  p->sp->name, fl_remote_probe_job(p->remote), p->sp->host, e.msg);
        else
            event(r, "probe %s: its job %s on host %s was deleted (%s)", p->sp->name,
                  fl_remote_probe_job(p->remote), p->sp->host,
                  json_string_value(json_object_get(final, "state"))
                      ? json_string_value(json_object_get(final, "state"))
                      : "?");
        json_decref(final);
        event(r,
              "probe %s: %zu samples came from host %s's agent (%zu arrived after their ticks "
              "were counted as no data, %zu output lines were not samples)",
              p->sp->name, p->from_agent, p->sp->host, p->late, p->bad);
    }
}

static void stop_probes(struct run *r)
{
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        pthread_mutex_lock(&r->probes[i].mu);
        atomic_store(&r->probes[i].stop, true);
        pthread_cond_broadcast(&r->probes[i].wake);
        pthread_mutex_unlock(&r->probes[i].mu);
    }
    for (size_t i = 0; i < r->spec->nprobes; i++)
        if (r->probes[i].started)
            pthread_join(r->probes[i].th, NULL);
}

/* The first verdict other than passed wins; later problems are events. */
static void set_verdict(struct run *r, enum fl_verdict v, const char *fmt, ...)
{
    va_list ap;

    if (r->res->verdict != FL_VERDICT_PASSED)
        return;
    r->res->verdict = v;
    va_start(ap, fmt);
    vsnprintf(r->res->explanation, sizeof r->res->explanation, fmt, ap);
    va_end(ap);
}

/* Sleep one tick unless a stop was requested. */
static void tick(struct run *r)
{
    report_remote(r);
    draw_status(r);
    flush_samples(r, false);
    for (size_t k = 0; r->wl_started && k < r->spec->nworkloads; k++)
        if (r->wl_started[k])
            fl_workload_child_fetch(&r->wl[k]);
    fl_sleep_ms(TICK_MS);
}

static size_t sample_count(struct probe_rt *p)
{
    size_t n;

    pthread_mutex_lock(&p->mu);
    n = p->n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* Resolve every fault's targets now (plan touches nothing), so a missing
 * process or namespace stops the run before anything is injected. */
static bool targets_exist(struct run *r)
{
    for (size_t i = 0; i < r->spec->nactions; i++) {
        const struct fl_spec_action *a = &r->spec->actions[i];
        struct fl_err e = {0};
        struct fl_fault f;
        char desc[512];
        int rc;

        json_t *params;
        char note[512];

        if (a->type != FL_ACTION_FAULT)
            continue;
        if (fl_cluster_agent_of(r->spec, r->agents, a->host)) {
            event(r, "%s: %s on host %s, applied (and planned) by its agent when it starts",
                  a->name, a->ops->kind, a->host);
            continue;
        }
        params = fl_cluster_step_params(r->spec, r->agents, a, r->o->state_dir, NULL, note,
                                        sizeof note, &e);
        if (!params) {
            event(r, "%s: %s", a->name, e.msg);
            set_verdict(r, FL_VERDICT_ERROR, "%s (%s): %s; nothing was injected", a->name,
                        a->ops->kind, e.msg);
            r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
            return false;
        }
        fl_fault_init(&f, a->ops, params);
        f.seed = (r->seed + i) & ((1ULL << 53) - 1);
        rc = a->ops->plan(&f, &e);
        if (rc == 0) {
            fl_fault_describe(&f, desc, sizeof desc);
            event(r, "%s would %s%s%s%s", a->name, desc, note[0] ? " (now: " : "", note,
                  note[0] ? ")" : "");
        }
        fl_fault_fini(&f);
        if (rc) {
            event(r, "%s: %s", a->name, e.msg);
            set_verdict(r, FL_VERDICT_ERROR, "%s (%s) has no target: %s; nothing was injected",
                        a->name, a->ops->kind, e.msg);
            r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
            return false;
        }
    }
    return true;
}

static bool preflight(struct run *r)
{
    int64_t until = rel_ms(r->t0_ns) + r->spec->preflight_ms, longest = 0;
    char tol[256];

    r->phase = "preflight";
    if (!targets_exist(r))
        return false;
    if (!r->spec->nprobes) {
        event(r, "no steady-state probes: the verdict rests on the checks of the workload%s",
              r->spec->nworkloads > 1 ? "s" : "");
        return true;
    }
    until = rel_ms(r->t0_ns) + r->spec->preflight_ms;
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        const struct fl_spec_probe *sp = r->probes[i].sp;
        int64_t need = sp->interval_ms + sp->timeout_ms;
        if (need > longest)
            longest = need;
        fl_tolerance_describe(&sp->tol, tol, sizeof tol);
        event(r, "probe %s (%s%s%s%s%s) every %lldms: %s", sp->name, sp->ops->kind,
              sp->netns ? " in netns " : "", sp->netns ? sp->netns : "",
              sp->host ? " on agent host " : "", sp->host ? sp->host : "",
              (long long)sp->interval_ms, sp->role == FL_PROBE_STEADY ? tol : "guardrail");
    }
    event(r, "checking the steady state for %lldms before injecting anything",
          (long long)r->spec->preflight_ms);
    if (!start_probes(r))
        return false;
    for (;;) {
        bool all = true;
        if (stopping(r))
            return false;
        for (size_t i = 0; i < r->spec->nprobes; i++)
            all &= sample_count(&r->probes[i]) > 0;
        if (rel_ms(r->t0_ns) >= until && (all || rel_ms(r->t0_ns) >= until + longest))
            break;
        tick(r);
    }
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        char why[512] = "no sample arrived";
        int64_t at = 0;
        bool ok;
        if (p->sp->role != FL_PROBE_STEADY)
            continue;
        pthread_mutex_lock(&p->mu);
        {
            struct fl_tolerance whole = p->sp->tol;
            whole.window_ms = 0;
            ok = p->n > 0 &&
                 fl_tolerance_holds_phase(&whole, p->s, p->n, 0, INT64_MAX, &at, why, sizeof why);
        }
        pthread_mutex_unlock(&p->mu);
        if (!ok) {
            event(r, "steady state does not hold: probe %s: %s (last: %s)", p->sp->name, why,
                  p->last);
            set_verdict(r, FL_VERDICT_NOT_STEADY,
                        "the system was not steady before injecting: probe %s: %s (last "
                        "sample: %s); nothing was injected",
                        p->sp->name, why, p->last);
        }
    }
    if (r->res->verdict == FL_VERDICT_PASSED)
        event(r, "steady state holds");
    return r->res->verdict == FL_VERDICT_PASSED;
}

static void *command_main(void *arg)
{
    struct step *s = arg;
    char out[256];

    if (s->remote) /* an agent host: a job of its agent */
        atomic_store(&s->cmd_rc, fl_cluster_job_run(s->remote, s->a->name, s->a->command,
                                                    s->a->duration_ms, out, sizeof out));
    else if (s->a->host)
        atomic_store(&s->cmd_rc, fl_cluster_run(s->spec, s->a->host, s->a->command,
                                                s->a->duration_ms, s->state_dir, out, sizeof out));
    else
        atomic_store(&s->cmd_rc,
                     fl_probe_run_command(s->a->command, s->a->duration_ms, out, sizeof out));
    atomic_store(&s->cmd_done, true);
    return NULL;
}

static void revert_step(struct run *r, struct step *s, const char *why)
{
    struct fl_err e = {0};
    bool found = false;

    if (s->state != STEP_ACTIVE || !s->has_fault)
        return;
    s->state = STEP_DONE;
    if (s->remote) {
        if (fl_agent_client_revert(s->remote, s->f.id, &found, &e)) {
            event(r,
                  "revert of %s (%s) on host %s failed: %s; its agent reverts it when the lease "
                  "ends",
                  s->a->name, s->f.id, s->host, e.msg);
            set_verdict(r, FL_VERDICT_ERROR, "revert of %s on host %s failed: %s", s->a->name,
                        s->host, e.msg);
            return;
        }
        r->last_revert_ms = rel_ms(r->t0_ns);
        s->reverted_ns = fl_mono_ns();
        event(r, "%s %s reverted on host %s by its agent (%s)%s", s->a->name, s->f.id, s->host, why,
              found ? "" : ": it was already gone");
        return;
    }
    if (fl_journal_revert(&r->j, s->f.id, &found, &e)) {
        event(r, "revert of %s (%s) failed: %s; the guardian keeps retrying", s->a->name, s->f.id,
              e.msg);
        set_verdict(r, FL_VERDICT_ERROR, "revert of %s failed: %s", s->a->name, e.msg);
        return;
    }
    r->last_revert_ms = rel_ms(r->t0_ns);
    s->reverted_ns = fl_mono_ns();
    event(r, "%s %s reverted (%s)%s", s->a->name, s->f.id, why,
          found ? "" : ": it was already gone");
}

/* A step of a between: partition is due: revert every piece of that
 * partition (one per host) now, back to back, so that the hosts heal
 * together rather than each at its own apply time + duration. */
static void revert_split(struct run *r, struct step *s, const char *why)
{
    unsigned split = s->a->split;

    revert_step(r, s, why);
    for (size_t i = 0; split && i < r->spec->nactions; i++)
        if (r->steps[i].a->split == split)
            revert_step(r, &r->steps[i], why);
}

static void restart_all(struct run *r);
static void remote_restart_begin(struct run *r, struct step *s);

static void revert_all(struct run *r, const char *why)
{
    /* applied ahead on an agent host, but the run stopped before taking them in */
    for (size_t i = 0; i < r->spec->nactions; i++) {
        struct step *s = &r->steps[i];
        struct fl_err e = {0};
        bool found;
        if (!s->pre || s->state != STEP_PENDING)
            continue;
        s->pre = false;
        s->state = STEP_DONE;
        if (s->pre_rc) {
            if (s->restart_job[0]) /* nothing was killed: no restart either */
                fl_agent_client_job_delete(s->remote, s->restart_job, NULL, &e);
            continue;
        }
        if (fl_agent_client_revert(s->remote, s->pre_id, &found, &e))
            event(r,
                  "revert of %s (%s) on host %s failed: %s; its agent reverts it when the lease "
                  "ends",
                  s->a->name, s->pre_id, s->a->host, e.msg);
        else
            event(r, "%s %s reverted on host %s by its agent (%s)", s->a->name, s->pre_id,
                  s->a->host, why);
        if (s->restart_job[0]) /* a kill was done: its restart runs now (restart_all) */
            remote_restart_begin(r, s);
    }
    /* reverse order of application */
    for (size_t i = r->spec->nactions; i-- > 0;)
        revert_step(r, &r->steps[i], why);
    restart_all(r);
}

/* ---- process.kill's restart ------------------------------------------- */

static void *restart_main(void *arg)
{
    struct step *s = arg;
    const struct fl_spec_restart *rs = &s->a->restart;
    char *cmd = NULL;
    int rc;

    if (rs->unit && asprintf(&cmd, "systemctl start -- '%s'", rs->unit) < 0)
        cmd = NULL;
    rc = fl_cluster_run(s->spec, s->host, cmd ? cmd : rs->command, rs->timeout_ms, s->state_dir,
                        s->restart_out, sizeof s->restart_out);
    free(cmd);
    atomic_store(&s->cmd_rc, rc);
    atomic_store(&s->cmd_done, true);
    return NULL;
}

/* Hand an agent host's restart to its agent: a command job delayed by
 * delay_ms that runs at the lease's end if this run dies first; or, with
 * `now`, replace the pending one by one that starts at once (see
 * fl_cluster_job_hurry for what it returns). */
static int remote_restart_job(struct step *s, int64_t delay_ms, bool now, struct fl_err *e)
{
    const struct fl_spec_restart *rs = &s->a->restart;
    char *cmd = NULL, name[96];
    int rc;

    if (rs->unit && asprintf(&cmd, "systemctl start -- '%s'", rs->unit) < 0)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    snprintf(name, sizeof name, "%s-restart", s->a->name);
    rc = now ? fl_cluster_job_hurry(s->remote, s->restart_job, name, cmd ? cmd : rs->command,
                                    rs->timeout_ms, true, e)
             : fl_cluster_job_start(s->remote, name, cmd ? cmd : rs->command, rs->timeout_ms,
                                    delay_ms, true, s->restart_job, e);
    free(cmd);
    return rc;
}

/* The agent runs the restart (a delayed job that survives this run: it
 * starts at the lease's end if the run dies); this thread waits for it. */
static void *remote_restart_main(void *arg)
{
    struct step *s = arg;
    const struct fl_spec_restart *rs = &s->a->restart;
    int64_t due = s->restart_due;
    int rc = 0;

    /* the run ends or stops before `after`: the restart runs now, as a local
     * one would (the agent's delayed job is replaced by one that starts at once) */
    while (!atomic_load(&s->restart_hurry) && fl_now_ms() < due)
        fl_sleep_ms(20);
    if (fl_now_ms() < due - 100) {
        struct fl_err e = {0};
        if ((rc = remote_restart_job(s, 0, true, &e)) < 0) { /* the agent could not be asked */
            snprintf(s->restart_out, sizeof s->restart_out, "%s", e.msg);
            rc = -EHOSTUNREACH;
        }
        due = fl_now_ms();
    }
    if (rc >= 0)
        rc = fl_cluster_job_wait(s->remote, s->restart_job, due + rs->timeout_ms + 5000,
                                 s->restart_out, sizeof s->restart_out);
    if (rc == -EHOSTUNREACH) { /* the agent did not answer: say what it still does */
        size_t n = strlen(s->restart_out);
        snprintf(s->restart_out + n, sizeof s->restart_out - n,
                 "%sthe agent, if it is alive, still starts the restart when it is due or when "
                 "this run's lease ends",
                 n ? "; " : "");
    }
    atomic_store(&s->cmd_rc, rc);
    atomic_store(&s->cmd_done, true);
    return NULL;
}

/* Before a kill on an agent host: hand its restart to that agent (so it
 * is there even if this run dies right after the kill). If the agent does
 * not take it, the member is not killed: the step ends the run as error. */
static bool remote_restart_prepare(struct run *r, struct step *s)
{
    struct fl_err e = {0};

    if (remote_restart_job(s, s->a->restart.after_ms, false, &e) == 0) {
        s->restart_due = fl_now_ms() + s->a->restart.after_ms;
        return true;
    }
    s->restart_job[0] = '\0';
    s->state = STEP_DONE;
    s->has_fault = false;
    event(r, "%s: the restart could not be handed to host %s's agent: %s; not killed", s->a->name,
          s->host, e.msg);
    set_verdict(r, FL_VERDICT_ERROR,
                "%s: the restart could not be handed to host %s's agent: %s; the member was not "
                "killed",
                s->a->name, s->host, e.msg);
    r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
    return false;
}

/* The kill on an agent host is done: wait for the agent's restart. */
static void remote_restart_begin(struct run *r, struct step *s)
{
    const struct fl_spec_restart *rs = &s->a->restart;

    event(r,
          "%s: restart in %.1fs on host %s by its agent (job %s, run at the lease's end if "
          "this run stops first): %s%s",
          s->a->name, (double)rs->after_ms / 1000.0, s->host, s->restart_job,
          rs->unit ? "systemctl start " : "", rs->unit ? rs->unit : rs->command);
    atomic_store(&s->cmd_done, false);
    atomic_store(&s->restart_hurry, false);
    s->state = STEP_ACTIVE; /* until the member is back */
    s->restart = RESTART_RUNNING;
    s->cmd_started = pthread_create(&s->cmd_th, NULL, remote_restart_main, s) == 0;
    if (!s->cmd_started) {
        atomic_store(&s->cmd_rc, -EAGAIN);
        atomic_store(&s->cmd_done, true);
    }
}

static void restart_begin(struct run *r, struct step *s)
{
    /* a lease that outlasts the command: at the end of the run
     * (restart_all) nothing renews it while the command runs */
    if (s->restart_id[0])
        fl_fault_renew(&r->j, s->restart_id, s->a->restart.timeout_ms + LEASE_MS);
    atomic_store(&s->cmd_done, false);
    s->restart = RESTART_RUNNING;
    s->cmd_started = pthread_create(&s->cmd_th, NULL, restart_main, s) == 0;
    if (!s->cmd_started) {
        atomic_store(&s->cmd_rc, -EAGAIN);
        atomic_store(&s->cmd_done, true);
    }
    event(r, "%s: restarting%s%s", s->a->name, s->host ? " on host " : "", s->host ? s->host : "");
}

/* The restart ended: record it; a restart that failed leaves the member
 * down, which the run cannot call a pass. */
static void restart_end(struct run *r, struct step *s)
{
    int rc;

    if (s->cmd_started)
        pthread_join(s->cmd_th, NULL);
    rc = atomic_load(&s->cmd_rc);
    s->cmd_started = false;
    s->restart = RESTART_DONE;
    s->state = STEP_DONE;
    /* ran (or failed, which the verdict says): nothing left to promise */
    fl_journal_remove(&r->j, s->restart_id);
    if (rc == 0) {
        event(r, "%s: restarted (revert of the kill)%s%s", s->a->name,
              s->restart_out[0] ? ": " : "", s->restart_out);
        r->last_revert_ms = rel_ms(r->t0_ns);
        return;
    }
    event(r, "%s: the restart %s %d: %s", s->a->name,
          rc == -ETIMEDOUT ? "timed out, error"
          : rc < 0         ? "failed with error"
                           : "exited with status",
          rc, s->restart_out);
    set_verdict(r, FL_VERDICT_ERROR,
                "%s: the killed member was not restarted (%s %d: %s); it is still down", s->a->name,
                rc < 0 ? "error" : "status", rc, s->restart_out);
}

/* Keep the record's lease while the restart is pending or running; a
 * record gone meanwhile was run by someone else (recover, or the guardian
 * because this run was stopped past its lease). */
static void restart_renew(struct run *r, struct step *s, int64_t now)
{
    char by[256];

    if (!s->restart_id[0] || now < s->next_renew)
        return; /* no record: a restart some other way (an agent host's job) */
    s->next_renew = now + LEASE_MS / 3;
    if (fl_fault_renew(&r->j, s->restart_id, LEASE_MS) || s->restart != RESTART_PENDING)
        return;
    fl_journal_reverted_by(&r->j, s->restart_id, by, sizeof by);
    s->restart = RESTART_DONE;
    s->state = STEP_DONE;
    event(r, "%s: the pending restart (%s) was run by %s", s->a->name, s->restart_id, by);
}

static void restart_poll(struct run *r, struct step *s, int64_t now)
{
    restart_renew(r, s, now);
    if (s->restart == RESTART_PENDING && now >= s->restart_at)
        restart_begin(r, s);
    if (s->restart == RESTART_RUNNING && atomic_load(&s->cmd_done))
        restart_end(r, s);
}

/* At the end of the run (or an abort): every pending restart runs now,
 * every running one is waited for. */
static void restart_all(struct run *r)
{
    for (size_t i = 0; i < r->spec->nactions; i++) {
        struct step *s = &r->steps[i];
        if (s->restart == RESTART_PENDING)
            restart_begin(r, s);
        if (s->restart == RESTART_RUNNING) {
            atomic_store(&s->restart_hurry, true);
            restart_end(r, s);
        }
    }
}

/* ---- faults on agent hosts --------------------------------------------- */

static int64_t step_duration(const struct run *r, const struct fl_spec_action *a)
{
    int64_t dur = a->duration_ms ? a->duration_ms : r->spec->duration_ms - a->start_ms;

    if (a->ops->flags & FL_FAULT_INSTANT)
        return 0;
    return dur < 0 ? 0 : dur;
}

/* Apply through the host's agent (or take what apply_together did). */
static void start_remote(struct run *r, struct step *s, size_t idx)
{
    const struct fl_spec_action *a = s->a;
    struct fl_err e = {0};
    json_t *rec = NULL;
    int rc;

    s->f.duration_ms = step_duration(r, a);
    if (s->pre) {
        rc = s->pre_rc;
        e = s->pre_err;
        memcpy(s->f.id, s->pre_id, sizeof s->f.id);
        rec = s->pre_record;
        s->pre_record = NULL;
    } else {
        if (a->restart.present && !s->restart_job[0] && !remote_restart_prepare(r, s))
            return;
        rc = fl_agent_client_apply(s->remote, a->ops->kind, s->f.params, s->f.duration_ms,
                                   (r->seed + idx) & ((1ULL << 53) - 1), s->f.id, &rec, &e);
        s->applied_ns = fl_mono_ns();
    }
    if (rc) {
        bool found;
        struct fl_err ignore = {0};
        if (s->pre && s->pre_id[0]) /* prepared, then the commit failed: drop it now */
            fl_agent_client_revert(s->remote, s->pre_id, &found, &ignore);
        if (s->restart_job[0]) /* nothing was killed: no restart either */
            fl_agent_client_job_delete(s->remote, s->restart_job, NULL, &ignore);
        s->state = STEP_DONE;
        s->has_fault = false;
        event(r, "%s could not be applied on host %s: %s", a->name, s->host, e.msg);
        set_verdict(r, FL_VERDICT_ERROR, "%s (%s) could not be applied on host %s: %s", a->name,
                    a->ops->kind, s->host, e.msg);
        r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
        json_decref(rec);
        return;
    }
    s->end_ms = rel_ms(r->t0_ns) + s->f.duration_ms;
    s->next_renew = INT64_MAX; /* the renewer thread keeps the agents' leases */
    if (a->ops->flags & FL_FAULT_INSTANT) {
        s->state = STEP_DONE;
        s->has_fault = false;
    }
    event(r, "%s %s applied on host %s by its agent%s (%s): %s", a->name, s->f.id, s->host,
          s->has_fault ? "" : " (at once)", a->ops->kind,
          json_string_value(json_object_get(rec, "description"))
              ? json_string_value(json_object_get(rec, "description"))
              : "");
    json_decref(rec);
    if (a->restart.present)
        remote_restart_begin(r, s);
}

struct host_batch {
    struct run *r;
    struct step **steps; /* this host's due steps, applied in order */
    size_t n;
    bool commit; /* the second pass */
    pthread_t th;
    bool started;
};

/* First pass: each agent plans, journals and guards its faults (nothing
 * injected yet); second pass: each injects them. The slow part is done
 * before any host injects, so the hosts' injections land close together. */
static void *batch_main(void *arg)
{
    struct host_batch *b = arg;

    for (size_t i = 0; i < b->n; i++) {
        struct step *s = b->steps[i];
        size_t idx = (size_t)(s - b->r->steps);
        if (!b->commit) {
            s->pre_rc = fl_agent_client_prepare(
                s->remote, s->a->ops->kind, s->pre_params, step_duration(b->r, s->a),
                (b->r->seed + idx) & ((1ULL << 53) - 1), s->pre_id, &s->pre_err);
            continue;
        }
        if (s->pre_rc)
            continue;
        s->pre_rc = fl_agent_client_commit(s->remote, s->pre_id, &s->pre_record, &s->pre_err);
        s->applied_ns = fl_mono_ns();
    }
    return NULL;
}

static void run_batches(struct host_batch *b, size_t n, bool commit)
{
    for (size_t h = 0; h < n; h++)
        if (b[h].n) {
            b[h].commit = commit;
            b[h].started = pthread_create(&b[h].th, NULL, batch_main, &b[h]) == 0;
            if (!b[h].started)
                batch_main(&b[h]);
        }
    for (size_t h = 0; h < n; h++)
        if (b[h].started) {
            pthread_join(b[h].th, NULL);
            b[h].started = false;
        }
}

/* Steps on agent hosts that are due now start together: one thread per
 * host applies that host's steps, so hosts do not wait for each other. */
static void apply_together(struct run *r, int64_t el)
{
    struct host_batch *b = calloc(r->spec->nhosts + 1, sizeof *b);

    for (size_t i = 0; b && i < r->spec->nactions; i++) {
        struct step *s = &r->steps[i];
        const struct fl_spec_action *a = s->a;
        struct fl_agent_client *c;
        struct fl_err e = {0};
        char note[512];
        size_t h;
        if (s->state != STEP_PENDING || el < a->start_ms || a->type != FL_ACTION_FAULT ||
            a->resolve.kind != FL_RESOLVE_NONE ||
            !(c = fl_cluster_agent_of(r->spec, r->agents, a->host)))
            continue;
        if (!(s->pre_params = fl_cluster_step_params(r->spec, r->agents, a, r->o->state_dir, NULL,
                                                     note, sizeof note, &e)))
            continue; /* start_step reports it */
        h = (size_t)(fl_spec_host_find(r->spec, a->host) - r->spec->hosts);
        if (!b[h].steps && !(b[h].steps = calloc(r->spec->nactions, sizeof(struct step *))))
            continue;
        s->remote = c;
        if (a->restart.present && !remote_restart_prepare(r, s)) {
            json_decref(s->pre_params);
            s->pre_params = NULL;
            continue;
        }
        s->pre = true;
        b[h].steps[b[h].n++] = s;
    }
    for (size_t h = 0; b && h < r->spec->nhosts; h++)
        b[h].r = r;
    if (b) {
        run_batches(b, r->spec->nhosts, false);
        run_batches(b, r->spec->nhosts, true);
    }
    for (size_t h = 0; b && h < r->spec->nhosts; h++)
        free(b[h].steps);
    free(b);
}

/* ---- agents restarted mid-fault ---------------------------------------- */

static bool id_listed(const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;

    json_array_foreach (ids, i, v)
        if (json_string_value(v) && !strcmp(json_string_value(v), id))
            return true;
    return false;
}

/* A time of this process's fl_now_ms() clock, relative to the run's t0. */
static double rel_s(const struct run *r, int64_t now_ms_clock)
{
    return (double)(rel_ms(r->t0_ns) - (fl_now_ms() - now_ms_clock)) / 1000.0;
}

static void note_gap(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add one fault's gap to r->gaps ("a, b"); what does not fit is cut. */
static void note_gap(struct run *r, const char *fmt, ...)
{
    size_t off = strlen(r->gaps);
    va_list ap;

    if (off + 3 >= sizeof r->gaps)
        return;
    if (off)
        off += (size_t)snprintf(r->gaps + off, sizeof r->gaps - off, ", ");
    va_start(ap, fmt);
    vsnprintf(r->gaps + off, sizeof r->gaps - off, fmt, ap);
    va_end(ap);
}

/* Step s's fault vanished with its agent's restart: apply it again for the
 * rest of its window (unless reclaim: false), and say how long it was not in
 * force. A re-apply that fails is an error of the run, as any apply. */
static void reclaim_step(struct run *r, struct step *s, const struct fl_agent_restart *rst)
{
    const struct fl_spec_action *a = s->a;
    int64_t left = s->end_ms - rel_ms(r->t0_ns);
    char id[FL_FAULT_ID_LEN], old[FL_FAULT_ID_LEN];
    struct fl_err e = {0};
    json_t *rec = NULL;
    /* it held at the old agent's last renewal, or at least since it was applied;
     * each moment computed once, so the event and the verdict say the same */
    double applied, held = rel_s(r, rst->last_ok_ms), started = rel_s(r, rst->started_ms);
    double since = (double)(s->applied_ns - r->t0_ns) / 1e9;

    if (since > held)
        held = since;
    memcpy(old, s->f.id, sizeof old);
    if (a->no_reclaim || left <= 0) {
        s->state = STEP_DONE;
        s->has_fault = false;
        event(r,
              "%s %s is not re-claimed on host %s (%s): it held until the old agent died, "
              "between +%.1fs and +%.1fs, not for its whole window",
              a->name, old, s->host, a->no_reclaim ? "reclaim: false" : "its window is over", held,
              started);
        note_gap(r, "%s on host %s ended early, by +%.1fs", a->name, s->host, started);
        return;
    }
    if (fl_agent_client_apply(s->remote, a->ops->kind, s->f.params, left,
                              (r->seed + (uint64_t)(s - r->steps)) & ((1ULL << 53) - 1), id, &rec,
                              &e)) {
        s->state = STEP_DONE;
        s->has_fault = false;
        event(r, "%s could not be re-claimed on host %s after its agent restarted: %s", a->name,
              s->host, e.msg);
        set_verdict(r, FL_VERDICT_ERROR,
                    "%s (%s) could not be re-claimed on host %s after its agent restarted: %s",
                    a->name, a->ops->kind, s->host, e.msg);
        r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
        return;
    }
    json_decref(rec);
    memcpy(s->f.id, id, sizeof s->f.id);
    applied = (double)rel_ms(r->t0_ns) / 1000.0;
    event(r,
          "%s re-claimed on host %s as %s for the remaining %.1fs: it was not in force for "
          "%.1fs to %.1fs (gone when the new agent started at +%.1fs at the latest, at +%.1fs "
          "at the earliest, when it last was known to hold; re-applied at +%.1fs)",
          a->name, s->host, id, (double)left / 1000.0, applied - started, applied - held, started,
          held, applied);
    note_gap(r, "%s on host %s was not in force for %.1fs to %.1fs", a->name, s->host,
             applied - started, applied - held);
}

/* An agent restarted while this run held faults there: its journal reverted
 * them as it started. Record it, then re-claim each one. */
static void reclaim_after_restart(struct run *r, struct fl_agent_client *c)
{
    struct fl_agent_restart rst;
    char gone[600] = "";
    size_t off = 0;
    bool any = false;

    if (!fl_agent_renewer_restarted(r->renewer, c, &rst))
        return;
    for (size_t i = 0; i < r->spec->nactions; i++) {
        struct step *s = &r->steps[i];
        if (s->remote != c || s->state != STEP_ACTIVE || !s->has_fault ||
            id_listed(rst.live, s->f.id))
            continue;
        if (off < sizeof gone)
            off += (size_t)snprintf(gone + off, sizeof gone - off, "%s%s (%s)", any ? ", " : "",
                                    s->a->name, s->f.id);
        any = true;
    }
    event(r, "agent %s restarted at +%.1fs (pid %d, before %d); its journal reverted %s",
          fl_agent_client_name(c), rel_s(r, rst.started_ms), rst.new_pid, rst.old_pid,
          any ? gone : "none of this run's faults");
    for (size_t i = 0; any && i < r->spec->nactions; i++) {
        struct step *s = &r->steps[i];
        if (s->remote == c && s->state == STEP_ACTIVE && s->has_fault &&
            !id_listed(rst.live, s->f.id) && r->res->verdict == FL_VERDICT_PASSED)
            reclaim_step(r, s, &rst);
    }
    json_decref(rst.live);
}

/* Faults that started (reverted: ended) since tick_ns on several hosts: how
 * far apart their applies (reverts) returned. */
static void report_skew_of(struct run *r, int64_t tick_ns, bool reverts)
{
    int64_t lo = INT64_MAX, hi = 0;
    size_t n = 0, hosts = 0;
    const char *seen[FL_LAB_MAX_HOSTS * 2];

    for (size_t i = 0; i < r->spec->nactions; i++) {
        struct step *s = &r->steps[i];
        int64_t at = reverts ? s->reverted_ns : s->applied_ns;
        bool dup = false;
        if (at < tick_ns || !s->host)
            continue;
        n++;
        lo = at < lo ? at : lo;
        hi = at > hi ? at : hi;
        for (size_t k = 0; k < hosts; k++)
            dup |= !strcmp(seen[k], s->host);
        if (!dup && hosts < sizeof seen / sizeof *seen)
            seen[hosts++] = s->host;
    }
    if (n >= 2 && hosts >= 2 && !reverts)
        event(r,
              "%zu faults on %zu hosts started together: applied within %.1fms of each other "
              "(skew between the hosts' apply times)",
              n, hosts, (double)(hi - lo) / 1e6);
    else if (n >= 2 && hosts >= 2)
        event(r,
              "%zu faults on %zu hosts ended together: reverted within %.1fms of each other "
              "(skew between the hosts' revert times)",
              n, hosts, (double)(hi - lo) / 1e6);
}

static void report_skew(struct run *r, int64_t tick_ns)
{
    report_skew_of(r, tick_ns, false);
    report_skew_of(r, tick_ns, true);
}

/* Journal the restart of a process.kill step before the kill
 * (process.restart, agent/journal.h): its revert runs the restart command
 * where the step's host says, so the member comes back even if this run
 * is killed before it restarts it. */
static int restart_journal(struct run *r, struct step *s, struct fl_err *e)
{
    const struct fl_spec_restart *rs = &s->a->restart;
    struct fl_shell_where w;
    struct fl_fault f;
    char ref[64], why[256], cwd[PATH_MAX], *cmd = NULL;
    int64_t due;
    json_t *p;
    int rc;

    if (fl_cluster_where(r->spec, s->host, r->o->state_dir, &w, ref, sizeof ref, why, sizeof why))
        return fl_err_set(e, FL_EUSAGE, "its restart cannot run: %s", why);
    if (rs->unit && asprintf(&cmd, "systemctl start -- '%s'", rs->unit) < 0)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    due = fl_now_ms() + rs->after_ms;
    p = json_pack("{s:s, s:s, s:I, s:I}", "command", cmd ? cmd : rs->command, "step", s->a->name,
                  "timeout_ms", (json_int_t)rs->timeout_ms, "due_ms", (json_int_t)due);
    free(cmd);
    if (!p)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (w.lab_ref)
        json_object_set_new(p, "lab", json_string(w.lab_ref));
    if (w.lab_ref && w.state_dir)
        json_object_set_new(p, "lab_state_dir", json_string(w.state_dir));
    if (getcwd(cwd, sizeof cwd))
        json_object_set_new(p, "cwd", json_string(cwd));
    fl_fault_init(&f, fl_fault_lookup_record("process.restart"), p);
    rc = f.ops->plan(&f, e);
    if (rc == 0)
        rc = fl_fault_apply(&r->j, &f, getpid(), LEASE_MS, 0, e);
    if (rc == 0)
        memcpy(s->restart_id, f.id, sizeof s->restart_id);
    fl_fault_fini(&f);
    return rc ? fl_err_prefix(e, "cannot journal its restart: ") : 0;
}

static void start_step(struct run *r, size_t idx)
{
    struct step *s = &r->steps[idx];
    const struct fl_spec_action *a = s->a;
    struct fl_err e = {0};
    char desc[512], note[512] = "";
    int64_t now = rel_ms(r->t0_ns), dur;

    s->state = STEP_ACTIVE;
    if (a->type == FL_ACTION_COMMAND) {
        event(r, "%s: running `%s`%s%s%s", a->name, a->command, a->host ? " on host " : "",
              a->host ? a->host : "",
              fl_cluster_agent_of(r->spec, r->agents, a->host) ? " by its agent" : "");
        s->remote = fl_cluster_agent_of(r->spec, r->agents, a->host);
        s->cmd_started = pthread_create(&s->cmd_th, NULL, command_main, s) == 0;
        if (!s->cmd_started) {
            s->state = STEP_DONE;
            event(r, "%s: could not start a thread for the command", a->name);
        }
        return;
    }
    {
        const struct fl_spec_host *h = NULL;
        json_t *params = s->pre_params
                             ? s->pre_params
                             : fl_cluster_step_params(r->spec, r->agents, a, r->o->state_dir, &h,
                                                      note, sizeof note, &e);
        s->pre_params = NULL;
        s->host = h ? h->name : a->host;
        if (!params) {
            s->state = STEP_DONE;
            event(r, "%s could not be applied: %s", a->name, e.msg);
            set_verdict(r, FL_VERDICT_ERROR, "%s (%s) could not be applied: %s", a->name,
                        a->ops->kind, e.msg);
            r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
            return;
        }
        if (note[0])
            event(r, "%s: %s", a->name, note);
        fl_fault_init(&s->f, a->ops, params);
    }
    s->has_fault = true;
    if ((s->remote = fl_cluster_agent_of(r->spec, r->agents, s->host))) {
        start_remote(r, s, idx);
        return;
    }
    s->f.seed = (r->seed + idx) & ((1ULL << 53) - 1);
    dur = a->duration_ms ? a->duration_ms : r->spec->duration_ms - a->start_ms;
    if (dur < 0)
        dur = 0;
    s->f.duration_ms = (a->ops->flags & FL_FAULT_INSTANT) ? 0 : dur;
    if (a->ops->plan(&s->f, &e) || (a->restart.present && restart_journal(r, s, &e)) ||
        fl_fault_apply(&r->j, &s->f, getpid(), LEASE_MS,
                       s->f.duration_ms ? fl_now_ms() + s->f.duration_ms : 0, &e)) {
        if (s->restart_id[0]) /* nothing was killed: nothing to restart */
            fl_journal_remove(&r->j, s->restart_id);
        s->restart_id[0] = '\0';
        s->state = STEP_DONE;
        s->has_fault = false;
        event(r, "%s could not be applied: %s", a->name, e.msg);
        set_verdict(r, FL_VERDICT_ERROR, "%s (%s) could not be applied: %s", a->name, a->ops->kind,
                    e.msg);
        r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
        return;
    }
    s->applied_ns = fl_mono_ns();
    fl_fault_describe(&s->f, desc, sizeof desc);
    /* A fault's duration counts from when it holds, not from before plan and
     * apply (journal, guardian, the kernel) took their time. */
    int64_t held = rel_ms(r->t0_ns);
    fl_debug("%s: plan and apply took %lldms", a->name, (long long)(held - now));
    now = held;
    if (a->ops->flags & FL_FAULT_INSTANT) {
        fl_journal_remove(&r->j, s->f.id);
        s->state = STEP_DONE;
        s->has_fault = false;
        event(r, "%s %s (%s): %s", a->name, s->f.id, a->ops->kind, desc);
        if (a->restart.present) {
            s->state = STEP_ACTIVE; /* until the member is back */
            s->restart = RESTART_PENDING;
            s->restart_at = now + a->restart.after_ms;
            s->next_renew = now + LEASE_MS / 3;
            event(r, "%s: restart in %.1fs%s%s: %s%s (journaled as %s)", a->name,
                  (double)a->restart.after_ms / 1000.0, s->host ? " on host " : "",
                  s->host ? s->host : "", a->restart.unit ? "systemctl start " : "",
                  a->restart.unit ? a->restart.unit : a->restart.command, s->restart_id);
        }
        return;
    }
    s->end_ms = now + s->f.duration_ms;
    s->next_renew = now + LEASE_MS / 3;
    event(r, "%s %s applied for %.1fs (%s): %s", a->name, s->f.id,
          (double)s->f.duration_ms / 1000.0, a->ops->kind, desc);
}

/* Judge each guardrail over its window of samples since injection. */
static bool guardrails_trip(struct run *r)
{
    int64_t now = rel_ms(r->t0_ns);

    for (size_t i = 0; i < r->spec->nguardrails; i++) {
        const struct fl_spec_guardrail *g = &r->spec->guardrails[i];
        struct probe_rt *p = &r->probes[g->probe];
        int64_t from = now - g->tol.window_ms;
        char why[512];
        size_t lo;
        bool ok;

        if (from < r->inject_ms)
            from = r->inject_ms;
        pthread_mutex_lock(&p->mu);
        for (lo = p->n; lo > 0 && p->s[lo - 1].t_ms >= from; lo--)
            ;
        /* a window too young to hold a sample yet is not judged; one that
         * should hold samples and has none is a violation ("no samples") */
        if (p->n == lo && now - from < p->sp->interval_ms + p->sp->timeout_ms)
            ok = true;
        else
            ok = fl_tolerance_holds(&g->tol, p->s + lo, p->n - lo, why, sizeof why);
        pthread_mutex_unlock(&p->mu);
        if (ok) {
            r->guard_since[i] = -1;
            continue;
        }
        if (r->guard_since[i] < 0)
            r->guard_since[i] = now;
        if (now - r->guard_since[i] >= g->for_ms) {
            event(r, "guardrail %s tripped: probe %s: %s (for %lldms)", g->name, p->sp->name, why,
                  (long long)(now - r->guard_since[i]));
            set_verdict(r, FL_VERDICT_ABORTED,
                        "guardrail %s tripped at +%.1fs after injection: probe %s: %s; every "
                        "fault was reverted at once",
                        g->name, (double)(now - r->inject_ms) / 1000.0, p->sp->name, why);
            return true;
        }
    }
    return false;
}

static void inject_and_observe(struct run *r)
{
    const struct fl_spec *sp = r->spec;
    int64_t end_ns;

    r->phase = "inject";
    r->inject_ms = rel_ms(r->t0_ns);
    event(r, "injecting: %zu step(s) over %.1fs (seed %llu)", sp->nactions,
          (double)sp->duration_ms / 1000.0, (unsigned long long)r->seed);
    for (;;) {
        int64_t now = rel_ms(r->t0_ns), el = now - r->inject_ms, tick_ns = fl_mono_ns();
        bool busy = false;

        if (stopping(r)) {
            event(r, "interrupted by %s: reverting everything", sig_name(engine_stop));
            set_verdict(r, FL_VERDICT_ABORTED,
                        "interrupted by %s at +%.1fs after injection; every fault was "
                        "reverted",
                        sig_name(engine_stop), (double)el / 1000.0);
            break;
        }
        if (r->agents)
            apply_together(r, el);
        for (size_t h = 0; r->agents && r->renewer && h < sp->nhosts; h++)
            if (r->agents[h])
                reclaim_after_restart(r, r->agents[h]);
        for (size_t i = 0; i < sp->nactions; i++) {
            struct step *s = &r->steps[i];
            if (s->state == STEP_PENDING && el >= s->a->start_ms)
                start_step(r, i);
            if (r->res->verdict != FL_VERDICT_PASSED)
                break;
            if (s->restart != RESTART_NONE) {
                restart_poll(r, s, now);
                busy |= s->state != STEP_DONE;
                continue;
            }
            if (s->state == STEP_ACTIVE && s->has_fault) {
                if (now >= s->end_ms) {
                    revert_split(r, s, "its duration ended");
                } else if (now >= s->next_renew) {
                    s->next_renew = now + LEASE_MS / 3;
                    if (!fl_fault_renew(&r->j, s->f.id, LEASE_MS)) {
                        char by[256];
                        fl_journal_reverted_by(&r->j, s->f.id, by, sizeof by);
                        s->state = STEP_DONE;
                        event(r, "%s %s was reverted by %s", s->a->name, s->f.id, by);
                    }
                }
            }
            if (s->state == STEP_ACTIVE && !s->has_fault && atomic_load(&s->cmd_done)) {
                int rc = atomic_load(&s->cmd_rc);
                s->state = STEP_DONE;
                event(r, "%s: command exited with %s%d", s->a->name, rc < 0 ? "error " : "status ",
                      rc);
            }
            busy |= s->state != STEP_DONE;
        }
        report_skew(r, tick_ns);
        if (r->res->verdict != FL_VERDICT_PASSED)
            break;
        if (r->spec->nguardrails && guardrails_trip(r))
            break;
        if (!busy && el >= sp->duration_ms)
            break;
        if (el >= sp->duration_ms) {
            /* past the duration: revert what is left (commands may still run) */
            end_ns = fl_mono_ns();
            for (size_t i = 0; i < sp->nactions; i++)
                if (r->steps[i].has_fault)
                    revert_step(r, &r->steps[i], "the experiment's duration ended");
            report_skew_of(r, end_ns, true);
        }
        tick(r);
    }
    r->phase = "revert";
    end_ns = fl_mono_ns();
    revert_all(r, r->res->verdict == FL_VERDICT_PASSED ? "end of the experiment" : "abort");
    report_skew_of(r, end_ns, true);
    r->revert_end_ms = rel_ms(r->t0_ns);
}

/* Index of the first sample of the healthy streak that is still running at
 * the end of the samples, or n when the last sample failed. */
static size_t streak_start(const struct probe_rt *p)
{
    size_t i = p->n;

    while (i > 0 && p->s[i - 1].ok)
        i--;
    return i;
}

/* The ticks of a probe on an agent host from where its samples stop up to
 * until_ms never arrived (the agent stayed out of reach, or the job ended):
 * they are recorded as failed samples, "no data", so a gap can never pass
 * for health; a sample that arrives later for such a tick is dropped. */
static void fill_gap(struct run *r, struct probe_rt *p, int64_t until_ms)
{
    struct fl_sample s = {.value = NAN, .latency_ms = (double)p->sp->timeout_ms};
    int64_t from, t;
    char why[200], detail[160];
    size_t n = 0;

    pthread_mutex_lock(&p->mu); /* the probe's thread may still add samples */
    from = p->covered_ms >= 0 ? p->covered_ms : fl_remote_probe_started_ms(p->remote);
    snprintf(why, sizeof why, "%s",
             p->down_since >= 0 ? p->down_why
             : p->eof           ? p->last
                                : "no sample was printed");
    snprintf(detail, sizeof detail, "no data from host %s's agent: %s", p->sp->host, why);
    for (t = from; t <= until_ms; t += p->sp->interval_ms, n++) {
        s.t_ms = t;
        push_locked(p, &s, detail);
    }
    if (t > p->covered_ms)
        p->covered_ms = t;
    pthread_mutex_unlock(&p->mu);
    if (n)
        event(r,
              "no data from probe %s on host %s between +%.1fs and +%.1fs (%s): its %zu ticks "
              "count as failed samples",
              p->sp->name, p->sp->host, (double)from / 1000.0, (double)until_ms / 1000.0, why, n);
}

/* Wait until every probe has recorded each tick up to the end of the
 * injection phase (a sample may still be running), so the judgement and
 * the statistics count exactly the same samples. Bounded by the slowest
 * probe's interval and timeout; a probe on an agent host that cannot be
 * reached is waited for up to a lease longer (the agent ends what cuts it
 * off by then), then its missing ticks are filled as no data. */
static void settle_samples(struct run *r, int64_t until_ms)
{
    int64_t limit = 0, deadline, remote_deadline;

    for (size_t i = 0; i < r->spec->nprobes; i++) {
        const struct fl_spec_probe *sp = r->probes[i].sp;
        if (sp->interval_ms + sp->timeout_ms > limit)
            limit = sp->interval_ms + sp->timeout_ms;
    }
    deadline = rel_ms(r->t0_ns) + limit + 1000;
    remote_deadline = deadline + LEASE_MS + 2000;
    for (;;) {
        int64_t now = rel_ms(r->t0_ns);
        bool all = true;
        for (size_t i = 0; i < r->spec->nprobes; i++) {
            struct probe_rt *p = &r->probes[i];
            pthread_mutex_lock(&p->mu);
            all &= !p->started || p->covered_ms > until_ms ||
                   (p->remote ? p->eof || now >= remote_deadline : now >= deadline);
            pthread_mutex_unlock(&p->mu);
        }
        if (all || stopping(r))
            break;
        report_remote(r);
        fl_sleep_ms(5);
    }
    for (size_t i = 0; i < r->spec->nprobes; i++)
        if (r->probes[i].remote && r->probes[i].started)
            fill_gap(r, &r->probes[i], until_ms);
}

static void judge_hypothesis(struct run *r)
{
    char buf[1800];
    size_t off = 0;

    r->phase = "judge";
    settle_samples(r, r->revert_end_ms);
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        char why[512];
        int64_t at = 0;
        bool ok;

        p->detect_ms = -1;
        if (p->sp->role != FL_PROBE_STEADY)
            continue;
        pthread_mutex_lock(&p->mu);
        ok = fl_tolerance_holds_phase(&p->sp->tol, p->s, p->n, r->inject_ms, r->revert_end_ms, &at,
                                      why, sizeof why);
        for (size_t k = 0; k < p->n; k++)
            if (p->s[k].t_ms >= r->inject_ms && !p->s[k].ok) {
                p->detect_ms = p->s[k].t_ms - r->inject_ms;
                break;
            }
        pthread_mutex_unlock(&p->mu);
        if (!ok && off < sizeof buf)
            off += (size_t)snprintf(
                buf + off, sizeof buf - off, "%sprobe %s: %s, seen at +%.1fs after injection",
                off ? "; " : "", p->sp->name, why, (double)(at - r->inject_ms) / 1000.0);
    }
    if (off) {
        event(r, "hypothesis broken: %s", buf);
        set_verdict(r, FL_VERDICT_FAILED, "hypothesis broken during the faults: %s", buf);
    } else if (r->res->verdict == FL_VERDICT_PASSED && r->spec->nprobes) {
        event(r, "hypothesis held during the faults");
    }
}

static void observe_recovery(struct run *r)
{
    const struct fl_spec *sp = r->spec;
    int64_t limit = sp->recovery_within_ms + sp->recovery_stable_ms;
    int64_t base = r->last_revert_ms >= 0 ? r->last_revert_ms : r->revert_end_ms;
    bool all = false;

    r->phase = "recover";
    if (sp->has_recovery)
        event(r, "waiting up to %.1fs for the steady state to return (stable for %.1fs)",
              (double)sp->recovery_within_ms / 1000.0, (double)sp->recovery_stable_ms / 1000.0);
    for (;;) {
        int64_t now = rel_ms(r->t0_ns);
        all = true;
        for (size_t i = 0; i < sp->nprobes; i++) {
            struct probe_rt *p = &r->probes[i];
            size_t k;
            bool rec;
            if (p->sp->role != FL_PROBE_STEADY)
                continue;
            pthread_mutex_lock(&p->mu);
            k = streak_start(p);
            rec = k < p->n && p->s[p->n - 1].t_ms - p->s[k].t_ms >= sp->recovery_stable_ms &&
                  p->s[p->n - 1].t_ms >= base;
            p->recover_ms = rec ? (p->s[k].t_ms > base ? p->s[k].t_ms - base : 0) : -1;
            pthread_mutex_unlock(&p->mu);
            all &= rec;
        }
        if (all || !sp->has_recovery || stopping(r) || now - base >= limit)
            break;
        tick(r);
    }
    if (!sp->has_recovery)
        return;
    for (size_t i = 0; i < sp->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        if (p->sp->role != FL_PROBE_STEADY)
            continue;
        if (p->recover_ms >= 0 && p->recover_ms <= sp->recovery_within_ms) {
            event(r, "probe %s recovered %.3fs after the last revert", p->sp->name,
                  (double)p->recover_ms / 1000.0);
        } else {
            char lim[32];
            fl_format_duration(sp->recovery_within_ms, lim, sizeof lim);
            event(r, "probe %s did not recover within %s (last: %s)", p->sp->name, lim, p->last);
            set_verdict(r, FL_VERDICT_FAILED,
                        "probe %s did not return to steady state within %s after the faults "
                        "were reverted (last sample: %s)",
                        p->sp->name, lim, p->last);
        }
    }
}

static void rollbacks(struct run *r)
{
    r->phase = "rollback";
    for (size_t i = 0; i < r->spec->nrollbacks; i++) {
        char out[256];
        int rc = fl_probe_run_command(r->spec->rollbacks[i], r->spec->rollback_timeout_ms, out,
                                      sizeof out);
        event(r, "`%s` exited with %s%d", r->spec->rollbacks[i], rc < 0 ? "error " : "status ", rc);
    }
}

/* ---- agents ------------------------------------------------------------------ */

/* Does the run have host `name`'s agent run commands (setup, teardown,
 * command steps, restarts)? Workloads need no --allow-commands. A restart
 * of a step whose host host_from picks may land on any agent host. */
static bool needs_commands(const struct fl_spec *s, const char *name)
{
    for (size_t i = 0; i < s->nsetup; i++)
        if (s->setup[i].host && !strcmp(s->setup[i].host, name))
            return true;
    for (size_t i = 0; i < s->nteardown; i++)
        if (s->teardown[i].host && !strcmp(s->teardown[i].host, name))
            return true;
    for (size_t i = 0; i < s->nactions; i++)
        if (s->actions[i].host && !strcmp(s->actions[i].host, name) &&
            (s->actions[i].type == FL_ACTION_COMMAND || s->actions[i].restart.present))
            return true;
    for (size_t i = 0; i < s->nactions; i++)
        if (s->actions[i].restart.present && s->actions[i].resolve.kind != FL_RESOLVE_NONE)
            return true;
    for (size_t i = 0; i < s->nactions; i++) /* host_from's command: asked from there */
        if (s->actions[i].resolve.kind == FL_RESOLVE_COMMAND && s->actions[i].resolve.from &&
            !strcmp(s->actions[i].resolve.from, name))
            return true;
    return false;
}

/* Refuse, before anything runs, a run that needs commands on an agent
 * started without --allow-commands (its health says "commands": false). */
static int check_agent_commands(struct run *r, struct fl_err *e)
{
    for (size_t i = 0; i < r->spec->nhosts; i++) {
        const struct fl_spec_host *h = &r->spec->hosts[i];
        json_t *health = NULL;
        bool ok;
        if (!r->agents[i] || !needs_commands(r->spec, h->name))
            continue;
        if (fl_agent_client_health(r->agents[i], &health, e))
            return -e->code;
        ok = json_is_true(json_object_get(health, "commands"));
        json_decref(health);
        if (!ok)
            return fl_err_set(e, FL_EPERM,
                              "host %s: its agent (%s) runs no commands, and this experiment "
                              "runs setup, teardown, command steps, restarts or host_from "
                              "commands there; start "
                              "that agent with `faultline agent --allow-commands` (a lab: "
                              "`faultline lab up --agent-commands`)",
                              h->name, h->agent);
    }
    return 0;
}

/* Reach every agent host before anything else happens (an unreachable one,
 * or one that refuses the token, ends the run naming it, nothing injected),
 * then keep the leases of what they will hold renewed from a thread. */
static bool open_agents(struct run *r)
{
    struct fl_agent_client *live[FL_SPEC_MAX_HOSTS];
    struct fl_err e = {0};
    size_t n = 0;
    int rc;

    for (size_t i = 0; i < r->spec->nhosts; i++)
        n += r->spec->hosts[i].agent != NULL;
    if (!n)
        return true;
    r->phase = "hosts";
    rc = fl_cluster_agents_open(r->spec, LEASE_MS, &r->agents, &e);
    n = 0;
    for (size_t i = 0; !rc && i < r->spec->nhosts && n < FL_SPEC_MAX_HOSTS; i++)
        if (r->agents[i])
            live[n++] = r->agents[i]; /* the renewer copies the array */
    if (rc || check_agent_commands(r, &e) || fl_agent_renewer_start(live, n, &r->renewer, &e)) {
        event(r, "%s", e.msg);
        set_verdict(r, FL_VERDICT_ERROR, "%s; nothing was injected", e.msg);
        r->res->exit_code = e.code > 1 && e.code < 8 ? e.code : FL_EXIT_ERROR;
        return false;
    }
    event(r, "%zu agent host(s) reachable, tokens accepted; leases of %llds renewed every %llds", n,
          (long long)LEASE_MS / 1000, (long long)LEASE_MS / 3000);
    return true;
}

/* ---- setup and teardown -------------------------------------------------- */

/* Run setup (stop at the first failure: the run ends `error` before
 * anything is injected) or teardown (every command, always) on their
 * hosts; each command's output goes into the run's timeline. */
static bool run_commands(struct run *r, const char *phase, const struct fl_spec_command *cmds,
                         size_t n, bool is_setup)
{
    char out[4096];

    r->phase = phase;
    for (size_t i = 0; i < n; i++) {
        const struct fl_spec_command *c = &cmds[i];
        char lim[32];
        int rc;

        if (is_setup && stopping(r))
            return false;
        event(r, "%s%s%s%s: `%s`", c->name, c->host ? " on host " : "", c->host ? c->host : "",
              fl_cluster_agent_of(r->spec, r->agents, c->host) ? " by its agent" : "", c->command);
        rc = fl_cluster_exec(r->spec, r->agents, c->host, c->name, c->command, c->timeout_ms,
                             r->o->state_dir, out, sizeof out);
        fl_format_duration(c->timeout_ms, lim, sizeof lim);
        if (rc == -ETIMEDOUT)
            event(r, "%s: timed out after %s (killed)%s%s", c->name, lim,
                  out[0] ? "; output:\n" : "", out);
        else
            event(r, "%s: %s %d%s%s", c->name,
                  rc < 0 ? "could not run: error" : "exited with status", rc,
                  out[0] ? "; output:\n" : "", out);
        if (rc != 0 && is_setup) {
            set_verdict(
                r, FL_VERDICT_ERROR, "setup %s%s%s failed (%s %d): %.1500s; nothing was injected",
                c->name, c->host ? " on host " : "", c->host ? c->host : "",
                rc == -ETIMEDOUT ? "timed out after"
                : rc < 0         ? "error"
                                 : "status",
                rc == -ETIMEDOUT ? (int)(c->timeout_ms / 1000) : rc, out[0] ? out : "(no output)");
            return false;
        }
    }
    return true;
}

/* ---- workload and checks ----------------------------------------------- */

/* " NAME" of workload k when there are several (messages of a run with one
 * workload read as they always did), else "". */
static const char *wl_label(const struct run *r, size_t k, char *buf, size_t len)
{
    buf[0] = '\0';
    if (r->spec->nworkloads > 1)
        snprintf(buf, len, " %s", r->spec->workloads[k].name);
    return buf;
}

/* Start the clients before the first fault, running through the injection
 * and the recovery window. A client that cannot even start (bad target,
 * server down) ends the run before anything is injected. */
static bool start_workload(struct run *r)
{
    int64_t dur = fl_workload_duration_ms(r->spec);
    struct fl_err e = {0};
    char tail[600];
    int rc;

    if (!r->spec->nworkloads)
        return true;
    r->phase = "workload";
    for (size_t k = 0; k < r->spec->nworkloads; k++) {
        const struct fl_spec_workload *w = &r->spec->workloads[k];
        char lbuf[80];
        const char *lb = wl_label(r, k, lbuf, sizeof lbuf);
        if (fl_workload_child_start(w, fl_cluster_agent_of(r->spec, r->agents, w->host), r->seed,
                                    dur, &r->wl[k], &e)) {
            set_verdict(r, FL_VERDICT_ERROR, "%s%s%s%s", *lb ? "workload" : "", lb, *lb ? ": " : "",
                        e.msg);
            return false;
        }
        r->wl_started[k] = true;
        char where[160] = "";
        if (w->netns)
            snprintf(where, sizeof where, " in netns %s", w->netns);
        else if (w->host)
            snprintf(where, sizeof where, " on host %s by its agent (job %s)", w->host,
                     r->wl[k].job);
        event(r, "%s%s%s%s %s clients started for %.1fs%s, recording a history",
              *lb ? "workload" : "", lb, *lb ? ": " : "", w->client, w->workload,
              (double)dur / 1000.0, where);
    }
    /* Give them a moment to connect: a workload that fails at once is an error. */
    for (int i = 0; i < 5; i++) {
        char lbuf[80];
        fl_sleep_ms(100);
        for (size_t k = 0; k < r->spec->nworkloads; k++) {
            if ((rc = fl_workload_child_poll(&r->wl[k])) < 0)
                continue;
            fl_workload_child_tail(&r->wl[k], tail, sizeof tail);
            set_verdict(r, FL_VERDICT_ERROR,
                        "the workload%s exited with status %d before any fault: %s",
                        wl_label(r, k, lbuf, sizeof lbuf), rc, tail);
            return false;
        }
    }
    return true;
}

static const char *check_result(int rc)
{
    switch (rc) {
    case 0:
        return "valid";
    case 1:
        return "invalid";
    case 2:
        return "unknown";
    default:
        return "error";
    }
}

/* Replace every `from` in buf (a C string of capacity len) with `to`,
 * truncating if it does not fit. */
static void replace_all(char *buf, size_t len, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    char *at = buf;

    if (!fl)
        return;
    while ((at = strstr(at, from))) {
        size_t tail = strlen(at + fl), off = (size_t)(at - buf);
        if (off + tl >= len)
            break;
        if (off + tl + tail >= len)
            tail = len - 1 - off - tl;
        memmove(at + tl, at + fl, tail);
        at[tl + tail] = '\0';
        memcpy(at, to, tl);
        at += tl;
    }
}

/* Run the checks of workload k's history and make them part of the verdict. */
static void run_checks(struct run *r, size_t k)
{
    char out[4096], lbuf[80];
    const char *lb = wl_label(r, k, lbuf, sizeof lbuf);

    for (size_t i = 0; i < r->spec->nchecks; i++) {
        const struct fl_spec_check *ck = &r->spec->checks[i];
        const char *res;
        char first[300];
        size_t n;
        int rc;
        if (ck->workload != k)
            continue;
        rc = fl_check_child_run(ck, r->wl[k].history, out, sizeof out);
        res = check_result(rc);
        fl_store_check(r->o->store, r->run_id, (int)i, ck->model, res, rc, out);
        for (n = 0; out[n] && out[n] != '\n' && n < sizeof first - 1; n++)
            first[n] = out[n];
        first[n] = '\0';
        event(r, "check %s%s%s: %s: %s", ck->model, *lb ? " of workload" : "", lb, res, first);
        if (rc == 1)
            set_verdict(r, FL_VERDICT_FAILED, "the %s check%s%s found the history invalid: %s",
                        ck->model, *lb ? " of workload" : "", lb, first);
        else if (rc == 2)
            set_verdict(r, FL_VERDICT_FAILED,
                        "the %s check%s%s could not decide within its timeout (unknown): %s",
                        ck->model, *lb ? " of workload" : "", lb, first);
        else if (rc != 0)
            set_verdict(r, FL_VERDICT_ERROR, "the %s check could not run (status %d): %s",
                        ck->model, rc, first);
    }
}

/* Workload k's history could not be fetched whole from its agent host: a
 * partial history cannot show that nothing was lost, so its checks say
 * "error" instead of running; what was fetched is stored for a look. */
static void workload_lost(struct run *r, size_t k, int rc, const char *out)
{
    const struct fl_spec_workload *w = &r->spec->workloads[k];
    const char *lost = r->wl[k].lost;
    struct fl_err e = {0};
    char lbuf[80];
    const char *lb = wl_label(r, k, lbuf, sizeof lbuf);

    event(r, "the workload%s on host %s (status %d): %s%s%s", lb, w->host, rc, lost,
          out[0] ? "; " : "", out);
    if (!fl_store_history_put_nth(r->o->store, r->run_id, (int)k, w->name, w->client, w->workload,
                                  r->wl[k].history, &e))
        event(r, "the part of the history%s%s that was fetched is stored with the run",
              *lb ? " of" : "", lb);
    for (size_t i = 0; i < r->spec->nchecks; i++) {
        const struct fl_spec_check *ck = &r->spec->checks[i];
        if (ck->workload != k)
            continue;
        fl_store_check(r->o->store, r->run_id, (int)i, ck->model, "error", 255, lost);
        event(r, "check %s%s%s: error: not run, the history is incomplete", ck->model,
              *lb ? " of workload" : "", lb);
    }
    set_verdict(r, FL_VERDICT_ERROR,
                "the workload%s on host %s: %s; its checks did not run (a partial history "
                "cannot show that nothing was lost)",
                lb, w->host, lost);
    fl_workload_child_cleanup(&r->wl[k]);
    r->wl_started[k] = false;
}

/* Wait for workload k's clients, store its history with the run, run its
 * checks. */
static void finish_one_workload(struct run *r, size_t k)
{
    const struct fl_spec_workload *w = &r->spec->workloads[k];
    int64_t dur = fl_workload_duration_ms(r->spec);
    struct fl_err e = {0};
    char out[4096], lbuf[80];
    const char *lb = wl_label(r, k, lbuf, sizeof lbuf);
    int rc;

    rc = fl_workload_child_wait(&r->wl[k], stopping(r) ? 0 : dur + 30000);
    fl_workload_child_tail(&r->wl[k], out, 600);
    if (!fl_workload_child_complete(&r->wl[k])) {
        workload_lost(r, k, rc, out);
        return;
    }
    if (fl_store_history_put_nth(r->o->store, r->run_id, (int)k, w->name, w->client, w->workload,
                                 r->wl[k].history, &e)) {
        event(r, "the workload%s %s: %s", lb, rc ? "failed" : "finished", out);
        event(r, "the history%s%s was not stored: %s; it is kept at %s", *lb ? " of" : "", lb,
              e.msg, r->wl[k].history);
        set_verdict(r, FL_VERDICT_ERROR, "the workload%s recorded no usable history: %s", lb,
                    e.msg);
        fl_workload_child_keep(&r->wl[k]);
        r->wl_started[k] = false;
        return;
    }
    {
        /* the temporary file is removed below: point at where it is kept */
        char stored[96];
        snprintf(stored, sizeof stored, "stored with run %lld", (long long)r->run_id);
        replace_all(out, sizeof out, r->wl[k].history, stored);
        if (w->host) { /* on an agent host its history was the job's stdout */
            char fetched[160];
            snprintf(fetched, sizeof fetched, "history %s, fetched from host %s's agent (", stored,
                     w->host);
            replace_all(out, sizeof out, "history - (", fetched);
        }
    }
    if (rc != 0)
        event(r, "the workload%s exited with status %d: %s", lb, rc, out);
    else
        event(r, "the workload%s finished: %s", lb, out);
    if (k == 0)
        event(r, "history stored with the run (`faultline show %lld --history`)",
              (long long)r->run_id);
    else
        event(r,
              "history of workload %s stored with the run (`faultline show %lld --history "
              "--workload %s`)",
              w->name, (long long)r->run_id, w->name);
    run_checks(r, k);
    fl_workload_child_cleanup(&r->wl[k]);
    r->wl_started[k] = false;
}

static void finish_workload(struct run *r)
{
    r->phase = "check";
    for (size_t k = 0; k < r->spec->nworkloads; k++)
        if (r->wl_started[k])
            finish_one_workload(r, k);
}

static void record_probes(struct run *r)
{
    char tol[256];

    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        fl_tolerance_describe(&p->sp->tol, tol, sizeof tol);
        fl_store_probe_define(r->o->store, r->run_id, p->id, p->sp->name, p->sp->ops->kind,
                              p->sp->role == FL_PROBE_STEADY ? "steady_state" : "guardrail", tol);
    }
}

static void record_results(struct run *r)
{
    for (size_t i = 0; i < r->spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        struct fl_probe_stats st;
        size_t lo = 0, hi;
        pthread_mutex_lock(&p->mu);
        while (lo < p->n && p->s[lo].t_ms < r->inject_ms)
            lo++;
        for (hi = lo; hi < p->n && p->s[hi].t_ms <= r->revert_end_ms; hi++)
            ;
        if (r->inject_ms < 0)
            lo = 0, hi = p->n; /* never injected: the preflight samples */
        fl_probe_stats(p->s + lo, hi - lo, &st);
        pthread_mutex_unlock(&p->mu);
        fl_store_probe_result(r->o->store, r->run_id, p->id, &st, p->detect_ms, p->recover_ms);
        {
            char det[32] = "-", rec[32] = "-";
            if (p->detect_ms >= 0)
                snprintf(det, sizeof det, "%lldms", (long long)p->detect_ms);
            if (p->recover_ms >= 0)
                snprintf(rec, sizeof rec, "%lldms", (long long)p->recover_ms);
            if (st.n == 0)
                event(r, "probe %s: no samples, availability unknown", p->sp->name);
            else
                event(r,
                      "probe %s: %zu samples (%zu failed), availability %.2f%%, latency p50 "
                      "%.1fms p95 %.1fms p99 %.1fms, time to detect %s, time to recover %s",
                      p->sp->name, st.n, st.failures, st.availability, st.p50, st.p95, st.p99, det,
                      rec);
        }
    }
}

static int exit_code_for(const struct fl_run_result *res)
{
    switch (res->verdict) {
    case FL_VERDICT_PASSED:
        return FL_EXIT_PASSED;
    case FL_VERDICT_FAILED:
        return FL_EXIT_FAILED;
    case FL_VERDICT_ABORTED:
        return FL_EXIT_ABORTED;
    case FL_VERDICT_NOT_STEADY:
        return FL_EXIT_NOT_STEADY;
    case FL_VERDICT_ERROR:
        return res->exit_code ? res->exit_code : FL_EXIT_ERROR;
    }
    return FL_EXIT_ERROR;
}

uint64_t fl_engine_seed(const struct fl_spec *spec, const struct fl_engine_opts *o)
{
    uint64_t seed;

    if (o->has_seed)
        seed = o->seed;
    else if (spec->has_seed)
        seed = spec->seed;
    else if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint64_t)fl_wall_ms() ^ (uint64_t)getpid();
    return seed & ((1ULL << 53) - 1);
}

/* Each probe's and each step's runtime state, before anything starts. */
static void init_runtime(struct run *r)
{
    const struct fl_spec *spec = r->spec;

    for (size_t i = 0; i < spec->nprobes; i++) {
        struct probe_rt *p = &r->probes[i];
        pthread_condattr_t ca;
        p->sp = &spec->probes[i];
        p->id = (int)i;
        p->t0_ns = r->t0_ns;
        p->recover_ms = -1;
        p->detect_ms = -1;
        p->covered_ms = -1;
        p->down_since = -1;
        pthread_mutex_init(&p->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->wake, &ca);
        pthread_condattr_destroy(&ca);
    }
    for (size_t i = 0; i < spec->nactions; i++) {
        r->steps[i].a = &spec->actions[i];
        r->steps[i].spec = spec;
        r->steps[i].state_dir = r->o->state_dir;
        r->steps[i].host = spec->actions[i].host;
    }
}

/* Everything the run holds, whatever stage it reached. */
static void fini_runtime(struct run *r)
{
    for (size_t i = 0; r->steps && i < r->spec->nactions; i++) {
        if (r->steps[i].cmd_started)
            pthread_join(r->steps[i].cmd_th, NULL);
        if (r->steps[i].f.ops)
            fl_fault_fini(&r->steps[i].f);
        json_decref(r->steps[i].pre_params);
        json_decref(r->steps[i].pre_record);
    }
    for (size_t i = 0; r->probes && i < r->spec->nprobes; i++) {
        fl_remote_probe_free(r->probes[i].remote);
        free(r->probes[i].s);
        pthread_mutex_destroy(&r->probes[i].mu);
        pthread_cond_destroy(&r->probes[i].wake);
    }
    for (size_t k = 0; r->wl_started && k < r->spec->nworkloads; k++)
        if (r->wl_started[k])
            fl_workload_child_cleanup(&r->wl[k]);
    free(r->wl);
    free(r->wl_started);
    free(r->probes);
    free(r->steps);
    free(r->guard_since);
    fl_logcap_free(r->logs);
    fl_agent_renewer_stop(r->renewer);
    fl_cluster_agents_close(r->spec, r->agents);
    if (r->journal_open)
        fl_journal_close(&r->j);
}

/* The target logs' capture ends with the run's observation; what it kept
 * is stored with the run. */
static void finish_logs(struct run *r)
{
    char sum[1024];

    if (!r->logs)
        return;
    if (fl_logcap_finish(r->logs, r->o->store, r->run_id, sum, sizeof sum))
        event(r, "target logs: %s (not all stored)", sum);
    else
        event(r, "target logs: %s", sum);
}

/* The verdict's explanation, its event and the run's records in the store. */
static void conclude(struct run *r)
{
    struct fl_run_result *res = r->res;

    r->phase = "verdict";
    res->exit_code = exit_code_for(res);
    if (res->verdict == FL_VERDICT_PASSED && !r->spec->nprobes)
        snprintf(res->explanation, sizeof res->explanation, "every check of the workload%s passed",
                 r->spec->nworkloads > 1 ? "s' histories" : "'s history");
    else if (res->verdict == FL_VERDICT_PASSED)
        snprintf(res->explanation, sizeof res->explanation,
                 "the hypothesis held during the faults%s",
                 r->spec->has_recovery ? " and the steady state returned in time" : "");
    if (r->gaps[0]) { /* the verdict covers less than the experiment planned */
        size_t n = strlen(res->explanation);
        snprintf(res->explanation + n, sizeof res->explanation - n,
                 "; but not every fault held throughout (an agent restarted): %s", r->gaps);
    }
    record_results(r);
    event(r, "%s: %s", fl_verdict_str(res->verdict), res->explanation);
    flush_samples(r, true);
    if (fl_store_run_end(r->o->store, r->run_id, rel_ms(r->t0_ns), fl_verdict_str(res->verdict),
                         res->explanation, res->exit_code))
        /* the faults are reverted; say so, and what the store lacks (the
         * server reads this line: FL_ENGINE_NOT_STORED) */
        fprintf(stderr,
                FL_ENGINE_NOT_STORED " run %lld verdict %s exit %d: the history store did not "
                                     "take the run's records (the database was unreachable); "
                                     "its faults were reverted: %s\n",
                (long long)r->run_id, fl_verdict_str(res->verdict), res->exit_code,
                res->explanation);
}

int fl_engine_run(const struct fl_spec *spec, const struct fl_engine_opts *o,
                  struct fl_run_result *res, struct fl_err *e)
{
    struct run r = {.spec = spec,
                    .o = o,
                    .res = res,
                    .inject_ms = -1,
                    .revert_end_ms = -1,
                    .last_revert_ms = -1,
                    .status = {.tty = o->tty}};
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, old_hup;
    char hash[17];
    int rc;

    memset(res, 0, sizeof *res);
    r.seed = fl_engine_seed(spec, o);
    r.phase = "start";
    if ((rc = fl_journal_open(&r.j, o->state_dir, e)))
        return rc;
    r.journal_open = true;
    r.probes = calloc(spec->nprobes ? spec->nprobes : 1, sizeof *r.probes);
    r.steps = calloc(spec->nactions ? spec->nactions : 1, sizeof *r.steps);
    r.guard_since = calloc(spec->nguardrails ? spec->nguardrails : 1, sizeof *r.guard_since);
    r.wl = calloc(spec->nworkloads + 1, sizeof *r.wl);
    r.wl_started = calloc(spec->nworkloads + 1, sizeof *r.wl_started);
    if (!r.probes || !r.steps || !r.guard_since || !r.wl || !r.wl_started) {
        rc = fl_err_set(e, FL_EFAIL, "out of memory");
        goto out;
    }
    r.t0_ns = fl_mono_ns();
    r.wall0 = fl_wall_ms();
    init_runtime(&r);
    for (size_t i = 0; i < spec->nguardrails; i++)
        r.guard_since[i] = -1;
    fl_spec_hash(spec, hash);
    if ((rc = fl_store_run_begin(o->store, spec->title, spec->file, spec->content, hash, r.wall0,
                                 r.seed, &r.run_id, e)))
        goto out;
    res->run_id = r.run_id;
    record_probes(&r);
    r.logs = fl_logcap_start(spec, r.t0_ns);

    engine_stop = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    event(&r, "run %lld of \"%s\" (%s)", (long long)r.run_id, spec->title, spec->file);
    if (spec->hypothesis)
        event(&r, "hypothesis: %s", spec->hypothesis);
    if (open_agents(&r) && run_commands(&r, "setup", spec->setup, spec->nsetup, true) &&
        preflight(&r) && start_workload(&r)) {
        inject_and_observe(&r);
        judge_hypothesis(&r);
        if (!stopping(&r))
            observe_recovery(&r);
    } else if (stopping(&r)) {
        set_verdict(&r, FL_VERDICT_ABORTED, "interrupted by %s before anything was injected",
                    sig_name(engine_stop));
    }
    stop_probes(&r);
    finish_remote_probes(&r);
    rollbacks(&r);
    finish_workload(&r);
    finish_logs(&r);
    run_commands(&r, "teardown", spec->teardown, spec->nteardown, false);
    conclude(&r);
    fl_status_clear(&r.status);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    rc = 0;
out:
    fini_runtime(&r);
    return rc;
}
