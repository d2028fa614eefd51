/* The lab: hosts as network namespaces on a bridge (see lab.h for names). */
#include "lab/lab.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/link.h"
#include "net/netns.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/proc.h"

#define NETNS_RUN_DIR "/run/netns"
#define ETC_NETNS "/etc/netns"

static inline void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}
#define CLEANUP_CLOSEDIR __attribute__((cleanup(closedirp)))

int fl_lab_check_name(const char *name, struct fl_err *e)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= FL_LAB_NAME_MAX && islower((unsigned char)name[0]);

    for (size_t i = 0; ok && i < n; i++)
        ok = islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]);
    if (!ok)
        return fl_err_set(e, FL_EUSAGE,
                          "lab name '%s': use 1-%d lower-case letters and digits, starting "
                          "with a letter (it is part of interface names, which the kernel "
                          "limits to 15 characters)",
                          name, FL_LAB_NAME_MAX);
    return 0;
}

static uint32_t mask_of(int prefix)
{
    return prefix ? 0xffffffffu << (32 - prefix) : 0;
}

int fl_lab_plan(struct fl_lab *lab, const char *name, int n, const char *subnet, struct fl_err *e)
{
    char addr[32], *slash, *end;
    struct in_addr a;
    long prefix;
    uint32_t net, room;
    int r;

    memset(lab, 0, sizeof *lab);
    if ((r = fl_lab_check_name(name, e)) < 0)
        return r;
    if (n < 1 || n > FL_LAB_MAX_HOSTS)
        return fl_err_set(e, FL_EUSAGE, "--hosts %d: a lab has 1 to %d hosts", n, FL_LAB_MAX_HOSTS);
    snprintf(addr, sizeof addr, "%s", subnet);
    slash = strchr(addr, '/');
    if (!slash || strlen(subnet) >= sizeof addr)
        return fl_err_set(e, FL_EUSAGE,
                          "--subnet '%s': expected an IPv4 network A.B.C.D/P, "
                          "e.g. " FL_LAB_DEFAULT_SUBNET,
                          subnet);
    *slash = '\0';
    errno = 0;
    prefix = strtol(slash + 1, &end, 10);
    if (inet_pton(AF_INET, addr, &a) != 1 || *end || end == slash + 1 || errno)
        return fl_err_set(e, FL_EUSAGE,
                          "--subnet '%s': expected an IPv4 network A.B.C.D/P, "
                          "e.g. " FL_LAB_DEFAULT_SUBNET,
                          subnet);
    if (prefix < 16 || prefix > 29)
        return fl_err_set(e, FL_EUSAGE, "--subnet '%s': use a prefix length from /16 to /29",
                          subnet);
    net = ntohl(a.s_addr) & mask_of((int)prefix);
    if (net != ntohl(a.s_addr)) {
        struct in_addr na = {htonl(net)};
        char buf[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &na, buf, sizeof buf);
        return fl_err_set(e, FL_EUSAGE, "--subnet '%s' has host bits set; did you mean %s/%ld?",
                          subnet, buf, prefix);
    }
    room = (1u << (32 - prefix)) - 2; /* without the network and broadcast addresses */
    if ((uint32_t)n + 1 > room)
        return fl_err_set(e, FL_EUSAGE,
                          "--subnet %s has room for %u addresses, and %d hosts plus the bridge "
                          "need %d: use a shorter prefix",
                          subnet, room, n, n + 1);
    snprintf(lab->name, sizeof lab->name, "%s", name);
    snprintf(lab->bridge, sizeof lab->bridge, "flb-%s", name);
    lab->network.s_addr = htonl(net);
    lab->bridge_addr.s_addr = htonl(net + 1);
    lab->prefix = (int)prefix;
    lab->n = (size_t)n;
    for (int i = 0; i < n; i++) {
        struct fl_lab_host *h = &lab->hosts[i];

        snprintf(h->name, sizeof h->name, "h%d", i + 1);
        snprintf(h->netns, sizeof h->netns, "%s-h%d", name, i + 1);
        snprintf(h->veth, sizeof h->veth, "flv-%s-%d", name, i + 1);
        h->addr.s_addr = htonl(net + 2 + (uint32_t)i);
    }
    return 0;
}

