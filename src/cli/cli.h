/* Subcommands. Each lives in its own file and returns a process exit code
 * (an FL_E* value, see docs/exit-codes.md). */
#ifndef FL_CLI_CLI_H
#define FL_CLI_CLI_H

#include <jansson.h>

struct fl_cli_cmd {
    const char *name;
    int (*main)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *summary;                /* NULL hides it from `faultline help` */
};

int fl_cli_inject(int argc, char **argv);
int fl_cli_status(int argc, char **argv);
int fl_cli_recover(int argc, char **argv);
int fl_cli_proxy(int argc, char **argv);
int fl_cli_guardian(int argc, char **argv);
int fl_cli_sentinel(int argc, char **argv);
int fl_cli_stressor(int argc, char **argv);
int fl_cli_check(int argc, char **argv);
int fl_cli_workload(int argc, char **argv);
int fl_cli_probe(int argc, char **argv);
int fl_cli_validate(int argc, char **argv);
int fl_cli_run(int argc, char **argv);
int fl_cli_runs(int argc, char **argv);
int fl_cli_show(int argc, char **argv);
/* show.c: a history-store run (as `show --json` prints it), for people. */
void fl_cli_show_human(const json_t *run);
/* show.c: target logs ({"sources", "lines"}) merged with the run's events. */
void fl_cli_show_logs(const json_t *logs, const json_t *events);
/* via_server.c: `faultline --server URL COMMAND ...` (argv[0] is "--server..."). */
int fl_cli_remote(int argc, char **argv);
int fl_cli_lab(int argc, char **argv);
int fl_cli_dns_worker(int argc, char **argv);
int fl_cli_diskio_worker(int argc, char **argv);
int fl_cli_server(int argc, char **argv);
int fl_cli_agent(int argc, char **argv);
int fl_cli_experiment(int argc, char **argv);
int fl_cli_schedule(int argc, char **argv);
int fl_cli_bulletin(int argc, char **argv);

/* The state directory: --state-dir, else $FAULTLINE_STATE_DIR, else /run/faultline. */
const char *fl_cli_state_dir(const char *flag_value);

/* Before any command (main.c): if the default state directory
 * ($FAULTLINE_STATE_DIR or /run/faultline) journals faults and no guardian
 * watches them (guardian and sentinel both killed), start one. Cheap: a
 * directory listing and a lock probe; creates nothing otherwise. */
void fl_cli_housekeep(const char *command);

/* Print an error from a struct fl_err and return the exit code. */
struct fl_err;
int fl_cli_fail(const struct fl_err *e);

#endif
