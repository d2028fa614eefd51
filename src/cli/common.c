#include <stdio.h>
#include <stdlib.h>

#include "agent/journal.h"
#include "cli/cli.h"
#include "util/err.h"

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
