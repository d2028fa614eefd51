/* What every subcommand shares: the state directory, error printing, and
 * the housekeeping every command does before its own work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/guardian.h"
#include "agent/journal.h"
#include "cli/cli.h"
#include "util/err.h"
#include "util/log.h"

const char *fl_cli_state_dir(const char *flag_value)
{
    const char *env = getenv("FAULTLINE_STATE_DIR");

    if (flag_value && *flag_value)
        return flag_value;
    if (env && *env)
        return env;
    return FL_STATE_DIR_DEFAULT;
}

int fl_cli_fail(const struct fl_err *e)
{
    int code = e->code ? e->code : FL_EFAIL;

    fprintf(stderr, "faultline: error: %s\n", e->msg[0] ? e->msg : fl_strerror(code));
    return code;
}

void fl_cli_housekeep(const char *command)
{
    struct fl_journal j;
    struct fl_err e = {0};

    if (!strncmp(command, "__", 2) || !strcmp(command, "help") || !strcmp(command, "version"))
        return;
    if (fl_journal_open_existing(&j, fl_cli_state_dir(NULL), &e))
        return; /* the command itself reports an unusable state directory */
    if (j.exists && !fl_guardian_running(&j) && fl_journal_count(&j) > 0 &&
        fl_guardian_ensure(&j, &e))
        fl_warn("faults are journaled in %s and no guardian watches them: %s", j.root, e.msg);
    fl_journal_close(&j);
}
