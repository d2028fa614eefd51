/* clock.skew on a live process (see ptrace.h): /proc/PID/maps finds the
 * vDSO, /proc/PID/mem reads and writes it (the kernel lets a tracer write
 * read-only private mappings, as debuggers do for breakpoints), ptrace stops
 * the threads and runs one mmap system call in the process by pointing a
 * stopped thread's registers at a `syscall` instruction of the vDSO. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock/ptrace.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/time.h"

#define STOP_WAIT_MS 3000
/* How often to let the threads run on when one of them is inside the vDSO. */
#define OUTSIDE_TRIES 200
#define MAX_THREADS 65536

static int find_vdso(pid_t pid, uint64_t *base, uint64_t *len, struct fl_err *e)
{
    char path[64], line[512];
    _cleanup_fclose_ FILE *f = NULL;

    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    if (!(f = fopen(path, "re")))
        return fl_err_set(e, errno == ENOENT ? FL_ENOTARGET : fl_code_from_errno(errno),
                          "cannot read %s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char *end;
        unsigned long long lo, hi;
        if (!strstr(line, "[vdso]"))
            continue;
        lo = strtoull(line, &end, 16);
        hi = *end == '-' ? strtoull(end + 1, &end, 16) : 0;
        if (hi > lo) {
            *base = lo;
            *len = hi - lo;
            return 0;
        }
    }
    return fl_err_set(e, FL_EUNSUPPORTED,
                      "pid %d has no vDSO mapped (booted with vdso=0, or it unmapped it): its "
                      "clock reads are system calls clock.skew cannot redirect",
                      (int)pid);
}

static int open_mem(pid_t pid, int flags, struct fl_err *e)
{
    char path[64];
    int fd;

    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    if ((fd = open(path, flags | O_CLOEXEC)) < 0)
        return fl_err_set(e, errno == ENOENT ? FL_ENOTARGET : fl_code_from_errno(errno),
                          "cannot open %s: %s", path, strerror(errno));
    return fd;
}

static int mem_io(int fd, bool wr, void *buf, size_t n, uint64_t addr)
{
    ssize_t k = wr ? pwrite(fd, buf, n, (off_t)addr) : pread(fd, buf, n, (off_t)addr);
    return k == (ssize_t)n ? 0 : (k < 0 ? -errno : -EIO);
}

int fl_clock_inspect(pid_t pid, struct fl_clock_proc *p, struct fl_err *e)
{
    _cleanup_free_ uint8_t *img = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    memset(p, 0, sizeof *p);
    p->pid = pid;
    if ((r = find_vdso(pid, &p->vdso_base, &p->vdso_len, e)))
        return r;
    if (!p->vdso_len || p->vdso_len > FL_VDSO_MAX_LEN)
        return fl_err_set(e, FL_EUNSUPPORTED,
                          "pid %d: its vDSO is %" PRIu64 " bytes, more than "
                          "the %" PRIu64 " clock.skew reads",
                          (int)pid, p->vdso_len, FL_VDSO_MAX_LEN);
    if ((fd = open_mem(pid, O_RDONLY, e)) < 0)
        return fd;
    if (!(img = malloc(p->vdso_len)))
        return fl_err_set(e, FL_EFAIL, "out of memory");
    if ((r = mem_io(fd, false, img, p->vdso_len, p->vdso_base)))
        return fl_err_set(e, FL_EFAIL, "cannot read the vDSO of pid %d: %s", (int)pid,
                          strerror(-r));
    if (fl_vdso_parse(img, p->vdso_len, &p->syms, e))
        return fl_err_prefix(e, "pid %d", (int)pid);
    for (int i = 0; i < FL_VDSO_NENTRIES; i++)
        if (p->syms.off[i])
            memcpy(p->orig[i], img + p->syms.off[i], FL_CLOCK_PATCH_LEN);
    for (int i = 0; i < FL_VDSO_NENTRIES; i++) {
        if (p->syms.off[i] && fl_clock_is_patch(p->orig[i], NULL))
            return fl_err_set(e, FL_EREFUSED,
                              "pid %d: its vDSO clock entries already jump elsewhere (a "
                              "clock.skew is in place: `faultline status` names it; or one was "
                              "left behind: `faultline "
                              "recover --all` puts them back)",
                              (int)pid);
    }
    return 0;
}

