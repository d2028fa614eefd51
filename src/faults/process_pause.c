/* process.pause: freeze the selected processes with SIGSTOP; revert sends
 * SIGCONT to those that still run with the start time recorded at plan, so a
 * recycled pid is never continued. A process that was already stopped before
 * the fault (someone else's SIGSTOP, a debugger) is left stopped by revert.
 * Pauses compose: each paused process is a shared claim, and revert leaves a
 * process stopped while another pause fault still holds it, so it runs again
 * only when the last pause on it ends. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults/fault.h"
#include "faults/select.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/time.h"

#define STOP_WAIT_MS 2000
/* Claim suffix of a process stopped before any pause fault held it. */
#define BEFORE ", stopped before faultline paused it"

static const struct fl_opt pause_opts[] = {
    FL_SELECT_OPTS,
    FL_OPT_END,
};

static int pause_plan(struct fl_fault *f, struct fl_err *e)
{
    struct fl_selection sel;
    json_t *targets, *t;
    size_t i;
    int r;

    if ((r = fl_select_resolve(f->params, f->seed, &sel, e)))
        return r;
    targets = fl_select_to_json(&sel);
    json_array_foreach (targets, i, t) {
        if (fl_proc_state(sel.targets[i].pid) == 'T')
            json_object_set_new(t, "was_stopped", json_true());
    }
    json_object_set_new(f->undo, "targets", targets);
    json_object_set_new(f->undo, "matched", json_integer((json_int_t)sel.matched));
    fl_select_free(&sel);
    return 0;
}

static void pid_key(pid_t pid, uint64_t start, char *buf, size_t len)
{
    snprintf(buf, len, "pid %d (start %llu)", (int)pid, (unsigned long long)start);
}

/* Every selected process is a shared claim: two pauses compose. A process
 * someone else had stopped before the first pause carries a second claim,
 * so a later pause knows to leave it stopped too. */
static void pause_claims(const struct fl_fault *f, json_t *out)
{
    json_t *targets = json_object_get(f->undo, "targets"), *t;
    size_t i;

    json_array_foreach (targets, i, t) {
        char key[64 + sizeof BEFORE];
        pid_key((pid_t)json_integer_value(json_object_get(t, "pid")),
                (uint64_t)json_integer_value(json_object_get(t, "start")), key, sizeof key);
        json_object_set_new(out, key, json_integer(FL_CLAIM_SHARED));
        if (json_is_true(json_object_get(t, "was_stopped"))) {
            strcat(key, BEFORE);
            json_object_set_new(out, key, json_integer(FL_CLAIM_SHARED));
        }
    }
}

/* "was_stopped" from plan means someone else stopped the process and revert
 * must leave it so; but a process stopped by another pause fault that still
 * holds it (or one that runs again by now) is this fault's to continue once
 * every pause on it has ended. */
static void pause_overlap(struct fl_fault *f)
{
    json_t *targets = json_object_get(f->undo, "targets"), *t;
    size_t i;

    json_array_foreach (targets, i, t) {
        pid_t pid = (pid_t)json_integer_value(json_object_get(t, "pid"));
        char key[64 + sizeof BEFORE], before[sizeof key], st;

        if (!json_is_true(json_object_get(t, "was_stopped")))
            continue;
        pid_key(pid, (uint64_t)json_integer_value(json_object_get(t, "start")), key, sizeof key);
        snprintf(before, sizeof before, "%s%s", key, BEFORE);
        st = fl_proc_state(pid);
        if ((fl_fault_held(f, key) && !fl_fault_held(f, before)) || (st != 'T' && st != 't'))
            json_object_del(t, "was_stopped");
    }
}

static bool all_stopped(const struct fl_selection *sel, pid_t *laggard)
{
    for (size_t i = 0; i < sel->n; i++) {
        const struct fl_target *t = &sel->targets[i];
        char st;
        if (!fl_proc_alive(t->pid, t->start))
            continue; /* exited: nothing to pause */
        st = fl_proc_state(t->pid);
        if (st != 'T' && st != 't') {
            *laggard = t->pid;
            return false;
        }
    }
    return true;
}

