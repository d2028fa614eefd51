/* Process selection (select.h): selectors, the blast-radius mode, and the
 * (pid, start time) identity recorded for revert. */
#include "faults/select.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/container.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/proc.h"

#define CGROUP_V1_ROOT "/sys/fs/cgroup"

/* ---- modes and seeded picks ---------------------------------------------- */

/* splitmix64: tiny, well distributed, and fully determined by its state. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int parse_mode_percent(const char *s, const char *mode, double *out, struct fl_err *e)
{
    if (fl_parse_percent(s, out, e))
        return fl_err_prefix(e, "--mode %s", mode);
    if (*out <= 0)
        return fl_err_set(e, FL_EUSAGE, "--mode %s:%s selects nothing; give a percentage above 0",
                          mode, s);
    return 0;
}

int fl_select_parse_mode(const char *s, struct fl_select_mode *m, struct fl_err *e)
{
    memset(m, 0, sizeof *m);
    if (!s || !strcmp(s, "one")) {
        m->kind = FL_SELECT_ONE;
        return 0;
    }
    if (!strcmp(s, "all")) {
        m->kind = FL_SELECT_ALL;
        return 0;
    }
    if (!strncmp(s, "fixed:", 6)) {
        m->kind = FL_SELECT_FIXED;
        if (fl_parse_int(s + 6, 1, 1000000, &m->n, e))
            return fl_err_prefix(e, "--mode fixed:N needs a whole number of processes from 1");
        return 0;
    }
    if (!strncmp(s, "fixed-percent:", 14)) {
        m->kind = FL_SELECT_FIXED_PERCENT;
        return parse_mode_percent(s + 14, "fixed-percent", &m->percent, e);
    }
    if (!strncmp(s, "random-max-percent:", 19)) {
        m->kind = FL_SELECT_RANDOM_MAX_PERCENT;
        return parse_mode_percent(s + 19, "random-max-percent", &m->percent, e);
    }
    return fl_err_set(e, FL_EUSAGE,
                      "--mode '%s' is not a mode; use one, all, fixed:N, fixed-percent:P or "
                      "random-max-percent:P (P a percentage, e.g. fixed-percent:50)",
                      s);
}

/* The share of n that `percent` names, rounded down but never below one. */
static size_t percent_of(size_t n, double percent)
{
    size_t k = (size_t)((double)n * percent / 100.0 + 1e-9);
    return k < 1 ? 1 : k > n ? n : k;
}

size_t fl_select_count(const struct fl_select_mode *m, size_t n, uint64_t seed)
{
    uint64_t st = seed ^ 0x5eed5eed5eed5eedULL;
    size_t max;

    if (n == 0)
        return 0;
    switch (m->kind) {
    case FL_SELECT_ONE:
        return 1;
    case FL_SELECT_ALL:
        return n;
    case FL_SELECT_FIXED:
        return (size_t)m->n < n ? (size_t)m->n : n;
    case FL_SELECT_FIXED_PERCENT:
        return percent_of(n, m->percent);
    case FL_SELECT_RANDOM_MAX_PERCENT:
        max = percent_of(n, m->percent);
        return 1 + (size_t)(splitmix64(&st) % max);
    }
    return 1;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

void fl_select_pick(size_t n, size_t k, uint64_t seed, size_t *idx)
{
    size_t *all;
    uint64_t st = seed;

    if (k > n)
        k = n;
    all = malloc((n ? n : 1) * sizeof *all);
    if (!all) {
        for (size_t i = 0; i < k; i++)
            idx[i] = i;
        return;
    }
    for (size_t i = 0; i < n; i++)
        all[i] = i;
    /* Partial Fisher-Yates: the first k slots end up a uniform sample. */
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)(splitmix64(&st) % (n - i));
        size_t t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    memcpy(idx, all, k * sizeof *idx);
    qsort(idx, k, sizeof *idx, cmp_size);
    free(all);
}

/* ---- validation ----------------------------------------------------------- */

static bool has_pattern_selector(const json_t *params)
{
    return json_object_get(params, "name") || json_object_get(params, "cmdline") ||
           json_object_get(params, "cgroup");
}

static bool has_explicit_selector(const json_t *params)
{
    return json_object_get(params, "pid") || json_object_get(params, "pidfile");
}

