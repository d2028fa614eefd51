/* Error codes and messages shared by every module.
 *
 * Functions return 0 (or a positive count) on success and a negative FL_E*
 * code on failure. User-facing failures also fill a struct fl_err with a
 * message that says what went wrong, where, and how to fix it. The FL_E*
 * values double as the process exit codes documented in docs/exit-codes.md.
 */
#ifndef FL_UTIL_ERR_H
#define FL_UTIL_ERR_H

#include <stdarg.h>

enum fl_code {
    FL_OK = 0,
    FL_EFAIL = 1,        /* the tool could not do its job (a syscall, the kernel said no) */
    FL_EUSAGE = 2,       /* bad flags or values: fix the command line or the file */
    FL_ENOTARGET = 3,    /* a selector matched nothing, a namespace/fault does not exist */
    FL_EREFUSED = 4,     /* a safety rule refused it: pid 1, faultline itself, user's qdisc */
    FL_EPERM = 5,        /* needs privileges faultline does not have */
    FL_EUNSUPPORTED = 6, /* the kernel or build lacks what the fault needs (e.g. netem) */
    FL_ESTATE = 7,       /* the state directory or journal cannot be used */
};

#define FL_ERR_MSG 1024

struct fl_err {
    int code;
    char msg[FL_ERR_MSG];
};

/* Record an error and return -code so callers can `return fl_err_set(...)`. */
int fl_err_set(struct fl_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with context ("netns n1: ..."); returns -e->code. */
int fl_err_prefix(struct fl_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Map an errno value to the closest FL code (EPERM/EACCES -> FL_EPERM, ...). */
int fl_code_from_errno(int errnum);

const char *fl_strerror(int code);

#endif
