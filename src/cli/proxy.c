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
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "net/netns.h"
#include "proxy/intercept.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"
#include "util/log.h"

#define DEFAULT_STATE "/var/lib/faultline/proxy.json"

static void usage(FILE *out)
{
    fprintf(out, "usage: faultline proxy [--listen HOST:PORT] [--config FILE] [--state FILE]\n"
                 "                       [--netns NAME] [--intercept NAME=ADDR[:PORT]]...\n\n"
                 "Forward TCP connections through fault-injecting proxies, managed with a\n"
                 "Toxiproxy-compatible HTTP API (toxics: latency, bandwidth, slow_close, timeout,\n"
                 "reset_peer, slicer, limit_data, noop; and faultline's http: HTTP/1.1 faults,\n"
                 "docs/proxy.md). Runs until SIGINT or SIGTERM.\n"
                 "  --listen HOST:PORT  API address (default 127.0.0.1:8474; port 0 picks one)\n"
                 "  --config FILE       create proxies from a Toxiproxy-style JSON array at start\n"
                 "  --state FILE        where proxies and toxics persist across restarts (a file,\n"
                 "                      not a directory)\n"
                 "                      (default " DEFAULT_STATE "; --state '' keeps nothing)\n"
                 "  --netns NAME        proxies listen, connect and intercept inside network\n"
                 "                      namespace NAME (/run/netns/NAME); the API stays here\n"
                 "  --intercept NAME=ADDR[:PORT]\n"
                 "                      transparent mode: take over new TCP connections to\n"
                 "                      ADDR[:PORT] (made in or through the namespace) with an\n"
                 "                      nftables redirect into proxy NAME, which forwards them\n"
                 "                      to where they were going; add toxics to NAME through\n"
                 "                      the API. The redirect goes when this process exits.\n"
                 "                      Repeatable. See docs/proxy.md \"Transparent mode\".\n"
                 "Prints \"faultline proxy: API on HOST:PORT\" once ready.\n");
}

#define FL_PX_MAX_INTERCEPTS 16

static int enter_netns(const char *name, struct fl_netns_guard *g, struct fl_err *e)
{
    struct fl_netns_scope scope;
    json_t *p = json_pack("{s:s}", "netns", name);
    int r = fl_netns_validate(p, e);

    if (!r)
        r = fl_netns_resolve(p, &scope, e);
    json_decref(p);
    if (!r)
        r = fl_netns_enter(&scope, g, e);
    return r ? fl_err_prefix(e, "--netns %s", name) : 0;
}

/* --intercept NAME=ADDR[:PORT]: a transparent proxy NAME and the owned
 * redirect table fl_proxy_<pid>_<NAME-index> feeding it. The table is not
 * named faultline_*: it belongs to this long-running process, not to a
 * fault, and `recover --all` must not try to take it (it cannot anyway). */
static int intercept(struct fl_px_server *s, const char *arg, struct fl_px_intercept *ic,
                     struct fl_err *e)
{
    static int seq;
    const char *eq = strchr(arg, '=');
    char name[256], table[64];
    struct fl_net_peer t;
    int port, r;

    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof name)
        return fl_err_set(e, FL_EUSAGE,
                          "--intercept '%s': expected NAME=ADDR[:PORT], e.g. "
                          "--intercept redis=10.0.0.2:6379",
                          arg);
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    if ((r = fl_net_peer_parse(eq + 1, &t, e)))
        return fl_err_prefix(e, "--intercept %s", arg);
    if ((port = fl_px_intercept_proxy(s, name, t.family == AF_INET6, e)) < 0)
        return fl_err_prefix(e, "--intercept %s", arg);
    snprintf(table, sizeof table, "fl_proxy_%d_%d", (int)getpid(), seq++);
    if ((r = fl_px_intercept_redirect(ic, table, &t, 1, port, true, e)))
        return r;
    printf("faultline proxy: intercepting new TCP connections to %s with proxy %s (port %d)\n",
           eq + 1, name, port);
    return 0;
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

