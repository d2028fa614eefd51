/* Error codes, their text, and filling a struct fl_err. */
#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int fl_err_set(struct fl_err *e, int code, const char *fmt, ...)
{
    if (code < 0)
        code = -code;
    if (code == 0)
        code = FL_EFAIL;
    if (e) {
        /* Format into a copy first: callers often pass e->msg itself as an
         * argument ("cannot use %s: %s", ..., e->msg), and vsnprintf into
         * the buffer it is reading from garbles the message. */
        char buf[FL_ERR_MSG];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        e->code = code;
        memcpy(e->msg, buf, sizeof e->msg);
    }
    return -code;
}

int fl_err_prefix(struct fl_err *e, const char *fmt, ...)
{
    char head[FL_ERR_MSG], old[FL_ERR_MSG];
    va_list ap;

    if (!e)
        return -FL_EFAIL;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", e->msg);
    snprintf(e->msg, sizeof e->msg, "%s: %s", head, old);
    if (e->code == 0)
        e->code = FL_EFAIL;
    return -e->code;
}

int fl_code_from_errno(int errnum)
{
    switch (errnum) {
    case EPERM:
    case EACCES:
        return FL_EPERM;
    case ENOENT:
    case ESRCH:
        return FL_ENOTARGET;
    case EOPNOTSUPP:
    case ENOSYS:
        return FL_EUNSUPPORTED;
    case EINVAL:
        return FL_EUSAGE;
    default:
        return FL_EFAIL;
    }
}

const char *fl_strerror(int code)
{
    if (code < 0)
        code = -code;
    switch (code) {
    case FL_OK:
        return "success";
    case FL_EFAIL:
        return "operation failed";
    case FL_EUSAGE:
        return "usage error";
    case FL_ENOTARGET:
        return "target not found";
    case FL_EREFUSED:
        return "refused by a safety rule";
    case FL_EPERM:
        return "permission denied";
    case FL_EUNSUPPORTED:
        return "not supported on this system";
    case FL_ESTATE:
        return "state directory unusable";
    default:
        return "unknown error";
    }
}
