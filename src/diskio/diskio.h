/* disk.io: I/O errors, latency and short transfers for file operations
 * under a directory, through a FUSE passthrough filesystem (libfuse3)
 * mounted over that directory.
 *
 * The rules say which operations a fault touches (by kind of operation, by
 * path relative to the directory, then a share of those at random) and what
 * happens to them: an errno, a delay, or a short read/write. Everything else
 * passes through to the directory underneath unchanged. */
#ifndef FL_DISKIO_DISKIO_H
#define FL_DISKIO_DISKIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define FL_DISKIO_MAX_FILES 32

/* Operations a rule can select (a bit each). */
enum fl_diskio_op {
    FL_IO_OPEN = 1 << 0,    /* open, create */
    FL_IO_READ = 1 << 1,    /* read */
    FL_IO_WRITE = 1 << 2,   /* write */
    FL_IO_FSYNC = 1 << 3,   /* fsync, fdatasync */
    FL_IO_STAT = 1 << 4,    /* stat, access, readlink */
    FL_IO_READDIR = 1 << 5, /* opendir, readdir */
    FL_IO_CREATE = 1 << 6,  /* create, mknod, mkdir, symlink, link */
    FL_IO_REMOVE = 1 << 7,  /* unlink, rmdir */
    FL_IO_RENAME = 1 << 8,  /* rename */
    FL_IO_SETATTR = 1 << 9, /* truncate, chmod, chown, utimens, fallocate */
    FL_IO_ALL = (1 << 10) - 1,
};

struct fl_diskio_rules {
    unsigned ops;                     /* FL_IO_* bits */
    char *files[FL_DISKIO_MAX_FILES]; /* globs on the path relative to the directory */
    size_t nfiles;
    int err;          /* errno to fail with, 0 for none */
    int64_t delay_ms; /* before the operation runs (or fails) */
    bool short_io;    /* reads and writes move half the bytes */
    double percent;   /* of the matching operations */
};

/* Rules from a fault's params (op, file, errno, delay, short, percent),
 * with messages naming the option. Free with fl_diskio_rules_fini. */
int fl_diskio_rules_from_params(const json_t *params, struct fl_diskio_rules *r, struct fl_err *e);
void fl_diskio_rules_fini(struct fl_diskio_rules *r);
/* "EIO on read, fsync of *.aof (30% of them)" */
void fl_diskio_rules_describe(const struct fl_diskio_rules *r, char *buf, size_t len);

/* Does the rule select operation op on rel (a path relative to the
 * directory, "" for the directory itself)? rnd is uniform in [0, 1). */
bool fl_diskio_selects(const struct fl_diskio_rules *r, unsigned op, const char *rel, double rnd);

/* An errno name ("EIO", "eio") or number, for --errno; -1 when unknown. */
int fl_diskio_errno_parse(const char *s);
const char *fl_diskio_errno_name(int err);

/* The FUSE process of one disk.io fault (`faultline __diskio-worker CONFIG
 * --ready-fd N`, started through faults/worker.h). CONFIG: {"id", "path",
 * "params" (the rules), "deadline_ms", "seed"}. It opens the directory,
 * starts a sentinel child that unmounts the filesystem if this process dies
 * however it dies (SIGKILL included), mounts the filesystem over the
 * directory (allow_other, default_permissions), serves until SIGTERM or the
 * deadline, and unmounts. */
int fl_diskio_worker_main(const char *config, int ready_fd);

#endif
