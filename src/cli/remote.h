/* The CLI's reach to other hosts through their agents (remote.c). */
#ifndef FL_CLI_REMOTE_H
#define FL_CLI_REMOTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "faults/fault.h"
#include "remote/client.h"
#include "util/err.h"

#define FL_CLI_MAX_HOSTS 64
#define FL_CLI_HOSTS_HELP                                                                          \
    "  --host(s) LIST       agents to act through, comma-separated: http(s)://HOST[:PORT],\n"      \
    "                       HOST[:PORT] (port 7421) or LAB/hK (a lab host: address and\n"          \
    "                       token from the lab)\n"                                                 \
    "  --token TOKEN        the agents' bearer token (default $FAULTLINE_AGENT_TOKEN; a lab\n"     \
    "                       host's own otherwise)\n"

struct fl_cli_hosts {
    size_t n;
    struct fl_agent_client **c;
};

/* Clients for a comma-separated list; token NULL: $FAULTLINE_AGENT_TOKEN or
 * a lab's; touches no network. */
int fl_cli_hosts_open(const char *list, const char *token, const char *state_dir, int64_t lease_ms,
                      struct fl_cli_hosts *h, struct fl_err *e);
void fl_cli_hosts_close(struct fl_cli_hosts *h);
/* Every host reachable and accepting the token, or an error naming the first that is not. */
int fl_cli_hosts_check(struct fl_cli_hosts *h, struct fl_err *e);
/* Apply one fault on every host, all or nothing: first prepared on all of
 * them (a thread each), then started on all at once. ids[i] is host i's fault
 * id; *skew_us the time from the decision to start (every host prepared) to
 * the last host's reply. */
int fl_cli_hosts_apply(struct fl_cli_hosts *h, const char *kind, const json_t *params,
                       int64_t duration_ms, uint64_t seed, char (*ids)[FL_FAULT_ID_LEN],
                       int64_t *skew_us, struct fl_err *e);

/* The subcommands' remote forms; each returns an exit code. */
int fl_cli_inject_remote(const struct fl_fault_ops *ops, const json_t *params, const char *hosts,
                         const char *token, const char *state_dir, int64_t duration_ms,
                         int64_t lease_ms, bool detach, uint64_t seed);
int fl_cli_status_hosts(const char *hosts, const char *token, const char *state_dir, bool as_json);
int fl_cli_recover_hosts(const char *hosts, const char *token, const char *state_dir);

#endif
