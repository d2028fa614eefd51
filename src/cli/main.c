/* faultline: one binary, one subcommand per file under src/cli/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fl_config.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"

static int cmd_version(int argc, char **argv)
{
    printf("faultline %s\n", FL_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

/* The command table: adding a subcommand is one line here plus its file. */
static const struct fl_cli_cmd commands[] = {
    {"inject", fl_cli_inject, "apply a fault, hold it, revert it (or --detach with a lease)"},
    {"status", fl_cli_status, "list active faults with target, age and lease left"},
    {"recover", fl_cli_recover, "revert one fault by id, or --all leftovers faultline ever made"},
    {"check", fl_cli_check, "check a recorded history against a consistency model"},
    {"workload", fl_cli_workload, "run concurrent clients against a system, record a history"},
    {"probe", fl_cli_probe, "run one probe every interval, print one JSON line per sample"},
    {"proxy", fl_cli_proxy, "run the TCP fault proxy with a Toxiproxy-compatible API"},
    {"validate", fl_cli_validate, "check experiment files; errors as file:line:col"},
    {"run", fl_cli_run, "run an experiment: steady state, faults, guardrails, recovery, verdict"},
    {"runs", fl_cli_runs, "list recorded experiment runs"},
    {"show", fl_cli_show, "show one run: timeline, probe statistics, verdict"},
    {"lab", fl_cli_lab, "hosts as network namespaces on a bridge: up, down, status, exec"},
    {"agent", fl_cli_agent, "hold faults on this host for remote controllers, under leases"},
    {"server", fl_cli_server, "serve the control plane: API, runs, schedules (docs/server.md)"},
    {"experiment", fl_cli_experiment, "add, list, show, remove experiments stored in a server"},
    {"schedule", fl_cli_schedule, "add, list, pause, resume, remove schedules of a server"},
    {"bulletin", fl_cli_bulletin, "add, list, show, export known-limit bulletins of a server"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show this help"},
    {"__guardian", fl_cli_guardian, NULL},
    {"__sentinel", fl_cli_sentinel, NULL},
    {"__stressor", fl_cli_stressor, NULL},
    {"__dns-worker", fl_cli_dns_worker, NULL},
    {"__diskio-worker", fl_cli_diskio_worker, NULL},
};

static int cmd_help(int argc, char **argv)
{
    printf("faultline %s - chaos engineering for Linux services\n\n"
           "usage: faultline COMMAND [options]\n\ncommands:\n",
           FL_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].summary)
            printf("  %-10s %s\n", commands[i].name, commands[i].summary);
    printf("\nRun `faultline COMMAND --help` for a command's options.\n"
           "Exit codes: 0 ok, 1 failed, 2 usage, 3 target not found, 4 refused by a\n"
           "safety rule, 5 permission denied, 6 unsupported here, 7 state directory\n"
           "unusable (docs/exit-codes.md).\n\n"
           "Machine-wide by default: faults are journaled in /run/faultline and runs are\n"
           "stored in " FL_STORE_DEFAULT_PATH ", one of each for every user of this\n"
           "machine. For your own, set FAULTLINE_STATE_DIR and FAULTLINE_DB (or give\n"
           "--state-dir and --db), e.g. FAULTLINE_STATE_DIR=$HOME/.faultline/state\n"
           "FAULTLINE_DB=$HOME/.faultline/history.db.\n\n"
           "Against a server: faultline --server URL runs|show|run|status ... (see\n"
           "`faultline --server URL --help`).\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "help";

    if (getenv("FAULTLINE_DEBUG"))
        fl_log_set_level(FL_LOG_DEBUG);
    if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        name = "help";
    if (!strcmp(name, "--version"))
        name = "version";
    if (!strncmp(name, "--server", 8) || !strncmp(name, "--token", 7))
        return fl_cli_remote(argc - 1, argv + 1); /* runs, show, run, status on a server */
    fl_cli_housekeep(name);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name))
            return commands[i].main(argc > 1 ? argc - 1 : argc, argc > 1 ? argv + 1 : argv);
    fprintf(stderr, "faultline: unknown command '%s'; run `faultline help` for the list\n", name);
    return FL_EUSAGE;
}
