/* fl_history_load: a history from a file (memory-mapped), a pipe or stdin,
 * within the bounds history.h documents; device files and directories are
 * refused before anything is read. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check/history.h"

/* The file being read through a mapping. If another program truncates it
 * meanwhile, the next read of a page past its new end raises SIGBUS: the
 * process then ends with an input error (exit 3, as `check` and `workload`
 * document) and says why, instead of crashing. A SIGBUS anywhere else is
 * not ours to explain: it is raised again with the default action. Only
 * async-signal-safe calls. */
static struct {
    const char *volatile path;
    const char *volatile base;
    volatile size_t len;
} mapped;

static void mapped_file_shrank(int sig, siginfo_t *si, void *uc)
{
    static const char pre[] = "faultline: error: ";
    static const char post[] = ": the history file shrank while it was being read (another "
                               "program truncated or rewrote it); check a copy that nothing "
                               "writes to\n";
    const char *addr = si->si_addr;
    ssize_t w;

    if (!mapped.path || addr < mapped.base || addr >= mapped.base + mapped.len) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    w = write(2, pre, sizeof pre - 1);
    w = write(2, mapped.path, strlen(mapped.path));
    w = write(2, post, sizeof post - 1);
    (void)w;
    _exit(3);
}

/* A regular file is mapped rather than read: no copy of a history that can
 * be hundreds of MB, and no buffer to fault in. Returns 1 when the path is
 * not a regular non-empty file (or cannot be mapped): the caller reads it
 * from *stream_fd. */
static int load_mapped(const char *path, enum fl_hist_format fmt, size_t max_op,
                       struct fl_history **out, struct fl_err *e, int *stream_fd)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct sigaction old;
    struct stat st;
    void *map;
    int rc;

    if (fd < 0)
        return fl_err_set(e, FL_EUSAGE, "%s: cannot open history: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        close(fd);
        return fl_err_set(e, FL_EUSAGE, "%s: cannot read history: %s", path, strerror(errno));
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode)) {
        close(fd);
        return fl_err_set(e, FL_EUSAGE,
                          "%s: is a %s, not a history file; give a file, or - to read standard "
                          "input",
                          path, S_ISDIR(st.st_mode) ? "directory" : "device");
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t)st.st_size > SIZE_MAX) {
        *stream_fd = fd; /* a pipe, an empty file: read it from this fd (a FIFO opens once) */
        return 1;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        *stream_fd = fd;
        return 1;
    }
    close(fd);
    madvise(map, (size_t)st.st_size, MADV_WILLNEED);
    mapped.base = map;
    mapped.len = (size_t)st.st_size;
    mapped.path = path;
    sigaction(SIGBUS,
              &(struct sigaction){.sa_sigaction = mapped_file_shrank, .sa_flags = SA_SIGINFO},
              &old);
    rc = fl_history_parse_max(map, (size_t)st.st_size, fmt, path, max_op, out, e);
    sigaction(SIGBUS, &old, NULL);
    mapped.path = NULL;
    munmap(map, (size_t)st.st_size);
    return rc;
}

static size_t count_lines(const char *buf, size_t len)
{
    size_t n = 1;
    for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf))); p++)
        n++;
    return n;
}

/* Read a pipe or stdin whole into *buf, within the bounds: no line longer
 * than max_op bytes (so endless input without newlines, like /dev/zero,
 * ends at once) and FL_HISTORY_MAX_STREAM_BYTES in all. */
static int read_stream(FILE *f, const char *path, size_t max_op, char **buf, size_t *len,
                       struct fl_err *e)
{
    size_t cap = 0, since_nl = 0;

    *buf = NULL;
    *len = 0;
    for (;;) {
        if (cap - *len < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(*buf, cap);
            if (!nb)
                return fl_err_set(e, FL_EFAIL, "%s: out of memory reading the history", path);
            *buf = nb;
        }
        size_t want = cap - *len < (1 << 20) ? cap - *len : (1 << 20);
        size_t n = fread(*buf + *len, 1, want, f);
        const char *nl = n ? memrchr(*buf + *len, '\n', n) : NULL;
        since_nl = nl ? (size_t)(*buf + *len + n - (nl + 1)) : since_nl + n;
        *len += n;
        if (since_nl > max_op)
            return fl_err_set(e, FL_EUSAGE,
                              "%s:%zu:1: this line is longer than the limit of %zu bytes for one "
                              "operation (input that is not a regular file is read line by "
                              "line); is this a history? (raise it with --max-op-size)",
                              path, count_lines(*buf, *len), max_op);
        if (*len > FL_HISTORY_MAX_STREAM_BYTES)
            return fl_err_set(e, FL_EUSAGE,
                              "%s: more than %zu bytes of history from a pipe or standard input; "
                              "write it to a file and check the file",
                              path, FL_HISTORY_MAX_STREAM_BYTES);
        if (n == 0)
            break;
    }
    if (ferror(f))
        return fl_err_set(e, FL_EUSAGE, "%s: cannot read history: %s", path, strerror(errno));
    return 0;
}

int fl_history_load(const char *path, enum fl_hist_format fmt, struct fl_history **out,
                    struct fl_err *e)
{
    return fl_history_load_max(path, fmt, FL_HISTORY_MAX_OP_BYTES, out, e);
}

int fl_history_load_max(const char *path, enum fl_hist_format fmt, size_t max_op,
                        struct fl_history **out, struct fl_err *e)
{
    FILE *f = stdin;
    char *buf = NULL;
    size_t len = 0;
    int rc, fd = -1;

    *out = NULL;
    if (strcmp(path, "-")) {
        if ((rc = load_mapped(path, fmt, max_op, out, e, &fd)) <= 0)
            return rc;
        if (!(f = fdopen(fd, "rb"))) {
            close(fd);
            return fl_err_set(e, FL_EFAIL, "%s: out of memory", path);
        }
    }
    rc = read_stream(f, path, max_op, &buf, &len, e);
    if (f != stdin)
        fclose(f);
    if (rc == 0)
        rc = fl_history_parse_max(buf, len, fmt, path, max_op, out, e);
    free(buf);
    return rc;
}
