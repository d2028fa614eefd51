/* faultline status [--json]: the active faults, from the journal. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/guardian.h"
#include "agent/journal.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "engine/cluster.h"
#include "spec/spec.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/time.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: faultline status [--json] [--state-dir DIR | --hosts LIST [--token T]]\n"
        "                        [--experiment FILE]\n\n"
        "List active faults (and pending restarts of killed members): id, kind,\n"
        "target, age, lease left, owner; then any damaged journal record faultline\n"
        "cannot revert (check its fault by hand, then `faultline recover --forget\n"
        "ID`). Creates nothing.\n"
        "  --json            one JSON object: {\"guardian\": bool, \"faults\": [...],\n"
        "                    \"damaged\": [...]}\n"
        "  --state-dir DIR   journal directory (default $FAULTLINE_STATE_DIR or the machine-wide "
        "/run/faultline)\n"
        "  --hosts LIST      instead, the faults the agents of these hosts hold (URL,\n"
        "                    HOST[:PORT] or LAB/hK, comma-separated; docs/agent.md); exit 1\n"
        "                    if one cannot be reached, 5 if one refuses the token\n"
        "  --token TOKEN     the agents' bearer token (default $FAULTLINE_AGENT_TOKEN)\n"
        "  --experiment FILE also the faults the agents of the experiment's agent hosts\n"
        "                    hold (their tokens as its hosts: section says); a lab host's\n"
        "                    faults are this machine's, in the list above them\n");
}

/* Per agent host of an experiment: {host, agent, faults} or {host, agent,
 * error}. *rc becomes the first failing host's code (2 for a bad file). */
static json_t *experiment_hosts(const char *file, int *rc)
{
    struct fl_spec_errors errs = {0};
    struct fl_spec *s = fl_spec_load_file(file, &errs);
    json_t *arr = json_array();

    if (!s) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msg[i]);
        fl_spec_errors_fini(&errs);
        *rc = FL_EUSAGE;
        return arr;
    }
    for (size_t i = 0; i < s->nhosts; i++) {
        const struct fl_spec_host *h = &s->hosts[i];
        struct fl_agent_client *c = NULL;
        struct fl_err e = {0};
        json_t *faults = NULL;
        if (!h->agent)
            continue;
        if (fl_cluster_agent_client(h, 0, &c, &e) || fl_agent_client_list(c, &faults, &e)) {
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "host", h->name, "agent",
                                                 h->agent, "error", e.msg));
            *rc = *rc ? *rc : e.code;
        } else {
            json_array_append_new(arr, json_pack("{s:s,s:s,s:o}", "host", h->name, "agent",
                                                 h->agent, "faults", faults));
        }
        fl_agent_client_free(c);
    }
    fl_spec_free(s);
    fl_spec_errors_fini(&errs);
    return arr;
}

static void print_hosts(const json_t *hosts)
{
    size_t i, k;
    json_t *h, *f;

    json_array_foreach (hosts, i, h) {
        const char *name = json_string_value(json_object_get(h, "host"));
        json_t *faults = json_object_get(h, "faults");
        if (!faults) {
            printf("host %s: cannot list: %s\n", name,
                   json_string_value(json_object_get(h, "error")));
            continue;
        }
        printf("host %s (%s): %zu active fault(s)\n", name,
               json_string_value(json_object_get(h, "agent")), json_array_size(faults));
        json_array_foreach (faults, k, f)
            printf("  %-9s %-18s %s\n", json_string_value(json_object_get(f, "id")) ?: "?",
                   json_string_value(json_object_get(f, "kind")) ?: "?",
                   json_string_value(json_object_get(f, "description")) ?: "");
    }
}

/* The stable --json shape, documented in docs/cli.md. */
static json_t *fault_json(const json_t *rec, int64_t now)
{
    json_t *owner = json_object_get(rec, "owner");
    int64_t created = json_integer_value(json_object_get(rec, "created_ms"));
    int64_t lease_until = json_integer_value(json_object_get(rec, "lease_until"));
    int64_t end_at = json_integer_value(json_object_get(rec, "end_at"));
    json_t *o = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:I, s:I, s:O?, s:O?}", "id", json_object_get(rec, "id"), "kind",
        json_object_get(rec, "kind"), "description", json_object_get(rec, "description"), "state",
        json_object_get(rec, "state"), "age_ms", (json_int_t)(now - created), "lease_left_ms",
        (json_int_t)(lease_until > now ? lease_until - now : 0), "params",
        json_object_get(rec, "params"), "undo", json_object_get(rec, "undo"));

    json_object_set_new(o, "owner_pid",
                        json_is_object(owner) ? json_incref(json_object_get(owner, "pid"))
                                              : json_null());
    json_object_set_new(o, "owner_alive", json_boolean(fl_journal_owner_alive(rec)));
    json_object_set_new(o, "ends_in_ms",
                        end_at ? json_integer(end_at > now ? end_at - now : 0) : json_null());
    if (json_object_get(rec, "last_error"))
        json_object_set(o, "last_error", json_object_get(rec, "last_error"));
    /* a pending restart (process.kill's restart:): when its run is to run it */
    if (!strcmp(json_string_value(json_object_get(rec, "kind")) ?: "", "process.restart")) {
        json_t *params = json_object_get(rec, "params");
        int64_t due = json_integer_value(json_object_get(params, "due_ms"));
        json_object_set_new(o, "restart_due_in_ms", json_integer(due - now));
    }
    return o;
}

