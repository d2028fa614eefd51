/* A shared random stream for worker threads: splitmix64 over one atomic
 * counter, so threads draw without a lock and a seed gives a repeatable
 * sequence (in draw order). */
#ifndef FL_UTIL_RAND_H
#define FL_UTIL_RAND_H

#include <stdatomic.h>
#include <stdint.h>

/* Uniform in [0, 1). */
static inline double fl_rand_unit(_Atomic uint64_t *state)
{
    uint64_t z = atomic_fetch_add(state, 0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53;
}

#endif
