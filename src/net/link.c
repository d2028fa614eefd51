/* Links (bridge, veth, addresses, aliases) and named namespaces for the lab. */
#include "net/link.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fs.h"

#define NETNS_RUN_DIR "/run/netns"

int fl_link_nl_code(int nlerr)
{
    switch (-nlerr) {
    case NLE_PERM:
        return FL_EPERM;
    case NLE_NODEV:
    case NLE_OBJ_NOTFOUND:
        return FL_ENOTARGET;
    case NLE_EXIST:
        return FL_EREFUSED;
    case NLE_OPNOTSUPP:
        return FL_EUNSUPPORTED;
    default:
        return FL_EFAIL;
    }
}

static int nl_fail(struct fl_err *e, int nlerr, const char *what, const char *name)
{
    return fl_err_set(e, fl_link_nl_code(nlerr), "%s %s: %s", what, name, nl_geterror(nlerr));
}

struct nl_sock *fl_link_sock(struct fl_err *e)
{
    struct nl_sock *sk = nl_socket_alloc();
    int r;

    if (!sk) {
        fl_err_set(e, FL_EFAIL, "out of memory");
        return NULL;
    }
    if ((r = nl_connect(sk, NETLINK_ROUTE)) < 0) {
        fl_err_set(e, FL_EFAIL, "cannot open a netlink socket: %s", nl_geterror(r));
        nl_socket_free(sk);
        return NULL;
    }
    return sk;
}

void fl_link_sock_free(struct nl_sock *sk)
{
    if (sk)
        nl_socket_free(sk);
}

int fl_link_bridge_add(struct nl_sock *sk, const char *name, struct fl_err *e)
{
    int r = rtnl_link_bridge_add(sk, name);

    return r < 0 ? nl_fail(e, r, "cannot create bridge", name) : 0;
}

int fl_link_veth_add(struct nl_sock *sk, const char *name, const char *peer, struct fl_err *e)
{
    int r = rtnl_link_veth_add(sk, name, peer, getpid());

    return r < 0 ? nl_fail(e, r, "cannot create veth pair", name) : 0;
}

/* Apply `change` (a fresh link object with only the attributes to change
 * set) to the link called name; takes ownership of change. */
static int link_change(struct nl_sock *sk, const char *name, struct rtnl_link *change,
                       const char *what, struct fl_err *e)
{
    struct rtnl_link *cur = NULL;
    int r = rtnl_link_get_kernel(sk, 0, name, &cur);

    if (r >= 0)
        r = rtnl_link_change(sk, cur, change, 0);
    rtnl_link_put(cur);
    rtnl_link_put(change);
    return r < 0 ? nl_fail(e, r, what, name) : 0;
}

static struct rtnl_link *new_change(struct fl_err *e)
{
    struct rtnl_link *l = rtnl_link_alloc();

    if (!l)
        fl_err_set(e, FL_EFAIL, "out of memory");
    return l;
}

int fl_link_set_netns(struct nl_sock *sk, const char *name, int nsfd, struct fl_err *e)
{
    struct rtnl_link *c = new_change(e);

    if (!c)
        return -FL_EFAIL;
    rtnl_link_set_ns_fd(c, nsfd);
    return link_change(sk, name, c, "cannot move link", e);
}

int fl_link_rename(struct nl_sock *sk, const char *name, const char *newname, struct fl_err *e)
{
    struct rtnl_link *c = new_change(e);

    if (!c)
        return -FL_EFAIL;
    rtnl_link_set_name(c, newname);
    return link_change(sk, name, c, "cannot rename link", e);
}

int fl_link_set_up(struct nl_sock *sk, const char *name, struct fl_err *e)
{
    struct rtnl_link *c = new_change(e);

    if (!c)
        return -FL_EFAIL;
    rtnl_link_set_flags(c, IFF_UP);
    return link_change(sk, name, c, "cannot set up link", e);
}

int fl_link_set_alias(struct nl_sock *sk, const char *name, const char *alias, struct fl_err *e)
{
    struct rtnl_link *c = new_change(e);

    if (!c)
        return -FL_EFAIL;
    rtnl_link_set_ifalias(c, alias);
    return link_change(sk, name, c, "cannot set the alias of link", e);
}

int fl_link_get_alias(struct nl_sock *sk, const char *name, char *buf, size_t len, struct fl_err *e)
{
    struct rtnl_link *cur = NULL;
    int r = rtnl_link_get_kernel(sk, 0, name, &cur);

    if (r < 0)
        return nl_fail(e, r, "no link", name);
    snprintf(buf, len, "%s", rtnl_link_get_ifalias(cur) ? rtnl_link_get_ifalias(cur) : "");
    rtnl_link_put(cur);
    return 0;
}

