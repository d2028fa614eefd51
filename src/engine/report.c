/* Reports about a run that do not need a running engine: the dry-run plan
 * and the JUnit file written from a stored run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cluster.h"
#include "engine/engine.h"
#include "engine/history_run.h"

static void print_restart(FILE *out, const struct fl_spec_action *a)
{
    if (a->restart.present)
        fprintf(out, "      then, %.1fs later, restart%s%s (journaled before the kill): %s%s\n",
                (double)a->restart.after_ms / 1000.0, a->host ? " on host " : "",
                a->host ? a->host : "", a->restart.unit ? "systemctl start " : "",
                a->restart.unit ? a->restart.unit : a->restart.command);
}

static void print_commands(FILE *out, const char *what, const struct fl_spec_command *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s %s%s%s (timeout %.1fs): `%s`\n", what, c[i].name,
                c[i].host ? " on host " : "", c[i].host ? c[i].host : "",
                (double)c[i].timeout_ms / 1000.0, c[i].command);
}

/* The method: each step with its concrete targets as plan() resolves them
 * now. Returns 0 or the negative code of the first step that cannot be
 * planned (not counted when a setup would run first). */
static int print_method(const struct fl_spec *spec, const struct fl_engine_opts *o, uint64_t seed,
                        FILE *out, struct fl_err *e)
{
    int rc = 0;

    fprintf(out, "method (over %.1fs):\n", (double)spec->duration_ms / 1000.0);
    for (size_t i = 0; i < spec->nactions; i++) {
        const struct fl_spec_action *a = &spec->actions[i];
        struct fl_fault f;
        char desc[512], note[512];
        json_t *params;
        int64_t dur;
        if (a->type == FL_ACTION_COMMAND) {
            fprintf(out, "  +%.1fs %s: run `%s`%s%s\n", (double)a->start_ms / 1000.0, a->name,
                    a->command, a->host ? " on host " : "", a->host ? a->host : "");
            continue;
        }
        if (a->resolve.kind != FL_RESOLVE_NONE) {
            fprintf(out, "  +%.1fs %s: %s on the host host_from names when it starts (%s%s%s)\n",
                    (double)a->start_ms / 1000.0, a->name, a->ops->kind,
                    a->resolve.command ? a->resolve.command
                    : a->resolve.url   ? a->resolve.url
                                       : a->resolve.sentinel,
                    a->resolve.from ? ", from host " : "", a->resolve.from ? a->resolve.from : "");
            print_restart(out, a);
            continue;
        }
        if (a->host && fl_spec_host_find(spec, a->host)->agent) {
            fprintf(out, "  +%.1fs %s: %s on host %s, applied by its agent at %s%s%s%s\n",
                    (double)a->start_ms / 1000.0, a->name, a->ops->kind, a->host,
                    fl_spec_host_find(spec, a->host)->agent, a->npeer_hosts ? " (peers: " : "",
                    a->npeer_hosts ? "hosts named in between:)" : "",
                    a->no_reclaim ? "; not applied again if the agent restarts (reclaim: false)"
                                  : "");
            print_restart(out, a); /* a job of that agent, handed over at the kill */
            continue;
        }
        params = fl_cluster_step_params(spec, NULL, a, o->state_dir, NULL, note, sizeof note, e);
        if (!params) {
            fprintf(out, "  +%.1fs %s: CANNOT PLAN: %s\n", (double)a->start_ms / 1000.0, a->name,
                    e->msg);
            if (!rc && !spec->nsetup)
                rc = -(e->code ? e->code : FL_EFAIL);
            continue;
        }
        fl_fault_init(&f, a->ops, params);
        f.seed = (seed + i) & ((1ULL << 53) - 1);
        dur = a->duration_ms ? a->duration_ms : spec->duration_ms - a->start_ms;
        f.duration_ms = (a->ops->flags & FL_FAULT_INSTANT) ? 0 : dur;
        if (a->ops->plan(&f, e)) {
            fl_err_prefix(e, "%s (%s, line %d)", a->name, a->ops->kind, a->line);
            fprintf(out, "  +%.1fs %s: CANNOT PLAN%s: %s\n", (double)a->start_ms / 1000.0, a->name,
                    spec->nsetup ? " before setup has run" : "", e->msg);
            if (!rc && !spec->nsetup)
                rc = -(e->code ? e->code : FL_EFAIL);
            fl_fault_fini(&f);
            continue;
        }
        fl_fault_describe(&f, desc, sizeof desc);
        char *undo = json_dumps(f.undo, JSON_COMPACT | JSON_SORT_KEYS);
        if (a->ops->flags & FL_FAULT_INSTANT)
            fprintf(out, "  +%.1fs %s: %s: %s\n", (double)a->start_ms / 1000.0, a->name,
                    a->ops->kind, desc);
        else
            fprintf(out, "  +%.1fs..+%.1fs %s: %s: %s\n", (double)a->start_ms / 1000.0,
                    (double)(a->start_ms + dur) / 1000.0, a->name, a->ops->kind, desc);
        fprintf(out, "      resolved: %s%s%s\n", undo ? undo : "{}", note[0] ? "; " : "", note);
        free(undo);
        print_restart(out, a);
        fl_fault_fini(&f);
    }
    return rc;
}

