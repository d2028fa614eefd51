/* clock.skew's pure half: the vDSO's symbol table, the trampoline code and
 * the jump over each entry (see vdso.h). The machine code below was written
 * in assembly for this project and assembled with GNU as; each byte array
 * carries the instructions it encodes, and the immediates filled in at run
 * time are named by their offsets. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock/vdso.h"
#include "util/parse.h"

static const char *const entry_names[FL_VDSO_NENTRIES][2] = {
    {"__vdso_clock_gettime", "clock_gettime"},
    {"__vdso_gettimeofday", "gettimeofday"},
    {"__vdso_time", "time"},
};

static bool in_range(size_t len, uint64_t off, uint64_t n)
{
    return off <= len && n <= len - off;
}

static int entry_index(const char *name)
{
    for (int i = 0; i < FL_VDSO_NENTRIES; i++)
        if (!strcmp(name, entry_names[i][0]) || !strcmp(name, entry_names[i][1]))
            return i;
    return -1;
}

/* Executable section holding [off, off + n), or NULL. */
static const Elf64_Shdr *exec_section(const Elf64_Shdr *sh, size_t nsh, uint64_t off, uint64_t n)
{
    for (size_t i = 0; i < nsh; i++)
        if ((sh[i].sh_flags & SHF_EXECINSTR) && off >= sh[i].sh_offset &&
            off - sh[i].sh_offset <= sh[i].sh_size && n <= sh[i].sh_size - (off - sh[i].sh_offset))
            return &sh[i];
    return NULL;
}

/* The image's first loadable segment maps file offset p_offset at p_vaddr;
 * symbol values are virtual addresses. */
static int load_bias(const uint8_t *img, size_t len, const Elf64_Ehdr *eh, int64_t *bias,
                     struct fl_err *e)
{
    if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
        !in_range(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
        return fl_err_set(e, FL_EFAIL, "vDSO image: program headers out of bounds");
    for (size_t i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh->e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type == PT_LOAD) {
            *bias = (int64_t)(ph.p_offset - ph.p_vaddr);
            return 0;
        }
    }
    return fl_err_set(e, FL_EFAIL, "vDSO image: no loadable segment");
}

static void find_syscall(const uint8_t *img, const Elf64_Shdr *sh, size_t nsh,
                         struct fl_vdso_syms *out)
{
    for (size_t i = 0; i < nsh && !out->syscall_off; i++) {
        if (!(sh[i].sh_flags & SHF_EXECINSTR) || sh[i].sh_size < 2)
            continue;
        for (uint64_t o = sh[i].sh_offset; o + 1 < sh[i].sh_offset + sh[i].sh_size; o++)
            if (img[o] == 0x0f && img[o + 1] == 0x05 && o) {
                out->syscall_off = o;
                break;
            }
    }
}

static int read_dynsym(const uint8_t *img, size_t len, const Elf64_Shdr *sh, size_t nsh,
                       int64_t bias, struct fl_vdso_syms *out, struct fl_err *e)
{
    for (size_t i = 0; i < nsh; i++) {
        const Elf64_Shdr *sym = &sh[i], *str;
        if (sym->sh_type != SHT_DYNSYM)
            continue;
        if (sym->sh_link >= nsh || !in_range(len, sym->sh_offset, sym->sh_size))
            return fl_err_set(e, FL_EFAIL, "vDSO image: dynamic symbol table out of bounds");
        str = &sh[sym->sh_link];
        if (!in_range(len, str->sh_offset, str->sh_size) || !str->sh_size ||
            img[str->sh_offset + str->sh_size - 1] != 0)
            return fl_err_set(e, FL_EFAIL, "vDSO image: string table out of bounds");
        for (uint64_t k = 0; k + sizeof(Elf64_Sym) <= sym->sh_size; k += sizeof(Elf64_Sym)) {
            Elf64_Sym s;
            uint64_t off;
            int idx;

            memcpy(&s, img + sym->sh_offset + k, sizeof s);
            if (s.st_name >= str->sh_size || ELF64_ST_TYPE(s.st_info) != STT_FUNC)
                continue;
            idx = entry_index((const char *)img + str->sh_offset + s.st_name);
            off = s.st_value + (uint64_t)bias;
            if (idx < 0 || s.st_size < FL_CLOCK_PATCH_LEN ||
                !exec_section(sh, nsh, off, FL_CLOCK_PATCH_LEN) || !off)
                continue;
            out->off[idx] = off;
        }
        return 0;
    }
    return fl_err_set(e, FL_EFAIL, "vDSO image: no dynamic symbol table");
}

