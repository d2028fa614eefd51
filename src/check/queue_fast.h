/* A polynomial-time linearizability check for FIFO queue histories whose
 * enqueued values are all distinct, used by check.c before the general
 * search (which is exponential in the worst case and gives up on long
 * queue histories).
 *
 * For such a history in which every operation either completed or is an
 * enqueue, and no dequeue found the queue empty, linearizability is
 * equivalent to the absence of three patterns (Henzinger, Sezgin and
 * Vafeiadis, "Aspect-oriented linearizability proofs", CONCUR 2013; the
 * same patterns as Bouajjani, Emmi, Enea and Hamza, ICALP 2015):
 *   fresh:  a dequeue returns a value that no enqueue put in, or whose
 *           enqueue was invoked after the dequeue returned;
 *   repeat: two dequeues return the same value;
 *   order:  enqueue(a) returned before enqueue(b) was invoked, b was
 *           dequeued, and a was either never dequeued or its dequeue was
 *           invoked after b's dequeue returned.
 * An enqueue with unknown outcome whose value was dequeued did happen (its
 * return is taken at the end of time); one whose value never came out may
 * as well not have happened, which only removes constraints, so it is left
 * out. Anything else (a repeated value, a dequeue of nil, a dequeue with
 * unknown outcome) is left to the search. */
#ifndef FL_CHECK_QUEUE_FAST_H
#define FL_CHECK_QUEUE_FAST_H

#include <stddef.h>

#include "check/linear.h"
#include "check/model.h"

#define FL_QUEUE_FAST_NA 3
#define FL_QUEUE_FAST_MAX_WITNESS 4

/* ops[0..n) over mops (mop f: 0 enqueue, 1 dequeue; a: the value code).
 * Returns FL_CHECK_VALID; FL_CHECK_INVALID with the indexes (into ops) of
 * the operations that form the pattern in witness, *nwitness of them (a
 * sub-history that is not linearizable on its own); FL_QUEUE_FAST_NA when
 * the history is outside what the check decides; or -FL_EFAIL when out of
 * memory. */
int fl_queue_fast_check(const struct fl_mop *mops, const struct fl_lin_op *ops, size_t n,
                        size_t *witness, size_t *nwitness);

#endif
