/* Network namespaces (netns.h): a fault's scope, finding it again,
 * entering it and always coming back, listing them for the sweepers. */
#include "net/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/container.h"
#include "util/log.h"
#include "util/proc.h"

#define NETNS_RUN_DIR "/run/netns"
#define NSFS_MAGIC_NUM 0x6e736673

static int stat_ns(const char *path, uint64_t *dev, uint64_t *ino)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -errno;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

/* Open path and check it really is a namespace file (a /run/netns entry whose
 * bind mount is gone is a plain empty file). Returns fd or -errno. */
static int open_ns(const char *path, uint64_t *dev, uint64_t *ino)
{
    struct statfs sfs;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (fstatfs(fd, &sfs) < 0 || (unsigned long)sfs.f_type != NSFS_MAGIC_NUM ||
        fstat(fd, &st) < 0) {
        close(fd);
        return -ENOENT;
    }
    if (dev)
        *dev = (uint64_t)st.st_dev;
    if (ino)
        *ino = (uint64_t)st.st_ino;
    return fd;
}

/* The host's namespace is pid 1's. When pid 1's is out of reach (faultline
 * runs in a container that cannot see it), faultline's own namespace is the
 * host as far as the user can tell: treat it as such, so the "never shape
 * the host by default" rules err on the safe side. */
static bool is_host_ns(uint64_t dev, uint64_t ino)
{
    uint64_t d = 0, i = 0;

    if (stat_ns("/proc/1/ns/net", &d, &i) == 0)
        return d == dev && i == ino;
    return stat_ns("/proc/self/ns/net", &d, &i) == 0 && d == dev && i == ino;
}

static bool valid_ns_name(const char *n)
{
    return n && *n && strlen(n) < 256 && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
}

int fl_netns_validate(const json_t *params, struct fl_err *e)
{
    json_t *name = json_object_get(params, "netns");
    json_t *pid = json_object_get(params, "pid");
    json_t *ct = json_object_get(params, "container");
    int r;

    if ((name && pid) || (name && ct) || (pid && ct))
        return fl_err_set(e, FL_EUSAGE,
                          "--%s and --%s both name a network namespace; give one of them",
                          name ? "netns" : "pid", ct ? "container" : "pid");
    if (ct && (r = fl_container_validate(json_string_value(ct), e)))
        return r;
    if (name && (!json_is_string(name) || !valid_ns_name(json_string_value(name))))
        return fl_err_set(e, FL_EUSAGE,
                          "--netns must be a namespace name as `ip netns list` shows it "
                          "(no '/')");
    if (pid &&
        (!json_is_integer(pid) || json_integer_value(pid) < 1 || json_integer_value(pid) > 4194304))
        return fl_err_set(e, FL_EUSAGE, "--pid must be a process id (a positive number)");
    return 0;
}