static bool has_container(const json_t *params)
{
    return json_object_get(params, "container") != NULL;
}

/* Explicitly named processes default to all of them; patterns to one. */
static const char *mode_of(const json_t *params)
{
    const char *m = fl_param_str(params, "mode", NULL);
    if (m)
        return m;
    return has_pattern_selector(params) ? "one" : "all";
}

int fl_select_validate(const json_t *params, struct fl_err *e)
{
    struct fl_select_mode m;
    const char *re = fl_param_str(params, "cmdline", NULL);
    int r;

    if (!has_pattern_selector(params) && !has_explicit_selector(params) && !has_container(params))
        return fl_err_set(e, FL_EUSAGE,
                          "no processes selected: give --pid PID, --pidfile PATH, --name COMM, "
                          "--cmdline REGEX, --cgroup PATH or --container NAME");
    if (has_container(params) &&
        (r = fl_container_validate(fl_param_str(params, "container", NULL), e)))
        return r;
    if ((r = fl_select_parse_mode(mode_of(params), &m, e)))
        return r;
    if (re) {
        regex_t rx;
        int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[256];
            regerror(rc, &rx, msg, sizeof msg);
            return fl_err_set(e, FL_EUSAGE,
                              "--cmdline '%s' is not a POSIX extended regular expression: %s", re,
                              msg);
        }
        regfree(&rx);
    }
    return 0;
}

/* ---- /proc and cgroup scanning ------------------------------------------- */

struct pidvec {
    pid_t *v;
    size_t n, cap;
};

static int pidvec_push(struct pidvec *p, pid_t pid)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        pid_t *nv = realloc(p->v, cap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        p->v = nv;
        p->cap = cap;
    }
    p->v[p->n++] = pid;
    return 0;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort and drop duplicates. */
static void pidvec_sort_unique(struct pidvec *p)
{
    size_t w = 0;

    if (!p->n)
        return;
    qsort(p->v, p->n, sizeof *p->v, cmp_pid);
    for (size_t i = 1; i < p->n; i++)
        if (p->v[i] != p->v[w])
            p->v[++w] = p->v[i];
    p->n = w + 1;
}

static bool pidvec_has(const struct pidvec *p, pid_t pid)
{
    return p->n && bsearch(&pid, p->v, p->n, sizeof pid, cmp_pid);
}

/* Resolve --cgroup to a real directory under a cgroup filesystem. */
static int cgroup_dir(const char *arg, char *out, size_t len, struct fl_err *e)
{
    char mount[PATH_MAX], joined[PATH_MAX * 2], real[PATH_MAX], probe[PATH_MAX + 16];
    const char *root;
    struct stat st;
    int r;

    if (!strncmp(arg, CGROUP_V1_ROOT "/", sizeof CGROUP_V1_ROOT) || !strcmp(arg, CGROUP_V1_ROOT)) {
        snprintf(joined, sizeof joined, "%s", arg);
        root = CGROUP_V1_ROOT;
    } else {
        if ((r = fl_proc_cgroup2_mount(mount, sizeof mount, e)))
            return r;
        while (*arg == '/')
            arg++;
        snprintf(joined, sizeof joined, "%s/%s", mount, arg);
        root = mount;
    }
    if (!realpath(joined, real))
        return fl_err_set(e, FL_ENOTARGET, "--cgroup: no cgroup %s (%s)", joined, strerror(errno));
    if (strncmp(real, root, strlen(root)) || (real[strlen(root)] && real[strlen(root)] != '/'))
        return fl_err_set(e, FL_EUSAGE, "--cgroup: %s is not under %s", real, root);
    snprintf(probe, sizeof probe, "%s/cgroup.procs", real);
    if (stat(probe, &st))
        return fl_err_set(e, FL_ENOTARGET,
                          "--cgroup: %s is not a cgroup directory (no cgroup.procs)", real);
    snprintf(out, len, "%s", real);
    return 0;
}

