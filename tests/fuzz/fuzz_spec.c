/* Fuzz the experiment loader: YAML events -> tree -> validation. Any input
 * must yield a spec or error messages, never a crash or a leak - loaded as
 * `run` loads it, and as `validate` does (unset ${NAME} a warning). */
#include <stddef.h>
#include <stdint.h>

#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_spec_errors errs = {0};
    struct fl_spec *s;

    if (size > 65536)
        return 0;
    s = fl_spec_load_string("fuzz.yaml", (const char *)data, size, &errs);
    if (s) {
        char hash[17];
        fl_spec_hash(s, hash);
    }
    fl_spec_free(s);
    fl_spec_errors_fini(&errs);
    s = fl_spec_load_string_ex("fuzz.yaml", (const char *)data, size, FL_SPEC_UNSET_ENV_OK, &errs);
    fl_spec_free(s);
    fl_spec_errors_fini(&errs);
    return 0;
}
