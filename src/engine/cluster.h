/* What a run needs to act on the hosts of its `hosts:` section: run a
 * command on a host (inside a lab host's namespace, like `faultline lab
 * exec`), look up a host's address (for partitions by host name), and
 * resolve a target when its fault starts ("the current primary") from a
 * command, an HTTP/JSON answer or a Redis Sentinel. */
#ifndef FL_ENGINE_CLUSTER_H
#define FL_ENGINE_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remote/client.h"
#include "spec/spec.h"
#include "util/err.h"
#include "util/shell.h"

/* Run `cmd` with /bin/sh on host `host` (a name of spec's hosts:, or NULL
 * for this machine) for at most timeout_ms; its stdout and stderr go to
 * out (the head, NUL-terminated). Processes it leaves in the background
 * keep running (a setup may start a server). Returns the exit status,
 * 128+signal, -ETIMEDOUT (the command's process group was killed) or
 * another negative errno when it could not start. */
int fl_cluster_run(const struct fl_spec *s, const char *host, const char *cmd, int64_t timeout_ms,
                   const char *state_dir, char *out, size_t len);
/* Where a command on `host` runs (util/shell.h): w->lab_ref points into
 * ref (rlen bytes) for a lab host; nothing set for this machine (NULL).
 * -ENOENT (no such host) or -EOPNOTSUPP (an agent host) with why filled. */
int fl_cluster_where(const struct fl_spec *s, const char *host, const char *state_dir,
                     struct fl_shell_where *w, char *ref, size_t rlen, char *why, size_t wlen);

/* Commands on agent hosts run as jobs of the host's agent (docs/agent.md,
 * "Jobs"), under the client's session and lease. Start one: kind "command"
 * (/bin/sh -c cmd), killed by the agent after timeout_ms, started after
 * delay_ms; at_lease_end: a pending job starts at once when the lease ends
 * (the controller died) instead of being dropped. */
int fl_cluster_job_start(struct fl_agent_client *c, const char *name, const char *cmd,
                         int64_t timeout_ms, int64_t delay_ms, bool at_lease_end,
                         char id[FL_AGENT_JOB_ID_LEN], struct fl_err *e);
/* A delayed job still pending: replace it by one that starts now (same
 * command, timeout and at_lease_end), its id into id. Returns 1 when
 * replaced, 0 when the job had started already (wait for it as it is), or a
 * negative code (e says why; the old job is gone). */
int fl_cluster_job_hurry(struct fl_agent_client *c, char id[FL_AGENT_JOB_ID_LEN], const char *name,
                         const char *cmd, int64_t timeout_ms, bool at_lease_end, struct fl_err *e);
/* Wait for job id to end (polling its status) until deadline_ms
 * (fl_now_ms()); past it the job is deleted (killed). out gets the head of
 * its stdout, then the tail of its stderr. The job is forgotten by the
 * agent afterwards. Returns what fl_cluster_run returns: the exit status,
 * 128+signal, -ETIMEDOUT (the agent's timeout or ours) or another negative
 * errno (-EHOSTUNREACH: the agent could not be asked; out says why). */
int fl_cluster_job_wait(struct fl_agent_client *c, const char *id, int64_t deadline_ms, char *out,
                        size_t len);
/* Start cmd as a job of c's agent and wait for it (timeout_ms, plus a
 * grace for the network), as fl_cluster_run runs it locally. */
int fl_cluster_job_run(struct fl_agent_client *c, const char *name, const char *cmd,
                       int64_t timeout_ms, char *out, size_t len);
/* Run cmd on host `host` as fl_cluster_run does: through its agent (a
 * client of agents, see fl_cluster_agent_of) or locally / in its lab
 * namespace. `name` labels the job in the agent's log. */
int fl_cluster_exec(const struct fl_spec *s, struct fl_agent_client **agents, const char *host,
                    const char *name, const char *cmd, int64_t timeout_ms, const char *state_dir,
                    char *out, size_t len);

/* The address of host `name`: from the file, else from its lab. */
int fl_cluster_host_addr(const struct fl_spec *s, const char *name, const char *state_dir,
                         char *buf, size_t len, struct fl_err *e);

/* Resolve a step's host_from now: *host is the host of hosts: the value
 * names (by name, or by address with any :PORT ignored); value holds what
 * was read. A command: query from an agent host runs as a job of its agent
 * (agents: the run's clients, see fl_cluster_agent_of; NULL outside a run,
 * where such a query is an error). */
int fl_cluster_resolve(const struct fl_spec *s, struct fl_agent_client **agents,
                       const struct fl_spec_resolve *rs, const char *state_dir, char *value,
                       size_t vlen, const struct fl_spec_host **host, struct fl_err *e);

/* The params a step's fault starts with: the file's, plus the netns of the
 * host resolved for it (host_from) and the addresses of its peer hosts
 * (between). `note` says what was resolved, for the run's events ("" when
 * nothing was); *resolved (when not NULL) is the host host_from gave,
 * or NULL. The caller owns the returned params. */
json_t *fl_cluster_step_params(const struct fl_spec *s, struct fl_agent_client **agents,
                               const struct fl_spec_action *a, const char *state_dir,
                               const struct fl_spec_host **resolved, char *note, size_t nlen,
                               struct fl_err *e);

/* Clients for the agent hosts of hosts: (out[i] for host i; NULL for lab
 * hosts), each checked (reachable, token accepted) before anything is
 * injected: an error names the first host that is not. Tokens come from
 * env:NAME or file:PATH. */
int fl_cluster_agents_open(const struct fl_spec *s, int64_t lease_ms, struct fl_agent_client ***out,
                           struct fl_err *e);
/* A client for agent host h (its token read from env:/file:); no network. */
int fl_cluster_agent_client(const struct fl_spec_host *h, int64_t lease_ms,
                            struct fl_agent_client **c, struct fl_err *e);
void fl_cluster_agents_close(const struct fl_spec *s, struct fl_agent_client **a);
/* The client of host `name`, or NULL (a lab host, or no such host). */
struct fl_agent_client *fl_cluster_agent_of(const struct fl_spec *s, struct fl_agent_client **a,
                                            const char *name);

#endif
