/* The terminal status line of a run (status.h): throttling, drawing and
 * erasing; engine.c says what goes on it. */
#include <stdio.h>

#include "engine/status.h"

#define STATUS_EVERY_MS 250

bool fl_status_due(struct fl_status *st, int64_t now_ms)
{
    if (!st->tty || now_ms - st->last_ms < STATUS_EVERY_MS)
        return false;
    st->last_ms = now_ms;
    return true;
}

void fl_status_probe(char *line, size_t len, size_t *off, const char *name, size_t n, size_t ok,
                     double last_value, bool last_ok)
{
    if (*off >= len)
        return;
    *off += (size_t)snprintf(line + *off, len - *off, " | %s %s%g %.1f%% ok", name,
                             n && !last_ok ? "FAIL " : "", last_value,
                             n ? 100.0 * (double)ok / (double)n : 100.0);
}

void fl_status_show(struct fl_status *st, const char *line)
{
    fprintf(stderr, "\r\033[K%.*s", 200, line);
    fflush(stderr);
    st->drawn = true;
}

void fl_status_clear(struct fl_status *st)
{
    if (st->drawn) {
        fputs("\r\033[K", stderr);
        st->drawn = false;
    }
}