/* Every pid in cgroup `dir` and the cgroups below it. */
static int cgroup_pids(const char *dir, struct pidvec *out, int depth)
{
    char path[PATH_MAX + 16];
    FILE *f;
    DIR *d;
    struct dirent *de;
    pid_t pid;

    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    f = fopen(path, "re");
    if (f) {
        while (fl_proc_next_pid(f, &pid))
            if (pidvec_push(out, pid))
                break;
        fclose(f);
    }
    if (depth > 64 || !(d = opendir(dir)))
        return 0;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        cgroup_pids(path, out, depth + 1);
    }
    closedir(d);
    return 0;
}

static int all_pids(struct pidvec *out)
{
    DIR *d = opendir("/proc");
    struct dirent *de;

    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        if (*end || v <= 0)
            continue;
        pidvec_push(out, (pid_t)v);
    }
    closedir(d);
    return 0;
}

/* The pid is the number on the first line; later lines are ignored, so
 * PostgreSQL's postmaster.pid (pid, data directory, start time, port, ...)
 * works as well as a one-line pidfile. */
static int read_pidfile(const char *path, pid_t *pid, struct fl_err *e)
{
    char buf[64], *end, *nl;
    long v;
    int n = fl_read_small(path, buf, sizeof buf);

    if (n < 0)
        return fl_err_set(e, FL_ENOTARGET, "--pidfile %s: cannot read it: %s", path, strerror(-n));
    if ((nl = strchr(buf, '\n')))
        *nl = '\0';
    errno = 0;
    v = strtol(buf, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (end == buf || *end || errno || v <= 0 || v > INT_MAX || (!nl && n == sizeof buf - 1))
        return fl_err_set(e, FL_ENOTARGET,
                          "--pidfile %s does not hold a process id on its first line (it "
                          "should start with the pid, as postmaster.pid or redis.pid do); "
                          "check the path, or select with --pid PID",
                          path);
    *pid = (pid_t)v;
    return 0;
}

/* ---- resolve -------------------------------------------------------------- */

void fl_select_describe(const json_t *params, char *buf, size_t len)
{
    size_t o = 0;
    const char *s;
    json_t *pids = json_object_get(params, "pid");

#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (o < len)                                                                               \
            o += (size_t)snprintf(buf + o, len - o, "%s", o ? " and " : "");                       \
        if (o < len)                                                                               \
            o += (size_t)snprintf(buf + o, len - o, __VA_ARGS__);                                  \
    } while (0)
    buf[0] = '\0';
    if ((s = fl_param_str(params, "name", NULL)))
        ADD("named %s", s);
    if ((s = fl_param_str(params, "cmdline", NULL)))
        ADD("matching '%s'", s);
    if ((s = fl_param_str(params, "cgroup", NULL)))
        ADD("in cgroup %s", s);
    if ((s = fl_param_str(params, "container", NULL)))
        ADD("in container %s", s);
    if ((s = fl_param_str(params, "netns", NULL)))
        ADD("in netns %s", s);
    if ((s = fl_param_str(params, "pidfile", NULL)))
        ADD("from pidfile %s", s);
    if (json_is_integer(pids))
        ADD("with pid %lld", (long long)json_integer_value(pids));
    if (json_array_size(pids)) {
        size_t i;
        json_t *v;

        ADD("with pid");
        json_array_foreach (pids, i, v) {
            if (o < len)
                o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : " ",
                                      (long long)json_integer_value(v));
        }
    }
#undef ADD
}

void fl_select_describe_pids(const json_t *targets, char *buf, size_t len)
{
    size_t o, i, n = json_array_size(targets);
    json_t *t;

    o = (size_t)snprintf(buf, len, "%s", n == 1 ? "pid" : "pids");
    json_array_foreach (targets, i, t) {
        if (o + 24 >= len || i >= 16) {
            if (o < len)
                snprintf(buf + o, len - o, ", ...");
            return;
        }
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : " ",
                              (long long)json_integer_value(json_object_get(t, "pid")));
    }
}

void fl_select_describe_targets(const json_t *params, const json_t *targets, long long matched,
                                char *buf, size_t len)
{
    char what[512], pids[256];
    size_t n = json_array_size(targets);
    const char *comm = json_string_value(json_object_get(json_array_get(targets, 0), "comm"));

    fl_select_describe_pids(targets, pids, sizeof pids);
    if (!has_pattern_selector(params) && !has_container(params)) {
        snprintf(buf, len, "%s%s%s%s", pids, n == 1 && comm && *comm ? " (" : "",
                 n == 1 && comm && *comm ? comm : "", n == 1 && comm && *comm ? ")" : "");
        return;
    }
    fl_select_describe(params, what, sizeof what);
    snprintf(buf, len, "%zu of %lld process%s %s (%s)", n, matched, matched == 1 ? "" : "es", what,
             pids);
}

