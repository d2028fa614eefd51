/* stress.cpu: keep CPUs busy. Each worker is a faultline stressor process
 * (src/cli/stressor.c) in the fault's own cgroup that spins for --load
 * percent of every 100 ms slice and sleeps the rest. */
#include <stdio.h>
#include <unistd.h>

#include "faults/fault.h"
#include "faults/stress.h"
#include "util/proc.h"
#include "util/time.h"

static const struct fl_opt cpu_opts[] = {
    {"workers", FL_OPT_INT, 0, "N", "busy workers (default: the number of online CPUs)", NULL, 1,
     4096},
    {"load", FL_OPT_PERCENT, 0, "PERCENT", "how busy each worker keeps its CPU (default 100)", NULL,
     0, 0},
    FL_STRESS_OPTS,
    FL_OPT_END,
};

static int cpu_workers(const json_t *params)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return (int)fl_param_int(params, "workers", n > 0 ? n : 1);
}

static int cpu_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    if (json_object_get(params, "load") && fl_param_real(params, "load", 100) <= 0)
        return fl_err_set(e, FL_EUSAGE, "--load 0 stresses nothing; give a percentage above 0");
    return 0;
}

static int cpu_plan(struct fl_fault *f, struct fl_err *e)
{
    int r;

    if ((r = cpu_validate(f->ops, f->params, e)))
        return r;
    json_object_set_new(f->undo, "worker_count", json_integer(cpu_workers(f->params)));
    return fl_stress_plan(f, e);
}

static int cpu_inject(struct fl_fault *f, struct fl_err *e)
{
    int n = cpu_workers(f->params), r;
    char load[32];
    json_t *args = json_array();
    json_t *workers, *w;
    size_t i;

    snprintf(load, sizeof load, "%g", fl_param_real(f->params, "load", 100));
    for (int i = 0; i < n; i++)
        json_array_append_new(args, json_pack("[s,s]", "--load", load));
    r = fl_stress_spawn(f, "cpu", args, e);
    json_decref(args);
    if (r)
        return r;
    /* A worker that died at once (bad argument, killed) is a failed inject. */
    fl_sleep_ms(50);
    workers = json_object_get(f->undo, "workers");
    json_array_foreach (workers, i, w) {
        pid_t pid = (pid_t)json_integer_value(json_object_get(w, "pid"));
        uint64_t start = (uint64_t)json_integer_value(json_object_get(w, "start"));
        if (!fl_proc_alive(pid, start))
            return fl_err_set(e, FL_EFAIL, "cpu stressor pid %d exited at once", (int)pid);
    }
    return 0;
}

/* "stress 2 CPUs at 100% with 2 workers (cgroup /faultline/abcd1234)". */
static void cpu_describe(const struct fl_fault *f, char *buf, size_t len)
{
    int n = cpu_workers(f->params);
    char where[512];

    fl_stress_where(f, where, sizeof where);
    snprintf(buf, len, "keep %d CPU%s %g%% busy (%d stressor worker%s%s)", n, n == 1 ? "" : "s",
             fl_param_real(f->params, "load", 100), n, n == 1 ? "" : "s", where);
}

const struct fl_fault_ops fl_fault_stress_cpu = {
    .kind = "stress.cpu",
    .summary = "keep CPUs busy with stressor workers in their own cgroup",
    .opts = cpu_opts,
    .flags = 0,
    .validate = cpu_validate,
    .plan = cpu_plan,
    .inject = cpu_inject,
    .revert = fl_stress_revert,
    .describe = cpu_describe,
};
