/* Stressor processes in their own cgroup (stress.h), shared by stress.cpu
 * and stress.memory. */
#include "faults/stress.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faults/select.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/time.h"

#define EMPTY_WAIT_MS 5000

int fl_stress_plan(struct fl_fault *f, struct fl_err *e)
{
    char mount[PATH_MAX], path[PATH_MAX + 64], rel[128];
    int64_t hard =
        fl_fault_self_stop_ms(f, FL_STRESS_HARD_STOP_GRACE_MS, FL_STRESS_DEFAULT_HARD_STOP_MS);

    if (fl_proc_cgroup2_mount(mount, sizeof mount, e))
        return fl_err_prefix(e, "%s needs a cgroup v2 hierarchy for its workers", f->ops->kind);
    snprintf(rel, sizeof rel, "/%s/%s", FL_STRESS_CGROUP_DIR, f->id);
    snprintf(path, sizeof path, "%s%s", mount, rel);
    json_object_set_new(f->undo, "cgroup", json_string(path));
    json_object_set_new(f->undo, "cgroup_rel", json_string(rel));
    json_object_set_new(f->undo, "deadline_ms", json_integer(fl_now_ms() + hard));
    if (json_object_get(f->params, "container"))
        return fl_stress_container_plan(f, mount, e);
    return 0;
}

/* "faultline-" and 8 hex digits: a nested stress cgroup's name. */
static bool nested_name(const char *name)
{
    size_t n = strlen(FL_STRESS_NESTED_PREFIX);

    if (strncmp(name, FL_STRESS_NESTED_PREFIX, n) || strlen(name + n) != FL_FAULT_ID_LEN - 1)
        return false;
    for (const char *p = name + n; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return false;
    return true;
}

/* The cgroup must sit directly under <cgroup2>/faultline/: revert trusts the
 * journal, and must never be talked into killing some other cgroup. */
static int check_ours(const char *path, struct fl_err *e)
{
    char mount[PATH_MAX], prefix[PATH_MAX + 32];
    const char *name;
    size_t n;
    int r;

    if ((r = fl_proc_cgroup2_mount(mount, sizeof mount, e)))
        return r;
    /* In a container's cgroup: <cgroup2>/.../faultline-<id>. */
    name = strrchr(path, '/');
    n = strlen(mount);
    if (name && !strncmp(path, mount, n) && path[n] == '/' && !strstr(path, "/..") &&
        nested_name(name + 1))
        return 0;
    n = (size_t)snprintf(prefix, sizeof prefix, "%s/%s/", mount, FL_STRESS_CGROUP_DIR);
    name = path + n;
    if (strncmp(path, prefix, n) || !*name || strchr(name, '/') || name[0] == '.')
        return fl_err_set(e, FL_ESTATE, "refusing to remove cgroup %s: not under %s nor named %sID",
                          path, prefix, FL_STRESS_NESTED_PREFIX);
    return 0;
}

static int make_cgroup(const char *path, struct fl_err *e)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');

    snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
    /* A concurrent sweep may remove the parent between the two mkdirs. */
    for (int attempt = 0; attempt < 3; attempt++) {
        if (fl_mkdir_p(parent, 0755, e))
            return -e->code;
        if (mkdir(path, 0755) == 0 || errno == EEXIST)
            return 0;
        if (errno != ENOENT)
            break;
    }
    return fl_err_set(e, fl_code_from_errno(errno), "cannot create cgroup %s: %s", path,
                      strerror(errno));
}

/* Child side of spawn: join the cgroup first, then become the stressor.
 * Reports errno on `errfd` on failure; a successful exec closes it. */
static void child_exec(const char *procs, const json_t *join, char **argv, int errfd)
{
    int err, fd, devnull;
    sigset_t all;
    size_t i;
    json_t *j;

    setsid();
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    /* A container's cgroup v1 hierarchies first, then the fault's own. */
    json_array_foreach (join, i, j) {
        fd = open(json_string_value(j), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1) {
            err = errno;
            goto fail;
        }
        close(fd);
    }
    fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) {
        err = errno;
        goto fail;
    }
    close(fd);
    /* Hold no pipe of the caller open: a detached inject's output must
     * reach EOF when it exits, not when its stressors do. */
    devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (devnull > 2)
            close(devnull);
    }
    syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    execv("/proc/self/exe", argv);
    err = errno;