int fl_clock_tag(const struct fl_clock_proc *p, char *id, size_t len)
{
    char tag[FL_CLOCK_TAG_LEN + 1] = {0};
    _cleanup_close_ int fd = -1;
    uint64_t target;

    *id = 0;
    for (int i = 0; i < FL_VDSO_NENTRIES; i++) {
        if (!p->syms.off[i] || !fl_clock_is_patch(p->orig[i], &target))
            continue;
        if ((fd = open_mem(p->pid, O_RDONLY, &(struct fl_err){0})) < 0 ||
            mem_io(fd, false, tag, FL_CLOCK_TAG_LEN, (target & ~0xfffULL) + FL_CLOCK_TAG_OFF) ||
            strncmp(tag, FL_CLOCK_TAG_PREFIX, strlen(FL_CLOCK_TAG_PREFIX)))
            return -1;
        snprintf(id, len, "%s", tag + strlen(FL_CLOCK_TAG_PREFIX));
        return 0;
    }
    return -1;
}

#if defined(__x86_64__)

/* The threads of one process, each in a ptrace stop. */
struct stopped {
    pid_t *tids;
    int *sig; /* a signal caught in its stop, handed back on detach */
    size_t n;
};

static bool have_tid(const struct stopped *s, pid_t tid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->tids[i] == tid)
            return true;
    return false;
}

static char task_state(pid_t pid, pid_t tid)
{
    char path[96], buf[512], *p;
    _cleanup_close_ int fd = -1;
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || (n = read(fd, buf, sizeof buf - 1)) <= 0)
        return 0;
    buf[n] = 0;
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    return p[2];
}

/* False once the process is gone or a zombie. */
static bool exists(pid_t pid)
{
    char st = task_state(pid, pid);
    return st && st != 'Z' && st != 'X';
}

static void resume_all(struct stopped *s)
{
    for (size_t i = 0; i < s->n; i++)
        ptrace(PTRACE_DETACH, s->tids[i], NULL, (void *)(long)s->sig[i]);
    free(s->tids);
    free(s->sig);
    memset(s, 0, sizeof *s);
}

/* Wait for `tid`'s ptrace stop. 1: stopped, 0: it exited, <0: timeout. */
static int wait_stop(pid_t tid, int *sig)
{
    int64_t until = fl_now_ms() + STOP_WAIT_MS;
    int st;

    for (;;) {
        pid_t w = waitpid(tid, &st, __WALL | WNOHANG);
        if (w < 0)
            return errno == ECHILD ? 0 : -errno;
        if (w == tid && (WIFEXITED(st) || WIFSIGNALED(st)))
            return 0;
        if (w == tid && WIFSTOPPED(st)) {
            /* An event stop (PTRACE_INTERRUPT, group stop) carries no signal
             * to hand back; a signal-delivery stop does. */
            *sig = (st >> 16) ? 0 : WSTOPSIG(st);
            return 1;
        }
        if (fl_now_ms() >= until)
            return -ETIMEDOUT;
        fl_sleep_ms(1);
    }
}

static int seize_one(pid_t pid, pid_t tid, struct stopped *s, struct fl_err *e)
{
    int sig = 0, r;

    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
        if (errno == ESRCH)
            return 0; /* exited */
        return fl_err_set(e, fl_code_from_errno(errno),
                          "cannot attach to thread %d of pid %d: %s (is it traced already, by a "
                          "debugger or strace? see TracerPid in /proc/%d/status)",
                          (int)tid, (int)pid, strerror(errno), (int)pid);
    }
    if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno != ESRCH) {
        r = errno;
        ptrace(PTRACE_DETACH, tid, NULL, NULL);
        return fl_err_set(e, FL_EFAIL, "cannot stop thread %d of pid %d: %s", (int)tid, (int)pid,
                          strerror(r));
    }
    r = wait_stop(tid, &sig);
    if (r < 0) {
        ptrace(PTRACE_DETACH, tid, NULL, NULL);
        return fl_err_set(e, FL_EFAIL, "thread %d of pid %d did not stop within %d s (state %c)",
                          (int)tid, (int)pid, STOP_WAIT_MS / 1000, task_state(pid, tid));
    }
    if (r == 0)
        return 0;
    s->tids[s->n] = tid;
    s->sig[s->n++] = sig;
    return 0;
}

