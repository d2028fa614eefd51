/* The toxic registry: adding a toxic type is one file plus one line here. */
#include <string.h>

#include "proxy/toxic.h"

extern const struct fl_px_toxic_ops fl_px_toxic_latency, fl_px_toxic_bandwidth,
    fl_px_toxic_slow_close, fl_px_toxic_timeout, fl_px_toxic_reset_peer, fl_px_toxic_slicer,
    fl_px_toxic_limit_data, fl_px_toxic_noop, fl_px_toxic_http;

const struct fl_px_toxic_ops *const fl_px_toxic_types[] = {
    &fl_px_toxic_latency,    &fl_px_toxic_bandwidth,
    &fl_px_toxic_slow_close, &fl_px_toxic_timeout,
    &fl_px_toxic_reset_peer, &fl_px_toxic_slicer,
    &fl_px_toxic_limit_data, &fl_px_toxic_noop,
    &fl_px_toxic_http,       NULL,
};

const struct fl_px_toxic_ops *fl_px_toxic_lookup(const char *type)
{
    for (size_t i = 0; type && fl_px_toxic_types[i]; i++)
        if (!strcmp(fl_px_toxic_types[i]->type, type))
            return fl_px_toxic_types[i];
    return NULL;
}