fail:
    if (write(errfd, &err, sizeof err) < 0)
        _exit(126);
    _exit(127);
}

static int spawn_one(const char *procs, const json_t *join, char **argv, pid_t *out,
                     struct fl_err *e)
{
    int pfd[2], err = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC))
        return fl_err_set(e, FL_EFAIL, "pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0) {
        err = errno;
        close(pfd[0]);
        close(pfd[1]);
        return fl_err_set(e, FL_EFAIL, "cannot start a stressor: fork: %s", strerror(err));
    }
    if (pid == 0) {
        close(pfd[0]);
        child_exec(procs, join, argv, pfd[1]);
    }
    close(pfd[1]);
    do
        n = read(pfd[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n > 0) {
        waitpid(pid, NULL, 0);
        return fl_err_set(e, fl_code_from_errno(err), "cannot start a stressor in %s: %s", procs,
                          strerror(err));
    }
    *out = pid;
    return 0;
}

int fl_stress_spawn(struct fl_fault *f, const char *kind, const json_t *worker_args,
                    struct fl_err *e)
{
    const char *cg = json_string_value(json_object_get(f->undo, "cgroup"));
    const char *rel = json_string_value(json_object_get(f->undo, "cgroup_rel"));
    long long deadline = json_integer_value(json_object_get(f->undo, "deadline_ms"));
    char procs[PATH_MAX + 16], dl[32];
    json_t *workers = json_array(), *args;
    size_t i;
    int r;

    if (!cg || !rel || deadline <= 0) {
        json_decref(workers);
        return fl_err_set(e, FL_EFAIL, "%s: the plan has no cgroup", kind);
    }
    json_object_set_new(f->undo, "workers", workers);
    if ((r = check_ours(cg, e)) || (r = make_cgroup(cg, e)))
        return r;
    snprintf(procs, sizeof procs, "%s/cgroup.procs", cg);
    snprintf(dl, sizeof dl, "%lld", deadline);
    json_array_foreach (worker_args, i, args) {
        char *argv[32];
        size_t n = 0, j;
        json_t *a;
        pid_t pid = 0;

        argv[n++] = "faultline";
        argv[n++] = "__stressor";
        argv[n++] = (char *)kind;
        argv[n++] = "--deadline-ms";
        argv[n++] = dl;
        argv[n++] = "--cgroup";
        argv[n++] = (char *)rel;
        argv[n++] = "--cgroup-dir";
        argv[n++] = (char *)cg;
        json_array_foreach (args, j, a) {
            if (n + 1 < sizeof argv / sizeof argv[0])
                argv[n++] = (char *)json_string_value(a);
        }
        argv[n] = NULL;
        if ((r = spawn_one(procs, json_object_get(f->undo, "join"), argv, &pid, e)))
            return r;
        json_array_append_new(workers, json_pack("{s:i, s:I}", "pid", (int)pid, "start",
                                                 (json_int_t)fl_proc_start_time(pid)));
    }
    return 0;
}

void fl_stress_where(const struct fl_fault *f, char *buf, size_t len)
{
    const char *rel = json_string_value(json_object_get(f->undo, "cgroup_rel"));
    const char *ct = fl_param_str(f->params, "container", NULL);

    if (ct)
        snprintf(buf, len, " in the cgroups of container %s", ct);
    else
        snprintf(buf, len, "%s%s", rel ? " in cgroup " : "", rel ? rel : "");
}

int fl_stress_cgroup_pids(const char *dir, int *pids, int cap)
{
    char path[PATH_MAX + 16];
    FILE *f;
    int n = 0;
    pid_t pid;

    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    f = fopen(path, "re");
    if (!f)
        return -errno;
    while (fl_proc_next_pid(f, &pid)) {
        if (n < cap)
            pids[n] = pid;
        n++;
    }
    fclose(f);
    return n;
}

/* Reap the workers that are our own children (a foreground inject), so
 * they do not linger as zombies; others are reaped by their new parent. */
