/* disk.fill: take free space away from a filesystem with one allocated file,
 * DIR/.faultline-fill-<id>; revert unlinks it.
 *
 * The journal lives on /run (tmpfs) and is gone after a reboot, while a fill
 * file persists, so the directory is also recorded in a persistent registry
 * (FL_FILL_REGISTRY, one path per line) before the file is created; the
 * sweeper (`faultline recover --all`) removes .faultline-fill-* files in every
 * registered directory without needing a journal.
 *
 * Safety: a fill that would leave less than FL_FILL_MIN_FREE_PERCENT of the
 * filesystem free is refused unless --force; a fill larger than the free
 * space is always refused. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "faults/fault.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/parse.h"

#define FL_FILL_REGISTRY_DIR "/var/lib/faultline"
#define FL_FILL_REGISTRY FL_FILL_REGISTRY_DIR "/fill-dirs"
#define FL_FILL_PREFIX ".faultline-fill-"
#define FL_FILL_MIN_FREE_PERCENT 1.0
#define ZERO_CHUNK (1 << 20)

static const struct fl_opt fill_opts[] = {
    {"path", FL_OPT_STRING, FL_OPT_REQUIRED, "DIR",
     "directory on the filesystem to fill (the fill file is created in it)", NULL, 0, 0},
    {"size", FL_OPT_SIZE, 0, "SIZE", "how much space to take, e.g. 512MiB", NULL, 0, 0},
    {"percent", FL_OPT_PERCENT, 0, "PERCENT",
     "fill until the filesystem is this full (as df's Use%)", NULL, 0, 0},
    {"force", FL_OPT_FLAG, 0, NULL, "allow leaving less than 1% of the filesystem free", NULL, 0,
     0},
    FL_OPT_END,
};

struct fs_space {
    uint64_t size;  /* used + available, as df counts it */
    uint64_t used;  /* size - free */
    uint64_t avail; /* free to unprivileged users */
};

static int fs_space(const char *dir, struct fs_space *s, struct fl_err *e)
{
    struct statvfs v;

    if (statvfs(dir, &v))
        return fl_err_set(e, fl_code_from_errno(errno), "statvfs %s: %s", dir, strerror(errno));
    s->avail = (uint64_t)v.f_bavail * v.f_frsize;
    s->used = ((uint64_t)v.f_blocks - v.f_bfree) * v.f_frsize;
    s->size = s->used + s->avail;
    return 0;
}

static int fill_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    bool size = json_object_get(params, "size") != NULL;
    bool pct = json_object_get(params, "percent") != NULL;

    if (size == pct)
        return fl_err_set(e, FL_EUSAGE,
                          "disk.fill takes exactly one of --size SIZE (space to take) and "
                          "--percent P (fill until the filesystem is P%% used)");
    if (size && fl_param_int(params, "size", 0) <= 0)
        return fl_err_set(e, FL_EUSAGE, "--size must be above 0");
    if (pct && fl_param_real(params, "percent", 0) <= 0)
        return fl_err_set(e, FL_EUSAGE, "--percent must be above 0");
    return 0;
}

