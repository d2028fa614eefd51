/* Overlapping faults: compare a fault's claims (fault.h) with those of every
 * other fault in the journal, so that faults on one target compose or are
 * refused, never silently cut each other short. */
#ifndef FL_AGENT_COMPOSE_H
#define FL_AGENT_COMPOSE_H

#include <stdbool.h>

#include "agent/journal.h"
#include "faults/fault.h"
#include "util/err.h"

/* Set f->held to the shared claims of `f` that other journaled faults hold
 * too. With `refuse`, a claim that overlaps another fault's where either is
 * exclusive fails with FL_EREFUSED and a message naming the other fault;
 * without it (at revert) such overlaps are ignored. The caller holds the
 * journal lock, so no other fault is journaled or reverted meanwhile. */
int fl_compose_check(struct fl_journal *j, struct fl_fault *f, bool refuse, struct fl_err *e);

#endif
