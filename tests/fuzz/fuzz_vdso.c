/* Fuzz clock.skew's vDSO parser: whatever bytes a process's [vdso] mapping
 * holds, fl_vdso_parse reads only inside them and any entry it returns
 * lies within the image. The seed corpus/vdso/seed-so is a small shared
 * object with the three entry names, made with
 *   gcc -O1 -shared -fPIC -nostdlib -fno-asynchronous-unwind-tables \
 *       -Wl,--hash-style=both -Wl,-N -Wl,--build-id=none -o seed-so seed.c
 *   strip -R .comment seed-so
 * from functions that each run one `syscall` (the kernel's own vDSO is not
 * copied into the tree). */
#include <stdint.h>
#include <stdlib.h>

#include "clock/vdso.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_vdso_syms s;
    struct fl_err e;

    if (fl_vdso_parse(data, size, &s, &e) == 0) {
        for (int i = 0; i < FL_VDSO_NENTRIES; i++)
            if (s.off[i] && s.off[i] + FL_CLOCK_PATCH_LEN > size)
                abort();
        if (s.syscall_off + 2 > size || data[s.syscall_off] != 0x0f)
            abort();
    }
    return 0;
}