int fl_engine_dry_run(const struct fl_spec *spec, const struct fl_engine_opts *o, FILE *out,
                      struct fl_err *e)
{
    uint64_t seed = fl_engine_seed(spec, o);
    char tol[256];
    int rc;

    fprintf(out, "experiment: %s (%s)\n", spec->title, spec->file);
    if (spec->hypothesis)
        fprintf(out, "hypothesis: %s\n", spec->hypothesis);
    for (size_t i = 0; i < spec->nhosts; i++) {
        const struct fl_spec_host *h = &spec->hosts[i];
        if (h->agent)
            fprintf(out, "host %s: through its agent at %s%s%s\n", h->name, h->agent,
                    h->address ? ", address " : "", h->address ? h->address : "");
        else
            fprintf(out, "host %s: lab host %s/%s%s%s\n", h->name, h->lab, h->lab_host,
                    h->address ? ", address " : "", h->address ? h->address : "");
    }
    print_commands(out, "setup", spec->setup, spec->nsetup);
    fprintf(out, "seed: %llu\npreflight: sample the steady state for %.1fs\n",
            (unsigned long long)seed, (double)spec->preflight_ms / 1000.0);
    for (size_t i = 0; i < spec->nprobes; i++) {
        const struct fl_spec_probe *p = &spec->probes[i];
        char *params = json_dumps(p->params, JSON_COMPACT | JSON_SORT_KEYS);
        fl_tolerance_describe(&p->tol, tol, sizeof tol);
        fprintf(out, "probe %s: %s %s every %lldms%s%s%s%s; %s\n", p->name, p->ops->kind,
                params ? params : "{}", (long long)p->interval_ms, p->netns ? " in netns " : "",
                p->netns ? p->netns : "", p->host ? " on agent host " : "", p->host ? p->host : "",
                p->role == FL_PROBE_STEADY ? tol : "(guardrail)");
        free(params);
    }
    rc = print_method(spec, o, seed, out, e);
    for (size_t i = 0; i < spec->nguardrails; i++) {
        const struct fl_spec_guardrail *g = &spec->guardrails[i];
        fl_tolerance_describe(&g->tol, tol, sizeof tol);
        fprintf(out, "guardrail %s: abort when probe %s breaks %s for %lldms\n", g->name,
                spec->probes[g->probe].name, tol, (long long)g->for_ms);
    }
    if (spec->has_recovery)
        fprintf(out, "recovery: steady state back within %.1fs (stable %.1fs)\n",
                (double)spec->recovery_within_ms / 1000.0,
                (double)spec->recovery_stable_ms / 1000.0);
    for (size_t k = 0; k < spec->nworkloads; k++) {
        const struct fl_spec_workload *w = &spec->workloads[k];
        fprintf(out, "workload %s:%s%s%s%s faultline workload", w->name,
                w->netns ? " in netns " : "", w->netns ? w->netns : "",
                w->host ? " on agent host " : "", w->host ? w->host : "");
        for (size_t i = 0; i < w->argc; i++)
            fprintf(out, " %s", w->argv[i]);
        fprintf(out,
                " --duration %lldms --seed %llu (from before the first fault to the end "
                "of recovery)\n",
                (long long)fl_workload_duration_ms(spec), (unsigned long long)seed);
    }
    for (size_t i = 0; i < spec->nchecks; i++) {
        fprintf(out, "check: faultline check");
        for (size_t k = 0; k < spec->checks[i].argc; k++)
            fprintf(out, " %s", spec->checks[i].argv[k]);
        fprintf(out, " --timeout %lldms HISTORY of workload %s\n",
                (long long)spec->checks[i].timeout_ms,
                spec->workloads[spec->checks[i].workload].name);
    }
    for (size_t i = 0; i < spec->nrollbacks; i++)
        fprintf(out, "rollback: `%s`\n", spec->rollbacks[i]);
    print_commands(out, "teardown", spec->teardown, spec->nteardown);
    fprintf(out, "dry run: nothing was injected\n");
    return rc;
}

