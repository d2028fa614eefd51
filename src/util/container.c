/* Container lookup for podman (its CLI) and Docker (its API socket through
 * libcurl), and the list of a container's processes from /proc: see
 * util/container.h for what a reference is and which runtime is asked. */
#include "util/container.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"

#define INSPECT_MAX (4u << 20) /* an inspect answer larger than this is refused */
#define STDERR_MAX 2048
#define RUNTIME_TIMEOUT_MS 30000
#define DOCKER_SOCK_DEFAULT "/var/run/docker.sock"

struct buf {
    char *p;
    size_t n, cap, max;
    bool overflow;
};

static void buf_add(struct buf *b, const char *d, size_t n)
{
    if (b->n + n > b->max) {
        b->overflow = true;
        n = b->max - b->n;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *np;
        while (cap < b->n + n + 1)
            cap *= 2;
        if (!(np = realloc(b->p, cap))) {
            b->overflow = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static bool ref_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Split "podman:web" into runtime and name; runtime "" when unprefixed. */
static const char *split_ref(const char *ref, char *runtime, size_t len)
{
    runtime[0] = '\0';
    if (!strncmp(ref, "podman:", 7) || !strncmp(ref, "docker:", 7)) {
        snprintf(runtime, len, "%.6s", ref);
        return ref + 7;
    }
    return ref;
}

int fl_container_validate(const char *ref, struct fl_err *e)
{
    char rt[8];
    const char *name;

    if (!ref)
        return fl_err_set(e, FL_EUSAGE, "--container needs a container name or id");
    name = split_ref(ref, rt, sizeof rt);
    if (!*name || strlen(name) > 255)
        return fl_err_set(e, FL_EUSAGE,
                          "--container '%s' names no container; give a name or id as `podman ps` "
                          "or `docker ps` shows it, optionally as podman:NAME or docker:NAME",
                          ref);
    for (const char *p = name; *p; p++)
        if (!ref_char_ok(*p))
            return fl_err_set(e, FL_EUSAGE,
                              "--container '%s': a container name or id holds only letters, "
                              "digits, '_', '.' and '-'; a runtime prefix is podman: or docker:",
                              ref);
    return 0;
}

/* ---- parsing an inspect answer -------------------------------------------- */

int fl_container_parse_inspect(const char *ref, const char *runtime, const char *json, size_t len,
                               struct fl_container *c, struct fl_err *e)
{
    _cleanup_json_ json_t *root = json_loadb(json, len, 0, NULL);
    json_t *o = json_is_array(root) ? json_array_get(root, 0) : root;
    json_t *state = json_object_get(o, "State");
    json_t *pid = json_object_get(state, "Pid");
    const char *id = json_string_value(json_object_get(o, "Id"));
    const char *name = json_string_value(json_object_get(o, "Name"));
    const char *status = json_string_value(json_object_get(state, "Status"));

    memset(c, 0, sizeof *c);
    if (!json_is_object(o) || !id || !json_is_object(state))
        return fl_err_set(e, FL_EFAIL,
                          "%s answered an inspect of container '%s' with something that is not "
                          "a container description (no Id or State); check the runtime's version",
                          runtime, ref);
    snprintf(c->runtime, sizeof c->runtime, "%s", runtime);
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->name, sizeof c->name, "%s", name ? (name[0] == '/' ? name + 1 : name) : "");
    if (!json_is_true(json_object_get(state, "Running")) || !json_is_integer(pid) ||
        json_integer_value(pid) <= 1 || json_integer_value(pid) > 4194304)
        return fl_err_set(e, FL_ENOTARGET,
                          "container '%s' (%s) is not running (status %s), so it has no "
                          "processes or network namespace to act on; start it with `%s start %s`",
                          ref, runtime, status ? status : "unknown", runtime, c->name);
    c->pid = (pid_t)json_integer_value(pid);
    return 0;
}

/* ---- podman --------------------------------------------------------------- */

static bool on_path(const char *cmd)
{
    const char *path = getenv("PATH");
    char dir[PATH_MAX + 64];

    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n && n < PATH_MAX) {
            snprintf(dir, sizeof dir, "%.*s/%s", (int)n, p, cmd);
            if (access(dir, X_OK) == 0)
                return true;
        }
        p = colon ? colon + 1 : NULL;
    }
    return false;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read the child's stdout and stderr until both close or the deadline. */
static bool drain(int fd_out, int fd_err, struct buf *out, struct buf *err)
{
    struct pollfd p[2] = {{fd_out, POLLIN, 0}, {fd_err, POLLIN, 0}};
    long long deadline = now_ms() + RUNTIME_TIMEOUT_MS;
    char chunk[8192];

    while (p[0].fd >= 0 || p[1].fd >= 0) {
        long long left = deadline - now_ms();
        if (left <= 0 || poll(p, 2, (int)left) < 0) {
            if (errno == EINTR && left > 0)
                continue;
            return false;
        }
        for (int i = 0; i < 2; i++) {
            ssize_t r;
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            r = read(p[i].fd, chunk, sizeof chunk);
            if (r > 0)
                buf_add(i ? err : out, chunk, (size_t)r);
            else if (r == 0 || errno != EINTR)
                p[i].fd = -1;
        }
    }
    return true;
}

/* Run `podman container inspect --format json -- NAME`; stdout into out. */
static int podman_inspect(const char *name, struct buf *out, struct fl_err *e)
{
    int po[2], pe[2], status = 0;
    struct buf err = {.max = STDERR_MAX};
    bool done;
    pid_t pid;

    if (pipe2(po, O_CLOEXEC) < 0)
        return fl_err_set(e, FL_EFAIL, "cannot run podman: pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) < 0) {
        close(po[0]);
        close(po[1]);
        return fl_err_set(e, FL_EFAIL, "cannot run podman: pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execlp("podman", "podman", "container", "inspect", "--format", "json", "--", name,
               (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return fl_err_set(e, FL_EFAIL, "cannot run podman: fork: %s", strerror(errno));
    }
    done = drain(po[0], pe[0], out, &err);
    close(po[0]);
    close(pe[0]);
    if (!done)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!done) {
        free(err.p);
        return fl_err_set(e, FL_EFAIL,
                          "`podman container inspect %s` did not answer within %d s; check "
                          "`podman ps` by hand",
                          name, RUNTIME_TIMEOUT_MS / 1000);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[STDERR_MAX + 1];
        snprintf(msg, sizeof msg, "%s", err.p ? err.p : "");
        msg[strcspn(msg, "\n")] = '\0';
        free(err.p);
        if (strstr(msg, "no such container") || strstr(msg, "no container with"))
            return fl_err_set(e, FL_ENOTARGET,
                              "podman knows no container '%s' (`podman ps -a` lists them)", name);
        return fl_err_set(e, FL_EFAIL, "`podman container inspect %s` failed (exit %d): %s", name,
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1, *msg ? msg : "no message");
    }
    free(err.p);
    if (out->overflow)
        return fl_err_set(e, FL_EFAIL, "podman's inspect answer for '%s' exceeds %u bytes", name,
                          INSPECT_MAX);
    return 0;
}

/* ---- Docker --------------------------------------------------------------- */

/* DOCKER_HOST=unix:///path, else the default socket. FL_ENOTARGET for a
 * tcp:// or ssh:// host: faultline only speaks to a local daemon. */
static int docker_socket(char *path, size_t len, struct fl_err *e)
{
    const char *h = getenv("DOCKER_HOST");

    if (!h || !*h) {
        snprintf(path, len, "%s", DOCKER_SOCK_DEFAULT);
        return 0;
    }
    if (strncmp(h, "unix://", 7) || !h[7])
        return fl_err_set(e, FL_EUSAGE,
                          "DOCKER_HOST=%s: faultline asks Docker only over a local unix socket "
                          "(unix:///var/run/docker.sock); a container must run on this host",
                          h);
    snprintf(path, len, "%s", h + 7);
    return 0;
}

static size_t curl_sink(char *d, size_t sz, size_t n, void *arg)
{
    struct buf *b = arg;
    buf_add(b, d, sz * n);
    return b->overflow ? 0 : sz * n;
}

static int docker_inspect(const char *name, struct buf *out, struct fl_err *e)
{
    char sock[PATH_MAX], url[512];
    CURL *c;
    CURLcode cr;
    long code = 0;
    int r;

    if ((r = docker_socket(sock, sizeof sock, e)))
        return r;
    if (access(sock, F_OK) != 0)
        return fl_err_set(e, FL_ENOTARGET,
                          "Docker is not running here: no socket at %s (start dockerd, set "
                          "DOCKER_HOST=unix://PATH, or use podman:NAME)",
                          sock);
    if (!(c = curl_easy_init()))
        return fl_err_set(e, FL_EFAIL, "cannot start libcurl");
    /* The name is [A-Za-z0-9_.-] (validated), so it needs no escaping. */
    snprintf(url, sizeof url, "http://docker/v1.24/containers/%s/json", name);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)RUNTIME_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cr = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (cr != CURLE_OK && out->overflow)
        return fl_err_set(e, FL_EFAIL, "Docker's inspect answer for '%s' exceeds %u bytes", name,
                          INSPECT_MAX);
    if (cr != CURLE_OK)
        return fl_err_set(e, FL_ENOTARGET,
                          "cannot ask Docker at %s about container '%s': %s (is dockerd "
                          "running?)",
                          sock, name, curl_easy_strerror(cr));
    if (code == 404)
        return fl_err_set(e, FL_ENOTARGET,
                          "Docker knows no container '%s' (`docker ps -a` lists them)", name);
    if (code != 200)
        return fl_err_set(e, FL_EFAIL, "Docker at %s answered HTTP %ld for container '%s': %.200s",
                          sock, code, name, out->p ? out->p : "");
    return 0;
}

int fl_container_lookup(const char *ref, struct fl_container *c, struct fl_err *e)
{
    struct buf out = {.max = INSPECT_MAX};
    char rt[8];
    const char *name;
    int r;

    memset(c, 0, sizeof *c);
    if ((r = fl_container_validate(ref, e)))
        return r;
    name = split_ref(ref, rt, sizeof rt);
    if (!*rt) {
        char sock[PATH_MAX] = DOCKER_SOCK_DEFAULT;
        struct fl_err ignore = {0};
        /* A DOCKER_HOST faultline cannot use counts as Docker: its lookup
         * then says what is wrong with it. */
        int bad_host = docker_socket(sock, sizeof sock, &ignore);
        if (on_path("podman"))
            snprintf(rt, sizeof rt, "podman");
        else if (bad_host || access(sock, F_OK) == 0)
            snprintf(rt, sizeof rt, "docker");
        else
            return fl_err_set(e, FL_ENOTARGET,
                              "no container runtime here: `podman` is not on PATH and Docker "
                              "has no socket at %s; install podman or start dockerd",
                              sock);
    } else if (!strcmp(rt, "podman") && !on_path("podman")) {
        return fl_err_set(e, FL_ENOTARGET, "podman is not installed (no `podman` on PATH)");
    }
    r = !strcmp(rt, "podman") ? podman_inspect(name, &out, e) : docker_inspect(name, &out, e);
    if (!r)
        r = fl_container_parse_inspect(name, rt, out.p ? out.p : "", out.n, c, e);
    free(out.p);
    if (r)
        return r;
    c->start = fl_proc_start_time(c->pid);
    if (!c->start)
        return fl_err_set(e, FL_ENOTARGET,
                          "container '%s' (%s) names pid %d, which is not running here (is the "
                          "runtime on another host or in another pid namespace?)",
                          name, rt, (int)c->pid);
    return 0;
}

/* ---- the container's processes ------------------------------------------- */

/* The cgroup path of `pid` in the hierarchy `key` names ("0:" for cgroup
 * v2, "4:memory" for a v1 one; only the part after the first ':' is
 * compared). With `choose`, pick the hierarchy and fill `key`: cgroup v2 when
 * it places the process below the root, else the first v1 line that does. */
static int cgroup_of(pid_t pid, char *key, size_t klen, char *out, size_t len, bool choose)
{
    char path[64], line[4096];
    _cleanup_fclose_ FILE *f;
    bool found = false;

    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    if (!(f = fopen(path, "re")))
        return -errno;
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        line[strcspn(line, "\n")] = '\0';
        *c2 = '\0';
        if (choose) {
            bool v2 = !strcmp(line, "0:");
            if (!strcmp(c2 + 1, "/") || (found && !v2))
                continue;
            snprintf(key, klen, "%s", line);
            snprintf(out, len, "%s", c2 + 1);
            found = true;
            if (v2)
                return 0;
        } else if (!strcmp(strchr(line, ':'), strchr(key, ':'))) {
            snprintf(out, len, "%s", c2 + 1);
            return 0;
        }
    }
    return found ? 0 : -ENOENT;
}

