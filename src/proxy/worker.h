/* The data path of one proxy fault (network.delay, network.reset, ...): a
 * process of its own (`faultline proxy --fault-worker CONFIG`) that runs a
 * transparent proxy inside the fault's network namespace and owns the
 * nftables redirect that feeds it (net/redirect.h, an owned table: it dies
 * with the process).
 *
 * Life of a worker:
 *   enter the namespace; listen on a free port (wildcard address);
 *   add the toxics; add the redirect table through a libnftables context
 *   it keeps open; report "ok PORT" on the ready pipe;
 *   forward until SIGTERM/SIGINT/SIGHUP or its deadline;
 *   delete the redirect table FIRST, then close the listener and every
 *   link, and exit 0.
 * If it dies in any other way, the kernel drops the table with its socket,
 * so the redirect never outlives the proxy.
 *
 * CONFIG is a JSON object: {"id", "scope" (net/netns.h JSON), "targets":
 * ["ADDR[/PREFIX][:PORT]", ...], "toxics": [Toxiproxy toxic objects],
 * "deadline_ms" (CLOCK_BOOTTIME ms; 0 = none), "prerouting" (bool)}. */
#ifndef FL_PROXY_WORKER_H
#define FL_PROXY_WORKER_H

/* The argument `faultline proxy` takes to become a worker. */
#define FL_PX_WORKER_FLAG "--fault-worker"

/* Run a worker; returns the process exit code. Until it reports, errors go
 * to ready_fd as "error CODE MESSAGE\n"; success is "ok PORT\n". */
int fl_px_worker_main(const char *config, int ready_fd);

#endif