static void reap(const json_t *workers)
{
    size_t i;
    json_t *w;

    json_array_foreach (workers, i, w) {
        pid_t pid = (pid_t)json_integer_value(json_object_get(w, "pid"));
        if (pid > 1)
            waitpid(pid, NULL, WNOHANG);
    }
}

/* Kill everything in cgroup `path`, wait until it is empty, remove it. A
 * cgroup that does not exist is already removed. */
static int kill_cgroup(const char *path, const json_t *workers, struct fl_err *e)
{
    char file[PATH_MAX + 16];
    int pids[256], n;
    int64_t until = fl_now_ms() + EMPTY_WAIT_MS;
    struct stat st;

    if (stat(path, &st) && errno == ENOENT) {
        reap(workers);
        return 0;
    }
    snprintf(file, sizeof file, "%s/cgroup.kill", path);
    if (fl_write_str(file, "1")) {
        /* Kernels before 5.14 have no cgroup.kill: signal each member. */
        n = fl_stress_cgroup_pids(path, pids, 256);
        for (int i = 0; i < n && i < 256; i++)
            kill(pids[i], SIGKILL);
    }
    for (;;) {
        reap(workers);
        n = fl_stress_cgroup_pids(path, pids, 256);
        if (n == -ENOENT)
            return 0;
        if (n == 0 && (rmdir(path) == 0 || errno == ENOENT))
            return 0;
        if (fl_now_ms() >= until)
            break;
        if (n > 0)
            for (int i = 0; i < n && i < 256; i++)
                kill(pids[i], SIGKILL);
        fl_sleep_ms(20);
    }
    return fl_err_set(e, FL_EFAIL,
                      "cgroup %s is not empty %ds after killing its stressors "
                      "(%d processes left: %s)",
                      path, EMPTY_WAIT_MS / 1000, n > 0 ? n : 0,
                      n < 0 ? strerror(-n) : "stuck in the kernel?");
}

int fl_stress_revert(const struct fl_fault *f, struct fl_err *e)
{
    const char *cg = json_string_value(json_object_get(f->undo, "cgroup"));
    int r;

    if (!cg)
        return 0; /* plan never ran: nothing was started */
    if ((r = check_ours(cg, e)))
        return r;
    return kill_cgroup(cg, json_object_get(f->undo, "workers"), e);
}

static void sweep_one(struct fl_sweep_report *rep, const char *path, const char *id)
{
    struct fl_err ke = {0};

    if (fl_sweep_spared(rep, id, "a stress cgroup"))
        return;
    rep->found++;
    fl_info("stress cgroup %s (fault %s): killing its stressors and removing it", path, id);
    if (kill_cgroup(path, NULL, &ke)) {
        fl_error("%s", ke.msg);
        rep->failed++;
    } else {
        rep->removed++;
    }
}

/* Find faultline-<id> cgroups in containers' cgroups anywhere below `dir`. */
static void sweep_nested(struct fl_sweep_report *rep, const char *dir, int depth)
{
    DIR *d = depth < 16 ? opendir(dir) : NULL;
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char path[PATH_MAX];

        if (de->d_type != DT_DIR || de->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
            continue;
        if (nested_name(de->d_name))
            sweep_one(rep, path, de->d_name + strlen(FL_STRESS_NESTED_PREFIX));
        else
            sweep_nested(rep, path, depth + 1);
    }
    if (d)
        closedir(d);
}

int fl_stress_sweep(struct fl_sweep_report *rep, struct fl_err *e)
{
    char mount[PATH_MAX], root[PATH_MAX + 32], path[PATH_MAX * 2];
    struct fl_err ignore = {0};
    DIR *d;
    struct dirent *de;

    if (fl_proc_cgroup2_mount(mount, sizeof mount, &ignore))
        return 0; /* no cgroup2: there can be no stress cgroups */
    sweep_nested(rep, mount, 0);
    snprintf(root, sizeof root, "%s/%s", mount, FL_STRESS_CGROUP_DIR);
    d = opendir(root);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return fl_err_set(e, fl_code_from_errno(errno), "cannot list %s: %s", root,
                          strerror(errno));
    }
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", root, de->d_name);
        sweep_one(rep, path, de->d_name);
    }
    closedir(d);
    rmdir(root); /* best effort: an inject may be creating a cgroup in it */
    return 0;
}