/* Stop every thread of `pid`, listing /proc/PID/task until a pass finds no
 * thread not yet stopped (a running thread may have made new ones). */
static int stop_all(pid_t pid, struct stopped *s, struct fl_err *e)
{
    bool added = true;
    char path[64];
    int r = 0;

    memset(s, 0, sizeof *s);
    s->tids = calloc(MAX_THREADS, sizeof *s->tids);
    s->sig = calloc(MAX_THREADS, sizeof *s->sig);
    if (!s->tids || !s->sig) {
        resume_all(s);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    while (added && !r) {
        DIR *d = opendir(path);
        struct dirent *de;

        if (!d)
            break; /* exited: s->n stays 0 */
        added = false;
        while (!r && (de = readdir(d))) {
            pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
            if (tid <= 0 || have_tid(s, tid) || task_state(pid, tid) == 'Z')
                continue;
            if (s->n == MAX_THREADS) {
                r = fl_err_set(e, FL_EFAIL, "pid %d has more than %d threads", (int)pid,
                               MAX_THREADS);
                break;
            }
            r = seize_one(pid, tid, s, e);
            added = true;
        }
        closedir(d);
    }
    if (r)
        resume_all(s);
    return r;
}

/* True if a stopped thread's next instruction is inside [lo, lo + len). */
static bool any_inside(const struct stopped *s, uint64_t lo, uint64_t len)
{
    for (size_t i = 0; i < s->n; i++) {
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, s->tids[i], NULL, &regs) == 0 && regs.rip >= lo &&
            regs.rip - lo < len)
            return true;
    }
    return false;
}

/* Stop the process with no thread inside its vDSO (nor in the code page at
 * `page`, if not 0), so none is in the middle of bytes about to change.
 * 1: stopped, 0: it exited. */
static int stop_outside(pid_t pid, uint64_t base, uint64_t len, uint64_t page, struct stopped *s,
                        struct fl_err *e)
{
    for (int i = 0; i < OUTSIDE_TRIES; i++) {
        int r = stop_all(pid, s, e);
        if (r)
            return r;
        if (!s->n) {
            resume_all(s); /* nothing stopped: only frees */
            return 0;
        }
        if (!any_inside(s, base, len) && !(page && any_inside(s, page, 4096)))
            return 1;
        resume_all(s);
        fl_sleep_ms(1);
    }
    return fl_err_set(e, FL_EFAIL, "pid %d: a thread stayed inside the vDSO over %d tries",
                      (int)pid, OUTSIDE_TRIES);
}

/* Run mmap(NULL, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
 * in stopped thread `tid` through the `syscall` at `insn`, then put its
 * registers back. orig_rax = -1 keeps the kernel from restarting a system
 * call the thread was stopped in; the saved registers bring that restart
 * back when the thread resumes. */
