/* Run-time detection of kernel netem: see netem.h. */
#include "net/netem.h"

#include <errno.h>
#include <linux/netlink.h>
#include <netlink/msg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/tc.h"

/* Child exit codes: 0 the kernel took the qdisc; 100 + errno it refused;
 * 90 + step the probe itself failed (unshare, socket, send, recv). */
enum { PROBE_FAIL = 90, PROBE_REFUSED = 100 };

/* In the child (after fork: no allocation, only syscalls): enter a new
 * network namespace and send the prepared request; exit with the verdict. */
static void probe_child(const void *req, size_t len)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    char buf[1024];
    ssize_t got;
    int fd;

    if (unshare(CLONE_NEWNET) < 0)
        _exit(PROBE_FAIL + 1);
    if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0)
        _exit(PROBE_FAIL + 2);
    if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof kernel) != (ssize_t)len)
        _exit(PROBE_FAIL + 3);
    got = recv(fd, buf, sizeof buf, 0);
    if (got < (ssize_t)(NLMSG_HDRLEN + sizeof(struct nlmsgerr)))
        _exit(PROBE_FAIL + 4);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (h->nlmsg_type != NLMSG_ERROR)
        _exit(PROBE_FAIL + 4);
    int err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    _exit(err == 0 ? 0 : PROBE_REFUSED + (err > 150 ? 150 : err));
}

int fl_netem_probe(char *why, size_t len, struct fl_err *e)
{
    struct fl_tc_netem n = {.delay_us = 1000};
    struct nl_msg *msg = NULL;
    struct nlmsghdr *h;
    int r, st;
    pid_t pid;

    /* ifindex 1 is lo in every namespace. */
    if ((r = fl_tc_netem_msg(1, &n, &msg, e)))
        return r;
    h = nlmsg_hdr(msg);
    h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = 1;
    pid = fork();
    if (pid == 0)
        probe_child(h, h->nlmsg_len);
    nlmsg_free(msg);
    if (pid < 0)
        return fl_err_set(e, FL_EFAIL, "cannot probe for netem: fork: %s", strerror(errno));
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (r < 0 || !WIFEXITED(st))
        return fl_err_set(e, FL_EFAIL, "the netem probe (pid %d) did not finish normally",
                          (int)pid);
    st = WEXITSTATUS(st);
    if (st == 0)
        return 1;
    if (st >= PROBE_REFUSED) {
        int err = st - PROBE_REFUSED;
        snprintf(why, len,
                 err == ENOENT ? "this kernel lacks sch_netem: it is neither built in nor "
                                 "loadable as a module (asked to add a netem qdisc in a "
                                 "scratch network namespace, the kernel said: %s)"
                               : "the kernel refused a netem qdisc in a scratch network "
                                 "namespace: %s",
                 strerror(err));
        return 0;
    }
    if (st == PROBE_FAIL + 1)
        return fl_err_set(e, FL_EPERM,
                          "cannot probe for netem: creating a scratch network namespace "
                          "needs CAP_SYS_ADMIN; run as root, or set FAULTLINE_NETEM=off");
    return fl_err_set(e, FL_EFAIL,
                      "the netem probe failed (step %d); set FAULTLINE_NETEM=off "
                      "to skip it",
                      st - PROBE_FAIL);
}

int fl_netem_available(const char **why, struct fl_err *e)
{
    /* Process-wide cache: the kernel's answer does not change while
     * faultline runs (0 unknown, 1 present, 2 absent). */
    static int cached;
    static char reason[512];
    const char *env = getenv("FAULTLINE_NETEM");
    int r;

    if (env && *env && strcmp(env, "auto") && strcmp(env, "off"))
        return fl_err_set(e, FL_EUSAGE,
                          "FAULTLINE_NETEM='%s' is not valid: use off (never use kernel netem) "
                          "or auto (use it when the kernel has it)",
                          env);
    if (env && !strcmp(env, "off")) {
        if (why)
            *why = "kernel netem is switched off (FAULTLINE_NETEM=off)";
        return 0;
    }
    if (!cached) {
        if ((r = fl_netem_probe(reason, sizeof reason, e)) < 0)
            return r;
        cached = r ? 1 : 2;
    }
    if (why)
        *why = cached == 1 ? NULL : reason;
    return cached == 1;
}
