/* The CLI's reach to other hosts through their agents (remote/client.h):
 * `inject --host`, `status --hosts`, `recover --all --hosts`. A host is an
 * agent URL (http(s)://HOST[:PORT], or HOST[:PORT]) or a lab host LAB/hK,
 * whose address and token come from the lab's state (docs/lab.md). Every
 * host is checked (reachable, token accepted) before anything is injected. */
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cli/cli.h"
#include "cli/remote.h"
#include "lab/lab.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/time.h"

/* The signal that asked a remote inject to stop; the command's only global. */
static volatile sig_atomic_t remote_stop;

static void on_signal(int sig)
{
    remote_stop = sig;
}

/* One entry of --host(s): a URL, or LAB/HOST of a lab on this machine. */
static int open_one(const char *spec, const char *token, const char *state_dir, int64_t lease_ms,
                    struct fl_agent_client **out, struct fl_err *e)
{
    struct fl_agent_client_opts o = {
        .url = spec, .token = token, .lease_ms = lease_ms, .cacert = getenv("FAULTLINE_CACERT")};
    const char *slash = strchr(spec, '/');
    char url[64], tok[256];

    if (slash && !strstr(spec, "://") && (size_t)(slash - spec) <= FL_LAB_NAME_MAX) {
        char lab[FL_LAB_NAME_MAX + 1];
        snprintf(lab, sizeof lab, "%.*s", (int)(slash - spec), spec);
        if (fl_lab_agent_url(lab, slash + 1, state_dir, url, sizeof url, e))
            return -e->code;
        if (!token && fl_lab_agent_token(lab, state_dir, tok, sizeof tok, e))
            return -e->code;
        o.url = url;
        o.token = token ? token : tok;
        o.name = spec;
    }
    return fl_agent_client_new(&o, out, e);
}

int fl_cli_hosts_open(const char *list, const char *token, const char *state_dir, int64_t lease_ms,
                      struct fl_cli_hosts *h, struct fl_err *e)
{
    char *copy = strdup(list ? list : ""), *save = NULL, *tok;
    int r = 0;

