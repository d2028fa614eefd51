/* clock.skew: shift what the selected running processes read from
 * clock_gettime, gettimeofday and time by --offset, without restarting them
 * and including static Go programs, by redirecting the entry points of each
 * process's vDSO to code mapped into it (src/clock/). x86-64 only.
 *
 * plan reads every target's vDSO and records its address and the original
 * first bytes of each entry in the undo record, so revert (here, in the
 * guardian or in `faultline recover`) can put them back from the journal
 * alone; a process that exited, or exec'd a new program (a fresh vDSO), has
 * nothing to revert. Each skewed process is an exclusive claim: a second
 * skew on it is refused. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock/ptrace.h"
#include "faults/fault.h"
#include "faults/select.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/proc.h"

static const struct fl_opt skew_opts[] = {
    FL_SELECT_OPTS,
    {"offset", FL_OPT_STRING, 0, "[+|-]DURATION",
     "how far to move the clocks at once: +1h (ahead), -30s (behind), -1h30m, 250ms; at most a "
     "year (8760h) either way",
     NULL, 0, 0},
    {"drift", FL_OPT_STRING, 0, "PPM|PERCENT",
     "make the clocks run fast (+) or slow (-) from now on: parts per million (500, -2000ppm) or "
     "a percentage (10%, -5%), above -100% and at most +100%",
     NULL, 0, 0},
    {"clocks", FL_OPT_STRING, 0, "LIST",
     "which clocks: realtime (default; also gettimeofday, time and CLOCK_REALTIME_COARSE), "
     "monotonic (MONOTONIC, _RAW, _COARSE), boottime, tai, all; comma-separated",
     NULL, 0, 0},
    FL_OPT_END,
};

static const char *const entry_label[FL_VDSO_NENTRIES] = {"clock_gettime", "gettimeofday", "time"};

static int skew_params(const json_t *params, struct fl_clock_shift *sh, struct fl_err *e)
{
    const char *off = fl_param_str(params, "offset", NULL);
    const char *drift = fl_param_str(params, "drift", NULL);
    int r;

    memset(sh, 0, sizeof *sh);
    if (!off && !drift)
        return fl_err_set(e, FL_EUSAGE,
                          "clock.skew needs --offset (e.g. +1h, -30s) or --drift (e.g. 10%%, "
                          "-500ppm), or both");
    if (off && (r = fl_clock_parse_offset(off, &sh->offset_ms, e)))
        return r;
    if (drift && (r = fl_clock_parse_drift(drift, &sh->drift_ppm, e)))
        return r;
    if (!sh->offset_ms && !sh->drift_ppm)
        return fl_err_set(e, FL_EUSAGE,
                          "--offset 0 moves no clock; give e.g. --offset +1h or a --drift");
    return fl_clock_parse_clocks(fl_param_str(params, "clocks", "realtime"), &sh->mask, e);
}

static int skew_validate(const struct fl_fault_ops *ops, const json_t *params, struct fl_err *e)
{
    struct fl_clock_shift sh;
    int r;

    (void)ops;
    if ((r = fl_select_validate(params, e)))
        return r;
    return skew_params(params, &sh, e);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static bool unhex(const char *s, uint8_t *b, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char pair[3] = {s[2 * i], s[2 * i + 1], 0}, *end;
        unsigned long v = strtoul(pair, &end, 16);
        if (*end || !isxdigit((unsigned char)pair[0]))
            return false;
        b[i] = (uint8_t)v;
    }
    return true;
}

/* The undo form of one inspected process. */
static void proc_to_json(const struct fl_clock_proc *p, json_t *t)
{
    json_t *entries = json_object();

    for (int i = 0; i < FL_VDSO_NENTRIES; i++) {
        char h[2 * FL_CLOCK_PATCH_LEN + 1];
        if (!p->syms.off[i])
            continue;
        hex(p->orig[i], FL_CLOCK_PATCH_LEN, h);
        json_object_set_new(
            entries, entry_label[i],
            json_pack("{s:I,s:s}", "offset", (json_int_t)p->syms.off[i], "orig", h));
    }
    json_object_set_new(t, "vdso", json_integer((json_int_t)p->vdso_base));
    json_object_set_new(t, "vdso_len", json_integer((json_int_t)p->vdso_len));
    json_object_set_new(t, "syscall_offset", json_integer((json_int_t)p->syms.syscall_off));
    json_object_set_new(t, "entries", entries);
}