/* Name the selector(s) that left nothing, for FL_ENOTARGET. */
static int no_match(const json_t *params, size_t n_name, size_t n_cmd, size_t excluded,
                    struct fl_err *e)
{
    const char *name = fl_param_str(params, "name", NULL);
    const char *cmd = fl_param_str(params, "cmdline", NULL);
    const char *hint = excluded ? " (pid 1, kernel threads and faultline's own processes are "
                                  "never selected)"
                                : "";
    char what[512];

    if (name && !n_name)
        return fl_err_set(e, FL_ENOTARGET, "--name %s: no process is named '%s'%s", name, name,
                          hint);
    if (cmd && !n_cmd)
        return fl_err_set(e, FL_ENOTARGET, "--cmdline '%s': no process command line matches%s", cmd,
                          hint);
    fl_select_describe(params, what, sizeof what);
    return fl_err_set(e, FL_ENOTARGET, "no process %s%s", what, hint);
}

/* Explicit pids (--pid, --pidfile): each must exist and be allowed. */
static int explicit_pids(const json_t *params, struct pidvec *out, struct fl_err *e)
{
    json_t *pids = json_object_get(params, "pid"), *v;
    const char *pidfile = fl_param_str(params, "pidfile", NULL);
    size_t i;
    int r;

    if (json_is_integer(pids)) { /* a single pid written without a list */
        pid_t pid = (pid_t)json_integer_value(pids);
        if (fl_proc_check_allowed(pid, e))
            return fl_err_prefix(e, "--pid %d", (int)pid);
        pidvec_push(out, pid);
    }
    json_array_foreach (pids, i, v) {
        pid_t pid = (pid_t)json_integer_value(v);
        if (fl_proc_check_allowed(pid, e))
            return fl_err_prefix(e, "--pid %d", (int)pid);
        pidvec_push(out, pid);
    }
    if (pidfile) {
        pid_t pid = 0;
        if ((r = read_pidfile(pidfile, &pid, e)))
            return r;
        if (fl_proc_check_allowed(pid, e))
            return fl_err_prefix(e, "--pidfile %s (pid %d)", pidfile, (int)pid);
        pidvec_push(out, pid);
    }
    pidvec_sort_unique(out);
    return 0;
}

/* --container: ask the runtime for the init pid, then take its cgroup. */
static int container_pids(const json_t *params, struct pidvec *out, struct fl_err *e)
{
    const char *ref = fl_param_str(params, "container", NULL);
    struct fl_container c;
    pid_t *pids = NULL;
    size_t n = 0;

    if (fl_container_lookup(ref, &c, e) || fl_container_pids(&c, &pids, &n, e))
        return fl_err_prefix(e, "--container %s", ref);
    for (size_t i = 0; i < n; i++)
        pidvec_push(out, pids[i]);
    free(pids);
    /* The init may have exited between the lookup and the scan. */
    if (!fl_proc_alive(c.pid, c.start))
        return fl_err_set(e, FL_ENOTARGET, "--container %s: it stopped while being resolved", ref);
    pidvec_sort_unique(out);
    return 0;
}

/* The sets the selectors name: explicit pids, the cgroup's, the container's,
 * and the domain to scan (the smallest of them that can hold the answer; it
 * takes over that set's memory). */
struct pidsets {
    struct pidvec explicit, cg, ct, domain;
};

