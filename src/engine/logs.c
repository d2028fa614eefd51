/* Target log capture (logs.h): one thread polls every source each 100 ms —
 * a file is read from where it ended at the start (reopened from its start
 * when it is rotated or truncated, opened when it appears), a unit, a
 * command or a container is a child process in its own process group whose
 * output is read through a pipe and which is killed at the end. */
#include "engine/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "spec/spec.h"
#include "store/store.h"
#include "util/time.h"

#define LINE_MAX_BYTES 4096
#define TICK_MS 100

struct src {
    const struct fl_spec_log *spec;
    int fd;
    pid_t pid;
    ino_t ino;
    off_t off;
    bool opened_once;
    char part[LINE_MAX_BYTES + 1];
    size_t plen;
    json_t *lines; /* [t_ms, text] */
    int64_t bytes, dropped;
    char error[256];
};

struct fl_logcap {
    size_t n;
    struct src *s;
    int64_t t0_ns;
    pthread_t th;
    bool running;
    atomic_int stop;
};

static const char *const kind_names[] = {"file", "unit", "command", "container"};

/* A line as valid UTF-8 text (PostgreSQL refuses anything else). */
static json_t *text_of(char *p, size_t len)
{
    json_t *j = json_stringn(p, len);

    if (j)
        return j;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] >= 0x80)
            p[i] = '?';
    return json_stringn(p, len);
}

static void add_line(struct fl_logcap *c, struct src *s, char *p, size_t len)
{
    if (len && p[len - 1] == '\r')
        len--;
    for (size_t i = 0; i < len; i++)
        if (!p[i])
            p[i] = ' ';
    if (s->bytes + (int64_t)len > s->spec->max_bytes) {
        s->dropped++;
        return;
    }
    s->bytes += (int64_t)len;
    json_array_append_new(
        s->lines,
        json_pack("[I,o]", (json_int_t)((fl_mono_ns() - c->t0_ns) / 1000000), text_of(p, len)));
}

/* Split what was read into lines; a line longer than LINE_MAX_BYTES is cut. */
static void feed(struct fl_logcap *c, struct src *s, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n' || s->plen == LINE_MAX_BYTES) {
            add_line(c, s, s->part, s->plen);
            s->plen = 0;
            if (buf[i] == '\n')
                continue;
        }
        s->part[s->plen++] = buf[i];
    }
}

/* Open the file (at its end when it existed at the start), or reopen it
 * when it was rotated or truncated. */
