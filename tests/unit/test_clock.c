/* clock.skew's pure half (src/clock/vdso.c): the vDSO parser on this
 * process's own vDSO and on broken copies of it, the offset and clock
 * parsers, and the trampoline code itself, run here in a page of this
 * process against the real clocks. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock/ptrace.h"
#include "clock/vdso.h"

/* A copy of this process's vDSO image and its length. */
static uint8_t *own_vdso(size_t *len)
{
    char line[512];
    FILE *f = fopen("/proc/self/maps", "re");
    unsigned long long lo = 0, hi = 0;
    uint8_t *img;

    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f))
        if (strstr(line, "[vdso]")) {
            char *end;
            lo = strtoull(line, &end, 16);
            hi = *end == '-' ? strtoull(end + 1, NULL, 16) : 0;
        }
    fclose(f);
    cr_assert(hi > lo, "no [vdso] in /proc/self/maps");
    cr_assert_eq(lo, getauxval(AT_SYSINFO_EHDR));
    *len = hi - lo;
    img = malloc(*len);
    memcpy(img, (void *)(uintptr_t)lo, *len);
    return img;
}

Test(vdso, finds_the_entries_of_its_own_vdso)
{
    size_t len;
    uint8_t *img = own_vdso(&len);
    struct fl_vdso_syms s;
    struct fl_err e = {0};

    cr_assert_eq(fl_vdso_parse(img, len, &s, &e), 0, "%s", e.msg);
    for (int i = 0; i < FL_VDSO_NENTRIES; i++)
        cr_assert(s.off[i] > 0 && s.off[i] + FL_CLOCK_PATCH_LEN <= len, "entry %d", i);
    cr_assert(s.off[0] != s.off[1] && s.off[1] != s.off[2]);
    cr_assert(img[s.syscall_off] == 0x0f && img[s.syscall_off + 1] == 0x05);
    /* The entries are the functions the C library calls: same first bytes. */
    for (int i = 0; i < FL_VDSO_NENTRIES; i++)
        cr_assert_not(fl_clock_is_patch(img + s.off[i], NULL));
    free(img);
}

Test(vdso, refuses_broken_images_without_reading_past_them)
{
    size_t len;
    uint8_t *img = own_vdso(&len), *cut;
    struct fl_vdso_syms s;
    struct fl_err e = {0};
    Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
    size_t end = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize; /* the ELF file's end */

    /* Every truncation, in a buffer exactly that long (ASan checks reads). */
    cr_assert(end <= len);
    for (size_t n = 0; n < end; n += n < 128 ? 1 : 97) {
        cut = malloc(n ? n : 1);
        memcpy(cut, img, n);
        cr_assert_neq(fl_vdso_parse(cut, n, &s, &e), 0, "truncated to %zu", n);
        free(cut);
    }
    eh->e_shoff = (Elf64_Off)len - 8;
    cr_assert_eq(fl_vdso_parse(img, len, &s, &e), -FL_EFAIL);
    cr_assert(strstr(e.msg, "section headers"), "%s", e.msg);
    eh->e_shoff = (Elf64_Off)(end - (size_t)eh->e_shnum * eh->e_shentsize);
    eh->e_machine = EM_AARCH64;
    cr_assert_eq(fl_vdso_parse(img, len, &s, &e), -FL_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "x86-64 processes only"), "%s", e.msg);
    img[3] = 'G'; /* "\177ELG": not an ELF image */
    cr_assert_eq(fl_vdso_parse(img, len, &s, &e), -FL_EFAIL);
    free(img);
}

Test(clock_parse, offsets)
{
    struct fl_err e = {0};
    int64_t ms;

    cr_assert_eq(fl_clock_parse_offset("+1h", &ms, &e), 0);
    cr_assert_eq(ms, 3600000);
    cr_assert_eq(fl_clock_parse_offset("-1h30m", &ms, &e), 0);
    cr_assert_eq(ms, -5400000);
    cr_assert_eq(fl_clock_parse_offset("250ms", &ms, &e), 0);
    cr_assert_eq(ms, 250);
    cr_assert_eq(fl_clock_parse_offset("-0s", &ms, &e), 0); /* with a drift alone */
    cr_assert_eq(ms, 0);
    cr_assert_eq(fl_clock_parse_offset("soon", &ms, &e), -FL_EUSAGE);
    cr_assert_eq(fl_clock_parse_offset("--1h", &ms, &e), -FL_EUSAGE);
    cr_assert_eq(fl_clock_parse_offset("", &ms, &e), -FL_EUSAGE);
    cr_assert_eq(fl_clock_parse_offset(NULL, &ms, &e), -FL_EUSAGE);
}

