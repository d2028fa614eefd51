/* faultline __stressor cpu|memory: the worker processes of stress.cpu and
 * stress.memory (started by src/faults/stress.c, never by hand).
 *
 *   __stressor cpu    --deadline-ms MS --cgroup REL --cgroup-dir DIR --load P
 *   __stressor memory --deadline-ms MS --cgroup REL --cgroup-dir DIR --bytes N
 *
 * A stressor touches nothing but its own CPU time and memory. It exits by
 * itself at the deadline (CLOCK_BOOTTIME ms) and as soon as it finds itself
 * outside its cgroup or the cgroup gone, so a lost guardian cannot make a
 * stress fault permanent. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/time.h"

#define SLICE_MS 100
#define CHECK_EVERY_MS 500
#define RETOUCH_EVERY_MS 2000

struct stressor {
    int64_t deadline_ms;
    const char *cgroup;     /* as /proc/self/cgroup shows it: "/faultline/<id>" */
    const char *cgroup_dir; /* the directory */
    double load;
    uint64_t bytes;
};

/* False once the deadline passed or we are no longer in our cgroup. */
static int still_wanted(const struct stressor *s)
{
    char buf[4096], want[512], *line;
    struct stat st;

    if (fl_now_ms() >= s->deadline_ms)
        return 0;
    if (stat(s->cgroup_dir, &st))
        return 0;
    if (fl_read_small("/proc/self/cgroup", buf, sizeof buf) <= 0)
        return 0;
    snprintf(want, sizeof want, "0::%s\n", s->cgroup);
    line = strstr(buf, "0::");
    return line && !strncmp(line, want, strlen(want));
}

static void sleep_until_ns(int64_t t)
{
    int64_t now = fl_mono_ns();
    if (t > now)
        fl_sleep_ms((t - now + 999999) / 1000000);
}

static int stress_cpu(const struct stressor *s)
{
    int64_t busy_ns = (int64_t)(s->load * SLICE_MS * 10000.0); /* load% of a slice */
    int64_t next_check = 0;

    prctl(PR_SET_NAME, "fl-stress-cpu", 0, 0, 0);
    for (;;) {
        int64_t slice = fl_mono_ns();

        if (slice >= next_check) {
            if (!still_wanted(s))
                return 0;
            next_check = slice + CHECK_EVERY_MS * 1000000LL;
        }
        while (fl_mono_ns() - slice < busy_ns)
            for (int i = 0; i < 1000; i++)
                __asm__ __volatile__("" ::: "memory"); /* keep the spin */
        if (busy_ns < SLICE_MS * 1000000LL)
            sleep_until_ns(slice + SLICE_MS * 1000000LL);
    }
}

/* Write one byte in every page so each is really resident, not shared. */
static void touch(volatile unsigned char *p, uint64_t bytes, size_t page, unsigned char v)
{
    for (uint64_t off = 0; off < bytes; off += page)
        p[off] = (unsigned char)(v + (off / page));
}

static int stress_memory(const struct stressor *s)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *p;
    unsigned char round = 1;

    prctl(PR_SET_NAME, "fl-stress-mem", 0, 0, 0);
    /* If memory runs out, the OOM killer should pick us, not a service. */
    fl_write_str("/proc/self/oom_score_adj", "1000");
    p = mmap(NULL, s->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "faultline stressor: cannot map %llu bytes: %s\n",
                (unsigned long long)s->bytes, strerror(errno));
        return FL_EFAIL;
    }
    touch(p, s->bytes, page, round);
    for (;;) {
        for (int t = 0; t < RETOUCH_EVERY_MS; t += CHECK_EVERY_MS) {
            if (!still_wanted(s)) {
                munmap(p, s->bytes);
                return 0;
            }
            fl_sleep_ms(CHECK_EVERY_MS);
        }
        touch(p, s->bytes, page, ++round);
    }
}

int fl_cli_stressor(int argc, char **argv)
{
    struct stressor s = {.load = 100};
    const char *kind = argc > 1 ? argv[1] : "";

    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--deadline-ms"))
            s.deadline_ms = strtoll(v, NULL, 10);
        else if (!strcmp(k, "--cgroup"))
            s.cgroup = v;
        else if (!strcmp(k, "--cgroup-dir"))
            s.cgroup_dir = v;
        else if (!strcmp(k, "--load"))
            s.load = strtod(v, NULL);
        else if (!strcmp(k, "--bytes"))
            s.bytes = strtoull(v, NULL, 10);
    }
    if (s.deadline_ms <= 0 || !s.cgroup || !s.cgroup_dir || s.load <= 0 || s.load > 100) {
        fprintf(stderr, "faultline __stressor: internal command, started by stress faults\n");
        return FL_EUSAGE;
    }
    if (!strcmp(kind, "cpu"))
        return stress_cpu(&s);
    if (!strcmp(kind, "memory") && s.bytes > 0)
        return stress_memory(&s);
    fprintf(stderr, "faultline __stressor: unknown or incomplete stressor '%s'\n", kind);
    return FL_EUSAGE;
}