/* Refuse a subnet that overlaps a route of this namespace's main table (the
 * default route aside): the lab's addresses would shadow real ones. */
static int check_overlap(const struct fl_lab *lab, struct fl_err *e)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
    char line[256];
    uint32_t net = ntohl(lab->network.s_addr), lmask = mask_of(lab->prefix);

    if (!f)
        return fl_err_set(e, FL_EFAIL, "cannot read /proc/net/route: %s", strerror(errno));
    if (!fgets(line, sizeof line, f)) /* the header */
        return 0;
    while (fgets(line, sizeof line, f)) {
        /* Iface Destination Gateway Flags RefCnt Use Metric Mask ...; hex in network order */
        char *save = NULL, *field[8] = {0}, *end1, *end2;
        uint32_t dst, mask;
        const char *ifname;
        int k = 0;

        for (char *t = strtok_r(line, " \t", &save); t && k < 8; t = strtok_r(NULL, " \t", &save))
            field[k++] = t;
        if (k < 8)
            continue;
        ifname = field[0];
        dst = ntohl((uint32_t)strtoul(field[1], &end1, 16));
        mask = ntohl((uint32_t)strtoul(field[7], &end2, 16));
        if (*end1 || *end2)
            continue;
        if (!mask)
            continue;
        if ((dst & (mask & lmask)) == (net & (mask & lmask))) {
            struct in_addr d = {htonl(dst)};
            char buf[INET_ADDRSTRLEN];
            int plen = __builtin_popcount(mask);

            inet_ntop(AF_INET, &d, buf, sizeof buf);
            return fl_err_set(e, FL_EREFUSED,
                              "the lab's subnet overlaps the route to %s/%d on %s: choose "
                              "another --subnet (see `ip route`)",
                              buf, plen, ifname);
        }
    }
    return 0;
}

static bool netns_exists(const char *name)
{
    char path[128];

    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", name);
    return access(path, F_OK) == 0;
}

static int write_hosts_file(const struct fl_lab *lab, const struct fl_lab_host *self,
                            struct fl_err *e)
{
    char dir[128], path[160], a[INET_ADDRSTRLEN];
    _cleanup_fclose_ FILE *f = NULL;
    int r;

