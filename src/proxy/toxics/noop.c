/* noop: passes data through untouched (Toxiproxy's `noop` type: useful to
 * check that a client can add and remove toxics without changing traffic). */
#include "proxy/toxic.h"

const struct fl_px_toxic_ops fl_px_toxic_noop = {
    .type = "noop",
    .attrs = {{NULL, 0, 0}},
};
