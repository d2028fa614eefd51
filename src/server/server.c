/* The server's life: open the stores, take the one-server-per-store lock,
 * settle the runs a previous server left (adopt or interrupted), serve the
 * API, and tick (reap runs, fire schedules) until SIGINT/SIGTERM. Stopping
 * the server does not stop its runs: each is its own process and the next
 * server adopts it. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"
#include "store/db.h"
#include "store/server_store.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/time.h"

#define TICK_MS 200

/* An absolute path for p (its directory must exist). */
static int absolute(const char *p, char *out, size_t len, struct fl_err *e)
{
    char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];

    snprintf(dir, sizeof dir, "%s", p);
    snprintf(base, sizeof base, "%s", p);
    if (!realpath(dirname(dir), real))
        return fl_err_set(e, FL_ESTATE, "--db %s: %s", p, strerror(errno));
    if ((size_t)snprintf(out, len, "%s/%s", real, basename(base)) >= len)
        return fl_err_set(e, FL_ESTATE, "--db %s: path too long", p);
    return 0;
}

static int lock_work_dir(struct fl_server *s, int *fd, struct fl_err *e)
{
    char path[PATH_MAX + 16], pid[32] = "";

    if (fl_mkdir_p(s->work_dir, 0750, e) < 0)
        return fl_err_prefix(e, "server work directory (--work-dir)");
    snprintf(path, sizeof path, "%s/server.lock", s->work_dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (*fd < 0)
        return fl_err_set(e, FL_ESTATE, "cannot open %s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB)) {
        ssize_t n = pread(*fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        return fl_err_set(e, FL_EREFUSED,
                          "another faultline server (pid %s) already serves the store %s; stop "
                          "it or give another --db",
                          pid[0] ? pid : "?", s->db_shown);
    }
    if (ftruncate(*fd, 0) == 0)
        dprintf(*fd, "%d\n", (int)getpid());
    return 0;
}

static int setup(struct fl_server *s, const struct fl_server_opts *o, struct fl_err *e)
{
    ssize_t n;
    int r;

    if (fl_db_is_url(fl_store_path(o->db))) {
        if ((size_t)snprintf(s->db, sizeof s->db, "%s", fl_store_path(o->db)) >= sizeof s->db)
            return fl_err_set(e, FL_EUSAGE, "--db: the URL is too long");
    } else if ((r = absolute(fl_store_path(o->db), s->db, sizeof s->db, e))) {
        return r;
    }
    fl_db_redact(s->db, s->db_shown, sizeof s->db_shown);
    if (o->work_dir)
        snprintf(s->work_dir, sizeof s->work_dir, "%s", o->work_dir);
    else if (fl_db_is_url(s->db))
        snprintf(s->work_dir, sizeof s->work_dir, "%s", FL_SERVER_PG_WORK_DIR);
    else if ((size_t)snprintf(s->work_dir, sizeof s->work_dir, "%s.server", s->db) >=
             sizeof s->work_dir)
        return fl_err_set(e, FL_ESTATE, "--db path too long");
    if (o->state_dir)
        snprintf(s->state_dir, sizeof s->state_dir, "%s", o->state_dir);
    n = readlink("/proc/self/exe", s->exe, sizeof s->exe - 1);
    if (n <= 0)
        return fl_err_set(e, FL_EFAIL, "cannot find my own binary: %s", strerror(errno));
    s->exe[n] = '\0';
    return 0;
}

struct fl_server *fl_server_new(const struct fl_server_opts *o, int *lock_fd, struct fl_err *e)
{
    struct fl_server *s = calloc(1, sizeof *s);

    *lock_fd = -1;
    if (!s) {
        fl_err_set(e, FL_EFAIL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->started_ms = fl_wall_ms();
    if (setup(s, o, e) || (o->tokens && fl_auth_load(o->tokens, &s->auth, e)) ||
        lock_work_dir(s, lock_fd, e) || fl_store_open(s->db, &s->hist, e) ||
        fl_sstore_open(s->db, &s->ss, e) || fl_sstore_claim(s->ss, e)) {
        fl_server_free(s, *lock_fd);
        *lock_fd = -1;
        return NULL;
    }
    return s;
}

void fl_server_free(struct fl_server *s, int lock_fd)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    fl_sstore_close(s->ss);
    fl_store_close(s->hist);
    fl_auth_free(s->auth);
    for (size_t i = 0; i < FL_SERVER_RUNS_CACHE; i++)
        free(s->runs_cache[i].text);
    free(s->tls_cert);
    free(s->tls_key);
    if (lock_fd >= 0)
        close(lock_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int fl_server_run(const struct fl_server_opts *o, struct fl_err *e)
{
    struct fl_server *s;
    pthread_t hooks;
    bool hooks_started = false;
    int64_t wake_ms = TICK_MS;
    sigset_t sigs;
    int lock_fd, r;

    if (!(s = fl_server_new(o, &lock_fd, e)))
        return -e->code;
    /* The API threads inherit this mask; the main thread waits for the signals. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    fl_runner_recover(s);
    fl_scheduler_recover(s);
    if ((r = fl_http_start(s, o, e)))
        goto out;
    if (fl_webhooks_start(s, &hooks)) {
        r = fl_err_set(e, FL_EFAIL, "cannot start the webhook thread");
        goto out;
    }
    hooks_started = true;
    printf("faultline server: listening on %s (store %s)\n", s->base_url, s->db_shown);
    fflush(stdout);
    while (!s->stop) {
        /* wake for the next fire time, or after a tick to reap runs */
        int64_t wait = wake_ms;
        struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        pthread_mutex_lock(&s->lock);
        fl_runner_poll(s);
        fl_scheduler_tick(s);
        wake_ms = fl_scheduler_wait_ms(s, TICK_MS);
        pthread_mutex_unlock(&s->lock);
    }
    printf("faultline server: stopping; running runs continue and the next server adopts "
           "them\n");
out:
    s->stop = 1;
    if (hooks_started)
        pthread_join(hooks, NULL);
    fl_server_free(s, lock_fd);
    return r;
}
