/* `faultline agent`'s daemon body (agentd.h): start-up (lock the state
 * directory, revert what a previous agent left), libmicrohttpd glue, the
 * lease reaper on the main thread, and a clean stop that reverts every
 * fault held. */
#include "remote/agentd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "agent/guardian.h"
#include "net/nft.h"
#include "remote/agentd_int.h"
#include "util/listen.h"
#include "util/log.h"
#include "util/time.h"

static void reply_json(struct fl_agentd_resp *rs, struct MHD_Connection *c, enum MHD_Result *ret)
{
    char *out =
        rs->is_raw ? rs->raw : json_dumps(rs->json ? rs->json : json_object(), JSON_COMPACT);
    size_t len = rs->is_raw ? rs->raw_len : out ? strlen(out) : 0;
    struct MHD_Response *resp;
    const char *k;
    json_t *v;

    rs->raw = NULL;
    *ret = MHD_NO;
    if (!out && !rs->is_raw)
        goto done;
    resp = MHD_create_response_from_buffer(len, out ? out : (char *)"",
                                           out ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(out);
        goto done;
    }
    MHD_add_response_header(resp, "Content-Type",
                            rs->is_raw ? "application/octet-stream" : "application/json");
    json_object_foreach (rs->headers, k, v)
        MHD_add_response_header(resp, k, json_string_value(v));
    *ret = MHD_queue_response(c, (unsigned)rs->status, resp);
    MHD_destroy_response(resp);
done:
    fl_agentd_resp_fini(rs);
}

/* The query arguments the handlers read (MHD hands them over parsed) put
 * back after the path, so a handler sees "PATH?offset=N&max=M". */
static const char *with_query(struct MHD_Connection *conn, const char *url, char *buf, size_t len)
{
    static const char *const keys[] = {"offset", "max"};
    char q[256];
    size_t n = 0;
    int w;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, keys[i]);
        if (!v)
            continue;
        w = snprintf(q + n, sizeof q - n, "%s%s=%s", n ? "&" : "?", keys[i], v);
        if (w < 0 || (size_t)w >= sizeof q - n) { /* absurdly long: the handler refuses it */
            snprintf(q, sizeof q, "?%s=(too long)", keys[i]);
            n = strlen(q);
            break;
        }
        n += (size_t)w;
    }
    if (!n)
        return url;
    w = snprintf(buf, len, "%s%s", url, q);
    return w < 0 || (size_t)w >= len ? url : buf;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct fl_body *cx = *con_cls;
    struct fl_agentd_resp rs = {.status = 200};
    enum MHD_Result ret;
    char full[2048];

    if (!cx) {
        if (!(cx = calloc(1, sizeof *cx)))
            return MHD_NO;
        *con_cls = cx;
        return MHD_YES;
    }
    if (*upload_size) {
        if (fl_body_append(cx, upload, *upload_size, FL_AGENTD_MAX_BODY))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    fl_agentd_handle(cls, method, with_query(conn, url, full, sizeof full),
                     cx->too_large ? NULL : cx->buf, cx->too_large ? (size_t)-1 : cx->len,
                     MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"), &rs);
    reply_json(&rs, conn, &ret);
    return ret;
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

/* One agent per state directory: two would revert each other's faults at start. */
static int lock_state(struct fl_journal *j, int *fd, struct fl_err *e)
{
    char path[PATH_MAX + 16];

    snprintf(path, sizeof path, "%s/agent.lock", j->root);
    if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return fl_err_set(e, FL_ESTATE, "cannot open %s: %s; choose another --state-dir", path,
                          strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB)) {
        close(*fd);
        *fd = -1;
        return fl_err_set(e, FL_EREFUSED,
                          "another faultline agent serves the state directory %s; stop it or "
                          "give this one its own --state-dir",
                          j->root);
    }
    return 0;
}

/* Nothing survives an agent restart: revert every sound record left in the
 * journal (their controller's leases were held by the agent that died). */
static void revert_leftovers(struct fl_agentd *d)
{
    json_t *rep = fl_agentd_revert_all(
        d, "the agent at its start: the agent that applied it had stopped, and nothing "
           "survives an agent restart");
    size_t n = json_array_size(json_object_get(rep, "reverted"));
    size_t bad = json_array_size(json_object_get(rep, "failed"));

    if (n || bad)
        fl_warn("agent %s: reverted %zu fault(s) left by the previous agent%s", d->name, n,
                bad ? "; some reverts failed (see `faultline status --state-dir`)" : "");
    json_decref(rep);
}

static struct MHD_Daemon *start_mhd(struct fl_agentd *d, const struct fl_agentd_opts *o,
                                    const char *listen, char **pem, struct fl_err *e)
{
    struct sockaddr_storage ss;
    bool loopback = false;
    struct MHD_Daemon *mhd;

    if (fl_listen_parse(listen, FL_AGENTD_DEFAULT_LISTEN, &ss, &loopback, e))
        return NULL;
    if (!loopback && !d->auth) {
        fl_err_set(e, FL_EREFUSED,
                   "refusing to listen on %s without --tokens: anyone who can reach it could "
                   "inject faults on this host; give --tokens FILE or listen on 127.0.0.1",
                   listen);
        return NULL;
    }
    if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
        fl_err_set(e, FL_EUSAGE, "--tls-cert and --tls-key go together");
        return NULL;
    }
    if (o->tls_cert && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        fl_err_set(e, FL_EUNSUPPORTED, "this libmicrohttpd was built without TLS (GnuTLS)");
        return NULL;
    }
    if (o->tls_cert && (!(pem[0] = fl_pem_read(o->tls_cert, "--tls-cert", e)) ||
                        !(pem[1] = fl_pem_read(o->tls_key, "--tls-key", e))))
        return NULL;
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, pem[0]},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, pem[1]},
                                   {MHD_OPTION_END, 0, NULL}},
                          none[] = {{MHD_OPTION_END, 0, NULL}};
    /* A thread per connection, so a slow apply holds up its own connection
     * only (a thread pool would queue other connections behind it on its
     * thread); at most CONNECTION_LIMIT of them, each idle thread costs a
     * few pages (agentd_int.h, "Locking"). */
    mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
            (pem[0] ? MHD_USE_TLS : 0) | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, on_request, d, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_LIMIT, 64,
        MHD_OPTION_CONNECTION_TIMEOUT, 30, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_ARRAY, pem[0] ? tls : none, MHD_OPTION_END);
    if (!mhd)
        fl_err_set(e, FL_EFAIL,
                   "cannot listen on %s (address in use, not on this host, or a TLS certificate "
                   "and key that do not load or match?); choose another with --listen",
                   listen);
    return mhd;
}