static void file_check(struct src *s, bool at_start)
{
    struct stat sb;

    if (stat(s->spec->what, &sb))
        return;
    if (s->fd >= 0 && sb.st_ino == s->ino && sb.st_size >= s->off)
        return;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = open(s->spec->what, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (s->fd < 0) {
        snprintf(s->error, sizeof s->error, "cannot read %s: %s", s->spec->what, strerror(errno));
        return;
    }
    s->error[0] = '\0';
    s->ino = sb.st_ino;
    s->off = at_start ? lseek(s->fd, 0, SEEK_END) : 0;
    s->opened_once = true;
}

static void file_read(struct fl_logcap *c, struct src *s)
{
    char buf[16384];
    ssize_t n;

    file_check(s, false);
    while (s->fd >= 0 && (n = read(s->fd, buf, sizeof buf)) > 0) {
        s->off += n;
        feed(c, s, buf, (size_t)n);
    }
}

/* The process a unit, command or container source reads; only
 * async-signal-safe calls in the child. */
static void spawn(struct src *s)
{
    const struct fl_spec_log *l = s->spec;
    int p[2];

    if (pipe2(p, O_CLOEXEC)) {
        snprintf(s->error, sizeof s->error, "cannot make a pipe: %s", strerror(errno));
        return;
    }
    s->pid = fork();
    if (s->pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        setpgid(0, 0);
        dup2(null, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        if (l->kind == FL_LOG_UNIT)
            execlp("journalctl", "journalctl", "--unit", l->what, "--follow", "--lines=0",
                   "--output=short-iso", (char *)NULL);
        else if (l->kind == FL_LOG_CONTAINER)
            execlp("podman", "podman", "logs", "--follow", "--tail", "0", l->what, (char *)NULL);
        else
            execl("/bin/sh", "sh", "-c", l->what, (char *)NULL);
        dprintf(1, "faultline: cannot start %s: %s\n",
                l->kind == FL_LOG_UNIT        ? "journalctl (Debian package systemd)"
                : l->kind == FL_LOG_CONTAINER ? "podman (Debian package podman)"
                                              : "/bin/sh",
                strerror(errno));
        _exit(127);
    }
    close(p[1]);
    if (s->pid < 0) {
        snprintf(s->error, sizeof s->error, "cannot start a process: %s", strerror(errno));
        close(p[0]);
        s->pid = 0;
        return;
    }
    setpgid(s->pid, s->pid);
    s->fd = p[0];
    fcntl(s->fd, F_SETFL, O_NONBLOCK);
}

static void pipe_read(struct fl_logcap *c, struct src *s)
{
    char buf[16384];
    ssize_t n = -1;

    while (s->fd >= 0 && (n = read(s->fd, buf, sizeof buf)) > 0)
        feed(c, s, buf, (size_t)n);
    if (s->fd >= 0 && n == 0) { /* the process closed its output */
        close(s->fd);
        s->fd = -1;
    }
}

static void *loop(void *arg)
{
    struct fl_logcap *c = arg;

    while (!c->stop) {
        struct pollfd pfd[64];
        nfds_t np = 0;
        for (size_t i = 0; i < c->n && np < 64; i++)
            if (c->s[i].pid && c->s[i].fd >= 0)
                pfd[np++] = (struct pollfd){.fd = c->s[i].fd, .events = POLLIN};
        poll(pfd, np, TICK_MS);
        for (size_t i = 0; i < c->n; i++)
            if (c->s[i].spec->kind == FL_LOG_FILE)
                file_read(c, &c->s[i]);
            else
                pipe_read(c, &c->s[i]);
    }
    return NULL;
}

struct fl_logcap *fl_logcap_start(const struct fl_spec *spec, int64_t t0_ns)
{
    struct fl_logcap *c;

    if (!spec->nlogs || !(c = calloc(1, sizeof *c)))
        return NULL;
    if (!(c->s = calloc(spec->nlogs, sizeof *c->s))) {
        free(c);
        return NULL;
    }
    c->n = spec->nlogs;
    c->t0_ns = t0_ns;
    for (size_t i = 0; i < c->n; i++) {
        struct src *s = &c->s[i];
        s->spec = &spec->logs[i];
        s->fd = -1;
        s->lines = json_array();
        if (s->spec->kind == FL_LOG_FILE) {
            file_check(s, true);
        } else {
            spawn(s);
        }
    }
    c->running = pthread_create(&c->th, NULL, loop, c) == 0;
    return c;
}

/* End a source: the last lines, its process killed (by its process group). */
static void finish_src(struct fl_logcap *c, struct src *s)
{
    if (s->spec->kind == FL_LOG_FILE) {
        file_read(c, s);
        if (!s->opened_once)
            snprintf(s->error, sizeof s->error, "%s never appeared during the run", s->spec->what);
    } else if (s->pid > 0) {
        int st = 0;
        usleep(50000); /* what it wrote as the run ended */
        pipe_read(c, s);
        kill(-s->pid, SIGTERM);
        if (waitpid(s->pid, &st, 0) == s->pid && WIFEXITED(st) && WEXITSTATUS(st) && !s->error[0])
            snprintf(s->error, sizeof s->error, "%s exited with code %d", kind_names[s->spec->kind],
                     WEXITSTATUS(st));
        pipe_read(c, s);
        s->pid = 0;
    }
    if (s->plen) {
        add_line(c, s, s->part, s->plen);
        s->plen = 0;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int fl_logcap_finish(struct fl_logcap *c, struct fl_store *st, int64_t run_id, char *summary,
                     size_t len)
{
    int r = 0;

    summary[0] = '\0';
    if (!c)
        return 0;
    c->stop = 1;
    if (c->running)
        pthread_join(c->th, NULL);
    c->running = false;
    fl_store_begin(st);
    for (size_t i = 0; i < c->n; i++) {
        struct src *s = &c->s[i];
        size_t k, used = strlen(summary);
        json_t *l;
        finish_src(c, s);
        json_array_foreach (s->lines, k, l)
            if (fl_store_log_line(st, run_id, s->spec->name, (int64_t)k,
                                  json_integer_value(json_array_get(l, 0)),
                                  json_string_value(json_array_get(l, 1))))
                r = -1;
        if (fl_store_log_source(st, run_id, s->spec->name, kind_names[s->spec->kind], s->spec->what,
                                (int64_t)json_array_size(s->lines), s->bytes, s->dropped,
                                s->error[0] ? s->error : NULL))
            r = -1;
        char extra[320] = "";
        if (s->dropped)
            snprintf(extra, sizeof extra, ", %lld dropped over max", (long long)s->dropped);
        if (s->error[0])
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " (%s)", s->error);
        snprintf(summary + used, len - used, "%s%s: %zu lines%s", used ? "; " : "", s->spec->name,
                 json_array_size(s->lines), extra);
    }
    fl_store_commit(st);
    return r;
}

void fl_logcap_free(struct fl_logcap *c)
{
    if (!c)
        return;
    c->stop = 1;
    if (c->running)
        pthread_join(c->th, NULL);
    for (size_t i = 0; i < c->n; i++) {
        struct src *s = &c->s[i];
        if (s->pid > 0) {
            kill(-s->pid, SIGTERM);
            waitpid(s->pid, NULL, 0);
        }
        if (s->fd >= 0)
            close(s->fd);
        json_decref(s->lines);
    }
    free(c->s);
    free(c);
}
