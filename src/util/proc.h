/* Reading /proc: process identity that survives pid reuse, names, and the
 * safety checks every process fault runs before it touches anything. */
#ifndef FL_UTIL_PROC_H
#define FL_UTIL_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/* The process start time (clock ticks since boot, /proc/PID/stat field 22).
 * A (pid, start) pair names one process for its whole life: a recycled pid
 * has a different start. Returns 0 when the pid does not exist. */
uint64_t fl_proc_start_time(pid_t pid);
/* True when (pid, start) still names a live, non-zombie process. */
bool fl_proc_alive(pid_t pid, uint64_t start);
/* The one-letter state from /proc/PID/stat ('R','S','T','Z',...); 0 if gone. */
char fl_proc_state(pid_t pid);
/* Parent pid, or 0 if unknown. */
pid_t fl_proc_ppid(pid_t pid);
/* comm (the kernel's 15-char name) into buf. */
int fl_proc_comm(pid_t pid, char *buf, size_t len);
/* Resident set size in bytes, 0 if unknown. */
uint64_t fl_proc_rss(pid_t pid);
/* True for kernel threads (no user memory). */
bool fl_proc_is_kthread(pid_t pid);
/* True when pid runs the same executable as this process (faultline itself). */
bool fl_proc_is_faultline(pid_t pid);
/* Refuse pids a fault must never act on: pid 1, kernel threads, faultline's
 * own processes (this one, its ancestors, the guardian, stressors). */
int fl_proc_check_allowed(pid_t pid, struct fl_err *e);

#endif
