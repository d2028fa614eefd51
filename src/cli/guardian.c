/* faultline __guardian: the hidden entry point of the guardian daemon,
 * started by fl_guardian_ensure(); see src/agent/guardian.h. And faultline
 * __sentinel, the guardian's watcher (src/agent/sentinel.h). */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>

#include "agent/guardian.h"
#include "agent/sentinel.h"
#include "cli/cli.h"

int fl_cli_guardian(int argc, char **argv)
{
    static const struct option longopts[] = {{"state-dir", required_argument, NULL, 's'},
                                             {"poll-ms", required_argument, NULL, 'p'},
                                             {"idle-exit-ms", required_argument, NULL, 'i'},
                                             {NULL, 0, NULL, 0}};
    const char *state_dir = NULL;
    int poll_ms = 100, idle_ms = 2000, c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 's')
            state_dir = optarg;
        else if (c == 'p')
            poll_ms = atoi(optarg) > 0 ? atoi(optarg) : poll_ms;
        else if (c == 'i')
            idle_ms = atoi(optarg) >= 0 ? atoi(optarg) : idle_ms;
        else
            return FL_EUSAGE;
    }
    return fl_guardian_run(fl_cli_state_dir(state_dir), poll_ms, idle_ms);
}

int fl_cli_sentinel(int argc, char **argv)
{
    static const struct option longopts[] = {{"state-dir", required_argument, NULL, 's'},
                                             {"guardian", required_argument, NULL, 'g'},
                                             {NULL, 0, NULL, 0}};
    const char *state_dir = NULL;
    long guardian = 0;
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 's')
            state_dir = optarg;
        else if (c == 'g')
            guardian = strtol(optarg, NULL, 10);
        else
            return FL_EUSAGE;
    }
    if (guardian <= 1 || guardian > INT_MAX)
        return FL_EUSAGE;
    return fl_sentinel_run(fl_cli_state_dir(state_dir), (pid_t)guardian);
}