/* Back from the undo form; false if the record lacks what revert needs. */
static bool proc_from_json(const json_t *t, struct fl_clock_proc *p)
{
    json_t *entries = json_object_get(t, "entries");
    bool any = false;

    memset(p, 0, sizeof *p);
    p->pid = (pid_t)json_integer_value(json_object_get(t, "pid"));
    p->vdso_base = (uint64_t)json_integer_value(json_object_get(t, "vdso"));
    p->vdso_len = (uint64_t)json_integer_value(json_object_get(t, "vdso_len"));
    p->syms.syscall_off = (uint64_t)json_integer_value(json_object_get(t, "syscall_offset"));
    for (int i = 0; i < FL_VDSO_NENTRIES; i++) {
        json_t *en = json_object_get(entries, entry_label[i]);
        if (!en)
            continue;
        p->syms.off[i] = (uint64_t)json_integer_value(json_object_get(en, "offset"));
        if (!p->syms.off[i] ||
            !unhex(json_string_value(json_object_get(en, "orig")), p->orig[i], FL_CLOCK_PATCH_LEN))
            return false;
        any = true;
    }
    return any && p->vdso_base && p->pid > 1;
}

static int skew_plan(struct fl_fault *f, struct fl_err *e)
{
    struct fl_selection sel;
    struct fl_clock_shift sh;
    json_t *targets, *t;
    size_t i;
    int r;

    if ((r = skew_params(f->params, &sh, e)))
        return r;
    if ((r = fl_select_resolve(f->params, f->seed, &sel, e)))
        return r;
    targets = fl_select_to_json(&sel);
    json_array_foreach (targets, i, t) {
        struct fl_clock_proc p;
        if ((r = fl_clock_inspect(sel.targets[i].pid, &p, e)) == -FL_ENOTARGET) {
            r = 0; /* exited since it was selected: inject skips it */
            continue;
        }
        if (r) {
            fl_err_prefix(e, "clock.skew");
            break;
        }
        proc_to_json(&p, t);
    }
    json_object_set_new(f->undo, "targets", targets);
    json_object_set_new(f->undo, "matched", json_integer((json_int_t)sel.matched));
    fl_select_free(&sel);
    return r;
}

static void clock_key(const json_t *t, char *buf, size_t len)
{
    snprintf(buf, len, "clock of pid %d (start %" PRIu64 ")",
             (int)json_integer_value(json_object_get(t, "pid")),
             (uint64_t)json_integer_value(json_object_get(t, "start")));
}

static void skew_claims(const struct fl_fault *f, json_t *out)
{
    json_t *targets = json_object_get(f->undo, "targets"), *t;
    size_t i;

    json_array_foreach (targets, i, t) {
        char key[96];
        clock_key(t, key, sizeof key);
        json_object_set_new(out, key, json_integer(FL_CLAIM_EXCLUSIVE));
    }
}

static int skew_inject(struct fl_fault *f, struct fl_err *e)
{
    json_t *targets = json_object_get(f->undo, "targets"), *t;
    struct fl_clock_shift sh;
    size_t i, done = 0;
    int r;

    if ((r = skew_params(f->params, &sh, e)))
        return r;
    json_array_foreach (targets, i, t) {
        struct fl_clock_proc p;
        uint64_t start = (uint64_t)json_integer_value(json_object_get(t, "start"));
        uint64_t page = 0;

        if (!proc_from_json(t, &p) || !fl_proc_alive(p.pid, start)) {
            fl_info("pid %d exited before its clock could be skewed",
                    (int)json_integer_value(json_object_get(t, "pid")));
            continue;
        }
        r = fl_clock_skew(&p, &sh, f->id, &page, e);
        if (page)
            json_object_set_new(t, "page", json_integer((json_int_t)page));
        if (r < 0)
            return fl_err_prefix(e, "clock.skew");
        if (r == 0)
            fl_info("pid %d exited while its clock was being skewed", (int)p.pid);
        done += r == 1;
    }
    if (!done)
        return fl_err_set(e, FL_ENOTARGET,
                          "every selected process exited before its clock "
                          "could be skewed");
    json_object_set_new(f->undo, "skewed", json_integer((json_int_t)done));
    return 0;
}

