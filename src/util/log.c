/* Leveled log lines to stderr, or to a file for the guardian daemon; the
 * sink and the level are the process-wide logging state. */
#include "util/log.h"

#include <stdarg.h>
#include <time.h>
#include <unistd.h>

/* The log sink and level are the process-wide logging state (see STYLE.md). */
static enum fl_log_level log_level = FL_LOG_INFO;
static FILE *log_file;

void fl_log_set_level(enum fl_log_level lvl)
{
    log_level = lvl;
}

void fl_log_set_file(FILE *f)
{
    log_file = f;
}

void fl_log(enum fl_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    FILE *out = log_file ? log_file : stderr;
    va_list ap;

    if (lvl > log_level || !fmt)
        return;
    if (log_file) {
        struct timespec ts;
        struct tm tm;
        char stamp[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(out, "%s.%03ld [%d] ", stamp, ts.tv_nsec / 1000000, (int)getpid());
    } else {
        fprintf(out, "faultline: ");
    }
    if (lvl != FL_LOG_INFO)
        fprintf(out, "%s: ", names[lvl]);
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}
