#include "faults/proxy_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faults/network_common.h"
#include "net/nft.h"
#include "net/peer.h"
#include "proxy/worker.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/time.h"

#define READY_WAIT_MS 10000
#define TERM_WAIT_MS 5000
#define KILL_WAIT_MS 3000
#define WORKER_FD 3

void fl_pxfault_format_ms(long long ms, char *buf, size_t len)
{
    if (ms >= 1000 && ms % 1000 == 0)
        snprintf(buf, len, "%llds", ms / 1000);
    else if (ms >= 1000)
        snprintf(buf, len, "%gs", (double)ms / 1000.0);
    else
        snprintf(buf, len, "%lldms", ms);
}

/* Append the addresses of params[key] (one string, as experiment files
 * write it, or an array) to *out. */
static int targets_add(const json_t *params, const char *key, struct fl_net_peer **out, size_t *n,
                       struct fl_err *e)
{
    json_t *v = json_object_get(params, key);
    size_t cnt;
    struct fl_net_peer *nv;

    if (!v)
        return 0;
    if (!json_is_string(v) && !json_is_array(v))
        return fl_err_set(e, FL_EUSAGE, "--%s must be an address or a list of addresses", key);
    cnt = json_is_string(v) ? 1 : json_array_size(v);
    if (!cnt)
        return 0;
    if (!(nv = realloc(*out, (*n + cnt) * sizeof *nv)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    *out = nv;
    for (size_t i = 0; i < cnt; i++) {
        json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s))
            return fl_err_set(e, FL_EUSAGE, "--%s must be an address or a list of addresses", key);
        if (fl_net_peer_parse(json_string_value(s), &nv[*n], e))
            return fl_err_prefix(e, "--%s", key);
        (*n)++;
    }
    return 0;
}

/* params.target and params.endpoint (its alias), together. */
static int targets_parse(const json_t *params, struct fl_net_peer **out, size_t *n,
                         struct fl_err *e)
{
    int r;

    *out = NULL;
    *n = 0;
    if ((r = targets_add(params, "target", out, n, e)) ||
        (r = targets_add(params, "endpoint", out, n, e)))
        return r;
    if (!*n)
        return fl_err_set(e, FL_EUSAGE,
                          "--target ADDR[:PORT] is required: the service whose new TCP "
                          "connections go through the proxy (e.g. --target 10.0.0.2:6379; in "
                          "experiment files: endpoint: 10.0.0.2:6379)");
    return 0;
}

static int common_check(const struct fl_pxfault_kind *k, const json_t *params, json_t **attrs,
                        struct fl_err *e)
{
    json_t *dir = json_object_get(params, "direction");
    json_t *pct = json_object_get(params, "percent");
    json_t *hs = json_object_get(params, "hard-stop");
    struct fl_net_peer *t = NULL;
    size_t n;
    int r;

    *attrs = NULL;
    if ((r = fl_netns_validate(params, e)))
        return r;
    r = targets_parse(params, &t, &n, e);
    free(t);
    if (r)
        return r;
    if (dir && (!json_is_string(dir) || (strcmp(json_string_value(dir), "downstream") &&
                                         strcmp(json_string_value(dir), "upstream") &&
                                         strcmp(json_string_value(dir), "both"))))
        return fl_err_set(e, FL_EUSAGE,
                          "--direction must be downstream (server to client), upstream (client "
                          "to server) or both");
    if (pct &&
        (!json_is_number(pct) || json_number_value(pct) <= 0 || json_number_value(pct) > 100))
        return fl_err_set(e, FL_EUSAGE,
                          "--percent must be a number above 0 and at most 100: the share of "
                          "new connections the fault affects");
    if (hs && (!json_is_integer(hs) || json_integer_value(hs) <= 0))
        return fl_err_set(e, FL_EUSAGE, "--hard-stop must be a positive duration (e.g. 10m)");
    if ((r = k->attributes(params, attrs, e)))
        return fl_err_prefix(e, "%s", k->kind);
    return 0;
}

