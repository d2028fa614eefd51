/* process.kill: send a signal (SIGKILL by default) to the selected processes.
 *
 * It happens once and has nothing to revert. Signals go through pidfds after
 * checking each process's start time, so a pid recycled between plan and
 * inject is never hit. For SIGKILL the driver waits until the processes are
 * really gone, so "killed 2" means two processes no longer run. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults/fault.h"
#include "faults/select.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/time.h"

#define KILL_WAIT_MS 3000

static const struct fl_opt kill_opts[] = {
    FL_SELECT_OPTS,
    {"signal", FL_OPT_STRING, 0, "SIGNAL",
     "signal to send, by name or number: KILL (default), TERM, INT, HUP, 9, ...", NULL, 0, 0},
    FL_OPT_END,
};

static int kill_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    int sig, r;

    if ((r = fl_select_validate(params, e)))
        return r;
    if ((r = fl_proc_parse_signal(fl_param_str(params, "signal", "KILL"), &sig, e)))
        return r;
    /* A stop signal sent by a fault with no revert would outlive it. */
    if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
        return fl_err_set(e, FL_EUSAGE,
                          "process.kill does not send stop signals (nothing would continue "
                          "the processes); use process.pause, which continues them on revert");
    return 0;
}

static int kill_plan(struct fl_fault *f, struct fl_err *e)
{
    struct fl_selection sel;
    int sig, r;

    if ((r = kill_validate(f->ops, f->params, e)))
        return r;
    fl_proc_parse_signal(fl_param_str(f->params, "signal", "KILL"), &sig, e);
    if ((r = fl_select_resolve(f->params, f->seed, &sel, e)))
        return r;
    json_object_set_new(f->undo, "targets", fl_select_to_json(&sel));
    json_object_set_new(f->undo, "matched", json_integer((json_int_t)sel.matched));
    json_object_set_new(f->undo, "signal", json_integer(sig));
    fl_select_free(&sel);
    return 0;
}

/* Wait until none of the signalled processes is alive; returns how many are
 * still alive when the wait ends. */
static size_t wait_gone(const struct fl_selection *sel, const bool *sent, int64_t wait_ms)
{
    int64_t until = fl_now_ms() + wait_ms;
    size_t alive;

    for (;;) {
        alive = 0;
        for (size_t i = 0; i < sel->n; i++)
            if (sent[i] && fl_proc_alive(sel->targets[i].pid, sel->targets[i].start))
                alive++;
        if (!alive || fl_now_ms() >= until)
            return alive;
        fl_sleep_ms(20);
    }
}

static int kill_inject(struct fl_fault *f, struct fl_err *e)
{
    struct fl_selection sel;
    int sig = (int)json_integer_value(json_object_get(f->undo, "signal"));
    size_t sent = 0, vanished = 0, alive;
    bool *was_sent;
    char sname[32];
    int r = 0;

    if (sig <= 0)
        return fl_err_set(e, FL_EFAIL, "process.kill: no signal in the plan");
    fl_select_from_json(json_object_get(f->undo, "targets"), &sel);
    was_sent = calloc(sel.n + 1, sizeof *was_sent);
    if (!was_sent) {
        fl_select_free(&sel);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    fl_proc_signal_name(sig, sname, sizeof sname);
    for (size_t i = 0; i < sel.n; i++) {
        int s = fl_proc_signal(sel.targets[i].pid, sel.targets[i].start, sig);
        if (s < 0) {
            r = fl_err_set(e, fl_code_from_errno(-s), "cannot send %s to pid %d: %s", sname,
                           (int)sel.targets[i].pid, strerror(-s));
            break;
        }
        if (s == 0) {
            fl_info("pid %d (%s) exited before it could be signalled", (int)sel.targets[i].pid,
                    sel.targets[i].comm);
            vanished++;
        }
        was_sent[i] = s == 1;
        sent += s == 1;
    }
    json_object_set_new(f->undo, "signalled", json_integer((json_int_t)sent));
    if (r == 0 && sig == SIGKILL && sent) {
        alive = wait_gone(&sel, was_sent, KILL_WAIT_MS);
        json_object_set_new(f->undo, "killed", json_integer((json_int_t)(sent - alive)));
        if (alive)
            r = fl_err_set(e, FL_EFAIL,
                           "%zu of %zu processes still run %ds after SIGKILL (stuck in "
                           "uninterruptible sleep, state D?)",
                           alive, sent, KILL_WAIT_MS / 1000);
    }
    if (r == 0 && sent == 0)
        r = fl_err_set(e, FL_ENOTARGET, "every selected process exited before %s was sent", sname);
    free(was_sent);
    fl_select_free(&sel);
    return r;
}

/* "killed 1 of 3 processes named sleep (pid 1234) with SIGKILL". */
static void kill_describe(const struct fl_fault *f, char *buf, size_t len)
{
    json_t *targets = json_object_get(f->undo, "targets");
    int sig = (int)json_integer_value(json_object_get(f->undo, "signal"));
    long long matched = json_integer_value(json_object_get(f->undo, "matched"));
    json_t *killed = json_object_get(f->undo, "killed");
    char what[768], sname[32];

    if (!targets) {
        fl_select_describe(f->params, what, sizeof what);
        snprintf(buf, len, "signal processes %s with %s", what,
                 fl_param_str(f->params, "signal", "KILL"));
        return;
    }
    fl_select_describe_targets(f->params, targets, matched, what, sizeof what);
    fl_proc_signal_name(sig, sname, sizeof sname);
    if (sig == SIGKILL && killed)
        snprintf(buf, len, "killed %s with SIGKILL (%lld gone)", what,
                 (long long)json_integer_value(killed));
    else if (sig == SIGKILL)
        snprintf(buf, len, "kill %s with SIGKILL", what);
    else
        snprintf(buf, len, "send %s to %s", sname, what);
}

const struct fl_fault_ops fl_fault_process_kill = {
    .kind = "process.kill",
    .summary = "kill the selected processes (or send them another signal)",
    .opts = kill_opts,
    .flags = FL_FAULT_INSTANT,
    .validate = kill_validate,
    .plan = kill_plan,
    .inject = kill_inject,
    .revert = NULL,
    .describe = kill_describe,
};
