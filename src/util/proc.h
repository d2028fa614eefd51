/* Reading /proc: process identity that survives pid reuse, names, and the
 * safety checks every process fault runs before it touches anything. */
#ifndef FL_UTIL_PROC_H
#define FL_UTIL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
/* The command line with arguments joined by spaces into buf; empty for
 * kernel threads and processes that are gone. */
void fl_proc_cmdline(pid_t pid, char *buf, size_t len);

/* The next pid of a one-pid-a-line file (cgroup.procs) into *pid; false at
 * the end or at a line that is not a pid. */
bool fl_proc_next_pid(FILE *f, pid_t *pid);

/* The cgroup2 mount point from /proc/self/mountinfo (the unified hierarchy
 * on hybrid hosts). FL_EUNSUPPORTED when there is none. */
int fl_proc_cgroup2_mount(char *buf, size_t len, struct fl_err *e);

/* Signals by name or number: "KILL", "SIGKILL", "kill", "9". */
int fl_proc_parse_signal(const char *s, int *sig, struct fl_err *e);
/* "SIGKILL" for 9; "signal 40" for those without a name. */
const char *fl_proc_signal_name(int sig, char *buf, size_t len);
/* Send `sig` to (pid, start) without racing pid reuse (pidfd). Returns 1 if
 * sent, 0 if that process no longer exists, negative errno on failure. */
int fl_proc_signal(pid_t pid, uint64_t start, int sig);

#endif