int fl_pxfault_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    const struct fl_pxfault_kind *k = ops->impl;
    json_t *attrs = NULL;
    int r = common_check(k, params, &attrs, e);

    json_decref(attrs);
    return r;
}

int fl_pxfault_plan(struct fl_fault *f, struct fl_err *e)
{
    const struct fl_pxfault_kind *k = f->ops->impl;
    const char *dir = fl_param_str(f->params, "direction", "downstream");
    double pct = fl_param_real(f->params, "percent", 100.0);
    int64_t hard =
        fl_fault_self_stop_ms(f, FL_PXFAULT_HARD_STOP_GRACE_MS, FL_PXFAULT_DEFAULT_HARD_STOP_MS);
    struct fl_netns_scope scope;
    struct fl_net_peer *t = NULL;
    json_t *attrs = NULL, *targets, *toxics, *cfg;
    char table[64];
    size_t n;
    int r;

    if ((r = common_check(k, f->params, &attrs, e)))
        goto out;
    if ((r = targets_parse(f->params, &t, &n, e)))
        goto out;
    if ((r = fl_netns_resolve(f->params, &scope, e)))
        goto out;
    snprintf(table, sizeof table, FL_NFT_TABLE_PREFIX "%s", f->id);
    targets = json_array();
    for (size_t i = 0; i < n; i++) {
        char buf[96];
        fl_net_peer_format(&t[i], true, buf, sizeof buf);
        json_array_append_new(targets, json_string(buf));
    }
    toxics = json_array();
    for (int s = 0; s < 2; s++) {
        const char *stream = s ? "downstream" : "upstream";
        char name[96];
        if (strcmp(dir, "both") && strcmp(dir, stream))
            continue;
        snprintf(name, sizeof name, "%s_%s", k->kind, stream);
        json_array_append_new(toxics, json_pack("{s:s, s:s, s:s, s:f, s:O}", "name", name, "type",
                                                k->toxic, "stream", stream, "toxicity", pct / 100.0,
                                                "attributes", attrs));
    }
    cfg = json_pack("{s:s, s:o, s:o, s:o, s:I, s:b}", "id", f->id, "scope",
                    fl_netns_to_json(&scope), "targets", targets, "toxics", toxics, "deadline_ms",
                    (json_int_t)(fl_now_ms() + hard), "prerouting", 1);
    json_object_set_new(f->undo, "scope", fl_netns_to_json(&scope));
    json_object_set_new(f->undo, "family", json_string("inet"));
    json_object_set_new(f->undo, "table", json_string(table));
    json_object_set_new(f->undo, "deadline_ms", json_incref(json_object_get(cfg, "deadline_ms")));
    json_object_set_new(f->undo, "config", cfg);
out:
    json_decref(attrs);
    free(t);
    return r;
}

/* Child side of the spawn: become the worker. Reports errno on errfd when
 * the exec fails; a successful exec closes it. */
static void child_exec(const char *cfg, int ready, int errfd, const char *log)
{
    int err, devnull;
    sigset_t all;

    setsid(); /* out of the terminal's process group: Ctrl-C goes to inject */
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    /* errfd may sit on WORKER_FD: move it out of the way first */
    if (errfd == WORKER_FD) {
        int nfd = fcntl(errfd, F_DUPFD_CLOEXEC, WORKER_FD + 1);
        if (nfd < 0)
            _exit(126);
        errfd = nfd;
    }
    if (dup2(ready, WORKER_FD) < 0) {
        err = errno;
        goto fail;
    }
    devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (devnull > 2 && devnull != WORKER_FD)
            close(devnull);
    }
    if (log) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            if (fd != WORKER_FD)
                close(fd);
        }
    }
    syscall(SYS_close_range, (unsigned)WORKER_FD + 1, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    execl("/proc/self/exe", "faultline", "proxy", FL_PX_WORKER_FLAG, cfg, "--ready-fd", "3",
          (char *)NULL);
    err = errno;
fail:
    if (write(errfd, &err, sizeof err) < 0)
        _exit(126);
    _exit(127);
}

