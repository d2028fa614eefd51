/* Stressor processes in their own cgroup, shared by stress.cpu and
 * stress.memory.
 *
 * Each stress fault gets a cgroup v2 directory <cgroup2>/faultline/<id>. Its
 * workers are faultline itself (`faultline __stressor ...`, src/cli/
 * stressor.c) forked, moved into that cgroup, then exec'd, so nothing stresses
 * outside it. Revert kills the whole cgroup (cgroup.kill), waits until it is
 * empty and removes it; the sweeper does the same for every cgroup under
 * <cgroup2>/faultline/ without needing a journal. Each worker also carries a
 * hard deadline and exits by itself then, or as soon as it finds itself
 * outside its cgroup, so nothing stresses forever even with no guardian. */
#ifndef FL_FAULTS_STRESS_H
#define FL_FAULTS_STRESS_H

#include <jansson.h>

#include "faults/fault.h"
#include "util/err.h"

#define FL_STRESS_CGROUP_DIR "faultline"
/* With --container: <container's cgroup>/faultline-<id> (stress_container.c). */
#define FL_STRESS_NESTED_PREFIX "faultline-"
/* Without --duration, a detached lease or --hard-stop, workers stop by
 * themselves after this. */
#define FL_STRESS_DEFAULT_HARD_STOP_MS (INT64_C(60) * 60 * 1000)
/* Otherwise this long after the duration (or the detached lease) ends. */
#define FL_STRESS_HARD_STOP_GRACE_MS (INT64_C(30) * 1000)

/* clang-format off */
#define FL_STRESS_OPTS \
    {"hard-stop", FL_OPT_DURATION, 0, "DURATION", "workers exit by themselves after this long " \
     "even if nothing reverts the fault (default: --duration or a detached --lease, + 30s; " \
     "else 1h)", NULL, 1, 0}, \
    {"container", FL_OPT_STRING, 0, "NAME", "run the workers in the cgroups of this running " \
     "podman or Docker container, so its CPU and memory limits apply to them (podman:NAME or " \
     "docker:NAME picks the runtime)", NULL, 0, 0}
/* clang-format on */

/* Resolve the cgroup path and the workers' deadline into f->undo
 * ("cgroup", "cgroup_rel", "deadline_ms"; with --container also "join" and
 * "container"); touches nothing. */
int fl_stress_plan(struct fl_fault *f, struct fl_err *e);

/* The --container part of plan (stress_container.c): ask the runtime, put
 * the cgroup under the container's and list its v1 cgroups to join. */
int fl_stress_container_plan(struct fl_fault *f, const char *mount, struct fl_err *e);

/* Create the cgroup and start one worker per entry of `worker_args` (a JSON
 * array of argument arrays appended to `faultline __stressor KIND`). Worker
 * pids and start times are added to f->undo "workers" as they start. */
int fl_stress_spawn(struct fl_fault *f, const char *kind, const json_t *worker_args,
                    struct fl_err *e);

/* The pids in cgroup `dir` (cgroup.procs) into pids[cap]; returns the count
 * (which may exceed cap) or -errno. */
int fl_stress_cgroup_pids(const char *dir, int *pids, int cap);

/* " in cgroup /faultline/ID", " in container NAME (cgroup ...)" or "", for
 * describe(). */
void fl_stress_where(const struct fl_fault *f, char *buf, size_t len);

/* Kill every process in the fault's cgroup and remove it. Idempotent. */
int fl_stress_revert(const struct fl_fault *f, struct fl_err *e);

/* Remove every cgroup under <cgroup2>/faultline/ and every faultline-<id>
 * cgroup nested in a container's (recover --all). */
int fl_stress_sweep(struct fl_sweep_report *r, struct fl_err *e);

#endif