Test(clock_parse, clock_lists)
{
    struct fl_err e = {0};
    uint32_t m;

    cr_assert_eq(fl_clock_parse_clocks("realtime", &m, &e), 0);
    cr_assert_eq(m, FL_CLOCK_MASK_REALTIME);
    cr_assert_eq(fl_clock_parse_clocks("realtime,monotonic", &m, &e), 0);
    cr_assert_eq(m, FL_CLOCK_MASK_REALTIME | FL_CLOCK_MASK_MONOTONIC);
    cr_assert(m & (1u << CLOCK_MONOTONIC_RAW) && m & (1u << CLOCK_REALTIME_COARSE));
    cr_assert_eq(fl_clock_parse_clocks("all", &m, &e), 0);
    cr_assert(m & (1u << CLOCK_BOOTTIME) && m & (1u << CLOCK_TAI));
    cr_assert_eq(fl_clock_parse_clocks("realtime,,", &m, &e), -FL_EUSAGE);
    cr_assert_eq(fl_clock_parse_clocks("cpu", &m, &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "'cpu' is not a clock"), "%s", e.msg);
    cr_assert_eq(fl_clock_parse_clocks("", &m, &e), -FL_EUSAGE);
}

Test(clock_patch, round_trips_the_jump)
{
    uint8_t b[FL_CLOCK_PATCH_LEN];
    uint64_t t = 0;

    fl_clock_build_patch(0x7f0011223000ULL, b);
    cr_assert(fl_clock_is_patch(b, &t));
    cr_assert_eq(t, 0x7f0011223000ULL);
    b[11] = 0x90;
    cr_assert_not(fl_clock_is_patch(b, NULL));
}

typedef int (*cg_fn)(clockid_t, struct timespec *);
typedef int (*gtod_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);

struct code {
    uint8_t *page;
    cg_fn cg;
    gtod_fn gtod;
    time_fn tm;
};

/* The trampoline for this shift, mapped executable here. */
static struct code load_shift(const struct fl_clock_shift *sh)
{
    uint8_t buf[FL_CLOCK_IMAGE_LEN];
    size_t entry[FL_VDSO_NENTRIES];
    struct code c;

    fl_clock_build_code(sh, buf, entry);
    c.page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(c.page, MAP_FAILED);
    memcpy(c.page, buf, sizeof buf);
    cr_assert_eq(mprotect(c.page, 4096, PROT_READ | PROT_EXEC), 0);
    c.cg = (cg_fn)(void *)(c.page + entry[FL_VDSO_CLOCK_GETTIME]);
    c.gtod = (gtod_fn)(void *)(c.page + entry[FL_VDSO_GETTIMEOFDAY]);
    c.tm = (time_fn)(void *)(c.page + entry[FL_VDSO_TIME]);
    return c;
}

static struct code load(int64_t offset_ms, uint32_t mask)
{
    struct fl_clock_shift sh = {.offset_ms = offset_ms, .mask = mask};
    return load_shift(&sh);
}

static int64_t now_ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static double ts(const struct timespec *t)
{
    return (double)t->tv_sec + t->tv_nsec / 1e9;
}

/* The code's reading of `clock` minus the real one, bracketed by two real
 * readings so the difference holds however slow the machine is. */
static void assert_shift_tol(const struct code *c, clockid_t clock, double want, double tol)
{
    struct timespec a, b, got;

    clock_gettime(clock, &a);
    cr_assert_eq(c->cg(clock, &got), 0);
    clock_gettime(clock, &b);
    cr_assert(got.tv_nsec >= 0 && got.tv_nsec < 1000000000, "nsec %ld", got.tv_nsec);
    cr_assert(ts(&got) - want >= ts(&a) - tol && ts(&got) - want <= ts(&b) + tol,
              "clock %d: %.6f not %.3f past [%.6f, %.6f]", (int)clock, ts(&got), want, ts(&a),
              ts(&b));
}

