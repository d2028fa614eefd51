/* stress.memory: hold memory. Workers (src/cli/stressor.c) in the fault's
 * own cgroup map --size bytes between them, write every page so the memory
 * is really resident, and touch it again periodically until revert. Inject
 * returns only once the workers' resident size shows the memory is held. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults/fault.h"
#include "faults/stress.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/proc.h"
#include "util/time.h"

static const struct fl_opt mem_opts[] = {
    {"size", FL_OPT_SIZE, FL_OPT_REQUIRED, "SIZE", "memory to hold, e.g. 512MiB, 2GiB", NULL, 0, 0},
    {"workers", FL_OPT_INT, 0, "N", "processes to split the size among (default 1)", NULL, 1, 256},
    {"force", FL_OPT_FLAG, 0, NULL, "allow a size above the host's available memory", NULL, 0, 0},
    FL_STRESS_OPTS,
    FL_OPT_END,
};

/* MemAvailable from /proc/meminfo in bytes, 0 if unknown. */
static uint64_t mem_available(void)
{
    char buf[4096];
    const char *p;
    int n = fl_read_small("/proc/meminfo", buf, sizeof buf);

    if (n <= 0 || !(p = strstr(buf, "MemAvailable:")))
        return 0;
    return strtoull(p + 13, NULL, 10) * 1024;
}

static int mem_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    uint64_t size = (uint64_t)fl_param_int(params, "size", 0);
    long long workers = fl_param_int(params, "workers", 1);

    if (size == 0)
        return fl_err_set(e, FL_EUSAGE, "--size must be above 0");
    if (size / (uint64_t)workers < 4096)
        return fl_err_set(e, FL_EUSAGE,
                          "--size is less than a page per worker; use fewer "
                          "--workers or a larger --size");
    return 0;
}

static int mem_plan(struct fl_fault *f, struct fl_err *e)
{
    uint64_t size = (uint64_t)fl_param_int(f->params, "size", 0), avail = mem_available();
    char s1[32], s2[32];
    int r;

    if ((r = mem_validate(f->ops, f->params, e)))
        return r;
    if (avail && size > avail && !fl_param_bool(f->params, "force")) {
        fl_format_size(size, s1, sizeof s1);
        fl_format_size(avail, s2, sizeof s2);
        return fl_err_set(e, FL_EREFUSED,
                          "--size %s is more than the %s of memory this host has available; "
                          "the OOM killer would pick victims among real services. Use a smaller "
                          "--size, or --force if that is the experiment",
                          s1, s2);
    }
    return fl_stress_plan(f, e);
}

/* Sum of the workers' resident memory; -1 if one of them has died. */
static int64_t workers_rss(const json_t *workers)
{
    int64_t sum = 0;
    size_t i;
    json_t *w;

    json_array_foreach (workers, i, w) {
        pid_t pid = (pid_t)json_integer_value(json_object_get(w, "pid"));
        uint64_t start = (uint64_t)json_integer_value(json_object_get(w, "start"));
        if (!fl_proc_alive(pid, start))
            return -1;
        sum += (int64_t)fl_proc_rss(pid);
    }
    return sum;
}

static int mem_inject(struct fl_fault *f, struct fl_err *e)
{
    uint64_t size = (uint64_t)fl_param_int(f->params, "size", 0);
    int n = (int)fl_param_int(f->params, "workers", 1), r;
    json_t *args = json_array();
    int64_t rss = 0, until;
    char s1[32], s2[32];

    for (int i = 0; i < n; i++) {
        char bytes[32];
        uint64_t share = size / (uint64_t)n + (i == 0 ? size % (uint64_t)n : 0);
        snprintf(bytes, sizeof bytes, "%" PRIu64, share);
        json_array_append_new(args, json_pack("[s,s]", "--bytes", bytes));
    }
    r = fl_stress_spawn(f, "memory", args, e);
    json_decref(args);
    if (r)
        return r;
    /* Wait until the memory is really resident: ~1 GiB/s plus slack. */
    until = fl_now_ms() + 5000 + (int64_t)(size >> 20);
    while (fl_now_ms() < until) {
        rss = workers_rss(json_object_get(f->undo, "workers"));
        if (rss < 0 && json_object_get(f->params, "container"))
            return fl_err_set(e, FL_EFAIL,
                              "a memory stressor died while allocating in container %s: its "
                              "memory limit is likely below --size (the kernel's OOM killer "
                              "took the stressor); give a smaller --size",
                              fl_param_str(f->params, "container", "?"));
        if (rss < 0)
            return fl_err_set(e, FL_EFAIL,
                              "a memory stressor died while allocating (out of memory, or a "
                              "memory limit on faultline's cgroup?)");
        if ((uint64_t)rss >= size - size / 20)
            break;
        fl_sleep_ms(20);
    }
    fl_format_size(size, s1, sizeof s1);
    fl_format_size(rss > 0 ? (uint64_t)rss : 0, s2, sizeof s2);
    if ((uint64_t)rss < size - size / 20)
        return fl_err_set(e, FL_EFAIL, "the memory stressors hold only %s of %s after %llds", s2,
                          s1, (long long)(5 + (size >> 30)));
    json_object_set_new(f->undo, "resident", json_integer(rss));
    return 0;
}

static void mem_describe(const struct fl_fault *f, char *buf, size_t len)
{
    uint64_t size = (uint64_t)fl_param_int(f->params, "size", 0);
    int n = (int)fl_param_int(f->params, "workers", 1);
    char s[32], where[512];

    fl_format_size(size, s, sizeof s);
    fl_stress_where(f, where, sizeof where);
    snprintf(buf, len, "hold %s of memory (%d stressor worker%s%s)", s, n, n == 1 ? "" : "s",
             where);
}

const struct fl_fault_ops fl_fault_stress_memory = {
    .kind = "stress.memory",
    .summary = "allocate and hold memory in stressor workers in their own cgroup",
    .opts = mem_opts,
    .flags = 0,
    .validate = mem_validate,
    .plan = mem_plan,
    .inject = mem_inject,
    .revert = fl_stress_revert,
    .describe = mem_describe,
};
