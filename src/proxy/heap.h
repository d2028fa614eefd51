/* A min-heap of timers keyed by a monotonic deadline in nanoseconds.
 *
 * The proxy's event loop keeps every pending deadline here (latency release
 * times, slow_close delays, timeout and reset_peer toxics) and sleeps in
 * epoll_wait until the earliest one. Timers are caller-owned structs that
 * remember their heap index, so cancelling or re-arming one is O(log n)
 * without searching. */
#ifndef FL_PROXY_HEAP_H
#define FL_PROXY_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct fl_px_timer {
    int64_t when;                      /* CLOCK_MONOTONIC ns */
    size_t idx;                        /* position in the heap, SIZE_MAX when not armed */
    void (*fn)(struct fl_px_timer *t); /* called by the loop once the deadline passed */
    void *arg;
};

struct fl_px_heap {
    struct fl_px_timer **v;
    size_t n, cap;
};

#define FL_PX_TIMER_INIT                                                                           \
    {                                                                                              \
        0, SIZE_MAX, NULL, NULL                                                                    \
    }

void fl_px_timer_init(struct fl_px_timer *t, void (*fn)(struct fl_px_timer *), void *arg);
static inline int fl_px_timer_armed(const struct fl_px_timer *t)
{
    return t->idx != SIZE_MAX;
}

void fl_px_heap_init(struct fl_px_heap *h);
void fl_px_heap_fini(struct fl_px_heap *h);
/* Arm (or re-arm) t for `when`; returns 0 or -ENOMEM. */
int fl_px_heap_arm(struct fl_px_heap *h, struct fl_px_timer *t, int64_t when);
/* Disarm t; a no-op if it is not armed. */
void fl_px_heap_cancel(struct fl_px_heap *h, struct fl_px_timer *t);
/* The earliest timer, or NULL. */
struct fl_px_timer *fl_px_heap_peek(const struct fl_px_heap *h);
/* Remove and return the earliest timer if it is due at `now`, else NULL. */
struct fl_px_timer *fl_px_heap_pop_due(struct fl_px_heap *h, int64_t now);

#endif
