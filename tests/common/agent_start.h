/* Starting `faultline agent` of this build from a C test (unit tests and
 * the TSan drivers): the binary is ../../faultline from the test program
 * (build/tests/unit/test_X, build/tests/tsan/tsan_X), listening on a free
 * loopback port it reports through --notify-fd. */
#ifndef FL_TESTS_AGENT_START_H
#define FL_TESTS_AGENT_START_H

#include <stddef.h>
#include <sys/types.h>

/* Start the agent with --state-dir state, plus extra (an option such as
 * "--allow-commands", or NULL). On success *url is "127.0.0.1:PORT" and the
 * agent's pid is returned (the caller stops it by that pid); -1 with the
 * reason in why otherwise. */
pid_t fl_test_agent_start(const char *state, const char *extra, char *url, size_t len, char *why,
                          size_t wlen);

#endif