static int ifindex_of(struct nl_sock *sk, const char *name, struct fl_err *e)
{
    struct rtnl_link *cur = NULL;
    int r = rtnl_link_get_kernel(sk, 0, name, &cur);

    if (r < 0)
        return nl_fail(e, r, "no link", name);
    r = rtnl_link_get_ifindex(cur);
    rtnl_link_put(cur);
    return r;
}

int fl_link_set_master(struct nl_sock *sk, const char *name, const char *master, struct fl_err *e)
{
    int mi = ifindex_of(sk, master, e), si, r;

    if (mi < 0)
        return mi;
    if ((si = ifindex_of(sk, name, e)) < 0)
        return si;
    r = rtnl_link_enslave_ifindex(sk, mi, si);
    return r < 0 ? nl_fail(e, r, "cannot attach to the bridge: link", name) : 0;
}

int fl_link_addr_add(struct nl_sock *sk, const char *name, struct in_addr addr, int prefix,
                     struct fl_err *e)
{
    int idx = ifindex_of(sk, name, e), r;
    struct rtnl_addr *a;
    struct nl_addr *local;

    if (idx < 0)
        return idx;
    a = rtnl_addr_alloc();
    local = nl_addr_build(AF_INET, &addr, sizeof addr);
    if (!a || !local) {
        rtnl_addr_put(a);
        nl_addr_put(local);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    nl_addr_set_prefixlen(local, prefix);
    rtnl_addr_set_ifindex(a, idx);
    rtnl_addr_set_local(a, local);
    r = rtnl_addr_add(sk, a, 0);
    nl_addr_put(local);
    rtnl_addr_put(a);
    return r < 0 ? nl_fail(e, r, "cannot add an address to", name) : 0;
}

int fl_link_del(struct nl_sock *sk, const char *name, struct fl_err *e)
{
    struct rtnl_link *l = new_change(e);
    int r;

    if (!l)
        return -FL_EFAIL;
    rtnl_link_set_name(l, name);
    r = rtnl_link_delete(sk, l);
    rtnl_link_put(l);
    if (r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND)
        return 0;
    return r < 0 ? nl_fail(e, r, "cannot delete link", name) : 1;
}

int fl_link_each(struct nl_sock *sk, const char *prefix, void (*fn)(const char *name, void *arg),
                 void *arg, struct fl_err *e)
{
    struct nl_cache *cache = NULL;
    struct nl_object *o;
    int r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache), n = 0;

    if (r < 0)
        return nl_fail(e, r, "cannot list links", "");
    for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        const char *name = rtnl_link_get_name((struct rtnl_link *)o);

        if (name && !strncmp(name, prefix, strlen(prefix))) {
            fn(name, arg);
            n++;
        }
    }
    nl_cache_free(cache);
    return n;
}

/* /run/netns as a shared mount point, as iproute2 leaves it, so that the
 * namespaces bound there are seen from mount namespaces made later. */
static int netns_dir(struct fl_err *e)
{
    if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot create %s: %s", NETNS_RUN_DIR,
                          strerror(errno));
    if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
        return 0;
    if (errno != EINVAL)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot make %s a shared mount: %s",
                          NETNS_RUN_DIR, strerror(errno));
    if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
        mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot mount %s: %s", NETNS_RUN_DIR,
                          strerror(errno));
    return 0;
}

int fl_netns_add(const char *name, struct fl_err *e)
{
    char path[128];
    int fd, st = 0, r;
    pid_t pid;

    if ((r = netns_dir(e)) < 0)
        return r;
    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", name);
    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0 && errno == EEXIST)
        return fl_err_set(e, FL_EREFUSED,
                          "network namespace %s exists already (see `ip netns list`)", name);
    if (fd < 0)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot create %s: %s", path,
                          strerror(errno));
    close(fd);
    /* A child makes the namespace and binds it; this process stays where it is. */
    pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) < 0)
            _exit(1);
        _exit(mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0 ? 2 : 0);
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        unlink(path);
        return fl_err_set(e, FL_EFAIL, "cannot create network namespace %s (%s)", name,
                          pid < 0 ? strerror(errno) : "unshare or bind mount failed in the child");
    }
    return 0;
}

int fl_netns_del(const char *name, struct fl_err *e)
{
    char path[128];

    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", name);
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot unmount %s: %s", path,
                          strerror(errno));
    if (unlink(path) < 0 && errno != ENOENT)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot remove %s: %s", path,
                          strerror(errno));
    return 0;
}
