/* Clocks in the units the rest of the code uses: monotonic and wall
 * milliseconds, monotonic nanoseconds, and a sleep that resumes after a
 * signal. */
#include "util/time.h"

#include <errno.h>
#include <time.h>

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fl_now_ms(void)
{
    return clock_ms(CLOCK_BOOTTIME);
}

int64_t fl_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t fl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fl_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}
