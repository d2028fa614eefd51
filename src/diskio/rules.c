/* disk.io's rules: which file operations a fault selects. Pure. */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diskio/diskio.h"
#include "util/opts.h"

static const struct {
    const char *name;
    unsigned op;
} ops[] = {
    {"open", FL_IO_OPEN},       {"read", FL_IO_READ},     {"write", FL_IO_WRITE},
    {"fsync", FL_IO_FSYNC},     {"stat", FL_IO_STAT},     {"readdir", FL_IO_READDIR},
    {"create", FL_IO_CREATE},   {"remove", FL_IO_REMOVE}, {"rename", FL_IO_RENAME},
    {"setattr", FL_IO_SETATTR}, {"all", FL_IO_ALL},
};

/* The errnos a file operation can plausibly return. */
static const struct {
    const char *name;
    int err;
} errnos[] = {
    {"EIO", EIO},       {"ENOSPC", ENOSPC},       {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
    {"EACCES", EACCES}, {"EPERM", EPERM},         {"ENOENT", ENOENT}, {"EBUSY", EBUSY},
    {"EAGAIN", EAGAIN}, {"EINTR", EINTR},         {"EMFILE", EMFILE}, {"ENFILE", ENFILE},
    {"EFBIG", EFBIG},   {"ETIMEDOUT", ETIMEDOUT}, {"ESTALE", ESTALE}, {"ENOMEM", ENOMEM},
};

int fl_diskio_errno_parse(const char *s)
{
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
        if (!strcasecmp(s, errnos[i].name))
            return errnos[i].err;
    return -1;
}

const char *fl_diskio_errno_name(int err)
{
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
        if (errnos[i].err == err)
            return errnos[i].name;
    return "E?";
}

static int op_bits(const char *name, struct fl_err *e)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(name, ops[i].name))
            return (int)ops[i].op;
    return fl_err_set(e, FL_EUSAGE,
                      "--op '%s': use open, read, write, fsync, stat, readdir, create, remove, "
                      "rename, setattr or all",
                      name);
}

/* Each value of a string-or-array param, to fn. */
static int each_value(const json_t *v, const char *opt, int (*fn)(const char *, void *), void *arg,
                      struct fl_err *e)
{
    size_t i, n = json_is_array(v) ? json_array_size(v) : v ? 1 : 0;
    int r;

    for (i = 0; i < n; i++) {
        const char *s = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);

        if (!s)
            return fl_err_set(e, FL_EUSAGE, "--%s takes a text value", opt);
        if ((r = fn(s, arg)) < 0)
            return r;
    }
    return 0;
}

struct acc {
    struct fl_diskio_rules *r;
    struct fl_err *e;
};

static int add_op(const char *s, void *arg)
{
    struct acc *a = arg;
    int b = op_bits(s, a->e);

    if (b < 0)
        return b;
    a->r->ops |= (unsigned)b;
    return 0;
}

static int add_file(const char *s, void *arg)
{
    struct acc *a = arg;

    if (!*s || strlen(s) > 1024 || s[0] == '/')
        return fl_err_set(a->e, FL_EUSAGE,
                          "--file '%s': give a path or glob relative to --path (e.g. *.aof, "
                          "pg_wal/*)",
                          s);
    if (a->r->nfiles == FL_DISKIO_MAX_FILES)
        return fl_err_set(a->e, FL_EUSAGE, "--file: at most %d patterns", FL_DISKIO_MAX_FILES);
    if (!(a->r->files[a->r->nfiles] = strdup(s)))
        return fl_err_set(a->e, FL_EFAIL, "out of memory");
    a->r->nfiles++;
    return 0;
}

int fl_diskio_rules_from_params(const json_t *params, struct fl_diskio_rules *r, struct fl_err *e)
{
    const char *err = fl_param_str(params, "errno", NULL);
    struct acc a = {r, e};
    int rc;

    memset(r, 0, sizeof *r);
    r->percent = fl_param_real(params, "percent", 100.0);
    r->delay_ms = fl_param_int(params, "delay", 0);
    r->short_io = fl_param_bool(params, "short");
    if ((rc = each_value(json_object_get(params, "op"), "op", add_op, &a, e)) < 0 ||
        (rc = each_value(json_object_get(params, "file"), "file", add_file, &a, e)) < 0)
        return rc;
    if (!r->ops)
        r->ops = FL_IO_ALL;
    if (err && (r->err = fl_diskio_errno_parse(err)) < 0)
        return fl_err_set(e, FL_EUSAGE,
                          "--errno '%s': use one of EIO, ENOSPC, EDQUOT, EROFS, EACCES, EPERM, "
                          "ENOENT, EBUSY, EAGAIN, EINTR, EMFILE, ENFILE, EFBIG, ETIMEDOUT, ESTALE, "
                          "ENOMEM",
                          err);
    if (!r->err && !r->short_io && r->delay_ms <= 0)
        return fl_err_set(e, FL_EUSAGE,
                          "say what happens to the matching operations: --errno E, --delay "
                          "DURATION and/or --short");
    if (r->err && r->short_io)
        return fl_err_set(e, FL_EUSAGE,
                          "--errno and --short exclude each other: an operation "
                          "fails or moves fewer bytes");
    if (r->short_io && !(r->ops & (FL_IO_READ | FL_IO_WRITE)))
        return fl_err_set(e, FL_EUSAGE,
                          "--short acts on read and write: add --op read and/or "
                          "--op write");
    if (!(r->percent > 0 && r->percent <= 100))
        return fl_err_set(e, FL_EUSAGE, "--percent must be above 0 and at most 100");
    return 0;
}

void fl_diskio_rules_fini(struct fl_diskio_rules *r)
{
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    r->nfiles = 0;
}

void fl_diskio_rules_describe(const struct fl_diskio_rules *r, char *buf, size_t len)
{
    char opn[160] = "", files[300] = "", what[96] = "", share[40] = "";
    size_t o = 0;

    if (r->ops == FL_IO_ALL) {
        snprintf(opn, sizeof opn, "every operation");
    } else {
        for (size_t i = 0; i + 1 < sizeof ops / sizeof ops[0]; i++)
            if (r->ops & ops[i].op)
                o += (size_t)snprintf(opn + o, sizeof opn - o, "%s%s", o ? ", " : "", ops[i].name);
    }
    o = 0;
    for (size_t i = 0; i < r->nfiles && o + 1 < sizeof files; i++)
        o += (size_t)snprintf(files + o, sizeof files - o, "%s%s", i ? ", " : " of ", r->files[i]);
    if (r->err)
        snprintf(what, sizeof what, "%s", fl_diskio_errno_name(r->err));
    else if (r->short_io)
        snprintf(what, sizeof what, "short transfers");
    if (r->delay_ms > 0)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s%lldms delay",
                 what[0] ? " after " : "", (long long)r->delay_ms);
    if (r->percent < 100)
        snprintf(share, sizeof share, " (%g%% of them)", r->percent);
    snprintf(buf, len, "%s on %s%s%s", what, opn, files, share);
}

bool fl_diskio_selects(const struct fl_diskio_rules *r, unsigned op, const char *rel, double rnd)
{
    bool match = r->nfiles == 0;

    if (!(r->ops & op))
        return false;
    for (size_t i = 0; !match && i < r->nfiles; i++)
        match = fnmatch(r->files[i], rel, 0) == 0;
    return match && rnd * 100.0 < r->percent;
}
