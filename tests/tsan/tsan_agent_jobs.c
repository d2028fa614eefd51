/* ThreadSanitizer driver for the agent's jobs and the client's job calls:
 * a plain program (Criterion cannot start under TSan). It starts the
 * `faultline agent` of the same TSan build (../../faultline from here, with
 * --allow-commands, on 127.0.0.1:0), then six threads share one client —
 * each starts a command job, reads its output in pieces until the end,
 * reads its status and deletes it — while the renewer renews the session
 * and a seventh thread lists the agent's jobs and faults. Inside the agent
 * the HTTP thread, the reaper and the output thread run at once. A race in
 * the driver exits 66 here; one in the agent makes the agent exit 66, which
 * the driver reports. Exit 0: every job's output came back whole. */
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/agent_start.h"
#include "remote/client.h"
#include "util/time.h"

#define WORKERS 6

struct worker {
    struct fl_agent_client *c;
    int n;
    bool ok;
    char why[FL_ERR_MSG];
};

static atomic_bool done;

static void *work(void *arg)
{
    struct worker *w = arg;
    char cmd[128], id[FL_AGENT_JOB_ID_LEN], *buf = NULL;
    json_t *req, *st = NULL;
    struct fl_err e = {0};
    size_t len = 0;
    bool eof = false;
    int64_t until = fl_now_ms() + 60000;

    snprintf(cmd, sizeof cmd, "for i in $(seq 1 2000); do echo w%d-$i; done", w->n);
    req = json_pack("{s:s,s:s}", "kind", "command", "command", cmd);
    if (fl_agent_client_job_start(w->c, req, id, &e))
        goto out;
    while (!eof && fl_now_ms() < until)
        if (fl_agent_client_job_output(w->c, id, len, 1000, &buf, &len, &eof, &e))
            goto out;
    if (fl_agent_client_job_status(w->c, id, &st, &e) ||
        fl_agent_client_job_delete(w->c, id, NULL, &e))
        goto out;
    w->ok = eof && strstr(buf, "-2000\n") &&
            (size_t)json_integer_value(json_object_get(st, "stdout_bytes")) == len;
    snprintf(w->why, sizeof w->why, "eof %d, %zu bytes", eof, len);
out:
    if (!w->ok && e.msg[0])
        snprintf(w->why, sizeof w->why, "%s", e.msg);
    json_decref(req);
    json_decref(st);
    free(buf);
    return NULL;
}

static void *watch(void *arg)
{
    struct fl_agent_client *c = arg;

    while (!atomic_load(&done)) {
        struct fl_err e = {0};
        json_t *h = NULL, *f = NULL;
        if (fl_agent_client_health(c, &h, &e) || fl_agent_client_list(c, &f, &e))
            fprintf(stderr, "tsan_agent_jobs: %s\n", e.msg);
        json_decref(h);
        json_decref(f);
        fl_sleep_ms(5);
    }
    return NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static pid_t start_agent(char *url, size_t len, char *state)
{
    char why[PATH_MAX + 64];
    pid_t pid = fl_test_agent_start(state, "--allow-commands", url, len, why, sizeof why);

    if (pid < 0)
        fprintf(stderr, "tsan_agent_jobs: %s\n", why);
    return pid;
}

int main(void)
{
    char state[] = "/tmp/tsan_agent_jobs.XXXXXX", url[64];
    struct fl_agent_client_opts o = {.name = "tsan", .lease_ms = 1000, .timeout_ms = 20000};
    struct fl_agent_client *c = NULL;
    struct fl_agent_renewer *ren = NULL;
    struct worker w[WORKERS];
    pthread_t t[WORKERS], wt;
    struct fl_err e = {0};
    int st = 0, bad = 0;
    pid_t pid;

    if (!mkdtemp(state) || (pid = start_agent(url, sizeof url, state)) < 0)
        return 1;
    o.url = url;
    if (fl_agent_client_new(&o, &c, &e) || fl_agent_renewer_start(&c, 1, &ren, &e)) {
        fprintf(stderr, "tsan_agent_jobs: %s\n", e.msg);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 1;
    }
    pthread_create(&wt, NULL, watch, c);
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.c = c, .n = i};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&done, true);
    pthread_join(wt, NULL);
    fl_agent_renewer_stop(ren);
    fl_agent_client_free(c);
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    for (int i = 0; i < WORKERS; i++)
        if (!w[i].ok) {
            fprintf(stderr, "tsan_agent_jobs: worker %d: %s\n", i, w[i].why);
            bad = 1;
        }
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "tsan_agent_jobs: the agent exited with status %#x (66: a race)\n", st);
        bad = 1;
    }
    if (nftw(state, rm_one, 8, FTW_DEPTH | FTW_PHYS))
        fprintf(stderr, "tsan_agent_jobs: cannot remove %s\n", state);
    if (!bad)
        printf("tsan_agent_jobs: %d workers, every job's output whole; the agent exited 0\n",
               WORKERS);
    return bad;
}
