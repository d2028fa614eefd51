/* faultline agent: the daemon that holds faults on this host for remote
 * controllers (src/remote/agentd.h, docs/agent.md). This file parses flags. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "remote/agentd.h"
#include "remote/jobs.h"
#include "util/err.h"
#include "util/parse.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: faultline agent [--listen HOST:PORT] --tokens FILE [options]\n\n"
            "Apply, list and revert faults on this host for remote controllers (`faultline\n"
            "inject --host`, `status --hosts`, `recover --all --hosts`, experiments' hosts:)\n"
            "through the same fault drivers, journal and guardian as the CLI. Every fault\n"
            "has a lease its controller renews; when renewals stop (the controller died, or\n"
            "the network to it broke) the agent reverts it at the lease's end, on this\n"
            "host's monotonic clock. Stopping the agent (SIGTERM) reverts everything it\n"
            "holds; an agent killed outright has its guardian revert at once, and the next\n"
            "agent reverts whatever is left in its journal. API: docs/agent.md.\n\n"
            "options:\n"
            "  --listen HOST:PORT  address to serve on (default %s with --tokens, else\n"
            "                      %s; port 0 picks one); a non-loopback\n"
            "                      address needs --tokens\n"
            "  --tokens FILE       bearer tokens, one 'NAME ROLE sha256:HEX' a line (as for\n"
            "                      `faultline server`; hash with `faultline server\n"
            "                      --hash-token`): viewer lists, operator applies and reverts\n"
            "  --tls-cert FILE     serve HTTPS with this PEM certificate (chain)...\n"
            "  --tls-key FILE      ...and its PEM private key (GnuTLS)\n"
            "  --state-dir DIR     the agent's journal and guardian (default\n"
            "                      $FAULTLINE_STATE_DIR/agent or /run/faultline/agent)\n"
            "  --name NAME         this host's name in replies (default: the hostname)\n"
            "  --notify-fd N       write 'ready PORT' on fd N once listening (`lab up`)\n"
            "  --allow-commands    run jobs of kind command: shell commands (/bin/sh -c) sent\n"
            "                      by operator tokens, run as this agent's user (root);\n"
            "                      without it only probe and workload jobs run\n"
            "  --job-output-max SIZE  stdout kept per job (default 64MiB); beyond it the\n"
            "                      output is dropped and the job says truncated\n\n"
            "Jobs (POST /api/v1/jobs): processes the agent runs for a controller — a shell\n"
            "command, `faultline probe ...` or `faultline workload ...` — each in its own\n"
            "process group, killed when its session's lease ends (or started then, with\n"
            "on_lease_end run), and killed when the agent stops.\n\n"
            "Exit codes: 0 stopped by SIGTERM/SIGINT (every fault reverted), 1 cannot listen,\n"
            "2 bad options or a malformed tokens/TLS file, 4 refused (non-loopback without\n"
            "--tokens; another agent serves the state directory), 7 state directory unusable.\n",
            FL_AGENTD_DEFAULT_LISTEN, FL_AGENTD_LOOPBACK_LISTEN);
}

int fl_cli_agent(int argc, char **argv)
{
    struct fl_agentd_opts o = {0};
    struct fl_err e = {0};
    const char *state = NULL, *notify = NULL, *outmax = NULL;
    char dir[PATH_MAX];
    long long fd = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dest;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--listen")) {
            dest = &o.listen;
        } else if (!strcmp(a, "--tokens")) {
            dest = &o.tokens;
        } else if (!strcmp(a, "--tls-cert")) {
            dest = &o.tls_cert;
        } else if (!strcmp(a, "--tls-key")) {
            dest = &o.tls_key;
        } else if (!strcmp(a, "--state-dir")) {
            dest = &state;
        } else if (!strcmp(a, "--name")) {
            dest = &o.name;
        } else if (!strcmp(a, "--notify-fd")) {
            dest = &notify;
        } else if (!strcmp(a, "--job-output-max")) {
            dest = &outmax;
        } else if (!strcmp(a, "--allow-commands")) {
            o.allow_commands = true;
            continue;
        } else {
            fl_err_set(&e, FL_EUSAGE, "unexpected argument %s; run `faultline agent --help`", a);
            return fl_cli_fail(&e);
        }
        if (i + 1 >= argc) {
            fl_err_set(&e, FL_EUSAGE, "%s needs a value", a);
            return fl_cli_fail(&e);
        }
        *dest = argv[++i];
    }
    if (notify && fl_parse_int(notify, 3, 1024, &fd, &e)) {
        fl_err_prefix(&e, "--notify-fd");
        return fl_cli_fail(&e);
    }
    o.notify_fd = (int)fd;
    if (outmax && (fl_parse_size(outmax, &o.job_output_max, &e) ||
                   (o.job_output_max < 1 || o.job_output_max > FL_JOB_OUTPUT_MAX_LIMIT))) {
        if (!e.msg[0])
            fl_err_set(&e, FL_EUSAGE, "'%s' is out of range: give 1 byte to 1TiB", outmax);
        fl_err_prefix(&e, "--job-output-max");
        return fl_cli_fail(&e);
    }
    if (!state) {
        snprintf(dir, sizeof dir, "%s/agent", fl_cli_state_dir(NULL));
        state = dir;
    }
    o.state_dir = state;
    if (fl_agentd_run(&o, &e))
        return fl_cli_fail(&e);
    return 0;
}