int fl_netns_resolve(const json_t *params, struct fl_netns_scope *s, struct fl_err *e)
{
    const char *name = fl_param_str(params, "netns", NULL);
    long long pid = fl_param_int(params, "pid", 0);
    const char *ctr = fl_param_str(params, "container", NULL);
    char path[PATH_MAX];
    int fd, r;

    memset(s, 0, sizeof *s);
    if ((r = fl_netns_validate(params, e)))
        return r;
    if (name) {
        s->kind = FL_NETNS_NAMED;
        snprintf(s->name, sizeof s->name, "%s", name);
        snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", name);
        fd = open_ns(path, &s->dev, &s->ino);
        if (fd == -ENOENT)
            return fl_err_set(e, FL_ENOTARGET,
                              "network namespace '%s' does not exist (no %s); `ip netns list` "
                              "shows the valid ones",
                              name, path);
        if (fd < 0)
            return fl_err_set(e, fl_code_from_errno(-fd), "cannot open network namespace %s: %s",
                              path, strerror(-fd));
        close(fd);
    } else if (pid || ctr) {
        s->kind = FL_NETNS_PID;
        s->pid = (pid_t)pid;
        s->pid_start = fl_proc_start_time(s->pid);
        if (ctr) {
            struct fl_container c;
            if (fl_container_lookup(ctr, &c, e))
                return fl_err_prefix(e, "--container %s", ctr);
            s->kind = FL_NETNS_CONTAINER;
            snprintf(s->name, sizeof s->name, "%s", ctr);
            s->pid = c.pid;
            s->pid_start = c.start;
        }
        if (!s->pid_start)
            return fl_err_set(e, FL_ENOTARGET,
                              "no process has pid %lld, so it has no network namespace to act "
                              "in",
                              pid);
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)s->pid);
        fd = open_ns(path, &s->dev, &s->ino);
        if (fd < 0)
            return fl_err_set(e, fd == -ENOENT ? FL_ENOTARGET : fl_code_from_errno(-fd),
                              "cannot open the network namespace of pid %d (%s): %s", (int)s->pid,
                              path, strerror(-fd));
        close(fd);
        /* The pid may have been recycled between the two reads. */
        if (fl_proc_start_time(s->pid) != s->pid_start)
            return fl_err_set(e, FL_ENOTARGET, "pid %d exited while being resolved", (int)s->pid);
    } else {
        s->kind = FL_NETNS_SELF;
        if ((r = stat_ns("/proc/thread-self/ns/net", &s->dev, &s->ino)))
            return fl_err_set(e, fl_code_from_errno(-r),
                              "cannot read this process's network namespace: %s", strerror(-r));
    }
    s->host = is_host_ns(s->dev, s->ino);
    return 0;
}

json_t *fl_netns_to_json(const struct fl_netns_scope *s)
{
    json_t *j = json_object();

    switch (s->kind) {
    case FL_NETNS_NAMED:
        json_object_set_new(j, "kind", json_string("netns"));
        json_object_set_new(j, "name", json_string(s->name));
        break;
    case FL_NETNS_CONTAINER: /* recorded by its init's identity, like a pid */
    case FL_NETNS_PID:
        if (s->kind == FL_NETNS_CONTAINER)
            json_object_set_new(j, "container", json_string(s->name));
        json_object_set_new(j, "kind", json_string(s->kind == FL_NETNS_PID ? "pid" : "container"));
        json_object_set_new(j, "pid", json_integer(s->pid));
        json_object_set_new(j, "pid_start", json_integer((json_int_t)s->pid_start));
        break;
    case FL_NETNS_SELF:
        json_object_set_new(j, "kind", json_string("self"));
        break;
    }
    /* nsfs inode numbers fit in 32 bits; devices in 53. */
    json_object_set_new(j, "dev", json_integer((json_int_t)s->dev));
    json_object_set_new(j, "ino", json_integer((json_int_t)s->ino));
    json_object_set_new(j, "host", json_boolean(s->host));
    return j;
}

int fl_netns_from_json(const json_t *j, struct fl_netns_scope *s, struct fl_err *e)
{
    const char *kind = json_string_value(json_object_get(j, "kind"));

    memset(s, 0, sizeof *s);
    if (!kind)
        return fl_err_set(e, FL_ESTATE, "the fault record has no network namespace scope");
    if (!strcmp(kind, "netns")) {
        const char *name = json_string_value(json_object_get(j, "name"));
        if (!valid_ns_name(name))
            return fl_err_set(e, FL_ESTATE, "the fault record names no valid netns");
        s->kind = FL_NETNS_NAMED;
        snprintf(s->name, sizeof s->name, "%s", name);
    } else if (!strcmp(kind, "pid") || !strcmp(kind, "container")) {
        const char *ct = json_string_value(json_object_get(j, "container"));
        s->kind = strcmp(kind, "pid") ? FL_NETNS_CONTAINER : FL_NETNS_PID;
        snprintf(s->name, sizeof s->name, "%s", ct ? ct : "");
        s->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
        s->pid_start = (uint64_t)json_integer_value(json_object_get(j, "pid_start"));
    } else if (!strcmp(kind, "self")) {
        s->kind = FL_NETNS_SELF;
    } else {
        return fl_err_set(e, FL_ESTATE, "unknown network namespace scope '%s' in the record", kind);
    }
    s->dev = (uint64_t)json_integer_value(json_object_get(j, "dev"));
    s->ino = (uint64_t)json_integer_value(json_object_get(j, "ino"));
    s->host = json_is_true(json_object_get(j, "host"));
    if (!s->ino)
        return fl_err_set(e, FL_ESTATE, "the fault record lacks the namespace inode");
    return 0;
}