int fl_vdso_parse(const uint8_t *img, size_t len, struct fl_vdso_syms *out, struct fl_err *e)
{
    Elf64_Ehdr eh;
    Elf64_Shdr *sh;
    int64_t bias = 0;
    int r;

    memset(out, 0, sizeof *out);
    if (len < sizeof eh || memcmp(img, ELFMAG, SELFMAG))
        return fl_err_set(e, FL_EFAIL, "vDSO image: not an ELF image (%zu bytes)", len);
    memcpy(&eh, img, sizeof eh);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
        return fl_err_set(e, FL_EUNSUPPORTED,
                          "the vDSO is not x86-64 code (ELF class %d, machine %d): clock.skew "
                          "supports 64-bit x86-64 processes only",
                          eh.e_ident[EI_CLASS], eh.e_machine);
    if ((r = load_bias(img, len, &eh, &bias, e)))
        return r;
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || !eh.e_shnum ||
        !in_range(len, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)))
        return fl_err_set(e, FL_EFAIL, "vDSO image: section headers out of bounds");
    sh = calloc(eh.e_shnum, sizeof *sh);
    if (!sh)
        return fl_err_set(e, FL_EFAIL, "out of memory");
    memcpy(sh, img + eh.e_shoff, (size_t)eh.e_shnum * sizeof *sh);
    for (size_t i = 0; i < eh.e_shnum; i++)
        if ((sh[i].sh_flags & SHF_EXECINSTR) && !in_range(len, sh[i].sh_offset, sh[i].sh_size))
            sh[i].sh_flags &= ~(uint64_t)SHF_EXECINSTR; /* never scanned */
    r = read_dynsym(img, len, sh, eh.e_shnum, bias, out, e);
    if (!r)
        find_syscall(img, sh, eh.e_shnum, out);
    free(sh);
    if (!r && !out->off[FL_VDSO_CLOCK_GETTIME])
        r = fl_err_set(e, FL_EUNSUPPORTED, "the vDSO has no __vdso_clock_gettime entry");
    else if (!r && !out->syscall_off)
        r = fl_err_set(e, FL_EUNSUPPORTED, "the vDSO holds no syscall instruction to borrow");
    return r;
}

int fl_clock_parse_offset(const char *s, int64_t *ms, struct fl_err *e)
{
    int sign = 1, r;

    if (!s || !*s)
        return fl_err_set(e, FL_EUSAGE, "--offset needs a value such as +1h, -30s or -1h30m");
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if ((r = fl_parse_duration_ms(s, ms, e)))
        return r;
    *ms *= sign;
    return 0;
}

int fl_clock_parse_clocks(const char *s, uint32_t *mask, struct fl_err *e)
{
    static const struct {
        const char *name;
        uint32_t mask;
    } names[] = {
        {"realtime", FL_CLOCK_MASK_REALTIME},
        {"monotonic", FL_CLOCK_MASK_MONOTONIC},
        {"boottime", FL_CLOCK_MASK_BOOTTIME},
        {"tai", FL_CLOCK_MASK_TAI},
        {"all", FL_CLOCK_MASK_REALTIME | FL_CLOCK_MASK_MONOTONIC | FL_CLOCK_MASK_BOOTTIME |
                    FL_CLOCK_MASK_TAI},
    };
    const char *p = s;

    *mask = 0;
    while (p && *p) {
        size_t n = strcspn(p, ","), i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == n && !strncmp(p, names[i].name, n))
                break;
        if (i == sizeof names / sizeof names[0])
            return fl_err_set(e, FL_EUSAGE,
                              "--clocks '%s': '%.*s' is not a clock; use realtime, monotonic, "
                              "boottime, tai or all, comma-separated",
                              s, (int)n, p);
        *mask |= names[i].mask;
        p += n + (p[n] == ',');
    }
    if (!*mask)
        return fl_err_set(e, FL_EUSAGE, "--clocks is empty; use e.g. realtime,monotonic");
    return 0;
}

/* The trampoline page. Register use follows the x86-64 System V ABI the
 * vDSO entries have: arguments in rdi/rsi, result in rax; rcx, rdx, r8, r9
 * and r11 are scratch (`syscall` itself clobbers rcx and r11), the rest is
 * preserved. A skewed reading t (in ns) becomes
 *     t + OFFSET + (t - T0[clock]) * PPM / 1000000
 * with T0[clock] the clock's own reading when the fault was applied (the
 * table at FL_CLOCK_T0_OFF), so a drift starts from zero then. */