    memset(h, 0, sizeof *h);
    if (!token || !*token)
        token = getenv("FAULTLINE_AGENT_TOKEN");
    if (token && !*token)
        token = NULL;
    for (tok = strtok_r(copy, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
        struct fl_agent_client **nc;
        if (h->n == FL_CLI_MAX_HOSTS) {
            r = fl_err_set(e, FL_EUSAGE, "--hosts: at most %d hosts", FL_CLI_MAX_HOSTS);
            break;
        }
        if (!(nc = realloc(h->c, (h->n + 1) * sizeof(struct fl_agent_client *)))) {
            r = fl_err_set(e, FL_EFAIL, "out of memory");
            break;
        }
        h->c = nc;
        h->c[h->n] = NULL;
        if (!(r = open_one(tok, token, state_dir, lease_ms, &h->c[h->n], e)))
            h->n++;
    }
    free(copy);
    if (!r && !h->n)
        r = fl_err_set(e, FL_EUSAGE,
                       "--host(s) names no host: give agent URLs or LAB/HOST, comma-separated");
    if (r)
        fl_cli_hosts_close(h);
    return r;
}

void fl_cli_hosts_close(struct fl_cli_hosts *h)
{
    for (size_t i = 0; i < h->n; i++)
        fl_agent_client_free(h->c[i]);
    free(h->c);
    memset(h, 0, sizeof *h);
}

int fl_cli_hosts_check(struct fl_cli_hosts *h, struct fl_err *e)
{
    for (size_t i = 0; i < h->n; i++) {
        json_t *faults = NULL;
        int r = fl_agent_client_list(h->c[i], &faults, e);
        json_decref(faults);
        if (r)
            return fl_err_prefix(e, "nothing was injected");
    }
    return 0;
}

int fl_cli_status_hosts(const char *hosts, const char *token, const char *state_dir, bool as_json)
{
    struct fl_cli_hosts h;
    struct fl_err e = {0};
    json_t *all = json_array(), *errors = json_array(), *f;
    int rc = 0;
    size_t k;

    if (fl_cli_hosts_open(hosts, token, state_dir, 0, &h, &e)) {
        json_decref(all);
        json_decref(errors);
        return fl_cli_fail(&e);
    }
    for (size_t i = 0; i < h.n; i++) {
        json_t *faults = NULL;
        if (fl_agent_client_list(h.c[i], &faults, &e)) {
            json_array_append_new(errors, json_pack("{s:s,s:s}", "host",
                                                    fl_agent_client_name(h.c[i]), "error", e.msg));
            fprintf(stderr, "faultline: error: %s\n", e.msg);
            rc = rc ? rc : e.code;
            continue;
        }
        json_array_extend(all, faults);
        json_decref(faults);
    }
    if (as_json) {
        json_t *o = json_pack("{s:O,s:O}", "faults", all, "unreachable", errors);
        char *s = json_dumps(o, JSON_INDENT(2));
        puts(s ? s : "{}");
        free(s);
        json_decref(o);
    } else if (!json_array_size(all)) {
        printf("no active faults on %zu host(s)\n", h.n);
    } else {
        printf("%-12s %-9s %-20s %-10s %s\n", "HOST", "ID", "KIND", "LEASE", "DESCRIPTION");
        json_array_foreach (all, k, f) {
            char lease[32];
            fl_format_duration(json_integer_value(json_object_get(f, "lease_left_ms")), lease,
                               sizeof lease);
            printf("%-12s %-9s %-20s %-10s %s\n", json_string_value(json_object_get(f, "host")),
                   json_string_value(json_object_get(f, "id")),
                   json_string_value(json_object_get(f, "kind")), lease,
                   json_string_value(json_object_get(f, "description")) ?: "");
        }
    }
    json_decref(all);
    json_decref(errors);
    fl_cli_hosts_close(&h);
    return rc;
}

int fl_cli_recover_hosts(const char *hosts, const char *token, const char *state_dir)
{
    struct fl_cli_hosts h;
    struct fl_err e = {0};
    int rc = 0;

    if (fl_cli_hosts_open(hosts, token, state_dir, 0, &h, &e))
        return fl_cli_fail(&e);
    for (size_t i = 0; i < h.n; i++) {
        json_t *rep = NULL, *x;
        size_t k;
        if (fl_agent_client_recover_all(h.c[i], &rep, &e)) {
            fprintf(stderr, "faultline: error: %s\n", e.msg);
            rc = rc ? rc : e.code;
            continue;
        }
        printf("%s: %zu fault(s) reverted\n", fl_agent_client_name(h.c[i]),
               json_array_size(json_object_get(rep, "reverted")));
        json_array_foreach (json_object_get(rep, "jobs_killed"), k, x)
            printf("%s: job %s killed\n", fl_agent_client_name(h.c[i]), json_string_value(x));
        json_array_foreach (json_object_get(rep, "jobs_started"), k, x)
            printf("%s: job %s started (its on_lease_end is run)\n", fl_agent_client_name(h.c[i]),
                   json_string_value(x));
        json_array_foreach (json_object_get(rep, "failed"), k, x) {
            fprintf(stderr, "faultline: error: %s: revert of %s failed: %s\n",
                    fl_agent_client_name(h.c[i]), json_string_value(json_object_get(x, "id")),
                    json_string_value(json_object_get(x, "error")));
            rc = FL_EFAIL;
        }
        json_decref(rep);
    }
    fl_cli_hosts_close(&h);
    return rc;
}

struct apply_job {
    struct fl_agent_client *c;
    const char *kind;
    const json_t *params;
    bool commit; /* the second step: start what was prepared */
    int64_t duration_ms, done_ns;
    uint64_t seed;
    char id[FL_FAULT_ID_LEN];
    int r;
    struct fl_err e;
};

static void *apply_thread(void *arg)
{
    struct apply_job *j = arg;

    if (j->commit)
        j->r = fl_agent_client_commit(j->c, j->id, NULL, &j->e);
    else
        j->r = fl_agent_client_prepare(j->c, j->kind, j->params, j->duration_ms, j->seed, j->id,
                                       &j->e);
    j->done_ns = fl_mono_ns();
    return NULL;
}

/* Run every job at once (a thread each); the first failure in *e. */
static int run_jobs(struct apply_job *jobs, size_t n, struct fl_err *e)
{
    pthread_t *th = calloc(n ? n : 1, sizeof *th);
    int r = 0;

    if (!th)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, apply_thread, &jobs[i])) {
            apply_thread(&jobs[i]);
            th[i] = 0;
        }
    for (size_t i = 0; i < n; i++) {
        if (th[i])
            pthread_join(th[i], NULL);
        if (jobs[i].r && !r) {
            *e = jobs[i].e;
            r = jobs[i].r;
        }
    }
    free(th);
    return r;
}