/* Records nobody can revert: say so loudly, with what to do. */
static void print_damaged(const json_t *bad)
{
    size_t i;
    json_t *d;

    printf("\n%zu damaged journal record%s: faultline cannot revert %s. Check by hand that "
           "%s fault is gone (the file may say what it was), then run `faultline recover "
           "--forget ID`.\n",
           json_array_size(bad), json_array_size(bad) == 1 ? "" : "s",
           json_array_size(bad) == 1 ? "it" : "them",
           json_array_size(bad) == 1 ? "its" : "each one's");
    printf("%-9s %-18s %s\n", "ID", "KIND", "PROBLEM (FILE)");
    json_array_foreach (bad, i, d) {
        printf("%-9s %-18s %s (%s)\n", json_string_value(json_object_get(d, "id")),
               json_string_value(json_object_get(d, "kind")) ?: "?",
               json_string_value(json_object_get(d, "problem")),
               json_string_value(json_object_get(d, "file")));
    }
}

/* The local faults as a table. */
static void print_local(const json_t *all, int64_t now)
{
    size_t i;
    json_t *rec;

    printf("%-9s %-18s %-8s %-9s %-8s %s\n", "ID", "KIND", "AGE", "LEASE", "OWNER", "TARGET");
    json_array_foreach (all, i, rec) {
        json_t *f = fault_json(rec, now), *due = json_object_get(f, "restart_due_in_ms");
        char age[32], lease[32], owner[32], when[64] = "";
        fl_format_duration(json_integer_value(json_object_get(f, "age_ms")), age, sizeof age);
        fl_format_duration(json_integer_value(json_object_get(f, "lease_left_ms")), lease,
                           sizeof lease);
        if (json_is_integer(json_object_get(f, "owner_pid")))
            snprintf(owner, sizeof owner, "%lld%s",
                     (long long)json_integer_value(json_object_get(f, "owner_pid")),
                     json_is_true(json_object_get(f, "owner_alive")) ? "" : "(dead)");
        else
            snprintf(owner, sizeof owner, "detached");
        if (due) {
            json_int_t ms = json_integer_value(due);
            char d[32];
            fl_format_duration(ms < 0 ? -ms : ms, d, sizeof d);
            snprintf(when, sizeof when, ms < 0 ? " (overdue by %s)" : " (due in %s)", d);
        }
        printf("%-9s %-18s %-8s %-9s %-8s %s%s%s%s\n", json_string_value(json_object_get(f, "id")),
               json_string_value(json_object_get(f, "kind")), age, lease, owner,
               json_string_value(json_object_get(f, "description")) ?: "", when,
               json_object_get(f, "last_error") ? "  [revert failing: " : "",
               json_object_get(f, "last_error")
                   ? json_string_value(json_object_get(f, "last_error"))
                   : "");
        json_decref(f);
    }
}

int fl_cli_status(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"state-dir", required_argument, NULL, 's'},
                                             {"hosts", required_argument, NULL, 'H'},
                                             {"token", required_argument, NULL, 'T'},
                                             {"experiment", required_argument, NULL, 'E'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *state_dir = NULL, *hosts = NULL, *token = NULL, *experiment = NULL;
    json_t *exp_hosts = NULL;
    int exp_rc = 0;
    bool as_json = false;
    struct fl_journal j;
    struct fl_err e = {0};
    json_t *all, *bad, *rec;
    int64_t now;
    size_t i;
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'j')
            as_json = true;
        else if (c == 's')
            state_dir = optarg;
        else if (c == 'H')
            hosts = optarg;
        else if (c == 'T')
            token = optarg;
        else if (c == 'E')
            experiment = optarg;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return FL_EUSAGE;
        }
    }
    if (optind < argc) {
        fl_err_set(&e, FL_EUSAGE, "status takes no arguments (got '%s')", argv[optind]);
        return fl_cli_fail(&e);
    }
    if (hosts)
        return fl_cli_status_hosts(hosts, token, fl_cli_state_dir(state_dir), as_json);
    if (experiment) {
        exp_hosts = experiment_hosts(experiment, &exp_rc);
        if (exp_rc == FL_EUSAGE) {
            json_decref(exp_hosts);
            return FL_EUSAGE;
        }
    }
    if (fl_journal_open_existing(&j, fl_cli_state_dir(state_dir), &e)) {
        json_decref(exp_hosts);
        return fl_cli_fail(&e);
    }
    all = json_array();
    bad = json_array();
    fl_journal_scan(&j, all, bad);
    /* Detached faults must never sit unguarded: if the guardian died, start one. */
    if (json_array_size(all) > 0 && fl_guardian_ensure(&j, &e))
        fl_warn("%s", e.msg);
    now = fl_now_ms();
    if (as_json) {
        json_t *out = json_pack("{s:b, s:[]}", "guardian", fl_guardian_running(&j), "faults");
        json_t *arr = json_object_get(out, "faults");
        json_array_foreach (all, i, rec)
            json_array_append_new(arr, fault_json(rec, now));
        json_object_set(out, "damaged", bad);
        if (exp_hosts)
            json_object_set(out, "hosts", exp_hosts);
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(out);
    } else if (json_array_size(all) == 0) {
        printf("no active faults%s\n", json_array_size(bad) ? " that faultline can revert" : "");
    } else {
        print_local(all, now);
    }
    if (!as_json && json_array_size(bad))
        print_damaged(bad);
    if (!as_json && exp_hosts)
        print_hosts(exp_hosts);
    json_decref(exp_hosts);
    json_decref(all);
    json_decref(bad);
    fl_journal_close(&j);
    return exp_rc;
}