static int fill_plan(struct fl_fault *f, struct fl_err *e)
{
    const char *arg = fl_param_str(f->params, "path", NULL);
    char dir[PATH_MAX], file[PATH_MAX + 64], s1[32], s2[32];
    struct fs_space sp = {0};
    struct stat st;
    uint64_t bytes, min_free;
    int r;

    if ((r = fill_validate(f->ops, f->params, e)))
        return r;
    if (!arg || !realpath(arg, dir))
        return fl_err_set(e, FL_ENOTARGET, "--path %s: %s", arg ? arg : "",
                          arg ? strerror(errno) : "missing");
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return fl_err_set(e, FL_EUSAGE, "--path %s is not a directory", arg);
    if ((r = fs_space(dir, &sp, e)))
        return r;
    if (json_object_get(f->params, "size")) {
        bytes = (uint64_t)fl_param_int(f->params, "size", 0);
    } else {
        double pct = fl_param_real(f->params, "percent", 0);
        uint64_t target = (uint64_t)((double)sp.size * pct / 100.0);
        if (target <= sp.used)
            return fl_err_set(e, FL_EUSAGE,
                              "the filesystem of %s is already %.1f%% used, at or above "
                              "--percent %g: nothing to fill",
                              dir, 100.0 * (double)sp.used / (double)(sp.size ? sp.size : 1), pct);
        bytes = target - sp.used;
    }
    fl_format_size(bytes, s1, sizeof s1);
    fl_format_size(sp.avail, s2, sizeof s2);
    if (bytes > sp.avail)
        return fl_err_set(e, FL_EREFUSED,
                          "not enough free space on the filesystem of %s: %s requested, %s free",
                          dir, s1, s2);
    min_free = (uint64_t)((double)sp.size * FL_FILL_MIN_FREE_PERCENT / 100.0);
    if (sp.avail - bytes < min_free && !fl_param_bool(f->params, "force"))
        return fl_err_set(e, FL_EREFUSED,
                          "filling %s of the %s free on the filesystem of %s would leave less "
                          "than %g%% of it free, which can take down everything else using it; "
                          "ask for less, or add --force if that is the experiment",
                          s1, s2, dir, FL_FILL_MIN_FREE_PERCENT);
    snprintf(file, sizeof file, "%s/%s%s", strcmp(dir, "/") ? dir : "", FL_FILL_PREFIX, f->id);
    json_object_set_new(f->undo, "dir", json_string(dir));
    json_object_set_new(f->undo, "file", json_string(file));
    json_object_set_new(f->undo, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(f->undo, "used_before", json_integer((json_int_t)sp.used));
    json_object_set_new(f->undo, "fs_size", json_integer((json_int_t)sp.size));
    json_object_set_new(f->undo, "fs_dev", json_integer((json_int_t)st.st_dev));
    return 0;
}

/* Fills of a --size compose (each takes its own bytes with its own file);
 * a --percent fill's size is computed from the space the others left, and
 * would be wrong as soon as one of them ends, so it claims its filesystem
 * exclusively. */
static void fill_claims(const struct fl_fault *f, json_t *out)
{
    json_t *dev = json_object_get(f->undo, "fs_dev");
    char key[64];

    if (!dev)
        return;
    snprintf(key, sizeof key, "the filesystem of device %u:%u",
             major((dev_t)json_integer_value(dev)), minor((dev_t)json_integer_value(dev)));
    json_object_set_new(
        out, key,
        json_integer(json_object_get(f->params, "percent") ? FL_CLAIM_EXCLUSIVE : FL_CLAIM_SHARED));
}

/* Open the registry and take its lock; returns the fd or -1 (e filled).
 * Whoever creates or removes a fill file holds this lock around it, so a
 * registry line is never dropped while a fill file in that dir is new. */
static int registry_lock(struct fl_err *e)
{
    int fd;

    if (fl_mkdir_p(FL_FILL_REGISTRY_DIR, 0755, e))
        return -1;
    fd = open(FL_FILL_REGISTRY, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fl_err_set(e, fl_code_from_errno(errno), "cannot open %s: %s", FL_FILL_REGISTRY,
                   strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) && errno == EINTR)
        ;
    return fd;
}

/* The registry's lines, read from the locked fd. */
static json_t *registry_read(int fd)
{
    json_t *lines = json_array();
    FILE *f;
    char line[PATH_MAX + 2];
    int dfd = dup(fd);

    if (dfd < 0)
        return lines;
    lseek(dfd, 0, SEEK_SET);
    f = fdopen(dfd, "r");
    if (!f) {
        close(dfd);
        return lines;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '/')
            json_array_append_new(lines, json_string(line));
    }
    fclose(f);
    return lines;
}

/* Replace the registry's content with `lines`. */
static int registry_write(int fd, const json_t *lines)
{
    size_t i;
    json_t *v;
    char line[PATH_MAX + 2];

    if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET))
        return -errno;
    json_array_foreach (lines, i, v) {
        snprintf(line, sizeof line, "%s\n", json_string_value(v));
        if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
            return -errno;
    }
    return fsync(fd) ? -errno : 0;
}

static bool registry_has(const json_t *lines, const char *dir)
{
    size_t i;
    json_t *v;

    json_array_foreach (lines, i, v) {
        if (!strcmp(json_string_value(v), dir))
            return true;
    }
    return false;
}