static const uint8_t code_template[FL_CLOCK_CODE_LEN] = {
    /* 0x00 clock_gettime(clockid_t edi, struct timespec *rsi) */
    0xf3, 0x0f, 0x1e, 0xfa,                   /* endbr64 */
    0xb8, 0xe4, 0x00, 0x00, 0x00,             /* mov eax, 228 (SYS_clock_gettime) */
    0x0f, 0x05,                               /* syscall */
    0x48, 0x85, 0xc0,                         /* test rax, rax */
    0x75, 0x77,                               /* jnz .ret (error: as the kernel said) */
    0x83, 0xff, 0x1f,                         /* cmp edi, 31 */
    0x77, 0x72,                               /* ja .ret (CPU/fd clocks: ids >= 32, < 0) */
    0x41, 0xbb, 0, 0, 0, 0,                   /* 0x15: mov r11d, MASK (imm32 at 0x17) */
    0x41, 0x0f, 0xa3, 0xfb,                   /* bt r11d, edi */
    0x73, 0x66,                               /* jnc .ret (a clock left alone) */
    0x48, 0x85, 0xf6,                         /* test rsi, rsi */
    0x74, 0x61,                               /* jz .ret */
    0x48, 0x69, 0x0e, 0x00, 0xca, 0x9a, 0x3b, /* imul rcx, [rsi], 1000000000 */
    0x48, 0x03, 0x4e, 0x08,                   /* add rcx, [rsi+8]  (rcx = t in ns) */
    0x4c, 0x8d, 0x1d, 0xc8, 0x01, 0x00, 0x00, /* lea r11, [rip+0x1c8] (T0 table at 0x200) */
    0x48, 0x89, 0xc8,                         /* mov rax, rcx */
    0x49, 0x2b, 0x04, 0xfb,                   /* sub rax, [r11+rdi*8]  (t - T0) */
    0x49, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,       /* 0x3f: movabs r8, PPM (imm64 at 0x41) */
    0x49, 0xf7, 0xe8,                         /* imul r8  (rdx:rax = (t - T0) * PPM) */
    0x41, 0xb8, 0x40, 0x42, 0x0f, 0x00,       /* mov r8d, 1000000 */
    0x49, 0xf7, 0xf8,                         /* idiv r8  (|PPM| <= 1e6: no overflow) */
    0x48, 0x01, 0xc1,                         /* add rcx, rax */
    0x49, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,       /* 0x58: movabs r8, OFFSET ns (imm64 at 0x5a) */
    0x4c, 0x01, 0xc1,                         /* add rcx, r8 */
    0x48, 0x89, 0xc8,                         /* mov rax, rcx */
    0x48, 0x99,                               /* cqo */
    0x41, 0xb8, 0x00, 0xca, 0x9a, 0x3b,       /* mov r8d, 1000000000 */
    0x49, 0xf7, 0xf8,                         /* idiv r8  (rax = s, rdx = ns, signed) */
    0x48, 0x85, 0xd2,                         /* test rdx, rdx */
    0x79, 0x06,                               /* jns .store */
    0x4c, 0x01, 0xc2,                         /* add rdx, r8  (ns into [0, 1e9)) */
    0x48, 0xff, 0xc8,                         /* dec rax */
    0x48, 0x89, 0x06,                         /* .store: mov [rsi], rax */
    0x48, 0x89, 0x56, 0x08,                   /* mov [rsi+8], rdx */
    0x31, 0xc0,                               /* xor eax, eax */
    0xc3,                                     /* .ret: ret */
    /* 0x88 gettimeofday(struct timeval *rdi, struct timezone *rsi) */
    0xf3, 0x0f, 0x1e, 0xfa,       /* endbr64 */
    0x48, 0x85, 0xf6,             /* test rsi, rsi */
    0x74, 0x0c,                   /* jz .tv (no timezone wanted) */
    0xb8, 0x60, 0x00, 0x00, 0x00, /* mov eax, 96 (SYS_gettimeofday, for the timezone) */
    0x0f, 0x05,                   /* syscall */
    0x48, 0x85, 0xc0,             /* test rax, rax */
    0x75, 0x3e,                   /* jnz .ret */
    0x48, 0x85, 0xff,             /* .tv: test rdi, rdi */
    0x74, 0x37,                   /* jz .ok */
    0x48, 0x83, 0xec, 0x18,       /* sub rsp, 24 (a timespec, rsp kept 16-aligned) */
    0x49, 0x89, 0xf9,             /* mov r9, rdi (the entry at 0x00 leaves r9 alone) */
    0x31, 0xff,                   /* xor edi, edi (CLOCK_REALTIME) */
    0x48, 0x89, 0xe6,             /* mov rsi, rsp */
    0xe8, 0x4d, 0xff, 0xff, 0xff, /* call 0x00 */
    0x48, 0x85, 0xc0,             /* test rax, rax */
    0x75, 0x1c,                   /* jnz .out */
    0x48, 0x8b, 0x04, 0x24,       /* mov rax, [rsp] */
    0x49, 0x89, 0x01,             /* mov [r9], rax  (tv_sec) */
    0x48, 0x8b, 0x44, 0x24, 0x08, /* mov rax, [rsp+8] */
    0x31, 0xd2,                   /* xor edx, edx */
    0xb9, 0xe8, 0x03, 0x00, 0x00, /* mov ecx, 1000 */
    0x48, 0xf7, 0xf1,             /* div rcx */
    0x49, 0x89, 0x41, 0x08,       /* mov [r9+8], rax  (tv_usec) */
    0x31, 0xc0,                   /* xor eax, eax */
    0x48, 0x83, 0xc4, 0x18,       /* .out: add rsp, 24 */
    0xc3,                         /* ret */
    0x31, 0xc0,                   /* .ok: xor eax, eax */
    0xc3,                         /* .ret: ret */
    /* 0xdc time(time_t *rdi): the skewed clock_gettime(CLOCK_REALTIME) above */
    0xf3, 0x0f, 0x1e, 0xfa,       /* endbr64 */
    0x48, 0x83, 0xec, 0x18,       /* sub rsp, 24 */
    0x49, 0x89, 0xf9,             /* mov r9, rdi */
    0x31, 0xff,                   /* xor edi, edi (CLOCK_REALTIME) */
    0x48, 0x89, 0xe6,             /* mov rsi, rsp */
    0xe8, 0x0f, 0xff, 0xff, 0xff, /* call 0x00 */
    0x48, 0x8b, 0x04, 0x24,       /* mov rax, [rsp] (tv_sec) */
    0x48, 0x83, 0xc4, 0x18,       /* add rsp, 24 */
    0x4d, 0x85, 0xc9,             /* test r9, r9 */
    0x74, 0x03,                   /* jz .ret */
    0x49, 0x89, 0x01,             /* mov [r9], rax */
    0xc3,                         /* .ret: ret */
};

