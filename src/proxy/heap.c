/* The proxy's timer min-heap (heap.h), keyed by monotonic deadlines. */
#include "proxy/heap.h"

#include <errno.h>
#include <stdlib.h>

void fl_px_timer_init(struct fl_px_timer *t, void (*fn)(struct fl_px_timer *), void *arg)
{
    t->when = 0;
    t->idx = SIZE_MAX;
    t->fn = fn;
    t->arg = arg;
}

void fl_px_heap_init(struct fl_px_heap *h)
{
    h->v = NULL;
    h->n = h->cap = 0;
}

void fl_px_heap_fini(struct fl_px_heap *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->v[i]->idx = SIZE_MAX;
    free(h->v);
    fl_px_heap_init(h);
}

static void place(struct fl_px_heap *h, size_t i, struct fl_px_timer *t)
{
    h->v[i] = t;
    t->idx = i;
}

static void sift_up(struct fl_px_heap *h, size_t i)
{
    struct fl_px_timer *t = h->v[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p]->when <= t->when)
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, t);
}

static void sift_down(struct fl_px_heap *h, size_t i)
{
    struct fl_px_timer *t = h->v[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1]->when < h->v[c]->when)
            c++;
        if (t->when <= h->v[c]->when)
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, t);
}

int fl_px_heap_arm(struct fl_px_heap *h, struct fl_px_timer *t, int64_t when)
{
    if (fl_px_timer_armed(t)) {
        int64_t old = t->when;
        t->when = when;
        if (when < old)
            sift_up(h, t->idx);
        else
            sift_down(h, t->idx);
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct fl_px_timer **v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    t->when = when;
    place(h, h->n++, t);
    sift_up(h, t->idx);
    return 0;
}

void fl_px_heap_cancel(struct fl_px_heap *h, struct fl_px_timer *t)
{
    size_t i = t->idx;

    if (!fl_px_timer_armed(t))
        return;
    t->idx = SIZE_MAX;
    if (--h->n == i)
        return;
    place(h, i, h->v[h->n]);
    if (i > 0 && h->v[i]->when < h->v[(i - 1) / 2]->when)
        sift_up(h, i);
    else
        sift_down(h, i);
}

struct fl_px_timer *fl_px_heap_peek(const struct fl_px_heap *h)
{
    return h->n ? h->v[0] : NULL;
}

struct fl_px_timer *fl_px_heap_pop_due(struct fl_px_heap *h, int64_t now)
{
    struct fl_px_timer *t = fl_px_heap_peek(h);

    if (!t || t->when > now)
        return NULL;
    fl_px_heap_cancel(h, t);
    return t;
}