/* True if `dir` holds any fill file. */
static bool has_fill_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;

    while (d && !found && (de = readdir(d)))
        found = !strncmp(de->d_name, FL_FILL_PREFIX, strlen(FL_FILL_PREFIX));
    if (d)
        closedir(d);
    return found;
}

/* Add `dir` to the registry (locked fd) unless it is there already. */
static int registry_add(int fd, const char *dir, struct fl_err *e)
{
    json_t *lines = registry_read(fd);
    char line[PATH_MAX + 2];
    int r = 0;

    if (!registry_has(lines, dir)) {
        snprintf(line, sizeof line, "%s\n", dir);
        if (lseek(fd, 0, SEEK_END) < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
            fsync(fd))
            r = fl_err_set(e, FL_EFAIL, "cannot write %s: %s", FL_FILL_REGISTRY, strerror(errno));
    }
    json_decref(lines);
    return r;
}

/* Allocate `bytes` in fd: fallocate, or zeros where it is not supported. */
static int allocate(int fd, uint64_t bytes, const char *file, struct fl_err *e)
{
    char *zeros;
    uint64_t off = 0;

    if (fallocate(fd, 0, 0, (off_t)bytes) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return fl_err_set(e, errno == ENOSPC ? FL_EREFUSED : fl_code_from_errno(errno),
                          "cannot allocate %s: %s", file, strerror(errno));
    zeros = calloc(1, ZERO_CHUNK);
    if (!zeros)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    while (off < bytes) {
        size_t n = bytes - off < ZERO_CHUNK ? (size_t)(bytes - off) : ZERO_CHUNK;
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(zeros);
            return fl_err_set(e, FL_EFAIL, "cannot write %s: %s", file, strerror(errno));
        }
        off += (uint64_t)w;
    }
    free(zeros);
    if (fdatasync(fd))
        return fl_err_set(e, FL_EFAIL, "cannot sync %s: %s", file, strerror(errno));
    return 0;
}

static int fill_inject(struct fl_fault *f, struct fl_err *e)
{
    const char *dir = json_string_value(json_object_get(f->undo, "dir"));
    const char *file = json_string_value(json_object_get(f->undo, "file"));
    uint64_t bytes = (uint64_t)json_integer_value(json_object_get(f->undo, "bytes"));
    struct fs_space before = {0}, after = {0};
    _cleanup_close_ int fd = -1;
    _cleanup_close_ int reg = -1;
    char s1[32], s2[32];
    int r;

    if (!dir || !file || !bytes)
        return fl_err_set(e, FL_EFAIL, "disk.fill: the plan has no file");
    /* Registered before the file exists, so no crash can leave it unknown. */
    if ((reg = registry_lock(e)) < 0)
        return -e->code;
    if ((r = registry_add(reg, dir, e)))
        return r;
    if ((r = fs_space(dir, &before, e)))
        return r;
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot create %s: %s", file,
                          strerror(errno));
    close(reg);
    reg = -1;
    if ((r = allocate(fd, bytes, file, e)))
        return r;
    if ((r = fs_space(dir, &after, e)))
        return r;
    /* Compressing or deduplicating filesystems may not really allocate. */
    if (before.avail < after.avail || before.avail - after.avail < bytes - bytes / 10) {
        fl_format_size(bytes, s1, sizeof s1);
        fl_format_size(before.avail > after.avail ? before.avail - after.avail : 0, s2, sizeof s2);
        return fl_err_set(e, FL_EUNSUPPORTED,
                          "%s was allocated but free space dropped by only %s of %s (a "
                          "compressing, deduplicating or thin filesystem?)",
                          file, s2, s1);
    }
    json_object_set_new(f->undo, "avail_after", json_integer((json_int_t)after.avail));
    return 0;
}

/* Drop `dir` from the registry once it holds no fill file (best effort:
 * a stale line only costs the sweeper a directory listing). */
static void registry_forget(const char *dir)
{
    struct fl_err ignore = {0};
    json_t *lines, *keep;
    size_t i;
    json_t *v;
    int fd;

    if (!dir || (fd = registry_lock(&ignore)) < 0)
        return;
    if (!has_fill_files(dir)) {
        lines = registry_read(fd);
        keep = json_array();
        json_array_foreach (lines, i, v) {
            if (strcmp(json_string_value(v), dir))
                json_array_append(keep, v);
        }
        if (json_array_size(keep) != json_array_size(lines))
            registry_write(fd, keep);
        json_decref(lines);
        json_decref(keep);
    }
    close(fd);
}

