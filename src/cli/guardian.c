/* faultline __guardian: the hidden entry point of the guardian daemon,
 * started by fl_guardian_ensure(); see src/agent/guardian.h. */
#include <getopt.h>
#include <stdlib.h>

#include "agent/guardian.h"
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