static int pause_inject(struct fl_fault *f, struct fl_err *e)
{
    struct fl_selection sel;
    size_t sent = 0;
    int64_t until;
    pid_t laggard = 0;
    int r = 0;

    pause_overlap(f); /* again: a pause may have ended since the record was written */
    fl_select_from_json(json_object_get(f->undo, "targets"), &sel);
    for (size_t i = 0; i < sel.n; i++) {
        int s = fl_proc_signal(sel.targets[i].pid, sel.targets[i].start, SIGSTOP);
        if (s < 0) {
            r = fl_err_set(e, fl_code_from_errno(-s), "cannot stop pid %d: %s",
                           (int)sel.targets[i].pid, strerror(-s));
            goto out;
        }
        if (s == 0)
            fl_info("pid %d (%s) exited before it could be paused", (int)sel.targets[i].pid,
                    sel.targets[i].comm);
        sent += s == 1;
    }
    if (!sent) {
        r = fl_err_set(e, FL_ENOTARGET, "every selected process exited before it was paused");
        goto out;
    }
    /* SIGSTOP is asynchronous: wait until the kernel reports every one stopped. */
    until = fl_now_ms() + STOP_WAIT_MS;
    while (!all_stopped(&sel, &laggard)) {
        if (fl_now_ms() >= until) {
            r = fl_err_set(e, FL_EFAIL,
                           "pid %d is not in state T %ds after SIGSTOP (state %c); reverting",
                           (int)laggard, STOP_WAIT_MS / 1000, fl_proc_state(laggard));
            goto out;
        }
        fl_sleep_ms(10);
    }
    json_object_set_new(f->undo, "paused", json_integer((json_int_t)sent));
out:
    fl_select_free(&sel);
    return r;
}

static int pause_revert(const struct fl_fault *f, struct fl_err *e)
{
    json_t *targets = json_object_get(f->undo, "targets"), *t;
    size_t i;
    int r = 0;

    json_array_foreach (targets, i, t) {
        pid_t pid = (pid_t)json_integer_value(json_object_get(t, "pid"));
        uint64_t start = (uint64_t)json_integer_value(json_object_get(t, "start"));
        char key[64];
        int s;

        if (pid <= 1 || json_is_true(json_object_get(t, "was_stopped")))
            continue;
        pid_key(pid, start, key, sizeof key);
        if (fl_fault_held(f, key)) {
            fl_info("pid %d stays stopped: fault %s still pauses it", (int)pid,
                    json_string_value(json_object_get(f->held, key)));
            continue;
        }
        s = fl_proc_signal(pid, start, SIGCONT);
        if (s < 0 && !r)
            r = fl_err_set(e, fl_code_from_errno(-s), "cannot continue pid %d: %s", (int)pid,
                           strerror(-s));
    }
    return r;
}

/* "pause 1 of 3 processes named redis-server (pid 1234)". */
static void pause_describe(const struct fl_fault *f, char *buf, size_t len)
{
    json_t *targets = json_object_get(f->undo, "targets");
    long long matched = json_integer_value(json_object_get(f->undo, "matched"));
    char what[768];

    if (!targets) {
        fl_select_describe(f->params, what, sizeof what);
        snprintf(buf, len, "pause processes %s", what);
        return;
    }
    fl_select_describe_targets(f->params, targets, matched, what, sizeof what);
    snprintf(buf, len, "pause %s", what);
}

static int pause_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    return fl_select_validate(params, e);
}

const struct fl_fault_ops fl_fault_process_pause = {
    .kind = "process.pause",
    .summary = "freeze the selected processes (SIGSTOP), continue them on revert",
    .opts = pause_opts,
    .flags = 0,
    .validate = pause_validate,
    .plan = pause_plan,
    .inject = pause_inject,
    .revert = pause_revert,
    .describe = pause_describe,
    .claims = pause_claims,
    .overlap = pause_overlap,
};