static bool same_ns(pid_t pid, const struct stat *ns)
{
    char path[64];
    struct stat st;

    snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)pid);
    return stat(path, &st) == 0 && st.st_dev == ns->st_dev && st.st_ino == ns->st_ino;
}

int fl_container_pids(const struct fl_container *c, pid_t **pids, size_t *n, struct fl_err *e)
{
    char key[256], cg[4096], other[4096], path[64];
    struct stat ns = {0}, self = {0};
    size_t cap = 0, plen;
    bool by_cgroup;
    DIR *d;
    struct dirent *de;

    *pids = NULL;
    *n = 0;
    by_cgroup = cgroup_of(c->pid, key, sizeof key, cg, sizeof cg, true) == 0;
    /* A cgroup that holds faultline too (a container run without cgroups of
     * its own inherits its runtime's) would select the whole host. */
    if (by_cgroup && cgroup_of(getpid(), key, sizeof key, other, sizeof other, false) == 0 &&
        !strncmp(other, cg, strlen(cg)) && (other[strlen(cg)] == '\0' || other[strlen(cg)] == '/'))
        by_cgroup = false;
    snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)c->pid);
    if (!by_cgroup && (stat(path, &ns) || stat("/proc/self/ns/pid", &self) ||
                       (ns.st_dev == self.st_dev && ns.st_ino == self.st_ino)))
        return fl_err_set(e, FL_ENOTARGET,
                          "container '%s' (pid %d) has neither a cgroup nor a pid namespace of "
                          "its own, so its processes cannot be told apart; select them with "
                          "--pid or --cmdline",
                          c->name, (int)c->pid);
    plen = strlen(cg);
    if (!(d = opendir("/proc")))
        return fl_err_set(e, FL_EFAIL, "cannot read /proc: %s", strerror(errno));
    while ((de = readdir(d))) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        bool in;
        if (*end || v <= 0)
            continue;
        if (by_cgroup)
            in = cgroup_of((pid_t)v, key, sizeof key, other, sizeof other, false) == 0 &&
                 !strncmp(other, cg, plen) && (other[plen] == '\0' || other[plen] == '/');
        else
            in = same_ns((pid_t)v, &ns);
        if (!in)
            continue;
        if (*n == cap) {
            pid_t *np = realloc(*pids, (cap = cap ? cap * 2 : 16) * sizeof *np);
            if (!np) {
                closedir(d);
                free(*pids);
                *pids = NULL;
                *n = 0;
                return fl_err_set(e, FL_EFAIL, "out of memory");
            }
            *pids = np;
        }
        (*pids)[(*n)++] = (pid_t)v;
    }
    closedir(d);
    return 0;
}