/* Read the worker's "ok PORT" / "error CODE MSG" line. */
static int await_ready(int fd, pid_t pid, int *port, struct fl_err *e)
{
    char buf[FL_ERR_MSG + 64];
    size_t len = 0;
    int64_t until = fl_now_ms() + READY_WAIT_MS;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = until - fl_now_ms();
        ssize_t n;

        if (left <= 0)
            return fl_err_set(e, FL_EFAIL, "the proxy worker (pid %d) did not start within %ds",
                              (int)pid, READY_WAIT_MS / 1000);
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return fl_err_set(e, FL_EFAIL, "poll: %s", strerror(errno));
        n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len) || len == sizeof buf - 1)
            break;
    }
    buf[len] = 0;
    if (sscanf(buf, "ok %d", port) == 1 && *port > 0)
        return 0;
    if (!strncmp(buf, "error ", 6)) {
        int code = atoi(buf + 6);
        char *msg = strchr(buf + 6, ' '), *nl;
        if ((nl = strchr(buf, '\n')))
            *nl = 0;
        return fl_err_set(e, code > 0 ? code : FL_EFAIL, "%s", msg ? msg + 1 : "the proxy failed");
    }
    return fl_err_set(e, FL_EFAIL, "the proxy worker (pid %d) exited before it was ready",
                      (int)pid);
}

