/* Schedule expressions: 5-field cron (minute hour day-of-month month
 * day-of-week; ranges A-B, steps "every S" as star-slash-S or A-B/S, lists, names,
 * 7 = Sunday; UTC), the aliases @hourly @daily @weekly @monthly @yearly, and
 * `@every D` (a duration from 1s). docs/server.md ("Schedules"). */
#ifndef FL_SERVER_CRON_H
#define FL_SERVER_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct fl_cron {
    uint64_t minute; /* bit n: minute n (0-59) */
    uint32_t hour;   /* 0-23 */
    uint32_t dom;    /* 1-31 */
    uint32_t month;  /* 1-12 */
    uint32_t dow;    /* 0-6, Sunday = 0 */
    bool dom_any, dow_any;
    int64_t every_ms; /* > 0 for @every */
};

/* Parse; an error names the field that is wrong (-FL_EUSAGE). */
int fl_cron_parse(const char *spec, struct fl_cron *c, struct fl_err *e);
/* The first fire time strictly after after_ms (ms since the epoch, UTC);
 * -1 when nothing matches within 10 years (e.g. "0 0 31 2 *"). */
int64_t fl_cron_next(const struct fl_cron *c, int64_t after_ms);

/* Whether the UTC minute holding t_ms matches (false for @every). */
bool fl_cron_matches(const struct fl_cron *c, int64_t t_ms);

#endif
