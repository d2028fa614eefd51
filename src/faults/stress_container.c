/* Stress inside a container: `stress.cpu --container NAME` and
 * `stress.memory --container NAME` run their workers in the container's
 * cgroups, so the container's own CPU quota and memory limit apply to them
 * and its accounting (podman stats, memory.usage_in_bytes) shows the load,
 * without entering the container or installing anything in it.
 *
 * The runtime is asked once, at plan, for the container's init; from the
 * init's /proc/PID/cgroup the plan takes:
 *   - cgroup v2: the fault's cgroup becomes <init's cgroup>/faultline-<id>, a
 *     child of the container's own (limits of an ancestor bind its
 *     descendants), killed and removed on revert like <cgroup2>/faultline/<id>;
 *   - cgroup v1 (hybrid hosts): each worker also joins the init's cgroup in
 *     every v1 hierarchy where that is not the root (cpu, memory, pids, ...).
 * Revert needs no runtime: killing the v2 cgroup kills the workers wherever
 * they sit in v1. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults/select.h"
#include "faults/stress.h"
#include "util/cleanup.h"
#include "util/container.h"
#include "util/fs.h"
#include "util/proc.h"

/* The mount point of the cgroup v1 hierarchy whose controllers are
 * `ctrls` ("cpu", "memory", "name=systemd", "cpu,cpuacct"). */
static bool v1_mount(const char *ctrls, char *out, size_t len)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];

    while (f && fgets(line, sizeof line, f)) {
        char mnt[PATH_MAX], fstype[32], src[256], opts[1024], *sep = strstr(line, " - ");
        char want[256];
        bool all = true;

        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%31s %255s %1023s", fstype, src, opts) != 3 ||
            strcmp(fstype, "cgroup"))
            continue;
        snprintf(want, sizeof want, "%s", ctrls);
        for (char *save = NULL, *c = strtok_r(want, ",", &save); c;
             c = strtok_r(NULL, ",", &save)) {
            char needle[300], padded[1100];
            snprintf(needle, sizeof needle, ",%s,", c);
            snprintf(padded, sizeof padded, ",%s,", opts);
            all = all && strstr(padded, needle);
        }
        if (all) {
            snprintf(out, len, "%s", mnt);
            return true;
        }
    }
    return false;
}

/* Fill undo "cgroup"/"cgroup_rel" (v2) and "join" (v1 cgroup.procs files)
 * from the init's /proc/PID/cgroup. */
static int container_cgroups(struct fl_fault *f, const struct fl_container *c, const char *mount,
                             struct fl_err *e)
{
    char path[64], line[4096], self[8192] = "\n";
    _cleanup_fclose_ FILE *fp = NULL;
    json_t *join = json_array();
    bool v2 = false;

    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)c->pid);
    if (!(fp = fopen(path, "re"))) {
        json_decref(join);
        return fl_err_set(e, FL_ENOTARGET, "container '%s' stopped (no %s)", c->name, path);
    }
    fl_read_small("/proc/self/cgroup", self + 1, sizeof self - 1);
    while (fgets(line, sizeof line, fp)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, dir[PATH_MAX * 2];
        char whole[sizeof line + 1];

        snprintf(whole, sizeof whole, "\n%s", line);
        if (!c2 || strstr(self, whole))
            continue; /* faultline's own cgroup is not the container's */
        *c2 = 0;
        c2[strcspn(c2 + 1, "\n") + 1] = 0;
        if (!strcmp(c2 + 1, "/") || strstr(c2 + 1, "/.."))
            continue;       /* the root: not the container's own */
        if (c1 + 1 == c2) { /* "0::/path": cgroup v2 */
            char rel[PATH_MAX];
            snprintf(rel, sizeof rel, "%s/%s%s", c2 + 1, FL_STRESS_NESTED_PREFIX, f->id);
            snprintf(dir, sizeof dir, "%s%s", mount, rel);
            json_object_set_new(f->undo, "cgroup", json_string(dir));
            json_object_set_new(f->undo, "cgroup_rel", json_string(rel));
            v2 = true;
        } else {
            char mnt[PATH_MAX];
            if (!v1_mount(c1 + 1, mnt, sizeof mnt))
                continue; /* a hierarchy not mounted here */
            snprintf(dir, sizeof dir, "%s%s/cgroup.procs", mnt, c2 + 1);
            json_array_append_new(join, json_string(dir));
        }
    }
    json_object_set_new(f->undo, "join", join);
    if (!v2 && !json_array_size(join))
        return fl_err_set(e, FL_EREFUSED,
                          "container '%s' (pid %d) has no cgroup of its own (run with "
                          "--cgroups=disabled?): its limits cannot bind stressors; stress the host "
                          "without --container instead",
                          c->name, (int)c->pid);
    return 0;
}

int fl_stress_container_plan(struct fl_fault *f, const char *mount, struct fl_err *e)
{
    const char *ref = fl_param_str(f->params, "container", NULL);
    struct fl_container c;
    int r;

    if (fl_container_validate(ref, e) || fl_container_lookup(ref, &c, e))
        return fl_err_prefix(e, "--container %s", ref);
    if ((r = container_cgroups(f, &c, mount, e)))
        return r;
    json_object_set_new(f->undo, "container",
                        json_pack("{s:s, s:s, s:s, s:i, s:I}", "name", c.name, "runtime", c.runtime,
                                  "id", c.id, "pid", (int)c.pid, "start", (json_int_t)c.start));
    return 0;
}