static void xml_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                fputc(*s, f);
        }
    }
}

int fl_engine_write_junit(const json_t *run, const char *path, struct fl_err *e)
{
    FILE *f = fopen(path, "w");
    const char *verdict = json_string_value(json_object_get(run, "verdict"));
    const char *title = json_string_value(json_object_get(run, "experiment"));
    const char *expl = json_string_value(json_object_get(run, "explanation"));
    json_t *probes = json_object_get(run, "probes"), *p;
    bool pass = verdict && !strcmp(verdict, "passed");
    size_t i;

    if (!f)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot write %s: %s", path,
                          strerror(errno));
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
               "<testsuite name=\"");
    xml_escape(f, title);
    fprintf(f, "\" tests=\"%zu\" failures=\"%d\" time=\"%.3f\">\n", 1 + json_array_size(probes),
            !pass, (double)json_integer_value(json_object_get(run, "duration_ms")) / 1000.0);
    fprintf(f, "  <testcase classname=\"faultline\" name=\"verdict\">\n");
    if (!pass) {
        fprintf(f, "    <failure message=\"");
        xml_escape(f, verdict);
        fprintf(f, "\">");
        xml_escape(f, expl);
        fprintf(f, "</failure>\n");
    }
    fprintf(f, "  </testcase>\n");
    json_array_foreach (probes, i, p) {
        fprintf(f, "  <testcase classname=\"faultline.probe\" name=\"");
        xml_escape(f, json_string_value(json_object_get(p, "name")));
        fprintf(f, "\">\n    <system-out>");
        if (json_is_number(json_object_get(p, "availability")))
            fprintf(f, "availability %.3f%%",
                    json_number_value(json_object_get(p, "availability")));
        else
            fprintf(f, "no samples, availability unknown");
        fprintf(f, ", p99 %.3fms, time to detect ",
                json_number_value(json_object_get(p, "p99_ms")));
        if (json_is_integer(json_object_get(p, "time_to_detect_ms")))
            fprintf(f, "%lldms",
                    (long long)json_integer_value(json_object_get(p, "time_to_detect_ms")));
        else
            fprintf(f, "none");
        fprintf(f, ", time to recover ");
        if (json_is_integer(json_object_get(p, "time_to_recover_ms")))
            fprintf(f, "%lldms",
                    (long long)json_integer_value(json_object_get(p, "time_to_recover_ms")));
        else
            fprintf(f, "none");
        fprintf(f, "</system-out>\n  </testcase>\n");
    }
    fprintf(f, "</testsuite>\n</testsuites>\n");
    if (fclose(f))
        return fl_err_set(e, FL_EFAIL, "cannot write %s", path);
    return 0;
}
