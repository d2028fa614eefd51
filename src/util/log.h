/* Logging to stderr (or a file for the guardian daemon). */
#ifndef FL_UTIL_LOG_H
#define FL_UTIL_LOG_H

#include <stdio.h>

enum fl_log_level { FL_LOG_ERROR, FL_LOG_WARN, FL_LOG_INFO, FL_LOG_DEBUG };

/* Process-wide log sink and level; set once at start-up by main or the guardian. */
void fl_log_set_level(enum fl_log_level lvl);
void fl_log_set_file(FILE *f);
void fl_log(enum fl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fl_error(...) fl_log(FL_LOG_ERROR, __VA_ARGS__)
#define fl_warn(...) fl_log(FL_LOG_WARN, __VA_ARGS__)
#define fl_info(...) fl_log(FL_LOG_INFO, __VA_ARGS__)
#define fl_debug(...) fl_log(FL_LOG_DEBUG, __VA_ARGS__)

#endif
