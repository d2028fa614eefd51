/* `faultline agent`: the daemon that holds faults on one host for remote
 * controllers (docs/agent.md).
 *
 * How it relates to src/agent/: that module keeps faults on one host — the
 * journal, the guardian and fl_fault_apply — for the local CLI and the
 * engine alike. This daemon puts an authenticated HTTP API (libmicrohttpd,
 * bearer tokens and TLS as `faultline server`, server/auth.h) in front of
 * exactly that code: a fault applied through the agent is planned by its
 * driver, journaled, watched by a guardian and injected like `faultline
 * inject` does, in the agent's own state directory.
 *
 * Network leases: every fault belongs to a controller's session and has a
 * lease on the agent's monotonic clock (CLOCK_BOOTTIME). A renew call per
 * session extends them all; the agent reverts a fault whose lease ran out
 * (its controller died, or the network to it broke — possibly by the very
 * partition it applied) within a few milliseconds, and the guardian backs
 * it up from the journal (lease_until, and the agent as the record's owner:
 * if the agent dies, its guardian reverts at once). At start the agent
 * reverts every record left in its journal: nothing survives an agent
 * restart. */
#ifndef FL_REMOTE_AGENTD_H
#define FL_REMOTE_AGENTD_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

#define FL_AGENTD_DEFAULT_LISTEN "0.0.0.0:7421"
#define FL_AGENTD_LOOPBACK_LISTEN "127.0.0.1:7421"
#define FL_AGENTD_MIN_LEASE_MS 200
#define FL_AGENTD_MAX_LEASE_MS 3600000

struct fl_agentd_opts {
    const char *listen;   /* HOST:PORT; default 0.0.0.0:7421 with tokens, else 127.0.0.1:7421 */
    const char *tokens;   /* tokens file (server/auth.h), or NULL: loopback only */
    const char *tls_cert; /* PEM certificate and key: serve HTTPS */
    const char *tls_key;
    const char *state_dir;   /* journal and guardian; default STATE/agent */
    const char *name;        /* the host's name in replies; default the hostname */
    int notify_fd;           /* > 0: write "ready PORT\n" there once listening, then close it */
    bool allow_commands;     /* run jobs of kind command (shell commands; remote/jobs.h) */
    uint64_t job_output_max; /* bytes of a job's stdout kept; 0: the default (64 MiB) */
};

/* Serve until SIGINT/SIGTERM, then revert every fault held and return 0. */
int fl_agentd_run(const struct fl_agentd_opts *o, struct fl_err *e);

#endif