void fl_netns_describe(const struct fl_netns_scope *s, char *buf, size_t len)
{
    switch (s->kind) {
    case FL_NETNS_NAMED:
        snprintf(buf, len, "netns %s", s->name);
        break;
    case FL_NETNS_PID:
        if (s->host)
            snprintf(buf, len, "the host (netns of pid %d)", (int)s->pid);
        else
            snprintf(buf, len, "the netns of pid %d", (int)s->pid);
        break;
    case FL_NETNS_CONTAINER:
        snprintf(buf, len, "%sthe netns of container %s (pid %d)", s->host ? "the host: " : "",
                 s->name, (int)s->pid);
        break;
    case FL_NETNS_SELF:
        snprintf(buf, len, "%s", s->host ? "the host" : "this netns");
        break;
    }
}

void fl_netns_describe_params(const json_t *params, char *buf, size_t len)
{
    const char *name = fl_param_str(params, "netns", NULL);
    long long pid = fl_param_int(params, "pid", 0);
    const char *ctr = fl_param_str(params, "container", NULL);

    if (name)
        snprintf(buf, len, "netns %s", name);
    else if (ctr)
        snprintf(buf, len, "the netns of container %s", ctr);
    else if (pid)
        snprintf(buf, len, "the netns of pid %lld", pid);
    else
        snprintf(buf, len, "the host");
}

/* Look for a namespace with this identity anywhere: this thread's, pid 1's,
 * the named ones, every process's. Returns an fd or -ENOENT. */
static int find_by_ino(uint64_t dev, uint64_t ino)
{
    struct fl_netns_entry *list = NULL;
    size_t n = 0;
    int fd = -ENOENT;

    if (fl_netns_list(&list, &n, NULL) < 0)
        return -ENOENT;
    for (size_t i = 0; i < n && fd < 0; i++) {
        uint64_t d = 0, in = 0;
        if (list[i].dev != dev || list[i].ino != ino)
            continue;
        fd = open_ns(list[i].path, &d, &in);
        if (fd >= 0 && (d != dev || in != ino)) {
            close(fd);
            fd = -ENOENT;
        }
    }
    free(list);
    return fd;
}

int fl_netns_open(const struct fl_netns_scope *s, struct fl_err *e)
{
    char path[PATH_MAX] = "";
    uint64_t d = 0, i = 0;
    int fd = -ENOENT;

    if (s->kind == FL_NETNS_NAMED)
        snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", s->name);
    else if ((s->kind == FL_NETNS_PID || s->kind == FL_NETNS_CONTAINER) &&
             fl_proc_alive(s->pid, s->pid_start))
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)s->pid);
    else if (s->kind == FL_NETNS_SELF)
        snprintf(path, sizeof path, "/proc/thread-self/ns/net");
    if (*path) {
        fd = open_ns(path, &d, &i);
        if (fd >= 0 && (d != s->dev || i != s->ino)) {
            close(fd);
            fd = -ENOENT;
        }
    }
    /* The name was re-created, the process exited, or the record was written
     * from another namespace: the namespace may still live elsewhere. */
    if (fd < 0)
        fd = find_by_ino(s->dev, s->ino);
    if (fd < 0) {
        char what[300];
        fl_netns_describe(s, what, sizeof what);
        return fl_err_set(e, FL_ENOTARGET, "%s no longer exists", what);
    }
    return fd;
}

