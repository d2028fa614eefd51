/* A `faultline agent` in every lab host (lab.h, docs/lab.md): one token per
 * lab, the agents started in parallel inside the hosts' namespaces and
 * waited for, their health for `lab status`, and what `lab down` removes
 * after them (their state directories, logs and token files).
 *
 * Files, under STATE_DIR/labs/:
 *   LAB.token    the lab's bearer token (0600): `--host LAB/hK` reads it
 *   LAB.tokens   its hash as the agents' --tokens file ("lab operator sha256:...")
 *   LAB/hK/      host K's agent: its journal and guardian (--state-dir), agent.log */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/journal.h"
#include "lab/lab.h"
#include "server/auth.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/time.h"

#define READY_TIMEOUT_MS 10000

static void token_paths(const char *state_dir, const char *name, char *tok, char *hashes,
                        size_t len)
{
    snprintf(tok, len, "%s/labs/%s.token", state_dir, name);
    snprintf(hashes, len, "%s/labs/%s.tokens", state_dir, name);
}

static int write_file(const char *path, const char *text, mode_t mode, struct fl_err *e)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t n = strlen(text);

    if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd)) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return fl_err_set(e, FL_ESTATE, "cannot write %s: %s", path, strerror(err));
    }
    close(fd);
    return 0;
}

/* A fresh token for the lab, and the agents' tokens file holding its hash. */
static int make_token(const struct fl_lab *lab, const char *state_dir, char *hashes, size_t len,
                      struct fl_err *e)
{
    char tokpath[PATH_MAX], tok[80], line[128], hash[72];
    unsigned char rnd[24];

    token_paths(state_dir, lab->name, tokpath, hashes, len);
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
        return fl_err_set(e, FL_EFAIL, "getrandom: %s", strerror(errno));
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(tok + 2 * i, 3, "%02x", rnd[i]);
    fl_auth_hash(tok, hash);
    snprintf(line, sizeof line, "lab operator %s\n", hash);
    strcat(tok, "\n");
    if (write_file(tokpath, tok, 0600, e) || write_file(hashes, line, 0600, e))
        return -e->code;
    return 0;
}

/* In the child: enter the host, detach, exec the agent. Never returns. */
static void exec_agent(const char *exe, const struct fl_lab_host *h, const char *hashes,
                       const char *dir, int notify, bool commands)
{
    char path[PATH_MAX + 32], listen[48], a[INET_ADDRSTRLEN];
    int fd, out;

    snprintf(path, sizeof path, "/run/netns/%s", h->netns);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || setns(fd, CLONE_NEWNET) < 0)
        _exit(126);
    setsid();
    snprintf(path, sizeof path, "%s/agent.log", dir);
    out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || fd < 0 || dup2(fd, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
        dup2(notify, 3) < 0)
        _exit(126);
    inet_ntop(AF_INET, &h->addr, a, sizeof a);
    snprintf(listen, sizeof listen, "%s:%d", a, FL_LAB_AGENT_PORT);
    execl(exe, "faultline", "agent", "--listen", listen, "--tokens", hashes, "--state-dir", dir,
          "--name", h->name, "--notify-fd", "3", commands ? "--allow-commands" : (char *)NULL,
          (char *)NULL);
    _exit(127);
}

/* Wait until every agent said "ready" on its pipe, one died, or the timeout. */
static int wait_ready(const struct fl_lab *lab, const char *state_dir, int *fds, pid_t *pids,
                      struct fl_err *e)
{
    int64_t deadline = fl_now_ms() + READY_TIMEOUT_MS;
    size_t left = lab->n;

    while (left) {
        struct pollfd p[FL_LAB_MAX_HOSTS];
        int64_t wait = deadline - fl_now_ms();
        for (size_t i = 0; i < lab->n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (wait <= 0 || poll(p, lab->n, (int)wait) <= 0)
            return fl_err_set(e, FL_EFAIL, "lab %s: the agents did not start within %d ms",
                              lab->name, READY_TIMEOUT_MS);
        for (size_t i = 0; i < lab->n; i++) {
            char buf[64];
            ssize_t n;
            if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            n = read(fds[i], buf, sizeof buf - 1);
            close(fds[i]);
            fds[i] = -1;
            left--;
            if (n <= 0 || strncmp(buf, "ready", 5)) {
                int st = 0;
                waitpid(pids[i], &st, 0);
                return fl_err_set(e, FL_EFAIL,
                                  "lab %s: the agent of %s did not start (exit %d); see "
                                  "%s/labs/%s/%s/agent.log",
                                  lab->name, lab->hosts[i].name,
                                  WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), state_dir,
                                  lab->name, lab->hosts[i].name);
            }
        }
    }
    return 0;
}

