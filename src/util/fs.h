/* File helpers for the journal: directories, durable atomic writes. */
#ifndef FL_UTIL_FS_H
#define FL_UTIL_FS_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* mkdir -p with the given mode for created components. */
int fl_mkdir_p(const char *path, unsigned mode, struct fl_err *e);
/* Write `json` to `path` so that a crash leaves either the old or the new
 * content: write a temp file, fsync it, rename over, fsync the directory. */
int fl_json_write_atomic(const char *path, const json_t *json, struct fl_err *e);
/* The same without either fsync: other processes see the old or the new
 * content, never a mix, but a crash of the machine may lose the change (or,
 * on a file system that does not write a renamed file's data first, leave
 * it empty). For a change nothing depends on after such a crash. */
int fl_json_write_atomic_nosync(const char *path, const json_t *json, struct fl_err *e);
/* Load a JSON file; NULL with e filled on failure (e->code FL_ENOTARGET if absent). */
json_t *fl_json_load(const char *path, struct fl_err *e);
/* Read a small text file (up to cap-1 bytes) into buf; returns length or -errno. */
int fl_read_small(const char *path, char *buf, size_t cap);
/* Write a string to a file (for /proc, /sys); returns 0 or -errno. */
int fl_write_str(const char *path, const char *s);

#endif