static void notify_ready(int fd, int port)
{
    char line[32];
    int n = snprintf(line, sizeof line, "ready %d\n", port);

    if (fd <= 0)
        return;
    if (write(fd, line, (size_t)n) != n)
        fl_warn("cannot tell the parent the agent is ready: %s", strerror(errno));
    close(fd);
}

/* The signal that asked the agent to stop; process-wide by nature. Handlers,
 * not a blocked mask: a blocked mask would be inherited by the guardian and
 * the fault workers the agent starts. */
static volatile sig_atomic_t agentd_stop;

static void on_signal(int sig)
{
    agentd_stop = sig;
}

/* Serve until a signal; the lease reaper and the jobs' turn (remote/jobs.h)
 * run here, waking for the next deadline (at most 200 ms apart). */
static void serve(struct fl_agentd *d)
{
    struct sigaction sa = {.sa_handler = on_signal};
    int64_t wait = 200, jobs;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!agentd_stop) {
        fl_sleep_ms(wait);
        wait = fl_agentd_reap(d);     /* takes d->lock itself, reverts without it */
        jobs = fl_jobs_tick(d->jobs); /* under the jobs' own lock */
        wait = jobs < wait ? jobs : wait;
        wait = wait < 1 ? 1 : wait > 200 ? 200 : wait;
    }
}

int fl_agentd_run(const struct fl_agentd_opts *o, struct fl_err *e)
{
    struct fl_agentd d;
    const char *listen = o->listen   ? o->listen
                         : o->tokens ? FL_AGENTD_DEFAULT_LISTEN
                                     : FL_AGENTD_LOOPBACK_LISTEN;
    char *pem[2] = {NULL, NULL};
    struct MHD_Daemon *mhd = NULL;
    const union MHD_DaemonInfo *info;
    int lock_fd = -1, r = 0;

    if ((r = fl_agentd_init(&d, o->state_dir, o->tokens, o->name, e)))
        return r;
    if ((r = lock_state(&d.j, &lock_fd, e)))
        goto out;
    fl_jobs_configure(d.jobs, o->allow_commands, o->job_output_max);
    revert_leftovers(&d);
    fl_jobs_sweep(d.jobs);
    if (!(mhd = start_mhd(&d, o, listen, pem, e))) {
        r = -e->code;
        goto out;
    }
    info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    pthread_mutex_lock(&d.lock); /* health reads it on the HTTP thread */
    d.port = info ? info->port : 0;
    pthread_mutex_unlock(&d.lock);
    fl_info("faultline agent %s: listening on %s (port %d, %s%s%s), state %s", d.name, listen,
            d.port, pem[0] ? "https" : "http", d.auth ? ", tokens" : ", no tokens: loopback only",
            o->allow_commands ? ", commands allowed" : "", d.j.root);
    notify_ready(o->notify_fd, d.port);
    serve(&d);
    MHD_stop_daemon(mhd);
    json_decref(fl_agentd_revert_all(&d, "the agent stopping (SIGTERM/SIGINT)"));
    fl_jobs_free(d.jobs); /* kills every job, waiting up to its grace */
    d.jobs = NULL;
    fl_info("faultline agent %s: stopped; every fault it held is reverted, every job killed",
            d.name);
out:
    if (lock_fd >= 0)
        close(lock_fd);
    free(pem[0]);
    free(pem[1]);
    fl_agentd_fini(&d);
    fl_nft_shared_clear();
    return r;
}