static void assert_shift(const struct code *c, clockid_t clock, double want)
{
    assert_shift_tol(c, clock, want, 1e-6);
}

Test(clock_code, shifts_the_chosen_clocks_only)
{
    struct code c = load(3600500, FL_CLOCK_MASK_REALTIME);

    for (int i = 0; i < 50; i++) { /* through many nanosecond carries */
        assert_shift(&c, CLOCK_REALTIME, 3600.5);
        assert_shift(&c, CLOCK_REALTIME_COARSE, 3600.5);
        assert_shift(&c, CLOCK_MONOTONIC, 0);
        assert_shift(&c, CLOCK_BOOTTIME, 0);
    }
    munmap(c.page, 4096);
    c = load(-1500, FL_CLOCK_MASK_MONOTONIC | FL_CLOCK_MASK_BOOTTIME);
    for (int i = 0; i < 50; i++) {
        assert_shift(&c, CLOCK_MONOTONIC, -1.5);
        assert_shift(&c, CLOCK_MONOTONIC_RAW, -1.5);
        assert_shift(&c, CLOCK_BOOTTIME, -1.5);
        assert_shift(&c, CLOCK_REALTIME, 0);
    }
    munmap(c.page, 4096);
}

Test(clock_code, errors_and_cpu_clocks_pass_through)
{
    struct code c = load(3600000, 0xffffffffu);
    struct timespec t;
    clockid_t cpu;

    /* A bad clock id: the kernel's -EINVAL, untouched. */
    cr_assert_eq(c.cg(12345, &t), -22);
    /* A clock of another process's CPU time (negative id) is never shifted. */
    cr_assert_eq(clock_getcpuclockid(getpid(), &cpu), 0);
    cr_assert_lt(cpu, 0);
    cr_assert_eq(c.cg(cpu, &t), 0);
    cr_assert(t.tv_sec < 3600);
    munmap(c.page, 4096);
}

Test(clock_code, gettimeofday_and_time)
{
    struct code c = load(-7200250, FL_CLOCK_MASK_REALTIME);
    struct timeval a, b, got;
    time_t t0, t1, tp = 0;

    for (int i = 0; i < 50; i++) {
        gettimeofday(&a, NULL);
        cr_assert_eq(c.gtod(&got, NULL), 0);
        gettimeofday(&b, NULL);
        cr_assert(got.tv_usec >= 0 && got.tv_usec < 1000000);
        double g = got.tv_sec + got.tv_usec / 1e6 + 7200.25;
        cr_assert(g >= a.tv_sec + a.tv_usec / 1e6 - 2e-6 && g <= b.tv_sec + b.tv_usec / 1e6 + 2e-6,
                  "gettimeofday %.6f", g);
    }
    cr_assert_eq(c.gtod(NULL, NULL), 0);
    t0 = time(NULL);
    t1 = c.tm(&tp);
    cr_assert_eq(t1, tp);
    /* time() floors the skewed clock: 2 h 0.25 s back is 7201 or 7200 s back. */
    cr_assert(t0 - t1 >= 7200 && t0 - t1 <= 7202, "time %lld vs %lld", (long long)t1,
              (long long)t0);
    cr_assert(c.tm(NULL) <= time(NULL) - 7200);
    munmap(c.page, 4096);
}

