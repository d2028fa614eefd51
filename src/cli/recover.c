/* faultline recover ID... | --all: revert faults now.
 *
 * --all reverts every journaled fault, then sweeps by naming convention for
 * leftovers the journal does not know (a deleted state directory, a reboot
 * that wiped /run while files persisted, a crash between apply and record),
 * sparing the live faults other state directories journal. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/guardian.h"
#include "agent/journal.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "faults/fault.h"
#include "lab/lab.h"
#include "util/log.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: faultline recover ID... | --all | --forget ID... [--state-dir DIR]\n\n"
        "Revert faults now. Reverting an unknown or already reverted id is a no-op.\n"
        "  --all             revert every journaled fault, then remove every leftover\n"
        "                    found by naming convention: nft tables faultline_*, tbf\n"
        "                    qdiscs with handle fa17:, stress cgroups faultline/<id>,\n"
        "                    fill files .faultline-fill-* in registered directories;\n"
        "                    except the live faults of other state directories (those\n"
        "                    of running guardians, /run/faultline, $FAULTLINE_STATE_DIR)\n"
        "  --forget          remove the named journal records without reverting\n"
        "                    anything: for a damaged record `status` lists, once you\n"
        "                    have checked by hand that its fault is gone\n"
        "  --state-dir DIR   journal directory (default $FAULTLINE_STATE_DIR or the machine-wide "
        "/run/faultline)\n"
        "  --all --hosts LIST  instead, revert every fault the agents of these hosts hold\n"
        "                    (URL, HOST[:PORT] or LAB/hK, comma-separated; docs/agent.md)\n"
        "                    and end their jobs as their leases' end would (a running\n"
        "                    job killed, a pending on_lease_end run job started now)\n"
        "  --token TOKEN     the agents' bearer token (default $FAULTLINE_AGENT_TOKEN)\n"
        "Exit: 0 all reverted, 1 something could not be reverted (it stays journaled)\n"
        "or an agent cannot be reached, 5 an agent refused the token.\n");
}

static int forget_one(struct fl_journal *j, const char *name)
{
    struct fl_err e = {0};
    bool sound;

    if (fl_journal_forget(j, name, &sound, &e))
        return fl_cli_fail(&e);
    printf("forgot %s: its journal record is removed; nothing was reverted\n", name);
    if (sound)
        fl_warn("%s was a sound record faultline could have reverted (`faultline recover %s`); "
                "if its fault is still applied, nothing watches it any more",
                name, name);
    return 0;
}

static int revert_one(struct fl_journal *j, const char *id, int *failed)
{
    struct fl_err e = {0};
    char by[64];
    bool found;

    snprintf(by, sizeof by, "`faultline recover` (pid %d)", (int)getpid());
    if (fl_journal_revert_by(j, id, by, &found, &e)) {
        fprintf(stderr, "faultline: error: fault %s: %s\n", id, e.msg);
        (*failed)++;
        return e.code;
    }
    if (found)
        printf("reverted %s\n", id);
    else if (e.code == FL_EUSAGE)
        return fl_cli_fail(&e);
    else
        printf("nothing to do: no active fault %s\n", id);
    return 0;
}

/* Labs whose `lab up` was killed before it finished are leftovers too. */
static void sweep_labs(const char *state_dir, int *failed)
{
    struct fl_err e = {0};
    int n = fl_lab_sweep(fl_cli_state_dir(state_dir), &e);

    if (n < 0) {
        fprintf(stderr, "faultline: error: sweep: %s\n", e.msg);
        (*failed)++;
    } else if (n > 0) {
        printf("removed %d lab(s) whose `lab up` died before it finished\n", n);
    }
}

