/* faultline __diskio-worker CONFIG --ready-fd N: the FUSE filesystem of a
 * disk.io fault, started by the fault driver (src/faults/disk_io.c). */
#include "cli/cli.h"
#include "diskio/diskio.h"
#include "faults/worker.h"
#include "util/err.h"

int fl_cli_diskio_worker(int argc, char **argv)
{
    struct fl_err e = {0};
    int fd = fl_fault_worker_ready_fd(argc, argv, &e);

    if (fd < 0)
        return fl_cli_fail(&e);
    return fl_diskio_worker_main(argv[1], fd);
}
