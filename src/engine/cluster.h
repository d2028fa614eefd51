/* What a run needs to act on the hosts of its `hosts:` section: run a
 * command on a host (inside a lab host's namespace, like `faultline lab
 * exec`), look up a host's address (for partitions by host name), and
 * resolve a target when its fault starts ("the current primary") from a
 * command, an HTTP/JSON answer or a Redis Sentinel. */
#ifndef FL_ENGINE_CLUSTER_H
#define FL_ENGINE_CLUSTER_H

#include <jansson.h>
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

/* The address of host `name`: from the file, else from its lab. */
int fl_cluster_host_addr(const struct fl_spec *s, const char *name, const char *state_dir,
                         char *buf, size_t len, struct fl_err *e);

/* Resolve a step's host_from now: *host is the host of hosts: the value
 * names (by name, or by address with any :PORT ignored); value holds what
 * was read. */
int fl_cluster_resolve(const struct fl_spec *s, const struct fl_spec_resolve *rs,
                       const char *state_dir, char *value, size_t vlen,
                       const struct fl_spec_host **host, struct fl_err *e);

/* The params a step's fault starts with: the file's, plus the netns of the
 * host resolved for it (host_from) and the addresses of its peer hosts
 * (between). `note` says what was resolved, for the run's events ("" when
 * nothing was); *resolved (when not NULL) is the host host_from gave,
 * or NULL. The caller owns the returned params. */
json_t *fl_cluster_step_params(const struct fl_spec *s, const struct fl_spec_action *a,
                               const char *state_dir, const struct fl_spec_host **resolved,
                               char *note, size_t nlen, struct fl_err *e);

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
