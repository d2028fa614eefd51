/* The FUSE process of a disk.io fault (fl_diskio_worker_main in diskio.h):
 * a passthrough filesystem over the directory it is mounted on. The
 * directory underneath was opened before the mount, so every operation
 * works relative to that descriptor and never loops back into the mount.
 *
 * Process-wide state (one filesystem per process): the directory, the
 * rules, the random stream, the counters, and whether files bypass the page
 * cache. */
#define FUSE_USE_VERSION 35

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "diskio/diskio.h"
#include "faults/fault.h"
#include "faults/worker.h"
#include "util/log.h"
#include "util/rand.h"
#include "util/time.h"

static int base = -1;
static struct fl_diskio_rules rules;
static _Atomic uint64_t rnd;
static atomic_long hits;
/* Reads and writes bypass the page cache when the rules act on them, so
 * every read reaches the rules, not only the first one of a cached page. */
static bool direct;

static const char *rel(const char *path)
{
    return path[1] ? path + 1 : ".";
}

/* A selected operation waits out the delay, then fails with the errno (a
 * negative return), or goes on marked as selected (1); 0: not selected. */
static int gate(unsigned op, const char *path)
{
    if (!fl_diskio_selects(&rules, op, path + 1, fl_rand_unit(&rnd)))
        return 0;
    atomic_fetch_add(&hits, 1);
    if (rules.delay_ms > 0)
        fl_sleep_ms(rules.delay_ms);
    return rules.err ? -rules.err : 1;
}

static int ret(int r)
{
    return r < 0 ? -errno : 0;
}

/* Files and directories made through the mount belong to whoever made
 * them, as on the directory underneath (this process runs as root). */
