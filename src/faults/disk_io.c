/* disk.io: errors, latency and short transfers for file operations under a
 * directory. A FUSE process (src/diskio/fs.c) mounts a passthrough
 * filesystem over the directory; the operations the fault selects fail,
 * wait or move fewer bytes, the rest reach the files underneath. Revert
 * stops the process, which unmounts; its sentinel child removes the mount
 * when the process dies any other way. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "diskio/diskio.h"
#include "faults/fault.h"
#include "faults/worker.h"
#include "util/log.h"
#include "util/time.h"

#define DISKIO_DEFAULT_HARD_STOP_MS (60LL * 60 * 1000)
#define DISKIO_HARD_STOP_GRACE_MS (30LL * 1000)
#define DISKIO_FSTYPE "fuse.faultline"

static const struct fl_fault_worker_spec diskio_worker = {
    .subcommand = "__diskio-worker",
    .what = "disk.io filesystem",
    .log_env = "FAULTLINE_DISKIO_WORKER_LOG",
};

static const struct fl_opt diskio_opts[] = {
    {"path", FL_OPT_STRING, FL_OPT_REQUIRED, "DIR",
     "the directory whose files the fault acts on (a filesystem is mounted over it)", NULL, 0, 0},
    {"op", FL_OPT_STRING, FL_OPT_MULTI, "OP",
     "operations to act on: open, read, write, fsync, stat, readdir, create, remove, rename, "
     "setattr, all (default: all)",
     NULL, 0, 0},
    {"file", FL_OPT_STRING, FL_OPT_MULTI, "GLOB",
     "paths relative to --path to act on (fnmatch, '*' also matches '/'; e.g. *.aof); default: "
     "every file",
     NULL, 0, 0},
    {"errno", FL_OPT_STRING, 0, "E",
     "fail the selected operations with this error (EIO, ENOSPC, EDQUOT, EROFS, EACCES, EPERM, "
     "...)",
     NULL, 0, 0},
    {"delay", FL_OPT_DURATION, 0, "DURATION", "hold each selected operation this long", NULL, 0, 0},
    {"short", FL_OPT_FLAG, 0, NULL, "selected reads and writes move half the bytes asked for", NULL,
     0, 0},
    {"percent", FL_OPT_PERCENT, 0, "PERCENT",
     "act on this share of the matching operations (default 100)", NULL, 0, 0},
    {"hard-stop", FL_OPT_DURATION, 0, "DURATION",
     "the filesystem unmounts by itself this long after inject even if nothing reverts the "
     "fault (default: 30s after --duration or the lease, else 1h)",
     NULL, 0, 0},
    FL_OPT_END,
};

static int diskio_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    struct fl_diskio_rules r;
    int rc = fl_diskio_rules_from_params(params, &r, e);

    fl_diskio_rules_fini(&r);
    return rc;
}

/* Directories whose cover would take the machine down with the service. */
static int check_path(const char *real, struct fl_err *e)
{
    static const char *const whole[] = {"/",     "/usr",   "/etc",  "/bin", "/sbin",
                                        "/lib",  "/lib64", "/boot", "/var", "/home",
                                        "/root", "/run",   "/tmp",  NULL};
    static const char *const under[] = {"/proc", "/sys", "/dev", NULL};

    for (size_t i = 0; whole[i]; i++)
        if (!strcmp(real, whole[i]))
            return fl_err_set(e, FL_EREFUSED,
                              "--path %s: refusing to cover a system directory as a whole; "
                              "give the service's own directory (e.g. /var/lib/redis)",
                              real);
    for (size_t i = 0; under[i]; i++) {
        size_t n = strlen(under[i]);

        if (!strncmp(real, under[i], n) && (real[n] == '/' || !real[n]))
            return fl_err_set(e, FL_EREFUSED, "--path %s: %s is a kernel filesystem", real,
                              under[i]);
    }
    return 0;
}

static int diskio_plan(struct fl_fault *f, struct fl_err *e)
{
    const char *path = fl_param_str(f->params, "path", NULL);
    int64_t hard = fl_fault_self_stop_ms(f, DISKIO_HARD_STOP_GRACE_MS, DISKIO_DEFAULT_HARD_STOP_MS);
    char real[PATH_MAX], source[64];
    struct stat st;
    int r;

    if ((r = diskio_validate(f->ops, f->params, e)) < 0)
        return r;
    if (!path || !realpath(path, real))
        return fl_err_set(e, path && errno != ENOENT ? fl_code_from_errno(errno) : FL_ENOTARGET,
                          "--path %s: %s", path ? path : "", strerror(errno));
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
        return fl_err_set(e, FL_EUSAGE,
                          "--path %s is not a directory: disk.io covers a "
                          "directory (give the one holding the files)",
                          path);
    if ((r = check_path(real, e)) < 0)
        return r;
    snprintf(source, sizeof source, "faultline-%s", f->id);
    json_object_set_new(f->undo, "path", json_string(real));
    json_object_set_new(f->undo, "source", json_string(source));
    json_object_set_new(f->undo, "config",
                        json_pack("{s:s, s:s, s:O, s:I, s:I}", "id", f->id, "path", real, "params",
                                  f->params, "deadline_ms", (json_int_t)fl_now_ms() + hard, "seed",
                                  (json_int_t)(f->seed & 0x7fffffffffffffffull)));
    return 0;
}

