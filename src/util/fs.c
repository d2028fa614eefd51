/* File helpers for the journal (fs.h): directories, durable atomic writes. */
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

int fl_mkdir_p(const char *path, unsigned mode, struct fl_err *e)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof buf)
        return fl_err_set(e, FL_EUSAGE, "bad directory path '%s'", path);
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) && errno != EEXIST)
            return fl_err_set(e, fl_code_from_errno(errno), "cannot create %s: %s", buf,
                              strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, mode) && errno != EEXIST)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot create %s: %s", buf,
                          strerror(errno));
    return 0;
}

static int write_json(const char *path, const json_t *json, bool durable, struct fl_err *e)
{
    char tmp[4096], dir[4096];
    _cleanup_free_ char *text = json_dumps(json, JSON_INDENT(2) | JSON_SORT_KEYS);
    _cleanup_close_ int dfd = -1;
    int fd;
    size_t len, off = 0;

    if (!text)
        return fl_err_set(e, FL_EFAIL, "cannot serialise journal record for %s", path);
    /* the thread's id, not the process's: two threads of one process (the
     * agent serves requests concurrently) may replace the same file */
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)gettid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fl_err_set(e, FL_ESTATE, "cannot write %s: %s", tmp, strerror(errno));
    len = strlen(text);
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = errno;
            close(fd);
            unlink(tmp);
            return fl_err_set(e, FL_ESTATE, "cannot write %s: %s", tmp, strerror(err));
        }
        off += (size_t)n;
    }
    if (write(fd, "\n", 1) != 1 || (durable && fsync(fd))) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return fl_err_set(e, FL_ESTATE, "cannot sync %s: %s", tmp, strerror(err));
    }
    close(fd);
    if (rename(tmp, path)) {
        int err = errno;
        unlink(tmp);
        return fl_err_set(e, FL_ESTATE, "cannot rename %s: %s", tmp, strerror(err));
    }
    if (!durable)
        return 0;
    snprintf(dir, sizeof dir, "%s", path);
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    return 0;
}

int fl_json_write_atomic(const char *path, const json_t *json, struct fl_err *e)
{
    return write_json(path, json, true, e);
}

int fl_json_write_atomic_nosync(const char *path, const json_t *json, struct fl_err *e)
{
    return write_json(path, json, false, e);
}

json_t *fl_json_load(const char *path, struct fl_err *e)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);

    if (!j) {
        if (access(path, F_OK))
            fl_err_set(e, FL_ENOTARGET, "%s does not exist", path);
        else
            fl_err_set(e, FL_ESTATE, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    }
    return j;
}

int fl_read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n, total = 0;

    if (fd < 0)
        return -errno;
    while ((size_t)total < cap - 1) {
        n = read(fd, buf + total, cap - 1 - (size_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            return -err;
        }
        if (n == 0)
            break;
        total += n;
    }
    close(fd);
    buf[total] = '\0';
    return (int)total;
}

int fl_write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = write(fd, s, strlen(s));
    if (n < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    close(fd);
    return 0;
}
