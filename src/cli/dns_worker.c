/* faultline __dns-worker CONFIG --ready-fd N: the responder of a dns.fault,
 * started by the fault driver (src/faults/dns_fault.c), never by a user. */
#include "cli/cli.h"
#include "dns/dns.h"
#include "faults/worker.h"
#include "util/err.h"

int fl_cli_dns_worker(int argc, char **argv)
{
    struct fl_err e = {0};
    int fd = fl_fault_worker_ready_fd(argc, argv, &e);

    if (fd < 0)
        return fl_cli_fail(&e);
    return fl_dns_worker_main(argv[1], fd);
}
