/* Containers as fault targets: ask podman or Docker which host process is a
 * container's init (State.Pid), and list the processes that share its
 * cgroup, so process and network faults reach a container from the host
 * without entering it.
 *
 * A reference is a container name or id, optionally prefixed with the
 * runtime to ask: "podman:web", "docker:web". Without a prefix faultline asks
 * podman when the `podman` command is on PATH, else Docker's API socket
 * (DOCKER_HOST=unix://PATH, default /var/run/docker.sock). Podman is asked
 * through `podman container inspect --format json`; Docker through
 * GET /containers/REF/json on its unix socket (libcurl). Only the lookup talks
 * to the runtime: after it, faultline works with the (pid, start time) pair. */
#ifndef FL_UTIL_CONTAINER_H
#define FL_UTIL_CONTAINER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

struct fl_container {
    char runtime[8]; /* "podman" or "docker" */
    char id[80];     /* the full id the runtime reports */
    char name[256];  /* the name, without Docker's leading '/' */
    pid_t pid;       /* State.Pid: the container's init, as a host pid */
    uint64_t start;  /* that process's start time (fl_proc_start_time) */
};

/* Check a reference's shape without asking any runtime: a non-empty name or
 * id of at most 255 characters from [A-Za-z0-9_.-], with an optional
 * "podman:" or "docker:" prefix. FL_EUSAGE otherwise. */
int fl_container_validate(const char *ref, struct fl_err *e);

/* Ask the runtime about `ref` and fill `c`. FL_ENOTARGET (exit 3) when no
 * runtime is installed or reachable, when the runtime knows no such
 * container, and when the container is not running. */
int fl_container_lookup(const char *ref, struct fl_container *c, struct fl_err *e);

/* Fill `c` from one inspect object as text: podman's array (its first
 * element) or Docker's API object. `ref` and `runtime` only word the errors.
 * Does not look at /proc: c->start stays 0. Exposed for tests and fuzzing. */
int fl_container_parse_inspect(const char *ref, const char *runtime, const char *json, size_t len,
                               struct fl_container *c, struct fl_err *e);

/* Every live process of the container: those in the init's cgroup or below
 * it (cgroup v2, or the first v1 hierarchy that places the init outside the
 * root); when the init sits in no cgroup of its own, those in its pid
 * namespace. Sorted host pids; the caller frees *pids. */
int fl_container_pids(const struct fl_container *c, pid_t **pids, size_t *n, struct fl_err *e);

#endif
