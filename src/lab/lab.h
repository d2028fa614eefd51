/* The lab: N hosts, each a network namespace with one veth port on a shared
 * bridge in the host's namespace, stable names and addresses, and an
 * /etc/hosts of its own that names every host of the lab. A team rehearses a
 * game day on it: start a cluster with `faultline lab exec`, inject faults
 * with `--netns LAB-hN`, tear it down without leftovers.
 *
 * Names (every one recognisable, so `lab down` finds what a killed `lab up`
 * left, with or without the lab file):
 *   namespace  LAB-hN           (/run/netns/LAB-hN; `ip netns exec` works too)
 *   bridge     flb-LAB          its ifalias says "faultline lab LAB building pid=P start=S"
 *                               while `lab up` runs and "faultline lab LAB ready" after
 *   veth       flv-LAB-N        the bridge port of host N (its peer is eth0 inside)
 *   hosts file /etc/netns/LAB-hN/hosts (bind-mounted over /etc/hosts by `lab exec`
 *                               and by `ip netns exec`)
 *   lab file   STATE_DIR/labs/LAB.json
 * Addresses: the bridge takes the subnet's first address, host N the (N+1)th. */
#ifndef FL_LAB_LAB_H
#define FL_LAB_LAB_H

#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define FL_LAB_NAME_MAX 8
#define FL_LAB_MAX_HOSTS 32
#define FL_LAB_DEFAULT_SUBNET "10.77.0.0/24"

struct fl_lab_host {
    char name[8];   /* "h1" */
    char netns[32]; /* "lab-h1" */
    char veth[IF_NAMESIZE];
    struct in_addr addr;
};

struct fl_lab {
    char name[FL_LAB_NAME_MAX + 1];
    char bridge[IF_NAMESIZE];
    struct in_addr network, bridge_addr;
    int prefix;
    size_t n;
    struct fl_lab_host hosts[FL_LAB_MAX_HOSTS];
    bool agents;         /* fl_lab_up starts an agent in every host (set after fl_lab_plan) */
    bool agent_commands; /* ...started with --allow-commands (jobs of kind command) */
};

/* Check a lab name: 1-8 of [a-z0-9], starting with a letter. */
int fl_lab_check_name(const char *name, struct fl_err *e);
/* Lay out a lab (names and addresses) without touching the system. The
 * subnet is "A.B.C.D/P" with P in 16..29 and room for the bridge and n hosts. */
int fl_lab_plan(struct fl_lab *lab, const char *name, int n, const char *subnet, struct fl_err *e);

/* Build it: refuse a name in use or a subnet that overlaps a route of the
 * host's, then create the namespaces, bridge, veths, addresses and hosts
 * files, and write the lab file under state_dir. On failure everything
 * created so far is removed again. */
int fl_lab_up(struct fl_lab *lab, const char *state_dir, struct fl_err *e);

/* What `lab down` removed. */
struct fl_lab_down_report {
    int namespaces, links, processes, files;
};
/* Tear down the lab `name`, whether complete or left half-built by a killed
 * `lab up`: kill (by pid) every process that runs in one of its namespaces,
 * remove the namespaces, veths, bridge, hosts files and the lab file. Returns
 * -FL_ENOTARGET when nothing of that name exists. */
int fl_lab_down(const char *name, const char *state_dir, struct fl_lab_down_report *r,
                struct fl_err *e);

/* Load the lab `name` from what exists: its lab file if there is one, else
 * its bridge and namespaces. *ready says whether `lab up` finished. */
int fl_lab_load(const char *name, const char *state_dir, struct fl_lab *lab, bool *ready,
                struct fl_err *e);

/* Every lab on the machine (by its bridge), as names. Caller frees *names. */
int fl_lab_list(char (**names)[FL_LAB_NAME_MAX + 1], size_t *n, struct fl_err *e);

/* The lab as JSON for `lab status --json`: name, subnet, bridge, ready, and
 * per host name, netns, addr, up (namespace present), processes. */
json_t *fl_lab_to_json(const struct fl_lab *lab, bool ready);

/* Labs whose builder died before it finished (bridge alias "building" and a
 * dead pid): torn down like `lab down`. Used by `recover --all`. Returns the
 * number of labs removed. */
int fl_lab_sweep(const char *state_dir, struct fl_err *e);

/* Run argv on host `host` of the lab: enter its namespace, give it a mount
 * namespace of its own with the lab's hosts file over /etc/hosts and /sys
 * showing the namespace's devices, and exec. Returns only on failure. */
int fl_lab_exec(const struct fl_lab *lab, const char *host, char **argv, struct fl_err *e);

/* agents.c: a `faultline agent` in every host (docs/lab.md, "Agents"). */
#define FL_LAB_AGENT_PORT 7421
/* Make the lab's token and start an agent in each host, listening on the
 * host's address; returns once every one listens (or one failed). */
int fl_lab_agents_start(const struct fl_lab *lab, const char *state_dir, struct fl_err *e);
/* http://ADDR:7421 of host `host` (hK or LAB-hK) of lab `name`. */
int fl_lab_agent_url(const char *name, const char *host, const char *state_dir, char *url,
                     size_t len, struct fl_err *e);
/* The lab's agent token (STATE_DIR/labs/NAME.token). */
int fl_lab_agent_token(const char *name, const char *state_dir, char *tok, size_t len,
                       struct fl_err *e);
/* For lab down, once the lab's processes are stopped: revert what the
 * agents' journals still hold, remove their directories and token files.
 * Returns how many files and directories it removed. */
int fl_lab_agents_cleanup(const char *name, const char *state_dir);

#endif