static int remote_mmap(pid_t tid, uint64_t insn, int *pending, uint64_t *page, struct fl_err *e)
{
    struct user_regs_struct saved, regs;
    int sig = 0, r, tries = 0;

    if (ptrace(PTRACE_GETREGS, tid, NULL, &saved) < 0)
        return fl_err_set(e, FL_EFAIL, "cannot read the registers of thread %d: %s", (int)tid,
                          strerror(errno));
    if (saved.cs != 0x33)
        return fl_err_set(e, FL_EUNSUPPORTED,
                          "thread %d runs 32-bit code (cs %#llx): clock.skew supports 64-bit "
                          "x86-64 processes only",
                          (int)tid, (unsigned long long)saved.cs);
    regs = saved;
    regs.rax = SYS_mmap;
    regs.orig_rax = (unsigned long long)-1;
    regs.rip = insn;
    regs.rdi = 0;
    regs.rsi = 4096;
    regs.rdx = PROT_READ | PROT_EXEC;
    regs.r10 = MAP_PRIVATE | MAP_ANONYMOUS;
    regs.r8 = (unsigned long long)-1;
    regs.r9 = 0;
    if (ptrace(PTRACE_SETREGS, tid, NULL, &regs) < 0)
        return fl_err_set(e, FL_EFAIL, "cannot set the registers of thread %d: %s", (int)tid,
                          strerror(errno));
    /* A signal that arrives first (Go preempts its threads with SIGURG) stops
     * the thread before the syscall: keep it for the detach, step again. */
    do {
        if (ptrace(PTRACE_SINGLESTEP, tid, NULL, NULL) < 0)
            return fl_err_set(e, FL_EFAIL, "cannot run mmap in thread %d: %s", (int)tid,
                              strerror(errno));
        r = wait_stop(tid, &sig);
        if (r <= 0)
            return fl_err_set(e, FL_EFAIL, "thread %d did not come back from mmap: %s", (int)tid,
                              r ? strerror(-r) : "it exited");
        r = ptrace(PTRACE_GETREGS, tid, NULL, &regs) < 0 ? -errno : 0;
        if (r || regs.rip != insn || sig == SIGTRAP)
            break;
        if (sig && !*pending)
            *pending = sig;
    } while (++tries < 8);
    if (ptrace(PTRACE_SETREGS, tid, NULL, &saved) < 0 || r)
        return fl_err_set(e, FL_EFAIL, "cannot restore the registers of thread %d: %s", (int)tid,
                          strerror(r ? -r : errno));
    if (regs.rip != insn + 2)
        return fl_err_set(e, FL_EFAIL, "thread %d stopped at %#llx, not after the mmap at %#llx",
                          (int)tid, (unsigned long long)regs.rip, (unsigned long long)insn + 2);
    if ((long long)regs.rax < 0 && (long long)regs.rax > -4096)
        return fl_err_set(e, FL_EFAIL, "mmap in pid's thread %d failed: %s", (int)tid,
                          strerror((int)-(long long)regs.rax));
    *page = regs.rax;
    return 0;
}

/* The code page an earlier skew of this process left mapped (revert cannot
 * unmap it), found by its tag, so skewing a process again reuses it instead
 * of mapping one more page each time. 0 if there is none. */
static uint64_t old_page(pid_t pid, int fd)
{
    char path[64], line[512];
    _cleanup_fclose_ FILE *f = NULL;

    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    if (!(f = fopen(path, "re")))
        return 0;
    while (fgets(line, sizeof line, f)) {
        char perms[8] = "", tag[sizeof FL_CLOCK_TAG_PREFIX] = "", *end;
        unsigned long long lo = strtoull(line, &end, 16), hi;
        int name = 0;

        if (*end != '-')
            continue;
        hi = strtoull(end + 1, &end, 16);
        /* "lo-hi r-xp 00000000 00:00 0" and no path: an anonymous code page */
        if (hi - lo != 4096 || sscanf(end, " %7s 00000000 00:00 0 %n", perms, &name) != 1 ||
            strcmp(perms, "r-xp") || end[name])
            continue;
        if (mem_io(fd, false, tag, sizeof tag - 1, lo + FL_CLOCK_TAG_OFF) == 0 &&
            !memcmp(tag, FL_CLOCK_TAG_PREFIX, sizeof tag - 1))
            return lo;
    }
    return 0;
}

/* How far clock `c` of `pid` is from this process's (ns): the offsets of
 * its time namespace minus ours (/proc/PID/timens_offsets, Linux 5.6+;
 * 0 without). They move the monotonic clocks and boottime only. */
static int64_t timens_offset(pid_t pid, int c)
{
    const char *want =
        (c == CLOCK_MONOTONIC || c == CLOCK_MONOTONIC_RAW || c == CLOCK_MONOTONIC_COARSE)
            ? "monotonic"
        : (c == CLOCK_BOOTTIME || c == CLOCK_BOOTTIME_ALARM) ? "boottime"
                                                             : NULL;
    int64_t off = 0;

    for (int who = 0; want && who < 2; who++) {
        char path[64], line[128], *end;
        _cleanup_fclose_ FILE *f = NULL;

        snprintf(path, sizeof path, "/proc/%d/timens_offsets", who ? (int)getpid() : (int)pid);
        f = fopen(path, "re");
        while (f && fgets(line, sizeof line, f)) {
            size_t n = strlen(want);
            long long sec, nsec;

            if (strncmp(line, want, n) || line[n] != ' ')
                continue;
            sec = strtoll(line + n, &end, 10);
            nsec = strtoll(end, NULL, 10);
            off += (who ? -1 : 1) * (sec * 1000000000 + nsec);
        }
    }
    return off;
}