static void own(const char *path)
{
    struct fuse_context *c = fuse_get_context();

    if (fchownat(base, rel(path), c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0)
        fl_debug("diskio: chown %s: %s", path, strerror(errno));
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->use_ino = 1;
    cfg->hard_remove = 1;
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    return NULL;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_STAT, path);

    if (g < 0)
        return g;
    return ret(fi ? fstat((int)fi->fh, st) : fstatat(base, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int fs_access(const char *path, int mask)
{
    int g = gate(FL_IO_STAT, path);

    return g < 0 ? g : ret(faccessat(base, rel(path), mask, 0));
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
    int g = gate(FL_IO_STAT, path);
    ssize_t n;

    if (g < 0)
        return g;
    if ((n = readlinkat(base, rel(path), buf, size - 1)) < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_READDIR, path), fd;
    DIR *d;

    if (g < 0)
        return g;
    if ((fd = openat(base, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return -errno;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    DIR *d = (DIR *)(uintptr_t)fi->fh;
    struct dirent *de;

    (void)path;
    (void)off;
    (void)flags;
    rewinddir(d);
    while ((de = readdir(d))) {
        struct stat st = {.st_ino = de->d_ino, .st_mode = (mode_t)DTTOIF(de->d_type)};

        if (fill(buf, de->d_name, &st, 0, 0))
            break;
    }
    return 0;
}

static int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    closedir((DIR *)(uintptr_t)fi->fh);
    return 0;
}

static int fs_mknod(const char *path, mode_t mode, dev_t rdev)
{
    int g = gate(FL_IO_CREATE, path);

    if (g < 0)
        return g;
    if (mknodat(base, rel(path), mode, rdev) < 0)
        return -errno;
    own(path);
    return 0;
}

static int fs_mkdir(const char *path, mode_t mode)
{
    int g = gate(FL_IO_CREATE, path);

    if (g < 0)
        return g;
    if (mkdirat(base, rel(path), mode) < 0)
        return -errno;
    own(path);
    return 0;
}

static int fs_symlink(const char *target, const char *path)
{
    int g = gate(FL_IO_CREATE, path);

    if (g < 0)
        return g;
    if (symlinkat(target, base, rel(path)) < 0)
        return -errno;
    own(path);
    return 0;
}

static int fs_link(const char *from, const char *to)
{
    int g = gate(FL_IO_CREATE, to);

    return g < 0 ? g : ret(linkat(base, rel(from), base, rel(to), 0));
}

static int fs_unlink(const char *path)
{
    int g = gate(FL_IO_REMOVE, path);

    return g < 0 ? g : ret(unlinkat(base, rel(path), 0));
}

static int fs_rmdir(const char *path)
{
    int g = gate(FL_IO_REMOVE, path);

    return g < 0 ? g : ret(unlinkat(base, rel(path), AT_REMOVEDIR));
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
    int g = gate(FL_IO_RENAME, from);

    return g < 0 ? g : ret(renameat2(base, rel(from), base, rel(to), flags));
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_SETATTR, path);

    if (g < 0)
        return g;
    return ret(fi ? fchmod((int)fi->fh, mode) : fchmodat(base, rel(path), mode, 0));
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_SETATTR, path);

    if (g < 0)
        return g;
    return ret(fi ? fchown((int)fi->fh, uid, gid)
                  : fchownat(base, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_SETATTR, path), fd, r;

    if (g < 0)
        return g;
    if (fi)
        return ret(ftruncate((int)fi->fh, size));
    if ((fd = openat(base, rel(path), O_WRONLY | O_CLOEXEC)) < 0)
        return -errno;
    r = ret(ftruncate(fd, size));
    close(fd);
    return r;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    int g = gate(FL_IO_SETATTR, path);

    if (g < 0)
        return g;
    return ret(fi ? futimens((int)fi->fh, tv)
                  : utimensat(base, rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

static int fs_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_SETATTR, path);

    return g < 0 ? g : ret(fallocate((int)fi->fh, mode, off, len));
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_OPEN, path), fd;

    if (g < 0)
        return g;
    if ((fd = openat(base, rel(path), fi->flags | O_CLOEXEC)) < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    fi->direct_io = direct;
    return 0;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_OPEN | FL_IO_CREATE, path), fd;

    if (g < 0)
        return g;
    if ((fd = openat(base, rel(path), fi->flags | O_CREAT | O_CLOEXEC, mode)) < 0)
        return -errno;
    own(path);
    fi->fh = (uint64_t)fd;
    fi->direct_io = direct;
    return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_READ, path);
    ssize_t n;

    if (g < 0)
        return g;
    if (g > 0 && rules.short_io && size > 1)
        size /= 2;
    n = pread((int)fi->fh, buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    int g = gate(FL_IO_WRITE, path);
    ssize_t n;

    if (g < 0)
        return g;
    if (g > 0 && rules.short_io && size > 1)
        size /= 2;
    n = pwrite((int)fi->fh, buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
    (void)path;
    return ret(fstatvfs(base, st));
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
    int fd = dup((int)fi->fh);

    (void)path;
    /* close() of a duplicate reports delayed write errors, as close would */
    return fd < 0 ? -errno : ret(close(fd));
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    close((int)fi->fh);
    return 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    int g = gate(FL_IO_FSYNC, path);

    if (g < 0)
        return g;
    return ret(datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static const struct fuse_operations fs_ops = {
    .init = fs_init,
    .getattr = fs_getattr,
    .access = fs_access,
    .readlink = fs_readlink,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .releasedir = fs_releasedir,
    .mknod = fs_mknod,
    .mkdir = fs_mkdir,
    .symlink = fs_symlink,
    .link = fs_link,
    .unlink = fs_unlink,
    .rmdir = fs_rmdir,
    .rename = fs_rename,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .truncate = fs_truncate,
    .utimens = fs_utimens,
    .fallocate = fs_fallocate,
    .open = fs_open,
    .create = fs_create,
    .read = fs_read,
    .write = fs_write,
    .statfs = fs_statfs,
    .flush = fs_flush,
    .release = fs_release,
    .fsync = fs_fsync,
};

/* The mount of fault id at path, if it is still there: lazily unmounted. */
static void unmount_if_ours(const char *path, const char *source)
{
    FILE *m = fopen("/proc/self/mountinfo", "re");
    char line[4096], point[4096], fstype[64], src[256];
    bool ours = false;

    while (m && !ours && fgets(line, sizeof line, m)) {
        const char *sep = strstr(line, " - ");

        ours = sep && sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 &&
               sscanf(sep + 3, "%63s %255s", fstype, src) == 2 && !strcmp(point, path) &&
               !strcmp(fstype, "fuse.faultline") && !strcmp(src, source);
    }
    if (m)
        fclose(m);
    if (ours && umount2(path, MNT_DETACH) < 0)
        fl_error("disk.io: cannot unmount %s after its filesystem died: %s", path, strerror(errno));
}

/* A child that outlives the filesystem process by a moment: it waits for
 * the end of a pipe that only the filesystem process holds, and when that
 * process is gone (SIGKILL included) and its mount is still there, it
 * unmounts it, so the directory never stays broken ("Transport endpoint
 * is not connected"). A clean stop has unmounted already. Forked before
 * the mount and before any thread. Returns the pipe end to keep, or -1. */
static int start_sentinel(const char *path, const char *source, int ready_fd)
{
    int p[2];
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    if ((pid = fork()) == 0) {
        char b;

        close(p[1]);
        close(ready_fd);
        prctl(PR_SET_NAME, "faultline-iogd");
        while (read(p[0], &b, 1) < 0 && errno == EINTR)
            ;
        unmount_if_ours(path, source);
        _exit(0);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return -1;
    }
    return p[1];
}

/* Ends the loop at the deadline the same way SIGTERM does. */
static void *deadline_main(void *arg)
{
    int64_t deadline = *(int64_t *)arg;
    struct timespec ts = {deadline / 1000, (deadline % 1000) * 1000000};

    while (clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    kill(getpid(), SIGTERM);
    return NULL;
}

int fl_diskio_worker_main(const char *config, int ready_fd)
{
    static int64_t deadline;
    json_t *cfg = json_loads(config, 0, NULL);
    const char *id = json_string_value(json_object_get(cfg, "id"));
    const char *path = json_string_value(json_object_get(cfg, "path"));
    char opts[256], source[64];
    int sentinel = -1;
    char *argv[] = {"faultline", "-o", opts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse_loop_config *lc = NULL;
    struct fuse *f = NULL;
    struct fl_err e = {0};
    pthread_t t;
    int r = 0;

    prctl(PR_SET_NAME, "faultline-io");
    if (!cfg || !id || !path || strlen(id) >= FL_FAULT_ID_LEN) {
        fl_err_set(&e, FL_EUSAGE, "the disk.io worker's configuration is not valid");
        goto fail;
    }
    if (fl_diskio_rules_from_params(json_object_get(cfg, "params"), &rules, &e) < 0)
        goto fail;
    direct = (rules.ops & (FL_IO_READ | FL_IO_WRITE)) != 0;
    rnd = (uint64_t)json_integer_value(json_object_get(cfg, "seed"));
    deadline = json_integer_value(json_object_get(cfg, "deadline_ms"));
    if ((base = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fl_err_set(&e, fl_code_from_errno(errno), "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    snprintf(source, sizeof source, "faultline-%s", id);
    snprintf(opts, sizeof opts, "allow_other,default_permissions,fsname=%s,subtype=faultline",
             source);
    if ((sentinel = start_sentinel(path, source, ready_fd)) < 0) {
        fl_err_set(&e, FL_EFAIL, "cannot start the unmount sentinel: %s", strerror(errno));
        goto fail;
    }
    if (!(f = fuse_new(&args, &fs_ops, sizeof fs_ops, NULL))) {
        fl_err_set(&e, FL_EFAIL, "cannot set up the FUSE filesystem (libfuse3)");
        goto fail;
    }
    if (fuse_mount(f, path) != 0) {
        fl_err_set(&e, FL_EFAIL,
                   "cannot mount a FUSE filesystem over %s (is /dev/fuse there? faultline "
                   "needs root for disk.io)",
                   path);
        goto fail;
    }
    if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
        fl_err_set(&e, FL_EFAIL, "cannot install the FUSE signal handlers");
        goto fail_mounted;
    }
    if (deadline > 0 && pthread_create(&t, NULL, deadline_main, &deadline) == 0)
        pthread_detach(t);
    fl_fault_worker_report(ready_fd, 0, NULL, 0);
    close(ready_fd);
    fl_info("disk.io %s: serving %s", id, path);
    lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(lc, 64);
    r = fuse_loop_mt(f, lc);
    fuse_loop_cfg_destroy(lc);
    fuse_remove_signal_handlers(fuse_get_session(f));
    fl_info("disk.io %s: stopping; %ld operations selected", id, atomic_load(&hits));
    fuse_unmount(f);
    fuse_destroy(f);
    fuse_opt_free_args(&args);
    fl_diskio_rules_fini(&rules);
    close(base);
    close(sentinel); /* the sentinel finds nothing left to unmount */
    json_decref(cfg);
    return r < 0 ? FL_EFAIL : 0;
fail_mounted:
    fuse_unmount(f);
fail:
    fl_fault_worker_report(ready_fd, e.code ? e.code : FL_EFAIL, e.msg, 0);
    if (f)
        fuse_destroy(f);
    fuse_opt_free_args(&args);
    fl_diskio_rules_fini(&rules);
    if (base >= 0)
        close(base);
    if (sentinel >= 0)
        close(sentinel);
    json_decref(cfg);
    return e.code ? e.code : FL_EFAIL;
}
