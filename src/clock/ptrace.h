/* clock.skew's live half: stop a process with ptrace, map the trampoline
 * page into it, write the jumps over its vDSO entries, and undo them. Each
 * function stops every thread of the process (PTRACE_SEIZE + INTERRUPT)
 * while it writes, so no thread runs code that is half rewritten, and lets
 * them all go before it returns. x86-64 only: elsewhere every function says
 * so (FL_EUNSUPPORTED). */
#ifndef FL_CLOCK_PTRACE_H
#define FL_CLOCK_PTRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock/vdso.h"
#include "util/err.h"

struct fl_clock_proc {
    pid_t pid;
    uint64_t vdso_base, vdso_len; /* from /proc/PID/maps */
    struct fl_vdso_syms syms;
    /* The bytes each present entry starts with, as found. */
    uint8_t orig[FL_VDSO_NENTRIES][FL_CLOCK_PATCH_LEN];
};

/* Read the process's vDSO and entries; touches nothing. FL_ENOTARGET when
 * the process is gone, FL_EREFUSED when an entry already holds a jump (a
 * clock.skew in place, or one left behind; `p` is filled all the same). */
int fl_clock_inspect(pid_t pid, struct fl_clock_proc *p, struct fl_err *e);

/* The code page also holds FL_CLOCK_TAG_PREFIX and the fault's id, so
 * `recover --all` can tell whose skew it finds. */
#define FL_CLOCK_TAG_OFF 0x180
#define FL_CLOCK_TAG_LEN 48
#define FL_CLOCK_TAG_PREFIX "faultline clock.skew "

/* Skew the process `p` (as inspected) by `shift` (its t0_ns are filled here,
 * at the moment of patching), tagging the code page with fault `id`.
 * *page gets the address of the code page mapped into it (0 if none was
 * mapped). Returns 1 when done, 0 when the process exited meanwhile, or a
 * negative FL_E* code; on failure the entries are as they were, though the
 * page may stay mapped. */
int fl_clock_skew(const struct fl_clock_proc *p, const struct fl_clock_shift *shift, const char *id,
                  uint64_t *page, struct fl_err *e);

/* The fault id tagged in the code page an inspected, skewed process jumps
 * to, into id[len]. -1 if it is not skewed or carries no tag. */
int fl_clock_tag(const struct fl_clock_proc *p, char *id, size_t len);

/* Put back every entry of `pid` that holds a jump: the bytes in `orig` when
 * the vDSO is still at `vdso_base`, else (an exec since, or orig NULL) this
 * process's own vDSO bytes, which are the kernel's same image. Returns the
 * number of entries restored (0: nothing to do, or the process is gone) or
 * a negative FL_E* code. The code page stays mapped: a thread may be in it. */
int fl_clock_restore(pid_t pid, uint64_t vdso_base, const uint8_t (*orig)[FL_CLOCK_PATCH_LEN],
                     struct fl_err *e);

#endif
