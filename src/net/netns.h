/* Network namespaces: which one a network fault acts on (its scope), how to
 * find the same namespace again from another process (the guardian reverts
 * from the journal), entering it on the calling thread and always coming
 * back, and listing every namespace on the machine for the sweepers.
 *
 * A scope is `--netns NAME` (a namespace named by `ip netns add`, bound at
 * /run/netns/NAME), `--pid PID` (the namespace that process runs in),
 * `--container NAME` (the namespace of a podman or Docker container's init,
 * asked of the runtime when the scope is resolved), or neither (the
 * namespace faultline itself runs in: normally the host's). Whatever named
 * it, a scope is pinned by the namespace's identity (device and inode of its
 * nsfs file), so a recycled pid or a re-created name can never redirect a
 * revert to a different namespace. */
#ifndef FL_NET_NETNS_H
#define FL_NET_NETNS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"
#include "util/opts.h"

/* The scope options, for splicing into a network kind's option table. */
/* clang-format off */
#define FL_NETNS_OPTS \
    {"netns", FL_OPT_STRING, 0, "NAME", "act inside the named network namespace " \
     "(/run/netns/NAME, see `ip netns list`); default: the host's", NULL, 0, 0}, \
    {"pid", FL_OPT_INT, 0, "PID", "act inside the network namespace of this process", \
     NULL, 1, 4194304}, \
    {"container", FL_OPT_STRING, 0, "NAME", "act inside the network namespace of this running " \
     "podman or Docker container (name or id; podman:NAME or docker:NAME picks the runtime)", \
     NULL, 0, 0}
/* clang-format on */

enum fl_netns_kind {
    FL_NETNS_SELF,      /* neither option: the namespace faultline runs in */
    FL_NETNS_NAMED,     /* --netns NAME */
    FL_NETNS_PID,       /* --pid PID */
    FL_NETNS_CONTAINER, /* --container NAME: pinned by its init's pid and start */
};

struct fl_netns_scope {
    enum fl_netns_kind kind;
    char name[256];     /* FL_NETNS_NAMED: the netns; FL_NETNS_CONTAINER: the container */
    pid_t pid;          /* FL_NETNS_PID, FL_NETNS_CONTAINER (its init) */
    uint64_t pid_start; /* FL_NETNS_PID, FL_NETNS_CONTAINER: the process's start time */
    uint64_t dev, ino;  /* the namespace itself */
    bool host;          /* the namespace of pid 1 */
};

/* Check --netns/--pid/--container without looking at the system: types, one
 * of them. */
int fl_netns_validate(const json_t *params, struct fl_err *e);
/* Resolve the scope the params name against the live system. A namespace
 * or process that does not exist is FL_ENOTARGET with a message naming it. */
int fl_netns_resolve(const json_t *params, struct fl_netns_scope *s, struct fl_err *e);
/* The scope as recorded in a fault's undo object, and back. */
json_t *fl_netns_to_json(const struct fl_netns_scope *s);
int fl_netns_from_json(const json_t *j, struct fl_netns_scope *s, struct fl_err *e);
/* "netns n1", "the netns of pid 1234", "the host". */
void fl_netns_describe(const struct fl_netns_scope *s, char *buf, size_t len);
/* A scope description straight from params (before plan ran). */
void fl_netns_describe_params(const json_t *params, char *buf, size_t len);

/* Open the namespace a recorded scope names (O_RDONLY|O_CLOEXEC fd). When
 * the namespace no longer exists anywhere, returns -FL_ENOTARGET: for a
 * revert that means "nothing left to undo". */
int fl_netns_open(const struct fl_netns_scope *s, struct fl_err *e);

/* Being inside another namespace for a while. The guard remembers the
 * calling thread's own namespace; fl_netns_leave always returns there (it
 * aborts the process if the kernel refuses, rather than carry on acting in
 * the wrong namespace). Entering the namespace the thread is already in
 * costs no setns. */
struct fl_netns_guard {
    int orig_fd;
    bool switched;
};
int fl_netns_enter_fd(int nsfd, struct fl_netns_guard *g, struct fl_err *e);
/* Open + enter a scope. -FL_ENOTARGET when the namespace is gone. */
int fl_netns_enter(const struct fl_netns_scope *s, struct fl_netns_guard *g, struct fl_err *e);
void fl_netns_leave(struct fl_netns_guard *g);

/* One distinct namespace found on the machine. */
struct fl_netns_entry {
    char label[96];      /* "host", "netns n1", "pid 1234" */
    char path[PATH_MAX]; /* something to open it by, valid a moment ago */
    uint64_t dev, ino;
};
/* Every distinct network namespace reachable now: faultline's own, pid 1's,
 * every /run/netns entry, and those of every process in /proc. Caller frees *out. */
int fl_netns_list(struct fl_netns_entry **out, size_t *n, struct fl_err *e);
/* Call fn(label, arg) inside each of those namespaces, back in ours after
 * each. One that cannot be entered is logged under `tag` and skipped. */
int fl_netns_each(const char *tag, void (*fn)(const char *label, void *arg), void *arg,
                  struct fl_err *e);

#endif