/* Which entries a skew on `mask` redirects: gettimeofday and time read
 * CLOCK_REALTIME only. */
static bool entry_wanted(int i, uint32_t mask, const struct fl_vdso_syms *syms)
{
    if (!syms->off[i])
        return false;
    return i == FL_VDSO_CLOCK_GETTIME || (mask & FL_CLOCK_MASK_REALTIME);
}

static int patch_stopped(const struct fl_clock_proc *p, int fd, pid_t tid, int *pending,
                         const struct fl_clock_shift *shift, const char *id, uint64_t *page,
                         struct fl_err *e)
{
    struct fl_clock_shift now = *shift;
    uint8_t code[FL_CLOCK_IMAGE_LEN], cur[FL_CLOCK_PATCH_LEN], jmp[FL_CLOCK_PATCH_LEN];
    size_t entry[FL_VDSO_NENTRIES];
    int r, i;

    /* The entries must still be as plan saw them (nobody patched them since). */
    for (i = 0; i < FL_VDSO_NENTRIES; i++)
        if (p->syms.off[i] && (mem_io(fd, false, cur, sizeof cur, p->vdso_base + p->syms.off[i]) ||
                               memcmp(cur, p->orig[i], sizeof cur)))
            return fl_err_set(e, FL_EREFUSED,
                              "pid %d: its vDSO changed since the fault was planned", (int)p->pid);
    if (!*page && (r = remote_mmap(tid, p->vdso_base + p->syms.syscall_off, pending, page, e)))
        return r;
    /* The drift starts now: each chosen clock's reading as the target sees
     * it (this process's, moved by the target's time namespace offsets). */
    for (int c = 0; c < 32; c++) {
        struct timespec ts;
        if ((now.mask & (1u << c)) && clock_gettime(c, &ts) == 0)
            now.t0_ns[c] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + timens_offset(p->pid, c);
    }
    fl_clock_build_code(&now, code, entry);
    snprintf((char *)code + FL_CLOCK_TAG_OFF, FL_CLOCK_TAG_LEN, "%s%s", FL_CLOCK_TAG_PREFIX,
             id ? id : "");
    if ((r = mem_io(fd, true, code, sizeof code, *page)))
        return fl_err_set(e, FL_EFAIL, "cannot write the code page of pid %d: %s", (int)p->pid,
                          strerror(-r));
    for (i = 0; i < FL_VDSO_NENTRIES; i++) {
        if (!entry_wanted(i, shift->mask, &p->syms))
            continue;
        fl_clock_build_patch(*page + entry[i], jmp);
        if ((r = mem_io(fd, true, jmp, sizeof jmp, p->vdso_base + p->syms.off[i])))
            return fl_err_set(e, FL_EFAIL, "cannot write the vDSO of pid %d: %s", (int)p->pid,
                              strerror(-r));
    }
    return 0;
}

/* Put back what patch_stopped wrote, on the stopped process. */
static int unpatch_stopped(pid_t pid, int fd, uint64_t base, const struct fl_vdso_syms *syms,
                           const uint8_t (*orig)[FL_CLOCK_PATCH_LEN], struct fl_err *e)
{
    int n = 0;

    for (int i = 0; i < FL_VDSO_NENTRIES; i++) {
        uint8_t cur[FL_CLOCK_PATCH_LEN];
        int r;

        if (!syms->off[i] || mem_io(fd, false, cur, sizeof cur, base + syms->off[i]) ||
            !fl_clock_is_patch(cur, NULL))
            continue;
        if ((r = mem_io(fd, true, (void *)orig[i], FL_CLOCK_PATCH_LEN, base + syms->off[i])))
            return fl_err_set(e, FL_EFAIL, "cannot restore the vDSO of pid %d: %s", (int)pid,
                              strerror(-r));
        n++;
    }
    return n;
}