int fl_netns_enter_fd(int nsfd, struct fl_netns_guard *g, struct fl_err *e)
{
    struct stat a, b;

    g->switched = false;
    g->orig_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (g->orig_fd < 0)
        return fl_err_set(e, fl_code_from_errno(errno),
                          "cannot open this thread's network namespace: %s", strerror(errno));
    if (fstat(g->orig_fd, &a) == 0 && fstat(nsfd, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return 0;
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        int err = errno;
        close(g->orig_fd);
        g->orig_fd = -1;
        return fl_err_set(e, fl_code_from_errno(err), "cannot enter the network namespace: %s",
                          strerror(err));
    }
    g->switched = true;
    return 0;
}

int fl_netns_enter(const struct fl_netns_scope *s, struct fl_netns_guard *g, struct fl_err *e)
{
    int fd = fl_netns_open(s, e);
    int r;

    g->orig_fd = -1;
    g->switched = false;
    if (fd < 0)
        return fd;
    r = fl_netns_enter_fd(fd, g, e);
    close(fd);
    return r;
}

void fl_netns_leave(struct fl_netns_guard *g)
{
    if (g->orig_fd < 0)
        return;
    if (g->switched && setns(g->orig_fd, CLONE_NEWNET) < 0) {
        fl_error("cannot return to the original network namespace: %s; stopping rather than "
                 "act in the wrong one",
                 strerror(errno));
        abort();
    }
    close(g->orig_fd);
    g->orig_fd = -1;
    g->switched = false;
}

struct ns_list {
    struct fl_netns_entry *v;
    size_t n, cap;
};

static void list_add(struct ns_list *l, const char *label, const char *path)
{
    uint64_t dev, ino;
    struct fl_netns_entry *nv;

    if (stat_ns(path, &dev, &ino) < 0)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].dev == dev && l->v[i].ino == ino)
            return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return;
        l->v = nv;
        l->cap = cap;
    }
    snprintf(l->v[l->n].label, sizeof l->v[l->n].label, "%s", label);
    snprintf(l->v[l->n].path, sizeof l->v[l->n].path, "%s", path);
    l->v[l->n].dev = dev;
    l->v[l->n].ino = ino;
    l->n++;
}

int fl_netns_list(struct fl_netns_entry **out, size_t *n, struct fl_err *e)
{
    struct ns_list l = {0};
    char path[PATH_MAX], label[96];
    struct dirent *d;
    DIR *dir;

    list_add(&l, "host", "/proc/1/ns/net");
    list_add(&l, l.n ? "this netns" : "host", "/proc/thread-self/ns/net");
    if ((dir = opendir(NETNS_RUN_DIR))) {
        while ((d = readdir(dir))) {
            if (d->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", d->d_name);
            snprintf(label, sizeof label, "netns %.80s", d->d_name);
            /* Only bound namespaces: a stale plain file has another fs. */
            int fd = open_ns(path, NULL, NULL);
            if (fd < 0)
                continue;
            close(fd);
            list_add(&l, label, path);
        }
        closedir(dir);
    }
    if (!(dir = opendir("/proc"))) {
        free(l.v);
        return fl_err_set(e, fl_code_from_errno(errno), "cannot read /proc: %s", strerror(errno));
    }
    while ((d = readdir(dir))) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/ns/net", d->d_name);
        snprintf(label, sizeof label, "pid %s", d->d_name);
        list_add(&l, label, path);
    }
    closedir(dir);
    *out = l.v;
    *n = l.n;
    return 0;
}

int fl_netns_each(const char *tag, void (*fn)(const char *label, void *arg), void *arg,
                  struct fl_err *e)
{
    struct fl_netns_entry *ns = NULL;
    size_t n = 0;
    int rc;

    if ((rc = fl_netns_list(&ns, &n, e)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct fl_netns_guard g;
        struct fl_err e2 = {0};
        int fd = open(ns[i].path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
            continue; /* the process exited meanwhile */
        if (fl_netns_enter_fd(fd, &g, &e2) == 0) {
            fn(ns[i].label, arg);
            fl_netns_leave(&g);
        } else {
            fl_warn("%s: %s: %s", tag, ns[i].label, e2.msg);
        }
        close(fd);
    }
    free(ns);
    return 0;
}
