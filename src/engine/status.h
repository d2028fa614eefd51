/* The status line `faultline run` keeps redrawn on a terminal's stderr
 * (phase, time left, active faults, each probe's last value and ok ratio),
 * erased before every event line so the timeline stays clean. */
#ifndef FL_ENGINE_STATUS_H
#define FL_ENGINE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fl_status {
    bool tty;        /* draw at all: stderr is a terminal */
    bool drawn;      /* a line is on the screen */
    int64_t last_ms; /* when it was last drawn (run time) */
};

/* Whether a redraw is due at now_ms (at most every 250 ms); marks it done. */
bool fl_status_due(struct fl_status *st, int64_t now_ms);
/* Append " | NAME [FAIL ]VALUE PCT% ok" for one probe to line at *off. */
void fl_status_probe(char *line, size_t len, size_t *off, const char *name, size_t n, size_t ok,
                     double last_value, bool last_ok);
/* Replace the line on the screen by line (cut to 200 characters). */
void fl_status_show(struct fl_status *st, const char *line);
/* Erase the line, if one is drawn. */
void fl_status_clear(struct fl_status *st);

#endif