int fl_cli_hosts_apply(struct fl_cli_hosts *h, const char *kind, const json_t *params,
                       int64_t duration_ms, uint64_t seed, char (*ids)[FL_FAULT_ID_LEN],
                       int64_t *skew_us, struct fl_err *e)
{
    struct apply_job *jobs = calloc(h->n ? h->n : 1, sizeof *jobs);
    int64_t decided, last;
    int r;

    if (!jobs)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    /* 1. prepare everywhere: plan, journal, guardian; nothing injected yet */
    for (size_t i = 0; i < h->n; i++)
        jobs[i] = (struct apply_job){
            .c = h->c[i], .kind = kind, .params = params, .duration_ms = duration_ms, .seed = seed};
    r = run_jobs(jobs, h->n, e);
    /* 2. all prepared: start them together, so their start times differ by
     * the network and the inject alone */
    decided = last = fl_mono_ns();
    for (size_t i = 0; !r && i < h->n; i++)
        jobs[i].commit = true;
    if (!r)
        r = run_jobs(jobs, h->n, e);
    for (size_t i = 0; i < h->n; i++) {
        last = jobs[i].done_ns > last ? jobs[i].done_ns : last;
        snprintf(ids[i], FL_FAULT_ID_LEN, "%s", jobs[i].r ? "" : jobs[i].id);
    }
    /* all or nothing: a host that refused undoes the hosts that applied */
    for (size_t i = 0; r && i < h->n; i++) {
        struct fl_err e2 = {0};
        bool found;
        if (!jobs[i].r && jobs[i].id[0] && fl_agent_client_revert(h->c[i], jobs[i].id, &found, &e2))
            fl_error("%s; its agent reverts %s when its lease ends", e2.msg, jobs[i].id);
    }
    if (skew_us)
        *skew_us = (last - decided) / 1000;
    free(jobs);
    return r;
}

/* Hold remote faults: renew their leases until the duration ends or a
 * signal arrives, then revert them on every host. */
static int hold_and_revert(struct fl_cli_hosts *h, char (*ids)[FL_FAULT_ID_LEN],
                           int64_t duration_ms)
{
    struct fl_agent_renewer *ren = NULL;
    int64_t end = duration_ms ? fl_now_ms() + duration_ms : 0;
    struct fl_err e = {0};
    int rc = 0;

    if (fl_agent_renewer_start(h->c, h->n, &ren, &e))
        fl_error("%s: the agents revert when the leases end", e.msg);
    while (!remote_stop && (!end || fl_now_ms() < end))
        fl_sleep_ms(end && end - fl_now_ms() < 100 ? end - fl_now_ms() : 100);
    fl_agent_renewer_stop(ren);
    for (size_t i = 0; i < h->n; i++) {
        bool found = false;
        if (fl_agent_client_revert(h->c[i], ids[i], &found, &e)) {
            fprintf(stderr, "faultline: error: %s (its agent reverts %s when its lease ends)\n",
                    e.msg, ids[i]);
            rc = rc ? rc : e.code;
        } else if (found) {
            fl_info("%s: fault %s reverted%s", fl_agent_client_name(h->c[i]), ids[i],
                    remote_stop ? " (interrupted)" : "");
        } else if (end && fl_now_ms() >= end) {
            fl_info("%s: fault %s ended with its duration (its agent reverted it)",
                    fl_agent_client_name(h->c[i]), ids[i]);
        } else {
            fl_warn("%s: fault %s was already reverted by its agent (lease lost or recovered)",
                    fl_agent_client_name(h->c[i]), ids[i]);
        }
    }
    return rc;
}

int fl_cli_inject_remote(const struct fl_fault_ops *ops, const json_t *params, const char *hosts,
                         const char *token, const char *state_dir, int64_t duration_ms,
                         int64_t lease_ms, bool detach, uint64_t seed)
{
    struct sigaction sa = {.sa_handler = on_signal};
    struct fl_cli_hosts h;
    struct fl_err e = {0};
    char(*ids)[FL_FAULT_ID_LEN] = NULL;
    int64_t skew_us = 0;
    int rc = 0;

    /* before applying: a signal while an agent answers still reverts */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    if (!lease_ms)
        lease_ms = !detach       ? FL_AGENT_DEFAULT_LEASE_MS
                   : duration_ms ? duration_ms
                                 : (int64_t)300000;
    if (fl_cli_hosts_open(hosts, token, state_dir, lease_ms, &h, &e))
        return fl_cli_fail(&e);
    if (fl_cli_hosts_check(&h, &e)) {
        fl_cli_hosts_close(&h);
        return fl_cli_fail(&e);
    }
    if (!(ids = calloc(h.n ? h.n : 1, sizeof *ids)) ||
        fl_cli_hosts_apply(&h, ops->kind, params, duration_ms, seed, ids, &skew_us, &e)) {
        rc = ids ? fl_cli_fail(&e) : FL_EFAIL;
        goto out;
    }
    for (size_t i = 0; i < h.n; i++) {
        if (h.n == 1)
            printf("%s\n", ids[i]);
        else
            printf("%s %s\n", fl_agent_client_name(h.c[i]), ids[i]);
    }
    fflush(stdout);
    fl_info("%s applied on %zu host(s), the last %.1f ms after the decision; %s", ops->kind, h.n,
            (double)skew_us / 1000.0,
            (ops->flags & FL_FAULT_INSTANT) ? "done"
            : detach ? "each agent reverts it when its lease or duration ends"
                     : "holding (Ctrl-C reverts now)");
    fflush(stderr);
    if (!detach && !(ops->flags & FL_FAULT_INSTANT))
        rc = hold_and_revert(&h, ids, duration_ms);
out:
    free(ids);
    fl_cli_hosts_close(&h);
    return rc;
}