int fl_lab_agents_start(const struct fl_lab *lab, const char *state_dir, struct fl_err *e)
{
    char hashes[PATH_MAX], exe[PATH_MAX], dir[PATH_MAX];
    int fds[FL_LAB_MAX_HOSTS];
    pid_t pids[FL_LAB_MAX_HOSTS] = {0};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    int r = 0;

    if (n <= 0)
        return fl_err_set(e, FL_EFAIL, "cannot find this binary (/proc/self/exe): %s",
                          strerror(errno));
    exe[n] = '\0';
    if ((r = make_token(lab, state_dir, hashes, sizeof hashes, e)))
        return r;
    for (size_t i = 0; i < FL_LAB_MAX_HOSTS; i++)
        fds[i] = -1;
    for (size_t i = 0; i < lab->n && !r; i++) {
        int pfd[2];
        snprintf(dir, sizeof dir, "%s/labs/%s/%s", state_dir, lab->name, lab->hosts[i].name);
        if ((r = fl_mkdir_p(dir, 0700, e)))
            break;
        if (pipe2(pfd, O_CLOEXEC)) {
            r = fl_err_set(e, FL_EFAIL, "pipe: %s", strerror(errno));
            break;
        }
        pids[i] = fork();
        if (pids[i] == 0)
            exec_agent(exe, &lab->hosts[i], hashes, dir, pfd[1], lab->agent_commands);
        close(pfd[1]);
        fds[i] = pfd[0];
        if (pids[i] < 0) {
            close(pfd[0]);
            fds[i] = -1;
            r = fl_err_set(e, FL_EFAIL, "fork: %s", strerror(errno));
        }
    }
    if (!r)
        r = wait_ready(lab, state_dir, fds, pids, e);
    for (size_t i = 0; i < lab->n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return r; /* on failure, lab down (by the caller) stops the agents that started */
}

int fl_lab_agent_url(const char *name, const char *host, const char *state_dir, char *url,
                     size_t len, struct fl_err *e)
{
    struct fl_lab lab;
    bool ready;
    char a[INET_ADDRSTRLEN];
    int r = fl_lab_load(name, state_dir, &lab, &ready, e);

    if (r)
        return r;
    for (size_t i = 0; i < lab.n; i++)
        if (!strcmp(lab.hosts[i].name, host) || !strcmp(lab.hosts[i].netns, host)) {
            if (!lab.hosts[i].addr.s_addr) /* no record of the lab in this state directory */
                return fl_err_set(e, FL_ENOTARGET,
                                  "lab %s: its record, with its hosts' addresses, is not in the "
                                  "state directory %s (the lab was built with another one); use "
                                  "the FAULTLINE_STATE_DIR (--state-dir) that ran `faultline lab "
                                  "up %s`",
                                  name, state_dir ? state_dir : "(default)", name);
            inet_ntop(AF_INET, &lab.hosts[i].addr, a, sizeof a);
            snprintf(url, len, "http://%s:%d", a, FL_LAB_AGENT_PORT);
            return 0;
        }
    return fl_err_set(e, FL_ENOTARGET, "lab %s has no host '%s' (hosts are h1..h%zu)", name, host,
                      lab.n);
}

int fl_lab_agent_token(const char *name, const char *state_dir, char *tok, size_t len,
                       struct fl_err *e)
{
    char path[PATH_MAX], hashes[PATH_MAX];
    FILE *f;

    token_paths(state_dir, name, path, hashes, sizeof path);
    if (!(f = fopen(path, "re")))
        return fl_err_set(e, FL_ENOTARGET,
                          "lab %s has no agent token (%s: %s); was it built with --no-agents?",
                          name, path, strerror(errno));
    if (!fgets(tok, (int)len, f))
        tok[0] = '\0';
    fclose(f);
    tok[strcspn(tok, "\r\n")] = '\0';
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (remove(path) != 0 && errno != ENOENT)
        fl_warn("lab: cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* After lab down killed the agents: revert what their journals still hold
 * (an agent killed outright, with its guardian), then remove their files. */
int fl_lab_agents_cleanup(const char *name, const char *state_dir)
{
    char dir[PATH_MAX], tok[PATH_MAX], hashes[PATH_MAX], host[PATH_MAX + 300];
    DIR *d;
    struct dirent *de;
    int files = 0;

    snprintf(dir, sizeof dir, "%s/labs/%s", state_dir, name);
    if ((d = opendir(dir))) {
        while ((de = readdir(d))) {
            struct fl_journal j;
            struct fl_err e = {0};
            json_t *recs, *rec;
            size_t i;
            if (de->d_name[0] == '.')
                continue;
            snprintf(host, sizeof host, "%s/%s", dir, de->d_name);
            if (fl_journal_open_existing(&j, host, &e) || !j.exists)
                continue;
            recs = fl_journal_list(&j);
            json_array_foreach (recs, i, rec) {
                bool found;
                if (fl_journal_revert_by(&j, json_string_value(json_object_get(rec, "id")),
                                         "lab down", &found, &e))
                    fl_warn("lab %s: %s", name, e.msg);
            }
            json_decref(recs);
            fl_journal_close(&j);
        }
        closedir(d);
        files += nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0;
    }
    token_paths(state_dir, name, tok, hashes, sizeof tok);
    files += unlink(tok) == 0;
    files += unlink(hashes) == 0;
    return files;
}