static int gather_pids(const json_t *params, struct pidsets *s, struct fl_err *e)
{
    const char *cgroup = fl_param_str(params, "cgroup", NULL);
    int r;

    if (has_explicit_selector(params) && (r = explicit_pids(params, &s->explicit, e)))
        return r;
    if (cgroup) {
        char dir[PATH_MAX];
        if ((r = cgroup_dir(cgroup, dir, sizeof dir, e)))
            return r;
        cgroup_pids(dir, &s->cg, 0);
        pidvec_sort_unique(&s->cg);
    }
    if (has_container(params) && (r = container_pids(params, &s->ct, e)))
        return r;
    if (has_explicit_selector(params)) {
        s->domain = s->explicit;
        s->explicit = (struct pidvec){0};
    } else if (has_container(params)) {
        s->domain = s->ct;
        s->ct = (struct pidvec){0};
    } else if (cgroup) {
        s->domain = s->cg;
        s->cg = (struct pidvec){0};
    } else {
        all_pids(&s->domain);
        pidvec_sort_unique(&s->domain);
    }
    return 0;
}

static int push_target(struct fl_target **v, size_t *n, size_t *cap, pid_t pid, uint64_t start)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct fl_target *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[*n].pid = pid;
    (*v)[*n].start = start;
    if (fl_proc_comm(pid, (*v)[*n].comm, sizeof(*v)[*n].comm))
        (*v)[*n].comm[0] = '\0';
    (*n)++;
    return 0;
}

/* The named network namespace's identity (its nsfs inode). */
static bool netns_stat(const char *name, struct stat *st)
{
    char path[PATH_MAX];

    if (!*name || strchr(name, '/'))
        return false;
    snprintf(path, sizeof path, "/run/netns/%s", name);
    return stat(path, st) == 0;
}

static bool in_netns(pid_t pid, const struct stat *ns)
{
    char path[64];
    struct stat st;

    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
    return stat(path, &st) == 0 && st.st_ino == ns->st_ino && st.st_dev == ns->st_dev;
}

/* The selectors a process must match, and why candidates were dropped
 * (for the "nothing matched" message). */
struct filter {
    const char *name, *re, *cgroup, *netns;
    bool has_explicit, container, rx_ok;
    regex_t rx;
    struct stat ns_st;
    const struct pidsets *sets;
    size_t n_name, n_cmd, excluded, elsewhere;
};

/* Whether pid matches every selector of f (and may be targeted). */
static bool filter_match(struct filter *f, pid_t pid)
{
    bool ok = true;
    struct fl_err ignore = {0};

    if (f->name) {
        char comm[64];
        bool m = fl_proc_comm(pid, comm, sizeof comm) == 0 && !strcmp(comm, f->name);
        f->n_name += m;
        ok = ok && m;
    }
    if (f->re) {
        char cmd[8192];
        bool m;
        fl_proc_cmdline(pid, cmd, sizeof cmd);
        m = cmd[0] && regexec(&f->rx, cmd, 0, NULL, 0) == 0;
        f->n_cmd += m;
        ok = ok && m;
    }
    if (f->cgroup && (f->has_explicit || f->container))
        ok = ok && pidvec_has(&f->sets->cg, pid);
    if (f->container && f->has_explicit)
        ok = ok && pidvec_has(&f->sets->ct, pid);
    if (ok && f->netns && !in_netns(pid, &f->ns_st)) {
        f->elsewhere++;
        ok = false;
    }
    if (ok && !f->has_explicit && fl_proc_check_allowed(pid, &ignore)) {
        f->excluded++;
        ok = false;
    }
    return ok;
}