static bool same_dir(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Fault id -> {"state_dir", "kind"} for every sound record of every other
 * state directory faultline can find: those of running guardians (a state
 * directory with live faults always has one), the default one and
 * $FAULTLINE_STATE_DIR. Their kernel objects are live faults, not leftovers. */
static json_t *foreign_records(const struct fl_journal *mine)
{
    json_t *dirs = fl_guardian_state_dirs(), *out = json_object(), *d;
    const char *env = getenv("FAULTLINE_STATE_DIR");
    size_t i, k;

    json_array_append_new(dirs, json_string(FL_STATE_DIR_DEFAULT));
    if (env && *env)
        json_array_append_new(dirs, json_string(env));
    json_array_foreach (dirs, i, d) {
        struct fl_journal other;
        struct fl_err e = {0};
        json_t *recs, *rec;

        if (same_dir(json_string_value(d), mine->root) ||
            fl_journal_open_existing(&other, json_string_value(d), &e))
            continue;
        recs = fl_journal_list(&other);
        json_array_foreach (recs, k, rec) {
            json_object_set_new(out, json_string_value(json_object_get(rec, "id")),
                                json_pack("{s:s, s:O}", "state_dir", other.root, "kind",
                                          json_object_get(rec, "kind")));
        }
        json_decref(recs);
        fl_journal_close(&other);
    }
    json_decref(dirs);
    return out;
}

static json_t *reload_foreign(void *j)
{
    return foreign_records(j);
}

/* Remove faultline's leftovers host-wide, except the live faults of other
 * state directories, also those applied while the sweep runs (an object
 * no record names yet makes it read the records again). Returns how many
 * could not be removed. */
static int sweep(const struct fl_journal *j)
{
    struct fl_sweep_report rep = {
        .spare = foreign_records(j), .reload = reload_foreign, .reload_arg = (void *)j};
    struct fl_err e = {0};
    int failed = 0;

    for (const fl_sweep_fn *s = fl_fault_sweepers(); *s; s++) {
        if ((*s)(&rep, &e)) {
            fprintf(stderr, "faultline: error: sweep: %s\n", e.msg);
            failed++;
        }
    }
    printf("swept leftovers: %d found, %d removed, %d failed", rep.found, rep.removed, rep.failed);
    if (rep.spared)
        printf("; %d kept (live faults of other state directories)", rep.spared);
    putchar('\n');
    json_decref(rep.spare);
    return failed + rep.failed;
}

int fl_cli_recover(int argc, char **argv)
{
    static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
                                             {"forget", no_argument, NULL, 'f'},
                                             {"state-dir", required_argument, NULL, 's'},
                                             {"hosts", required_argument, NULL, 'H'},
                                             {"token", required_argument, NULL, 'T'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *state_dir = NULL, *hosts = NULL, *token = NULL;
    bool all = false, forget = false;
    struct fl_journal j;
    struct fl_err e = {0};
    int c, failed = 0, rc = 0;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'a')
            all = true;
        else if (c == 'f')
            forget = true;
        else if (c == 's')
            state_dir = optarg;
        else if (c == 'H')
            hosts = optarg;
        else if (c == 'T')
            token = optarg;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return FL_EUSAGE;
        }
    }
    if (all == (optind < argc) || (all && forget)) {
        fl_err_set(&e, FL_EUSAGE,
                   "give fault ids, --all, or --forget with ids (one of them; see "
                   "`faultline recover --help`)");
        return fl_cli_fail(&e);
    }
    if (hosts && !all) {
        fl_err_set(&e, FL_EUSAGE, "--hosts goes with --all (every fault on those hosts)");
        return fl_cli_fail(&e);
    }
    if (hosts)
        return fl_cli_recover_hosts(hosts, token, fl_cli_state_dir(state_dir));
    if (fl_journal_open_existing(&j, fl_cli_state_dir(state_dir), &e))
        return fl_cli_fail(&e);
    if (forget) {
        for (int i = optind; i < argc; i++) {
            int r = forget_one(&j, argv[i]);
            if (r && !rc)
                rc = r;
        }
    } else if (!all) {
        for (int i = optind; i < argc; i++) {
            int r = revert_one(&j, argv[i], &failed);
            if (r && !rc)
                rc = r;
        }
    } else {
        json_t *recs = fl_journal_list(&j), *rec;
        size_t i;

        json_array_foreach (recs, i, rec)
            revert_one(&j, json_string_value(json_object_get(rec, "id")), &failed);
        json_decref(recs);
        recs = fl_journal_list_damaged(&j);
        json_array_foreach (recs, i, rec) {
            fprintf(stderr,
                    "faultline: error: journal record %s cannot be reverted: %s (check by hand "
                    "that its fault is gone, then `faultline recover --forget %s`)\n",
                    json_string_value(json_object_get(rec, "file")),
                    json_string_value(json_object_get(rec, "problem")),
                    json_string_value(json_object_get(rec, "id")));
            failed++;
        }
        json_decref(recs);
        failed += sweep(&j);
        sweep_labs(state_dir, &failed);
    }
    fl_journal_close(&j);
    if (failed && !rc)
        rc = FL_EFAIL;
    return rc;
}