static int fill_revert(const struct fl_fault *f, struct fl_err *e)
{
    const char *file = json_string_value(json_object_get(f->undo, "file"));
    const char *base;

    if (!file)
        return 0;
    base = strrchr(file, '/');
    if (!base || strncmp(base + 1, FL_FILL_PREFIX, strlen(FL_FILL_PREFIX)))
        return fl_err_set(e, FL_ESTATE, "refusing to remove %s: not a faultline fill file", file);
    /* A file that is not there is reverted, even where unlink says EROFS
     * (a read-only mount refuses before looking). */
    if (unlink(file) && errno != ENOENT) {
        int err = errno;
        if (err != EROFS || faccessat(AT_FDCWD, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
            errno != ENOENT)
            return fl_err_set(e, fl_code_from_errno(err), "cannot remove %s: %s", file,
                              strerror(err));
    }
    registry_forget(json_string_value(json_object_get(f->undo, "dir")));
    return 0;
}

/* "fill /srv/data with 512MiB (.faultline-fill-ab12cd34, 40% -> 90% used)". */
static void fill_describe(const struct fl_fault *f, char *buf, size_t len)
{
    const char *dir = json_string_value(json_object_get(f->undo, "dir"));
    uint64_t bytes = (uint64_t)json_integer_value(json_object_get(f->undo, "bytes"));
    double size = (double)json_integer_value(json_object_get(f->undo, "fs_size"));
    double used = (double)json_integer_value(json_object_get(f->undo, "used_before"));
    char s[32];

    if (!dir) {
        snprintf(buf, len, "fill the filesystem of %s", fl_param_str(f->params, "path", "?"));
        return;
    }
    fl_format_size(bytes, s, sizeof s);
    snprintf(buf, len, "fill the filesystem of %s with %s (%s%s, %.0f%% -> %.0f%% used)", dir, s,
             FL_FILL_PREFIX, f->id, size > 0 ? 100.0 * used / size : 0.0,
             size > 0 ? 100.0 * (used + (double)bytes) / size : 0.0);
}

/* Remove .faultline-fill-* in every registered directory; drop directories
 * that no longer exist or hold no fill file from the registry. */
int fl_fill_sweep(struct fl_sweep_report *rep, struct fl_err *e)
{
    struct stat st;
    json_t *lines, *keep;
    char path[PATH_MAX * 2];
    size_t i;
    json_t *v;
    int fd;

    if (stat(FL_FILL_REGISTRY, &st) && errno == ENOENT)
        return 0;
    if ((fd = registry_lock(e)) < 0)
        return -e->code;
    lines = registry_read(fd);
    keep = json_array();
    json_array_foreach (lines, i, v) {
        const char *dir = json_string_value(v);
        DIR *d = opendir(dir);
        struct dirent *de;
        int failed = 0;

        if (!d)
            continue; /* gone (an unmounted scratch dir): forget it */
        while ((de = readdir(d))) {
            if (strncmp(de->d_name, FL_FILL_PREFIX, strlen(FL_FILL_PREFIX)))
                continue;
            if (fl_sweep_spared(rep, de->d_name + strlen(FL_FILL_PREFIX), de->d_name)) {
                failed = 1; /* keep the directory registered */
                continue;
            }
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            rep->found++;
            fl_info("fill file %s: removing it", path);
            if (unlinkat(dirfd(d), de->d_name, 0) && errno != ENOENT) {
                fl_error("cannot remove %s: %s", path, strerror(errno));
                rep->failed++;
                failed = 1;
            } else {
                rep->removed++;
            }
        }
        closedir(d);
        if (failed)
            json_array_append(keep, v);
    }
    registry_write(fd, keep);
    json_decref(lines);
    json_decref(keep);
    close(fd);
    return 0;
}

const struct fl_fault_ops fl_fault_disk_fill = {
    .kind = "disk.fill",
    .summary = "take free space away from a filesystem with an allocated file",
    .opts = fill_opts,
    .flags = 0,
    .validate = fill_validate,
    .plan = fill_plan,
    .inject = fill_inject,
    .revert = fill_revert,
    .describe = fill_describe,
    .claims = fill_claims,
};