static int diskio_inject(struct fl_fault *f, struct fl_err *e)
{
    int port = 0;

    return fl_fault_worker_spawn(&diskio_worker, json_object_get(f->undo, "config"), f->undo, &port,
                                 e);
}

/* Call fn(mount point, source) for every faultline FUSE mount whose source is
 * `source` (NULL: all of them). */
static int each_mount(const char *source, void (*fn)(const char *point, const char *source, void *),
                      void *arg)
{
    FILE *m = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int n = 0;

    while (m && fgets(line, sizeof line, m)) {
        char point[PATH_MAX], fstype[64], src[256];
        const char *sep = strstr(line, " - ");

        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
            sscanf(sep + 3, "%63s %255s", fstype, src) != 2)
            continue;
        if (strcmp(fstype, DISKIO_FSTYPE) || (source && strcmp(src, source)))
            continue;
        /* mountinfo escapes blanks as \040 and so on: leave such paths to the user */
        if (strchr(point, '\\'))
            fl_warn("disk.io mount %s has an escaped path; unmount it by hand", point);
        else
            fn(point, src, arg);
        n++;
    }
    if (m)
        fclose(m);
    return n;
}

static void lazy_unmount(const char *point, const char *source, void *arg)
{
    (void)source;
    int *failed = arg;

    if (umount2(point, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
        fl_error("cannot unmount the disk.io filesystem at %s: %s", point, strerror(errno));
        (*failed)++;
    } else {
        fl_info("unmounted a leftover disk.io filesystem at %s", point);
    }
}

static int diskio_revert(const struct fl_fault *f, struct fl_err *e)
{
    const char *source = json_string_value(json_object_get(f->undo, "source"));
    int failed = 0, r;

    if (!source)
        return 0; /* never planned, so never mounted */
    if ((r = fl_fault_worker_stop_all(&diskio_worker, f->undo, f->id, e)) < 0)
        return r;
    /* The worker unmounts as it stops, and its sentinel when it dies; a
     * mount still there (the sentinel was killed too) goes now. */
    each_mount(source, lazy_unmount, &failed);
    if (failed)
        return fl_err_set(e, FL_EFAIL, "%s: the filesystem at %s could not be unmounted", f->id,
                          json_string_value(json_object_get(f->undo, "path")));
    return 0;
}

static void diskio_describe(const struct fl_fault *f, char *buf, size_t len)
{
    struct fl_diskio_rules r;
    struct fl_err e = {0};
    char what[500];

    if (fl_diskio_rules_from_params(f->params, &r, &e) < 0)
        snprintf(what, sizeof what, "disk I/O faults (%s)", e.msg);
    else
        fl_diskio_rules_describe(&r, what, sizeof what);
    fl_diskio_rules_fini(&r);
    snprintf(buf, len, "%s under %s", what,
             json_string_value(json_object_get(f->undo, "path"))
                 ?: fl_param_str(f->params, "path", "?"));
}

static void diskio_claims(const struct fl_fault *f, json_t *out)
{
    char key[PATH_MAX + 64];

    snprintf(key, sizeof key, "file operations under %s (a filesystem mounted over it)",
             json_string_value(json_object_get(f->undo, "path")) ?: "?");
    json_object_set_new(out, key, json_integer(FL_CLAIM_EXCLUSIVE));
}

struct sweep_ctx {
    struct fl_sweep_report *rep;
    int failed;
};

static void sweep_mount(const char *point, const char *source, void *arg)
{
    struct sweep_ctx *c = arg;
    char what[PATH_MAX + 64];
    int before = c->failed;

    snprintf(what, sizeof what, "disk.io filesystem at %s", point);
    if (!strncmp(source, "faultline-", 10) && fl_sweep_spared(c->rep, source + 10, what))
        return;
    c->rep->found++;
    lazy_unmount(point, source, &c->failed);
    if (c->failed == before)
        c->rep->removed++;
    else
        c->rep->failed++;
}

int fl_diskio_sweep(struct fl_sweep_report *rep, struct fl_err *e)
{
    struct sweep_ctx c = {rep, 0};

    (void)e;
    fl_fault_worker_sweep(&diskio_worker, rep);
    each_mount(NULL, sweep_mount, &c);
    return 0;
}

const struct fl_fault_ops fl_fault_disk_io = {
    .kind = "disk.io",
    .summary = "fail, slow down or shorten file operations under a directory (FUSE)",
    .opts = diskio_opts,
    .validate = diskio_validate,
    .plan = diskio_plan,
    .inject = diskio_inject,
    .revert = diskio_revert,
    .describe = diskio_describe,
    .claims = diskio_claims,
};
