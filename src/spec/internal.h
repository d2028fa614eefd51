/* What the parts of the experiment loader share (spec.c: the file and its
 * sections; cluster.c: hosts, setup/teardown and the steps that name hosts).
 * Not a public API: only src/spec/ includes it. */
#ifndef FL_SPEC_INTERNAL_H
#define FL_SPEC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "spec/spec.h"
#include "spec/yaml.h"

struct fl_spec_ctx {
    const char *file;
    struct fl_spec_errors *errs;
    struct fl_spec *s;
    const struct fl_ynode *targets; /* the targets mapping, or NULL */
};

#define err_at fl_spec_err_at
#define scalar fl_spec_scalar
#define dup_str fl_spec_dup_str
#define get_duration fl_spec_get_duration
#define is_mapping fl_spec_is_mapping
#define is_list fl_spec_is_list
#define check_keys fl_spec_check_keys
#define valid_name fl_spec_valid_name

void err_at(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *scalar(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what);
char *dup_str(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what);
bool get_duration(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what, int64_t *out);
bool is_mapping(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what,
                const char *example);
bool is_list(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what,
             const char *example);
void check_keys(struct fl_spec_ctx *c, const struct fl_ynode *map, const char *where,
                const char *const *keys);
bool valid_name(const char *s);

/* cluster.c */
void fl_spec_load_hosts(struct fl_spec_ctx *c, const struct fl_ynode *n);
void fl_spec_load_commands(struct fl_spec_ctx *c, const struct fl_ynode *n, const char *what,
                           struct fl_spec_command **out, size_t *nout);
/* A probe's host: a lab host sets *netns (its namespace), an agent host
 * sets *host (its name: the probe runs as a job of that agent). */
void fl_spec_probe_host(struct fl_spec_ctx *c, const struct fl_ynode *v, char **netns, char **host);
/* The name of a host of hosts: (a copy), or NULL with an error reported. */
char *fl_spec_host_name(struct fl_spec_ctx *c, const struct fl_ynode *v);
/* The host-related keys of a fault step (host, host_from, restart,
 * reclaim); the kind's params may gain netns. */
void fl_spec_load_step_hosts(struct fl_spec_ctx *c, const struct fl_ynode *n,
                             struct fl_spec_action *a);
/* A workload's host: w->host for an agent host (a job of its agent),
 * else w->netns (a lab host's namespace). */
void fl_spec_workload_host(struct fl_spec_ctx *c, const struct fl_ynode *v,
                           struct fl_spec_workload *w);
/* Expand the steps with `between:` into one step per host that drops
 * traffic; called once every step is loaded. */
void fl_spec_expand_between(struct fl_spec_ctx *c);
void fl_spec_action_fini(struct fl_spec_action *a);
void fl_spec_cluster_free(struct fl_spec *s);

#endif
