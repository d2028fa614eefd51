/* faultline proxy: run the TCP fault proxy with a Toxiproxy-compatible API
 * until SIGINT or SIGTERM (docs/proxy.md). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"
#include "util/log.h"

#define DEFAULT_STATE "/var/lib/faultline/proxy.json"

static void usage(FILE *out)
{
    fprintf(out, "usage: faultline proxy [--listen HOST:PORT] [--config FILE] [--state FILE]\n\n"
                 "Forward TCP connections through fault-injecting proxies, managed with a\n"
                 "Toxiproxy-compatible HTTP API (toxics: latency, bandwidth, slow_close, timeout,\n"
                 "reset_peer, slicer, limit_data). Runs until SIGINT or SIGTERM.\n"
                 "  --listen HOST:PORT  API address (default 127.0.0.1:8474; port 0 picks one)\n"
                 "  --config FILE       create proxies from a Toxiproxy-style JSON array at start\n"
                 "  --state FILE        where proxies and toxics persist across restarts\n"
                 "                      (default " DEFAULT_STATE "; --state '' keeps nothing)\n"
                 "Prints \"faultline proxy: API on HOST:PORT\" once ready.\n");
}

/* Links need two descriptors each (four with splice pipes): use the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int fl_cli_proxy(int argc, char **argv)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"state", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct fl_px_options o = {"127.0.0.1:8474", DEFAULT_STATE, false};
    const char *config = NULL;
    struct fl_px_server *s;
    struct fl_err e = {0};
    sigset_t mask;
    int c, sfd, rc;

    /* Internal: the data path of a proxy fault (proxy/worker.h), started by
     * the fault driver as `proxy --fault-worker CONFIG --ready-fd N`. */
    if (argc == 5 && !strcmp(argv[1], FL_PX_WORKER_FLAG) && !strcmp(argv[3], "--ready-fd"))
        return fl_px_worker_main(argv[2], atoi(argv[4]));
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'l')
            o.api_listen = optarg;
        else if (c == 'c')
            config = optarg;
        else if (c == 's')
            o.state_path = *optarg ? optarg : NULL;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return FL_EUSAGE;
        }
    }
    if (optind < argc) {
        fl_err_set(&e, FL_EUSAGE, "unexpected argument '%s'", argv[optind]);
        return fl_cli_fail(&e);
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    /* Block the stop signals before the HTTP thread starts so it inherits the
     * mask and the loop alone receives them through its signalfd. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        fl_err_set(&e, FL_EFAIL, "signalfd: %m");
        return fl_cli_fail(&e);
    }
    if (!(s = fl_px_server_new(&o, &e))) {
        close(sfd);
        return fl_cli_fail(&e);
    }
    if (fl_px_server_load(s, config, &e)) {
        fl_px_server_free(s);
        close(sfd);
        return fl_cli_fail(&e);
    }
    printf("faultline proxy: API on %s\n", fl_px_server_api_addr(s));
    fflush(stdout);
    rc = fl_px_server_run(s, sfd, &e);
    fl_px_server_free(s);
    close(sfd);
    if (rc)
        return fl_cli_fail(&e);
    fl_info("proxy: stopped");
    return 0;
}
