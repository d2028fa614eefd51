/* Is kernel netem (sch_netem) usable here? Asked once per process.
 *
 * The probe forks a child that enters a fresh, empty network namespace
 * (unshare CLONE_NEWNET) and asks the kernel to install a netem root qdisc
 * on that namespace's lo, with the same request faultline would send
 * (net/tc.h). The kernel loads the module on demand if it can, so the
 * answer covers built-in, loaded and loadable netem alike; the namespace,
 * and the qdisc in it, vanish with the child. Nothing outside is touched.
 *
 * FAULTLINE_NETEM=off in the environment skips the probe and reports
 * netem absent (the fallbacks are used); auto (or unset) probes. */
#ifndef FL_NET_NETEM_H
#define FL_NET_NETEM_H

#include <stddef.h>

#include "util/err.h"

/* 1 when netem can be used, 0 when not (then *why, if not NULL, says why,
 * e.g. "this kernel lacks sch_netem (...)"), negative FL_EUSAGE for a bad
 * FAULTLINE_NETEM. The answer is cached for the life of the process. */
int fl_netem_available(const char **why, struct fl_err *e);

/* The probe itself, uncached and ignoring FAULTLINE_NETEM: 1 present, 0
 * absent (reason in why), negative when it could not run. */
int fl_netem_probe(char *why, size_t len, struct fl_err *e);

#endif