    snprintf(dir, sizeof dir, ETC_NETNS "/%s", self->netns);
    if ((r = fl_mkdir_p(dir, 0755, e)) < 0)
        return r;
    snprintf(path, sizeof path, "%s/hosts", dir);
    if (!(f = fopen(path, "we")))
        return fl_err_set(e, fl_code_from_errno(errno), "cannot write %s: %s", path,
                          strerror(errno));
    fprintf(f,
            "# written by `faultline lab up %s`; removed by `faultline lab down %s`\n"
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            lab->name, lab->name);
    inet_ntop(AF_INET, &lab->bridge_addr, a, sizeof a);
    fprintf(f, "%s\t%s-host\n", a, lab->name);
    for (size_t i = 0; i < lab->n; i++) {
        inet_ntop(AF_INET, &lab->hosts[i].addr, a, sizeof a);
        fprintf(f, "%s\t%s %s\n", a, lab->hosts[i].name, lab->hosts[i].netns);
    }
    if (fflush(f) != 0)
        return fl_err_set(e, FL_EFAIL, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Inside the host's namespace: eth0 (renamed from the moved peer) and lo up,
 * the host's address on eth0. */
static int setup_inside(const struct fl_lab *lab, const struct fl_lab_host *h, const char *peer,
                        int nsfd, struct fl_err *e)
{
    struct fl_netns_guard g;
    struct nl_sock *sk;
    int r;

    if ((r = fl_netns_enter_fd(nsfd, &g, e)) < 0)
        return r;
    sk = fl_link_sock(e);
    r = sk ? 0 : -FL_EFAIL;
    if (!r)
        r = fl_link_rename(sk, peer, "eth0", e);
    if (!r)
        r = fl_link_set_up(sk, "eth0", e);
    if (!r)
        r = fl_link_addr_add(sk, "eth0", h->addr, lab->prefix, e);
    if (!r)
        r = fl_link_set_up(sk, "lo", e);
    fl_link_sock_free(sk);
    fl_netns_leave(&g);
    return r;
}

static int add_host(struct nl_sock *sk, const struct fl_lab *lab, const struct fl_lab_host *h,
                    size_t i, struct fl_err *e)
{
    char peer[IF_NAMESIZE], path[128];
    int nsfd, r;

    snprintf(peer, sizeof peer, "flp-%s-%zu", lab->name, i + 1);
    if ((r = fl_netns_add(h->netns, e)) < 0)
        return r;
    if ((r = fl_link_veth_add(sk, h->veth, peer, e)) < 0)
        return r;
    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", h->netns);
    if ((nsfd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return fl_err_set(e, FL_EFAIL, "cannot open %s: %s", path, strerror(errno));
    r = fl_link_set_netns(sk, peer, nsfd, e);
    if (!r)
        r = fl_link_set_master(sk, h->veth, lab->bridge, e);
    if (!r)
        r = fl_link_set_up(sk, h->veth, e);
    if (!r)
        r = setup_inside(lab, h, peer, nsfd, e);
    close(nsfd);
    if (!r)
        r = write_hosts_file(lab, h, e);
    return r;
}

static json_t *lab_json_file(const struct fl_lab *lab)
{
    char a[INET_ADDRSTRLEN], subnet[48];
    json_t *hosts = json_array();

    inet_ntop(AF_INET, &lab->network, a, sizeof a);
    snprintf(subnet, sizeof subnet, "%s/%d", a, lab->prefix);
    for (size_t i = 0; i < lab->n; i++) {
        inet_ntop(AF_INET, &lab->hosts[i].addr, a, sizeof a);
        json_array_append_new(hosts, json_pack("{s:s, s:s, s:s, s:s}", "name", lab->hosts[i].name,
                                               "netns", lab->hosts[i].netns, "veth",
                                               lab->hosts[i].veth, "addr", a));
    }
    inet_ntop(AF_INET, &lab->bridge_addr, a, sizeof a);
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", lab->name, "subnet", subnet, "bridge",
                     lab->bridge, "bridge_addr", a, "hosts", hosts);
}

static void lab_file_path(const char *state_dir, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/labs/%s.json", state_dir, name);
}

static int in_use(struct nl_sock *sk, const struct fl_lab *lab, struct fl_err *e)
{
    char alias[256];
    struct fl_err ign = {0};
    bool found = fl_link_get_alias(sk, lab->bridge, alias, sizeof alias, &ign) == 0;

    for (size_t i = 0; !found && i < FL_LAB_MAX_HOSTS; i++) {
        char ns[32];

        snprintf(ns, sizeof ns, "%s-h%zu", lab->name, i + 1);
        found = netns_exists(ns);
    }
    if (found)
        return fl_err_set(e, FL_EREFUSED,
                          "a lab named '%s' exists already (or what is left of one): see "
                          "`faultline lab status %s`, remove it with `faultline lab down %s`, "
                          "or choose another --name",
                          lab->name, lab->name, lab->name);
    return 0;
}

int fl_lab_up(struct fl_lab *lab, const char *state_dir, struct fl_err *e)
{
    char alias[128], path[PATH_MAX], dir[PATH_MAX];
    struct nl_sock *sk = fl_link_sock(e);
    json_t *file = NULL;
    int r;

    if (!sk)
        return -FL_EFAIL;
    if ((r = in_use(sk, lab, e)) < 0 || (r = check_overlap(lab, e)) < 0)
        goto out;
    /* From here on, a failure removes what was built. */
    snprintf(alias, sizeof alias, "faultline lab %s building pid=%d start=%llu", lab->name,
             (int)getpid(), (unsigned long long)fl_proc_start_time(getpid()));
    r = fl_link_bridge_add(sk, lab->bridge, e);
    if (!r)
        r = fl_link_set_alias(sk, lab->bridge, alias, e);
    if (!r)
        r = fl_link_addr_add(sk, lab->bridge, lab->bridge_addr, lab->prefix, e);
    if (!r)
        r = fl_link_set_up(sk, lab->bridge, e);
    for (size_t i = 0; !r && i < lab->n; i++)
        if ((r = add_host(sk, lab, &lab->hosts[i], i, e)) < 0)
            fl_err_prefix(e, "lab %s, host %s", lab->name, lab->hosts[i].name);
    if (!r) {
        snprintf(dir, sizeof dir, "%s/labs", state_dir);
        lab_file_path(state_dir, lab->name, path, sizeof path);
        file = lab_json_file(lab);
        r = fl_mkdir_p(dir, 0755, e);
        if (!r)
            r = fl_json_write_atomic(path, file, e);
        json_decref(file);
    }
    if (!r && lab->agents)
        r = fl_lab_agents_start(lab, state_dir, e);
    if (!r) {
        snprintf(alias, sizeof alias, "faultline lab %s ready", lab->name);
        r = fl_link_set_alias(sk, lab->bridge, alias, e);
    }
    if (r < 0) {
        struct fl_err ign = {0};

        fl_lab_down(lab->name, state_dir, NULL, &ign);
    }
out:
    fl_link_sock_free(sk);
    return r;
}

/* The namespace's identity, for finding the processes inside it. */
static bool ns_ident(const char *path, dev_t *dev, ino_t *ino)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return true;
}

/* Pids of the processes whose network namespace is (dev, ino), other than
 * this one. Returns how many were found (at most cap). */
static size_t pids_in_ns(dev_t dev, ino_t ino, pid_t *pids, size_t cap)
{
    CLEANUP_CLOSEDIR DIR *d = opendir("/proc");
    struct dirent *de;
    size_t n = 0;

    while (d && (de = readdir(d)) && n < cap) {
        char path[64];
        struct stat st;
        pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);

        if (pid <= 0 || pid == getpid())
            continue;
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
        if (stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
            pids[n++] = pid;
    }
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Stop every process in the namespace: SIGTERM, then SIGKILL after a second
 * for what is still there. Returns how many were signalled. */
static int kill_ns_processes(const char *netns)
{
    char path[128];
    pid_t pids[1024];
    dev_t dev;
    ino_t ino;
    size_t n, first;

    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", netns);
    if (!ns_ident(path, &dev, &ino))
        return 0;
    first = n = pids_in_ns(dev, ino, pids, 1024);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGTERM);
    for (int t = 0; t < 100 && n; t++) {
        sleep_ms(10);
        n = pids_in_ns(dev, ino, pids, 1024);
    }
    for (int t = 0; t < 200 && n; t++) {
        for (size_t i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        sleep_ms(10);
        n = pids_in_ns(dev, ino, pids, 1024);
    }
    if (n)
        fl_warn("lab: %zu process(es) in %s would not die", n, netns);
    return (int)first;
}

/* Is `s` "NAME-h<digits>"? */
static bool is_lab_host_name(const char *s, const char *name)
{
    size_t l = strlen(name);

    if (strncmp(s, name, l) || strncmp(s + l, "-h", 2) || !s[l + 2])
        return false;
    for (const char *p = s + l + 2; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

static void remove_hosts_dir(const char *netns, struct fl_lab_down_report *r)
{
    char path[160];

    snprintf(path, sizeof path, ETC_NETNS "/%s/hosts", netns);
    if (unlink(path) == 0)
        r->files++;
    snprintf(path, sizeof path, ETC_NETNS "/%s", netns);
    rmdir(path);
}

struct del_ctx {
    struct nl_sock *sk;
    struct fl_lab_down_report *r;
    struct fl_err *e;
};

static void del_link(const char *name, void *arg)
{
    struct del_ctx *c = arg;

    if (fl_link_del(c->sk, name, c->e) > 0)
        c->r->links++;
}

int fl_lab_down(const char *name, const char *state_dir, struct fl_lab_down_report *rep,
                struct fl_err *e)
{
    struct fl_lab_down_report local = {0};
    struct fl_lab_down_report *r = rep ? rep : &local;
    char prefix[32], path[PATH_MAX];
    struct nl_sock *sk;
    struct del_ctx ctx;
    int rc = 0;

    memset(r, 0, sizeof *r);
    if ((rc = fl_lab_check_name(name, e)) < 0)
        return rc;
    if (!(sk = fl_link_sock(e)))
        return -FL_EFAIL;
    for (const char *dirname = NETNS_RUN_DIR; dirname; dirname = NULL) {
        CLEANUP_CLOSEDIR DIR *d = opendir(dirname);
        struct dirent *de;

        while (d && (de = readdir(d))) {
            if (!is_lab_host_name(de->d_name, name))
                continue;
            r->processes += kill_ns_processes(de->d_name);
            if (fl_netns_del(de->d_name, e) < 0) {
                rc = -e->code;
                continue;
            }
            r->namespaces++;
        }
    }
    {
        CLEANUP_CLOSEDIR DIR *d = opendir(ETC_NETNS);
        struct dirent *de;

        while (d && (de = readdir(d)))
            if (is_lab_host_name(de->d_name, name))
                remove_hosts_dir(de->d_name, r);
    }
    ctx = (struct del_ctx){sk, r, e};
    snprintf(prefix, sizeof prefix, "flv-%s-", name);
    fl_link_each(sk, prefix, del_link, &ctx, e);
    snprintf(prefix, sizeof prefix, "flp-%s-", name);
    fl_link_each(sk, prefix, del_link, &ctx, e);
    snprintf(prefix, sizeof prefix, "flb-%s", name);
    del_link(prefix, &ctx);
    fl_link_sock_free(sk);
    lab_file_path(state_dir, name, path, sizeof path);
    if (unlink(path) == 0)
        r->files++;
    r->files += fl_lab_agents_cleanup(name, state_dir);
    if (!rc && !r->namespaces && !r->links && !r->files)
        return fl_err_set(e, FL_ENOTARGET,
                          "there is no lab named '%s' (see `faultline lab status`)", name);
    return rc;
}

static int host_from_json(struct fl_lab_host *h, const json_t *j)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *netns = json_string_value(json_object_get(j, "netns"));
    const char *veth = json_string_value(json_object_get(j, "veth"));
    const char *addr = json_string_value(json_object_get(j, "addr"));

    if (!name || !netns || !veth || !addr || strlen(name) >= sizeof h->name ||
        strlen(netns) >= sizeof h->netns || strlen(veth) >= sizeof h->veth ||
        inet_pton(AF_INET, addr, &h->addr) != 1)
        return -1;
    strcpy(h->name, name);
    strcpy(h->netns, netns);
    strcpy(h->veth, veth);
    return 0;
}

int fl_lab_load(const char *name, const char *state_dir, struct fl_lab *lab, bool *ready,
                struct fl_err *e)
{
    char path[PATH_MAX], alias[256], expect[64];
    struct nl_sock *sk;
    json_t *j, *hosts;
    int r;

    memset(lab, 0, sizeof *lab);
    if ((r = fl_lab_check_name(name, e)) < 0)
        return r;
    snprintf(lab->name, sizeof lab->name, "%s", name);
    snprintf(lab->bridge, sizeof lab->bridge, "flb-%s", name);
    *ready = false;
    if ((sk = fl_link_sock(e))) {
        struct fl_err ign = {0};

        snprintf(expect, sizeof expect, "faultline lab %s ready", name);
        if (fl_link_get_alias(sk, lab->bridge, alias, sizeof alias, &ign) == 0)
            *ready = !strcmp(alias, expect);
        fl_link_sock_free(sk);
    }
    lab_file_path(state_dir, name, path, sizeof path);
    j = fl_json_load(path, e);
    if (!j) {
        /* No file (another state directory built it, or up was killed): the
         * hosts are whatever namespaces of that name exist. */
        for (size_t i = 0; i < FL_LAB_MAX_HOSTS; i++) {
            struct fl_lab_host *h = &lab->hosts[lab->n];

            snprintf(h->netns, sizeof h->netns, "%s-h%zu", name, i + 1);
            if (!netns_exists(h->netns))
                continue;
            snprintf(h->name, sizeof h->name, "h%zu", i + 1);
            snprintf(h->veth, sizeof h->veth, "flv-%s-%zu", name, i + 1);
            lab->n++;
        }
        if (!lab->n && !*ready)
            return fl_err_set(e, FL_ENOTARGET,
                              "there is no lab named '%s' (see `faultline lab status`)", name);
        *ready = false;
        return 0;
    }
    hosts = json_object_get(j, "hosts");
    r = fl_lab_plan(lab, name, (int)json_array_size(hosts),
                    json_string_value(json_object_get(j, "subnet"))
                        ? json_string_value(json_object_get(j, "subnet"))
                        : "",
                    e);
    for (size_t i = 0; !r && i < lab->n; i++)
        if (host_from_json(&lab->hosts[i], json_array_get(hosts, i)) < 0)
            r = fl_err_set(e, FL_ESTATE,
                           "%s: host %zu is damaged; remove the lab with "
                           "`faultline lab down %s`",
                           path, i + 1, name);
    json_decref(j);
    return r;
}

static void add_name(const char *link, void *arg)
{
    struct {
        char (*names)[FL_LAB_NAME_MAX + 1];
        size_t n;
    } *acc = arg;
    const char *name = link + 4; /* after "flb-" */

    if (acc->n < 256 && strlen(name) <= FL_LAB_NAME_MAX)
        snprintf(acc->names[acc->n++], FL_LAB_NAME_MAX + 1, "%s", name);
}

int fl_lab_list(char (**names)[FL_LAB_NAME_MAX + 1], size_t *n, struct fl_err *e)
{
    struct {
        char (*names)[FL_LAB_NAME_MAX + 1];
        size_t n;
    } acc = {calloc(256, FL_LAB_NAME_MAX + 1), 0};
    struct nl_sock *sk;
    int r;

    if (!acc.names)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if (!(sk = fl_link_sock(e))) {
        free(acc.names);
        return -FL_EFAIL;
    }
    r = fl_link_each(sk, "flb-", add_name, &acc, e);
    fl_link_sock_free(sk);
    if (r < 0) {
        free(acc.names);
        return r;
    }
    *names = acc.names;
    *n = acc.n;
    return 0;
}

json_t *fl_lab_to_json(const struct fl_lab *lab, bool ready)
{
    json_t *o =
        json_pack("{s:s, s:s, s:b}", "name", lab->name, "bridge", lab->bridge, "ready", ready);
    json_t *hosts = json_array();
    char a[INET_ADDRSTRLEN];

    if (lab->prefix) {
        char subnet[48];

        inet_ntop(AF_INET, &lab->network, a, sizeof a);
        snprintf(subnet, sizeof subnet, "%s/%d", a, lab->prefix);
        json_object_set_new(o, "subnet", json_string(subnet));
        inet_ntop(AF_INET, &lab->bridge_addr, a, sizeof a);
        json_object_set_new(o, "bridge_addr", json_string(a));
    }
    for (size_t i = 0; i < lab->n; i++) {
        const struct fl_lab_host *h = &lab->hosts[i];
        char path[128];
        pid_t pids[1024];
        dev_t dev;
        ino_t ino;
        bool up;
        json_t *ho;

        snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", h->netns);
        up = ns_ident(path, &dev, &ino);
        ho = json_pack("{s:s, s:s, s:b, s:I}", "name", h->name, "netns", h->netns, "up", up,
                       "processes", (json_int_t)(up ? pids_in_ns(dev, ino, pids, 1024) : 0));
        if (h->addr.s_addr) {
            inet_ntop(AF_INET, &h->addr, a, sizeof a);
            json_object_set_new(ho, "addr", json_string(a));
        }
        json_array_append_new(hosts, ho);
    }
    json_object_set_new(o, "hosts", hosts);
    return o;
}

int fl_lab_sweep(const char *state_dir, struct fl_err *e)
{
    char(*names)[FL_LAB_NAME_MAX + 1] = NULL;
    struct nl_sock *sk;
    size_t n = 0;
    int removed = 0, r;

    if ((r = fl_lab_list(&names, &n, e)) < 0)
        return r;
    if (!(sk = fl_link_sock(e))) {
        free(names);
        return -FL_EFAIL;
    }
    for (size_t i = 0; i < n; i++) {
        char bridge[IF_NAMESIZE], alias[256], want[64];
        struct fl_err ign = {0};
        int pid = 0;
        unsigned long long start = 0;

        snprintf(bridge, sizeof bridge, "flb-%s", names[i]);
        if (fl_link_get_alias(sk, bridge, alias, sizeof alias, &ign) < 0)
            continue;
        snprintf(want, sizeof want, "faultline lab %s building pid=%%d start=%%llu", names[i]);
        if (sscanf(alias, want, &pid, &start) != 2 || fl_proc_alive((pid_t)pid, start))
            continue;
        fl_info("lab %s: its `lab up` (pid %d) died before it finished; removing it", names[i],
                pid);
        if (fl_lab_down(names[i], state_dir, NULL, &ign) == 0)
            removed++;
    }
    fl_link_sock_free(sk);
    free(names);
    return removed;
}

int fl_lab_exec(const struct fl_lab *lab, const char *host, char **argv, struct fl_err *e)
{
    const struct fl_lab_host *h = NULL;
    char path[160];
    int fd;

    for (size_t i = 0; i < lab->n && !h; i++)
        if (!strcmp(lab->hosts[i].name, host) || !strcmp(lab->hosts[i].netns, host))
            h = &lab->hosts[i];
    if (!h)
        return fl_err_set(e, FL_ENOTARGET, "lab %s has no host '%s' (hosts are h1..h%zu)",
                          lab->name, host, lab->n);
    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", h->netns);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return fl_err_set(e, FL_ENOTARGET, "lab %s: host %s has no namespace (%s): %s", lab->name,
                          host, path, strerror(errno));
    if (setns(fd, CLONE_NEWNET) < 0) {
        close(fd);
        return fl_err_set(e, fl_code_from_errno(errno), "cannot enter %s: %s", path,
                          strerror(errno));
    }
    close(fd);
    /* A mount namespace of its own: the lab's /etc/hosts, and a /sys that
     * shows this namespace's devices (as `ip netns exec` does). */
    if (unshare(CLONE_NEWNS) < 0 || mount("", "/", "none", MS_SLAVE | MS_REC, NULL) < 0)
        return fl_err_set(e, fl_code_from_errno(errno), "cannot make a mount namespace: %s",
                          strerror(errno));
    snprintf(path, sizeof path, ETC_NETNS "/%s/hosts", h->netns);
    if (access(path, R_OK) == 0 && mount(path, "/etc/hosts", "none", MS_BIND, NULL) < 0)
        fl_warn("lab: cannot bind %s over /etc/hosts: %s", path, strerror(errno));
    if (umount2("/sys", MNT_DETACH) == 0)
        mount(h->netns, "/sys", "sysfs", 0, NULL);
    execvp(argv[0], argv);
    return fl_err_set(e, errno == ENOENT ? FL_ENOTARGET : FL_EFAIL, "cannot run '%s': %s", argv[0],
                      strerror(errno));
}