int fl_clock_skew(const struct fl_clock_proc *p, const struct fl_clock_shift *shift, const char *id,
                  uint64_t *page, struct fl_err *e)
{
    _cleanup_close_ int fd = -1;
    struct stopped s;
    uint64_t reuse;
    int r;

    *page = 0;
    /* A job-control stop holds the thread before the mmap can run. */
    if (task_state(p->pid, p->pid) == 'T')
        return fl_err_set(e, FL_EREFUSED,
                          "pid %d is stopped (SIGSTOP or a process.pause): clock.skew runs one "
                          "system call in it, so continue it first (kill -CONT %d), or skew it "
                          "before pausing it",
                          (int)p->pid, (int)p->pid);
    if ((fd = open_mem(p->pid, O_RDWR, e)) < 0)
        return fd == -FL_ENOTARGET ? 0 : fd;
    reuse = old_page(p->pid, fd);
    if ((r = stop_outside(p->pid, p->vdso_base, p->vdso_len, reuse, &s, e)) <= 0)
        return r;
    *page = reuse;
    r = patch_stopped(p, fd, s.tids[0], &s.sig[0], shift, id, page, e);
    if (r) /* leave no entry half done */
        unpatch_stopped(p->pid, fd, p->vdso_base, &p->syms, p->orig, &(struct fl_err){0});
    resume_all(&s);
    if (r && !exists(p->pid))
        return 0; /* it exited (a SIGKILL) while stopped: nothing to skew */
    return r ? r : 1;
}

int fl_clock_restore(pid_t pid, uint64_t vdso_base, const uint8_t (*orig)[FL_CLOCK_PATCH_LEN],
                     struct fl_err *e)
{
    struct fl_clock_proc now, own;
    uint8_t(*use)[FL_CLOCK_PATCH_LEN] = NULL;
    _cleanup_close_ int fd = -1;
    struct stopped s;
    int r;

    /* Read the entries as they are now (without the refusal of a patched
     * one, which is what is looked for here). */
    r = fl_clock_inspect(pid, &now, e);
    if (r == -FL_ENOTARGET)
        return 0;
    if (r && r != -FL_EREFUSED)
        return r;
    if (orig && now.vdso_base == vdso_base) {
        use = (uint8_t(*)[FL_CLOCK_PATCH_LEN])orig;
    } else {
        /* The kernel maps one vDSO image into every 64-bit process. */
        if ((r = fl_clock_inspect(getpid(), &own, e)))
            return r;
        if (own.vdso_len != now.vdso_len || memcmp(&own.syms, &now.syms, sizeof own.syms))
            return fl_err_set(e, FL_EFAIL,
                              "pid %d: its vDSO differs from faultline's own, so its original "
                              "bytes are unknown; restart the process to undo the skew",
                              (int)pid);
        use = own.orig;
    }
    if ((fd = open_mem(pid, O_RDWR, e)) < 0)
        return fd == -FL_ENOTARGET ? 0 : fd;
    if ((r = stop_outside(pid, now.vdso_base, now.vdso_len, 0, &s, e)) <= 0)
        return r;
    r = unpatch_stopped(pid, fd, now.vdso_base, &now.syms,
                        (const uint8_t(*)[FL_CLOCK_PATCH_LEN])use, e);
    resume_all(&s);
    return r;
}

#else /* not x86-64 */

int fl_clock_skew(const struct fl_clock_proc *p, const struct fl_clock_shift *shift, const char *id,
                  uint64_t *page, struct fl_err *e)
{
    (void)p, (void)shift, (void)id;
    *page = 0;
    return fl_err_set(e, FL_EUNSUPPORTED, "clock.skew runs on x86-64 only");
}

int fl_clock_restore(pid_t pid, uint64_t vdso_base, const uint8_t (*orig)[FL_CLOCK_PATCH_LEN],
                     struct fl_err *e)
{
    (void)pid, (void)vdso_base, (void)orig;
    return fl_err_set(e, FL_EUNSUPPORTED, "clock.skew runs on x86-64 only");
}

#endif
