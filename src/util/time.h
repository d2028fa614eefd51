/* Clocks. Leases and ages use CLOCK_BOOTTIME in milliseconds: it is shared by
 * every process on the host, never jumps with wall-clock changes (faultline
 * itself skews clocks), and keeps counting through suspend. */
#ifndef FL_UTIL_TIME_H
#define FL_UTIL_TIME_H

#include <stdint.h>

int64_t fl_now_ms(void);      /* CLOCK_BOOTTIME */
int64_t fl_mono_ns(void);     /* CLOCK_MONOTONIC, for measuring */
int64_t fl_wall_ms(void);     /* CLOCK_REALTIME, for display only */
void fl_sleep_ms(int64_t ms); /* restarts on EINTR until done */

#endif
