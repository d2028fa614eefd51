/* Clock skew by vDSO redirection (x86-64 only): the pure half.
 *
 * A process reads the clock through the vDSO, the small ELF image the kernel
 * maps into every process: glibc's clock_gettime/gettimeofday/time and Go's
 * runtime (statically linked, no libc) call its entry points directly, so an
 * LD_PRELOAD shim cannot reach them. clock.skew overwrites the first bytes of
 * each entry with a jump to code it maps into the process; that code makes
 * the system call itself and adds the offset. This file holds what needs no
 * live process: reading the vDSO's dynamic symbol table out of a copy of the
 * image, building that code for an offset, and recognising the jump it
 * writes. src/clock/ptrace.c does the rest on a live process. */
#ifndef FL_CLOCK_VDSO_H
#define FL_CLOCK_VDSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The entry points clock.skew redirects. */
enum fl_vdso_entry {
    FL_VDSO_CLOCK_GETTIME, /* __vdso_clock_gettime */
    FL_VDSO_GETTIMEOFDAY,  /* __vdso_gettimeofday */
    FL_VDSO_TIME,          /* __vdso_time */
    FL_VDSO_NENTRIES,
};

/* The jump written over an entry: movabs rax, imm64; jmp rax. */
#define FL_CLOCK_PATCH_LEN 12
/* The trampoline page: code from 0, the fault's tag at FL_CLOCK_TAG_OFF
 * (ptrace.h), each clock's T0 (int64 ns, by clock id) at FL_CLOCK_T0_OFF. */
#define FL_CLOCK_CODE_LEN 258
#define FL_CLOCK_T0_OFF 0x200
#define FL_CLOCK_IMAGE_LEN (FL_CLOCK_T0_OFF + 32 * 8)
/* The largest vDSO image faultline reads (x86-64's is 8 KiB). */
#define FL_VDSO_MAX_LEN ((uint64_t)64 * 1024)

struct fl_vdso_syms {
    /* Offsets of the entries from the start of the image; 0 = absent. Each
     * entry is at least FL_CLOCK_PATCH_LEN bytes long when present. */
    uint64_t off[FL_VDSO_NENTRIES];
    /* Offset of a `syscall` instruction (0f 05) in executable code, through
     * which a system call is run in the process; 0 = none. */
    uint64_t syscall_off;
};

/* Read the entries out of a copy of a vDSO image (`len` bytes from its first
 * byte). Every offset is bounds-checked: a truncated or hostile image is
 * FL_EFAIL with a message, never a read out of `img`. An image that is not a
 * 64-bit x86-64 ELF is FL_EUNSUPPORTED. */
int fl_vdso_parse(const uint8_t *img, size_t len, struct fl_vdso_syms *out, struct fl_err *e);

/* Clock ids the skew applies to: bit N for clock id N (CLOCK_REALTIME = 0). */
#define FL_CLOCK_MASK_REALTIME ((1u << 0) | (1u << 5))              /* + _COARSE */
#define FL_CLOCK_MASK_MONOTONIC ((1u << 1) | (1u << 4) | (1u << 6)) /* + _RAW, _COARSE */
#define FL_CLOCK_MASK_BOOTTIME (1u << 7)
#define FL_CLOCK_MASK_TAI (1u << 11)

/* Parse "+1h", "-30s", "90m", "-1h30m", "250ms" into signed milliseconds,
 * at most a year either way (what fl_parse_duration_ms accepts); 0 is
 * allowed (a drift alone). -FL_EUSAGE with a message otherwise. */
int fl_clock_parse_offset(const char *s, int64_t *ms, struct fl_err *e);
/* Parse "realtime", "monotonic", "boottime", "tai", "all", or a comma list
 * of them, into a mask of FL_CLOCK_MASK_* bits. */
int fl_clock_parse_clocks(const char *s, uint32_t *mask, struct fl_err *e);

/* What the code adds: OFFSET + (t - T0[clock]) * drift_ppm / 1e6, on the
 * clocks of `mask`. */
struct fl_clock_shift {
    int64_t offset_ms; /* within +-1 year */
    int64_t drift_ppm; /* (-1000000, 1000000] */
    uint32_t mask;
    int64_t t0_ns[32]; /* each clock's reading (ns) when the drift starts */
};

/* Parse a drift: parts per million ("500", "-2000ppm") or a percentage
 * ("10%", "-5%"), within (-100%, +100%]. */
int fl_clock_parse_drift(const char *s, int64_t *ppm, struct fl_err *e);

/* Build the trampoline page's first FL_CLOCK_IMAGE_LEN bytes (the code, and
 * the T0 table at FL_CLOCK_T0_OFF) into buf; entry[i] gets the offset within
 * buf of the replacement for entry i. */
void fl_clock_build_code(const struct fl_clock_shift *s, uint8_t buf[FL_CLOCK_IMAGE_LEN],
                         size_t entry[FL_VDSO_NENTRIES]);

/* The jump to `target` written over an entry. */
void fl_clock_build_patch(uint64_t target, uint8_t out[FL_CLOCK_PATCH_LEN]);
/* True if `b` is such a jump (target in *target if not NULL). */
bool fl_clock_is_patch(const uint8_t b[FL_CLOCK_PATCH_LEN], uint64_t *target);

#endif