/* The candidates of the domain that match f, each with its start time. */
static int filter_domain(struct filter *f, const struct pidvec *domain, struct fl_target **cand,
                         size_t *n_cand, struct fl_err *e)
{
    size_t cap = 0;

    for (size_t i = 0; i < domain->n; i++) {
        pid_t pid = domain->v[i];
        uint64_t start = fl_proc_start_time(pid);

        if (!start || !filter_match(f, pid))
            continue;
        /* The same start time after matching: what matched is this process. */
        if (fl_proc_start_time(pid) != start)
            continue;
        if (push_target(cand, n_cand, &cap, pid, start))
            return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    return 0;
}

/* Pick the mode's share of the n candidates into sel. */
static int pick_targets(const struct fl_select_mode *mode, const struct fl_target *cand, size_t n,
                        uint64_t seed, struct fl_selection *sel, struct fl_err *e)
{
    size_t k = fl_select_count(mode, n, seed);
    size_t *idx = calloc(k, sizeof *idx);

    sel->targets = calloc(k, sizeof *sel->targets);
    if (!idx || !sel->targets) {
        free(idx);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    fl_select_pick(n, k, seed, idx);
    sel->matched = n;
    for (size_t i = 0; i < k; i++)
        sel->targets[sel->n++] = cand[idx[i]];
    free(idx);
    return 0;
}

int fl_select_resolve(const json_t *params, uint64_t seed, struct fl_selection *sel,
                      struct fl_err *e)
{
    struct fl_select_mode mode;
    struct pidsets sets = {0};
    struct fl_target *cand = NULL;
    size_t n_cand = 0;
    struct filter f = {
        .name = fl_param_str(params, "name", NULL),
        .re = fl_param_str(params, "cmdline", NULL),
        .cgroup = fl_param_str(params, "cgroup", NULL),
        .netns = fl_param_str(params, "netns", NULL),
        .has_explicit = has_explicit_selector(params),
        .container = has_container(params),
        .sets = &sets,
    };
    int r;

    memset(sel, 0, sizeof *sel);
    if ((r = fl_select_validate(params, e)) ||
        (r = fl_select_parse_mode(mode_of(params), &mode, e)))
        return r;
    if (f.netns && !netns_stat(f.netns, &f.ns_st)) {
        r = fl_err_set(e, FL_ENOTARGET,
                       "network namespace %s does not exist (see `ip netns list`; a lab host's "
                       "is LAB-hN)",
                       f.netns);
        goto out;
    }
    if ((r = gather_pids(params, &sets, e)))
        goto out;
    if (f.re) {
        if (regcomp(&f.rx, f.re, REG_EXTENDED | REG_NOSUB)) {
            r = fl_err_set(e, FL_EUSAGE, "--cmdline '%s' is not a valid regex", f.re);
            goto out;
        }
        f.rx_ok = true;
    }
    if ((r = filter_domain(&f, &sets.domain, &cand, &n_cand, e)))
        goto out;
    if (n_cand == 0 && f.elsewhere)
        r = fl_err_set(e, FL_ENOTARGET,
                       "no selected process runs in network namespace %s (%zu matching "
                       "process%s run%s elsewhere)",
                       f.netns, f.elsewhere, f.elsewhere == 1 ? "" : "es",
                       f.elsewhere == 1 ? "s" : "");
    else if (n_cand == 0)
        r = no_match(params, f.n_name, f.n_cmd, f.excluded, e);
    else
        r = pick_targets(&mode, cand, n_cand, seed, sel, e);
out:
    if (f.rx_ok)
        regfree(&f.rx);
    free(sets.explicit.v);
    free(sets.cg.v);
    free(sets.ct.v);
    free(sets.domain.v);
    free(cand);
    if (r)
        fl_select_free(sel);
    return r;
}

void fl_select_free(struct fl_selection *sel)
{
    if (!sel)
        return;
    free(sel->targets);
    sel->targets = NULL;
    sel->n = sel->matched = 0;
}

json_t *fl_select_to_json(const struct fl_selection *sel)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < sel->n; i++)
        json_array_append_new(arr, json_pack("{s:i, s:I, s:s}", "pid", (int)sel->targets[i].pid,
                                             "start", (json_int_t)sel->targets[i].start, "comm",
                                             sel->targets[i].comm));
    return arr;
}

int fl_select_from_json(const json_t *arr, struct fl_selection *sel)
{
    size_t i;
    json_t *t;

    memset(sel, 0, sizeof *sel);
    sel->targets = calloc(json_array_size(arr) + 1, sizeof *sel->targets);
    if (!sel->targets)
        return -FL_EFAIL;
    json_array_foreach (arr, i, t) {
        json_int_t pid = json_integer_value(json_object_get(t, "pid"));
        json_int_t start = json_integer_value(json_object_get(t, "start"));
        const char *comm = json_string_value(json_object_get(t, "comm"));
        if (pid <= 1 || start <= 0)
            continue;
        sel->targets[sel->n].pid = (pid_t)pid;
        sel->targets[sel->n].start = (uint64_t)start;
        snprintf(sel->targets[sel->n].comm, sizeof sel->targets[sel->n].comm, "%s",
                 comm ? comm : "");
        sel->n++;
    }
    sel->matched = sel->n;
    return 0;
}