struct args {
    struct fl_px_options o;
    const char *config, *netns;
    const char *icpt[FL_PX_MAX_INTERCEPTS];
    size_t nicpt;
};

/* Read the options into a; false when the command ends here, with *rc its
 * exit code (--help, or a usage error already reported). */
static bool parse_args(int argc, char **argv, struct args *a, int *rc)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"state", required_argument, NULL, 's'},
                                             {"netns", required_argument, NULL, 'n'},
                                             {"intercept", required_argument, NULL, 'i'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct fl_err e = {0};
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'l')
            a->o.api_listen = optarg;
        else if (c == 'c')
            a->config = optarg;
        else if (c == 's')
            a->o.state_path = *optarg ? optarg : NULL;
        else if (c == 'n')
            a->netns = optarg;
        else if (c == 'i' && a->nicpt == FL_PX_MAX_INTERCEPTS) {
            fl_err_set(&e, FL_EUSAGE, "at most %d --intercept options", FL_PX_MAX_INTERCEPTS);
            *rc = fl_cli_fail(&e);
            return false;
        } else if (c == 'i') {
            a->icpt[a->nicpt++] = optarg;
        } else {
            usage(c == 'h' ? stdout : stderr);
            *rc = c == 'h' ? 0 : FL_EUSAGE;
            return false;
        }
    }
    if (optind < argc) {
        fl_err_set(&e, FL_EUSAGE, "unexpected argument '%s'", argv[optind]);
        *rc = fl_cli_fail(&e);
        return false;
    }
    return true;
}

int fl_cli_proxy(int argc, char **argv)
{
    struct args a = {.o = {"127.0.0.1:8474", DEFAULT_STATE, false}};
    struct fl_px_intercept ic[FL_PX_MAX_INTERCEPTS] = {0};
    size_t nic = 0;
    struct fl_netns_guard g = {-1, false};
    bool in_ns = false;
    struct fl_px_server *s;
    struct fl_err e = {0};
    sigset_t mask;
    int sfd, rc;

    /* Internal: the data path of a proxy fault (proxy/worker.h), started by
     * the fault driver as `proxy --fault-worker CONFIG --ready-fd N`. */
    if (argc == 5 && !strcmp(argv[1], FL_PX_WORKER_FLAG) && !strcmp(argv[3], "--ready-fd"))
        return fl_px_worker_main(argv[2], atoi(argv[4]));
    if (!parse_args(argc, argv, &a, &rc))
        return rc;
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
    if (!(s = fl_px_server_new(&a.o, &e))) {
        close(sfd);
        return fl_cli_fail(&e);
    }
    /* The HTTP thread already listens here; from now on the loop (this
     * thread) creates every proxy socket and the redirects in the netns. */
    if (a.netns && (rc = enter_netns(a.netns, &g, &e)) == 0)
        in_ns = true;
    else if (a.netns)
        goto fail;
    if (fl_px_server_load(s, a.config, &e))
        goto fail;
    for (nic = 0; nic < a.nicpt; nic++)
        if (intercept(s, a.icpt[nic], &ic[nic], &e))
            goto fail;
    printf("faultline proxy: API on %s\n", fl_px_server_api_addr(s));
    fflush(stdout);
    rc = fl_px_server_run(s, sfd, &e);
    /* redirects first: no new connection reaches a closing proxy */
    for (size_t i = 0; i < nic; i++)
        fl_px_intercept_stop(&ic[i]);
    fl_px_server_free(s);
    if (in_ns)
        fl_netns_leave(&g);
    close(sfd);
    if (rc)
        return fl_cli_fail(&e);
    fl_info("proxy: stopped");
    return 0;
fail:
    for (size_t i = 0; i < a.nicpt; i++)
        fl_px_intercept_stop(&ic[i]);
    fl_px_server_free(s);
    if (in_ns)
        fl_netns_leave(&g);
    close(sfd);
    return fl_cli_fail(&e);
}