int fl_pxfault_inject(struct fl_fault *f, struct fl_err *e)
{
    json_t *cfgj = json_object_get(f->undo, "config");
    char *cfg;
    int rp[2], ep[2], err = 0, port = 0, r;
    ssize_t n;
    pid_t pid;

    if (!cfgj)
        return fl_err_set(e, FL_EFAIL, "%s: the plan holds no proxy configuration", f->ops->kind);
    /* For debugging (and the sanitizer builds' tests): where the worker's
     * stderr goes; by default /dev/null, as for every detached helper. */
    const char *log = getenv("FAULTLINE_PROXY_WORKER_LOG");

    if (!(cfg = json_dumps(cfgj, JSON_COMPACT)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (pipe2(rp, O_CLOEXEC)) {
        free(cfg);
        return fl_err_set(e, FL_EFAIL, "pipe: %s", strerror(errno));
    }
    if (pipe2(ep, O_CLOEXEC)) {
        close(rp[0]);
        close(rp[1]);
        free(cfg);
        return fl_err_set(e, FL_EFAIL, "pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        close(rp[0]);
        close(ep[0]);
        child_exec(cfg, rp[1], ep[1], log && *log ? log : NULL);
    }
    err = errno;
    free(cfg);
    close(rp[1]);
    close(ep[1]);
    if (pid < 0) {
        close(rp[0]);
        close(ep[0]);
        return fl_err_set(e, FL_EFAIL, "cannot start the proxy worker: fork: %s", strerror(err));
    }
    /* Recorded at once: whatever happens next, revert knows whom to stop. */
    json_object_set_new(
        f->undo, "worker",
        json_pack("{s:i, s:I}", "pid", (int)pid, "start", (json_int_t)fl_proc_start_time(pid)));
    do
        n = read(ep[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n > 0) {
        close(rp[0]);
        waitpid(pid, NULL, 0);
        return fl_err_set(e, fl_code_from_errno(err), "cannot start the proxy worker: %s",
                          strerror(err));
    }
    r = await_ready(rp[0], pid, &port, e);
    close(rp[0]);
    if (r)
        return r;
    json_object_set_new(f->undo, "port", json_integer(port));
    fl_debug("%s: proxy worker %d listens on port %d", f->id, (int)pid, port);
    return 0;
}

/* ---- finding and stopping workers ---- */

/* The fault id a process serves if it is a proxy fault worker, else "". */
static void worker_id(pid_t pid, char *id, size_t len)
{
    char path[64], *buf = NULL, *args[4] = {0};
    size_t cap = 0;
    FILE *f;
    ssize_t n;
    int k = 0;

    id[0] = 0;
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    if (!(f = fopen(path, "re")))
        return;
    for (;;) {
        char *nb;
        size_t got;
        if (!(nb = realloc(buf, cap + 4096)))
            break;
        buf = nb;
        got = fread(buf + cap, 1, 4096, f);
        cap += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    n = (ssize_t)cap;
    if (n <= 0 || !buf) {
        free(buf);
        return;
    }
    for (ssize_t i = 0; i < n && k < 4; k++) {
        args[k] = buf + i;
        i += (ssize_t)strnlen(buf + i, (size_t)(n - i)) + 1;
    }
    if (k == 4 && args[1][0] && !strcmp(args[1], "proxy") && !strcmp(args[2], FL_PX_WORKER_FLAG) &&
        args[3][0] == '{' && memchr(args[3], 0, (size_t)(buf + n - args[3]))) {
        json_t *j = json_loads(args[3], 0, NULL);
        const char *s = json_string_value(json_object_get(j, "id"));
        if (s && fl_proc_is_faultline(pid))
            snprintf(id, len, "%s", s);
        json_decref(j);
    }
    free(buf);
}

/* Every live worker: for id == NULL all of them, else those of that fault. */
static size_t find_workers(const char *id, pid_t *out, size_t cap)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    size_t n = 0;

    while (d && (de = readdir(d)) && n < cap) {
        char wid[FL_FAULT_ID_LEN + 8], *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid())
            continue;
        worker_id((pid_t)pid, wid, sizeof wid);
        if (wid[0] && (!id || !strcmp(id, wid)))
            out[n++] = (pid_t)pid;
    }
    if (d)
        closedir(d);
    return n;
}

static bool gone(pid_t pid, uint64_t start)
{
    waitpid(pid, NULL, WNOHANG); /* our own child (foreground inject): reap it */
    return !fl_proc_alive(pid, start);
}

/* SIGTERM (the worker deletes its redirect, then closes), then SIGKILL (the
 * kernel deletes the owned table with the worker's socket). */
static int stop_worker(pid_t pid, uint64_t start, const char *what, struct fl_err *e)
{
    int64_t until;

    if (!start || gone(pid, start))
        return 0;
    kill(pid, SIGTERM);
    kill(pid, SIGCONT); /* a stopped worker cannot act on SIGTERM */
    for (until = fl_now_ms() + TERM_WAIT_MS; fl_now_ms() < until; fl_sleep_ms(10))
        if (gone(pid, start))
            return 0;
    fl_warn("%s: proxy worker %d did not stop within %ds of SIGTERM: killing it", what, (int)pid,
            TERM_WAIT_MS / 1000);
    kill(pid, SIGKILL);
    for (until = fl_now_ms() + KILL_WAIT_MS; fl_now_ms() < until; fl_sleep_ms(10))
        if (gone(pid, start))
            return 0;
    return fl_err_set(e, FL_EFAIL, "%s: proxy worker %d survived SIGKILL for %ds", what, (int)pid,
                      KILL_WAIT_MS / 1000);
}

int fl_pxfault_revert(const struct fl_fault *f, struct fl_err *e)
{
    const json_t *w = json_object_get(f->undo, "worker");
    const char *table = json_string_value(json_object_get(f->undo, "table"));
    pid_t pid = (pid_t)json_integer_value(json_object_get(w, "pid"));
    uint64_t start = (uint64_t)json_integer_value(json_object_get(w, "start"));
    struct fl_netns_guard g;
    struct fl_nft *n;
    pid_t more[16];
    size_t nmore;
    int r;

    if (!table || !json_object_get(f->undo, "scope"))
        return 0; /* never planned, so never started */
    if (pid > 1 && (r = stop_worker(pid, start, f->id, e)))
        return r;
    /* A worker the record does not name (this process died between fork
     * and recording it, or the start time was not readable yet). */
    nmore = find_workers(f->id, more, 16);
    for (size_t i = 0; i < nmore; i++)
        if ((r = stop_worker(more[i], fl_proc_start_time(more[i]), f->id, e)))
            return r;
    /* The table went with its worker; make sure, in the recorded scope. */
    r = fl_netfault_enter_recorded(f, &g, e);
    if (r <= 0)
        return r;
    if ((n = fl_nft_shared(e))) {
        r = fl_nft_delete_table(n, "inet", table, e);
        if (r == 1)
            fl_warn("%s: removed a leftover redirect table %s", f->id, table);
        r = r < 0 ? r : 0;
    } else {
        r = -e->code;
    }
    fl_netns_leave(&g);
    return r;
}

void fl_pxfault_describe(const struct fl_fault *f, char *buf, size_t len)
{
    const struct fl_pxfault_kind *k = f->ops->impl;
    const char *dir = fl_param_str(f->params, "direction", "downstream");
    double pct = fl_param_real(f->params, "percent", 100.0);
    char scope[300], effect[160], targets[300] = "", share[48] = "";
    size_t o = 0;

    fl_netfault_scope_text(f, scope, sizeof scope);
    k->effect(f->params, effect, sizeof effect);
    for (int key = 0; key < 2; key++) {
        json_t *t = json_object_get(f->params, key ? "endpoint" : "target");
        size_t cnt = json_is_array(t) ? json_array_size(t) : t ? 1 : 0;
        for (size_t i = 0; i < cnt && o + 1 < sizeof targets; i++) {
            const char *s = json_string_value(json_is_array(t) ? json_array_get(t, i) : t);
            o += (size_t)snprintf(targets + o, sizeof targets - o, "%s%s", o ? ", " : "",
                                  s ? s : "?");
        }
    }
    if (pct < 100)
        snprintf(share, sizeof share, " (%g%% of them)", pct);
    snprintf(buf, len, "%s on %s data of new TCP connections to %s%s in %s (userspace proxy)",
             effect,
             !strcmp(dir, "both")       ? "both directions'"
             : !strcmp(dir, "upstream") ? "the client-to-server"
                                        : "the server-to-client",
             targets, share, scope);
}

/* The first redirect of a connection wins, so a second proxy fault on the
 * same target would never see its traffic: each target is an exclusive
 * claim. */
void fl_pxfault_claims(const struct fl_fault *f, json_t *out)
{
    json_t *targets = json_object_get(json_object_get(f->undo, "config"), "targets"), *t;
    char scope[300], key[512];
    size_t i;

    fl_netfault_scope_text(f, scope, sizeof scope);
    json_array_foreach(targets, i, t) {
        snprintf(key, sizeof key, "traffic to %s in %s (redirected to a proxy)",
                 json_string_value(t), scope);
        json_object_set_new(out, key, json_integer(FL_CLAIM_EXCLUSIVE));
    }
}

int fl_pxfault_sweep(struct fl_sweep_report *rep, struct fl_err *e)
{
    pid_t pids[256];
    size_t n = find_workers(NULL, pids, 256);

    (void)e;
    for (size_t i = 0; i < n; i++) {
        struct fl_err se = {0};
        char what[64], wid[FL_FAULT_ID_LEN + 8];

        snprintf(what, sizeof what, "proxy worker %d", (int)pids[i]);
        worker_id(pids[i], wid, sizeof wid);
        if (fl_sweep_spared(rep, wid, what))
            continue;
        rep->found++;
        fl_info("stopping leftover proxy fault worker %d (its redirect goes with it)",
                (int)pids[i]);
        if (stop_worker(pids[i], fl_proc_start_time(pids[i]), what, &se)) {
            fl_error("%s", se.msg);
            rep->failed++;
        } else {
            rep->removed++;
        }
    }
    return 0;
}