static int skew_revert(const struct fl_fault *f, struct fl_err *e)
{
    json_t *targets = json_object_get(f->undo, "targets"), *t;
    size_t i;
    int r = 0;

    json_array_foreach (targets, i, t) {
        struct fl_clock_proc p;
        uint64_t start = (uint64_t)json_integer_value(json_object_get(t, "start"));
        struct fl_err e2 = {0};
        int s;

        if (!proc_from_json(t, &p) || !fl_proc_alive(p.pid, start))
            continue; /* never inspected, or gone: nothing to put back */
        s = fl_clock_restore(p.pid, p.vdso_base, (const uint8_t(*)[FL_CLOCK_PATCH_LEN])p.orig, &e2);
        if (s > 0)
            fl_info("pid %d: %d vDSO entr%s restored", (int)p.pid, s, s == 1 ? "y" : "ies");
        if (s < 0 && !r) {
            *e = e2;
            r = s;
        }
    }
    return r;
}

/* "move the realtime clock of pid 1234 (etcd) by +1h, drifting 10%". */
static void skew_describe(const struct fl_fault *f, char *buf, size_t len)
{
    json_t *targets = json_object_get(f->undo, "targets");
    long long matched = json_integer_value(json_object_get(f->undo, "matched"));
    const char *off = fl_param_str(f->params, "offset", NULL);
    const char *drift = fl_param_str(f->params, "drift", NULL);
    const char *clocks = fl_param_str(f->params, "clocks", "realtime");
    char what[768], by[96] = "", dr[96] = "";

    if (!targets)
        fl_select_describe(f->params, what, sizeof what);
    else
        fl_select_describe_targets(f->params, targets, matched, what, sizeof what);
    if (off)
        snprintf(by, sizeof by, " by %s%s", (*off == '+' || *off == '-') ? "" : "+", off);
    if (drift)
        snprintf(dr, sizeof dr, "%s drifting %s%s", off ? "," : "",
                 (*drift == '+' || *drift == '-') ? "" : "+", drift);
    snprintf(buf, len, "move the %s clock%s of %s%s%s", clocks, strchr(clocks, ',') ? "s" : "",
             what, by, dr);
}

/* `recover --all`: every process whose vDSO entries hold faultline's jump
 * gets the kernel's original bytes back (faultline's own vDSO is the same
 * image), unless a fault journaled elsewhere holds it. */
int fl_clock_sweep(struct fl_sweep_report *r, struct fl_err *e)
{
    DIR *d = opendir("/proc");
    struct dirent *de;

    if (!d)
        return fl_err_set(e, FL_EFAIL, "cannot list /proc: %s", strerror(errno));
    while ((de = readdir(d))) {
        pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
        struct fl_clock_proc p;
        struct fl_err e2 = {0};
        char what[64], id[FL_CLOCK_TAG_LEN];

        if (!isdigit((unsigned char)de->d_name[0]) || pid <= 1 || pid == getpid() ||
            fl_proc_is_kthread(pid) || fl_clock_inspect(pid, &p, &e2) != -FL_EREFUSED)
            continue;
        snprintf(what, sizeof what, "the skewed clock of pid %d", (int)pid);
        e2 = (struct fl_err){0};
        r->found++;
        if (fl_clock_tag(&p, id, sizeof id) == 0 && fl_sweep_spared(r, id, what))
            continue;
        fl_info("%s: restoring its vDSO entries", what);
        if (fl_clock_restore(pid, 0, NULL, &e2) < 0) {
            fl_warn("%s: %s", what, e2.msg);
            r->failed++;
        } else {
            r->removed++;
        }
    }
    closedir(d);
    return 0;
}

const struct fl_fault_ops fl_fault_clock_skew = {
    .kind = "clock.skew",
    .summary = "shift the clocks the selected processes read (vDSO redirection, x86-64)",
    .opts = skew_opts,
    .flags = 0,
    .validate = skew_validate,
    .plan = skew_plan,
    .inject = skew_inject,
    .revert = skew_revert,
    .describe = skew_describe,
    .claims = skew_claims,
};