Test(clock_live, inspect_refuses_a_process_that_is_gone)
{
    struct fl_clock_proc p;
    struct fl_err e = {0};

    cr_assert_eq(fl_clock_inspect(4194303, &p, &e), -FL_ENOTARGET, "%s", e.msg);
    cr_assert_eq(fl_clock_inspect(getpid(), &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.vdso_base, getauxval(AT_SYSINFO_EHDR));
}

Test(clock_parse, drifts)
{
    struct fl_err e = {0};
    int64_t ppm;

    cr_assert_eq(fl_clock_parse_drift("500", &ppm, &e), 0);
    cr_assert_eq(ppm, 500);
    cr_assert_eq(fl_clock_parse_drift("-2000ppm", &ppm, &e), 0);
    cr_assert_eq(ppm, -2000);
    cr_assert_eq(fl_clock_parse_drift("10%", &ppm, &e), 0);
    cr_assert_eq(ppm, 100000);
    cr_assert_eq(fl_clock_parse_drift("-0.5%", &ppm, &e), 0);
    cr_assert_eq(ppm, -5000);
    cr_assert_eq(fl_clock_parse_drift("100%", &ppm, &e), 0);
    cr_assert_eq(fl_clock_parse_drift("-100%", &ppm, &e), -FL_EUSAGE);
    cr_assert_eq(fl_clock_parse_drift("1000001", &ppm, &e), -FL_EUSAGE);
    cr_assert_eq(fl_clock_parse_drift("fast", &ppm, &e), -FL_EUSAGE);
    cr_assert_eq(fl_clock_parse_drift("5%%", &ppm, &e), -FL_EUSAGE);
    cr_assert_eq(fl_clock_parse_drift("", &ppm, &e), -FL_EUSAGE);
}

/* A drift as if the fault had been applied `ago_s` seconds ago. The
 * reading at real time x must be x + offset + (x - T0) * ppm / 1e6, with x
 * somewhere between the real readings taken around the call. */
static void assert_drift(int64_t offset_ms, int64_t ppm, int64_t ago_s, clockid_t clock,
                         uint32_t mask)
{
    struct fl_clock_shift sh = {.offset_ms = offset_ms, .drift_ppm = ppm, .mask = mask};
    struct code c;

    sh.t0_ns[clock] = now_ns(clock) - ago_s * 1000000000;
    c = load_shift(&sh);
    for (int i = 0; i < 20; i++) {
        struct timespec got;
        int64_t a = now_ns(clock), b, lo, hi, g;

        cr_assert_eq(c.cg(clock, &got), 0);
        b = now_ns(clock);
        g = (int64_t)got.tv_sec * 1000000000 + got.tv_nsec;
        lo = a + offset_ms * 1000000 + (a - sh.t0_ns[clock]) * ppm / 1000000;
        hi = b + offset_ms * 1000000 + (b - sh.t0_ns[clock]) * ppm / 1000000;
        if (lo > hi) { /* a negative drift */
            int64_t t = lo;
            lo = hi;
            hi = t;
        }
        cr_assert(got.tv_nsec >= 0 && got.tv_nsec < 1000000000);
        cr_assert(g >= lo - 1000 && g <= hi + 1000, "clock %d: %lld not in [%lld, %lld]",
                  (int)clock, (long long)g, (long long)lo, (long long)hi);
    }
    munmap(c.page, 4096);
}

Test(clock_code, drift_grows_from_the_moment_of_the_fault)
{
    assert_drift(0, 500000, 10, CLOCK_REALTIME, FL_CLOCK_MASK_REALTIME);          /* +5 s */
    assert_drift(0, -250000, 8, CLOCK_MONOTONIC, FL_CLOCK_MASK_MONOTONIC);        /* -2 s */
    assert_drift(-3000, 100000, 20, CLOCK_BOOTTIME, FL_CLOCK_MASK_BOOTTIME);      /* -1 s */
    assert_drift(7200000, 1000000, 3600, CLOCK_REALTIME, FL_CLOCK_MASK_REALTIME); /* +3 h */
    /* Drift 0 with T0 unset (0) is a plain offset. */
    assert_drift(1500, 0, 0, CLOCK_REALTIME, FL_CLOCK_MASK_REALTIME);
}

Test(clock_code, gettimeofday_fills_the_timezone_too)
{
    struct code c = load(60000, FL_CLOCK_MASK_REALTIME);
    struct timeval tv, real;
    struct timezone tz = {.tz_minuteswest = 12345, .tz_dsttime = 777}, want;

    gettimeofday(&real, &want);
    cr_assert_eq(c.gtod(&tv, &tz), 0);
    cr_assert_eq(tz.tz_minuteswest, want.tz_minuteswest);
    cr_assert_eq(tz.tz_dsttime, want.tz_dsttime);
    cr_assert(tv.tv_sec - real.tv_sec >= 59 && tv.tv_sec - real.tv_sec <= 61);
    cr_assert_eq(c.gtod(NULL, &tz), 0);
    munmap(c.page, 4096);
}