enum {
    CG_MASK = 0x17,
    CG_PPM = 0x41,
    CG_OFFSET = 0x5a,
    GTOD_ENTRY = 0x88,
    TIME_ENTRY = 0xdc,
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void fl_clock_build_code(const struct fl_clock_shift *s, uint8_t buf[FL_CLOCK_IMAGE_LEN],
                         size_t entry[FL_VDSO_NENTRIES])
{
    memset(buf, 0, FL_CLOCK_IMAGE_LEN);
    memcpy(buf, code_template, FL_CLOCK_CODE_LEN);
    put32(buf + CG_MASK, s->mask);
    put64(buf + CG_PPM, (uint64_t)s->drift_ppm);
    put64(buf + CG_OFFSET, (uint64_t)(s->offset_ms * 1000000));
    for (int i = 0; i < 32; i++)
        put64(buf + FL_CLOCK_T0_OFF + (size_t)8 * (size_t)i, (uint64_t)s->t0_ns[i]);
    entry[FL_VDSO_CLOCK_GETTIME] = 0;
    entry[FL_VDSO_GETTIMEOFDAY] = GTOD_ENTRY;
    entry[FL_VDSO_TIME] = TIME_ENTRY;
}

int fl_clock_parse_drift(const char *s, int64_t *ppm, struct fl_err *e)
{
    char *end;
    double v;

    if (!s || !*s)
        return fl_err_set(e, FL_EUSAGE, "--drift needs a value such as 500 (ppm) or 10%%");
    v = strtod(s, &end);
    if (end == s || (*end && strcmp(end, "%") && strcmp(end, "ppm")))
        return fl_err_set(e, FL_EUSAGE,
                          "--drift '%s': give parts per million (500, -2000ppm) or a percentage "
                          "(10%%, -5%%)",
                          s);
    if (!strcmp(end, "%"))
        v *= 10000;
    if (!(v > -1000000 && v <= 1000000))
        return fl_err_set(e, FL_EUSAGE,
                          "--drift '%s': between -100%% (exclusive: a clock that stops) and "
                          "+100%% (twice as fast)",
                          s);
    *ppm = (int64_t)(v < 0 ? v - 0.5 : v + 0.5);
    return 0;
}

void fl_clock_build_patch(uint64_t target, uint8_t out[FL_CLOCK_PATCH_LEN])
{
    out[0] = 0x48; /* movabs rax, target */
    out[1] = 0xb8;
    put64(out + 2, target);
    out[10] = 0xff; /* jmp rax */
    out[11] = 0xe0;
}

bool fl_clock_is_patch(const uint8_t b[FL_CLOCK_PATCH_LEN], uint64_t *target)
{
    uint64_t t = 0;

    if (b[0] != 0x48 || b[1] != 0xb8 || b[10] != 0xff || b[11] != 0xe0)
        return false;
    for (int i = 7; i >= 0; i--)
        t = t << 8 | b[2 + i];
    if (target)
        *target = t;
    return true;
}
