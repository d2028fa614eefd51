/* Fuzz what a probe run elsewhere reads: `faultline probe --params` (the
 * first byte picks the probe kind, the rest is the JSON object, parsed
 * through that kind's option table and validate) and the sample lines the
 * engine reads back from an agent's job output. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "probes/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct fl_probe_ops *const *kinds = fl_probe_kinds();
    struct fl_probe_line l;
    struct fl_err e = {0};
    size_t nkinds = 0;
    json_t *in, *out = NULL;

    if (size < 1)
        return 0;
    while (kinds[nkinds])
        nkinds++;
    fl_probe_line_parse((const char *)data + 1, size - 1, &l, &e);
    if ((in = json_loadb((const char *)data + 1, size - 1, 0, NULL))) {
        if (fl_probe_params_parse(kinds[data[0] % nkinds], in, &out, &e) == 0)
            json_decref(out);
        json_decref(in);
    }
    return 0;
}
