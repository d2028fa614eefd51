/* process.restart: the journaled promise of a process.kill step with
 * `restart:` to bring the killed member back. It is not a kind a user
 * injects (the registry keeps it out of `inject`, experiments and agents;
 * fl_fault_lookup_record finds it for the journal): the engine writes the
 * record before the kill and removes it once it has run the restart
 * itself. Its revert runs the restart command, so when the run dies first
 * (SIGKILL), its guardian or `faultline recover` brings the member back.
 *
 * params: {"command": shell command, "step": the step's name, "lab": "LAB/hN"
 * or absent (this machine), "lab_state_dir": the lab's --state-dir or
 * absent, "cwd": the run's directory, "timeout_ms", "due_ms": when the run
 * was to run it (CLOCK_BOOTTIME ms)}. inject changes nothing: the kill is
 * the step's own fault. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "faults/fault.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/shell.h"
#include "util/time.h"

#define RESTART_OUT 512

static int restart_plan(struct fl_fault *f, struct fl_err *e)
{
    if (!fl_param_str(f->params, "command", NULL) || !fl_param_str(f->params, "step", NULL))
        return fl_err_set(e, FL_EFAIL, "process.restart: needs a command and a step name");
    return 0;
}

static int restart_inject(struct fl_fault *f, struct fl_err *e)
{
    (void)f;
    (void)e;
    return 0;
}

/* "due 1.2s ago" / "due in 1.0s" */
static void due_text(const json_t *params, char *buf, size_t len)
{
    int64_t due = fl_param_int(params, "due_ms", 0), now = fl_now_ms();
    char d[32];

    fl_format_duration(now >= due ? now - due : due - now, d, sizeof d);
    snprintf(buf, len, now >= due ? "due %s ago" : "due in %s", d);
}

/* Run the restart from the record alone (the guardian, `recover`): the run
 * that was to run it did not. Its output head is logged with the outcome. */
static int restart_revert(const struct fl_fault *f, struct fl_err *e)
{
    const json_t *p = f->params;
    struct fl_shell_where w = {.lab_ref = fl_param_str(p, "lab", NULL),
                               .state_dir = fl_param_str(p, "lab_state_dir", NULL),
                               .cwd = fl_param_str(p, "cwd", NULL)};
    const char *cmd = fl_param_str(p, "command", NULL), *step = fl_param_str(p, "step", "?");
    char out[RESTART_OUT], due[64];
    int rc;

    if (!cmd)
        return fl_err_set(e, FL_ESTATE, "process.restart record %s has no command", f->id);
    due_text(p, due, sizeof due);
    rc = fl_shell_run(&w, cmd, fl_param_int(p, "timeout_ms", 30000), out, sizeof out);
    if (rc == 0) {
        fl_warn("overdue restart of step '%s' (%s; the run that was to run it has not, so "
                "its killed member stayed down): ran `%s`%s%s: exited with status 0%s%s",
                step, due, cmd, w.lab_ref ? " on lab host " : "", w.lab_ref ? w.lab_ref : "",
                out[0] ? "; output: " : "", out);
        return 0;
    }
    return fl_err_set(e, FL_EFAIL,
                      "the restart of step '%s' (`%s`%s%s) %s %d%s%s; the killed member is "
                      "still down",
                      step, cmd, w.lab_ref ? " on lab host " : "", w.lab_ref ? w.lab_ref : "",
                      rc == -ETIMEDOUT ? "timed out, error"
                      : rc < 0         ? "failed with error"
                                       : "exited with status",
                      rc, out[0] ? ": " : "", out);
}

/* "restart of step 'kill-h3' pending: `redis-server ...` on lab host c1/h3" */
static void restart_describe(const struct fl_fault *f, char *buf, size_t len)
{
    const char *lab = fl_param_str(f->params, "lab", NULL);

    snprintf(buf, len, "pending restart of step '%s' (after its process.kill): `%s`%s%s",
             fl_param_str(f->params, "step", "?"), fl_param_str(f->params, "command", "?"),
             lab ? " on lab host " : "", lab ? lab : "");
}

static const struct fl_opt restart_opts[] = {FL_OPT_END};

const struct fl_fault_ops fl_fault_process_restart = {
    .kind = "process.restart",
    .summary = "the pending restart of a killed member (journal only, not injectable)",
    .opts = restart_opts,
    .plan = restart_plan,
    .inject = restart_inject,
    .revert = restart_revert,
    .describe = restart_describe,
};
