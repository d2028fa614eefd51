/* Fuzz the container inspect parser (podman's array or Docker's object):
 * any input is refused with a message, or gives a running container with a
 * plausible host pid. */
#include <stdint.h>
#include <stdlib.h>

#include "util/container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_container c;
    struct fl_err e = {0};

    if (fl_container_parse_inspect("fuzz", "podman", (const char *)data, size, &c, &e) == 0) {
        if (c.pid <= 1 || c.pid > 4194304 || !c.id[0])
            abort();
    } else if (!e.msg[0]) {
        abort();
    }
    return 0;
}
