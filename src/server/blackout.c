/* Blackout windows of a schedule: times when it must not start a run (a
 * release freeze, outside office hours). A slot that falls in one is
 * recorded as a `skipped` run with the window as its reason.
 *   {"cron": "* 0-8,18-23 * * *"}   every UTC minute the expression matches
 *   {"from": "2026-12-20T00:00Z", "to": "2027-01-04T00:00Z"}  [from, to) */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/cron.h"
#include "server/server.h"

/* "YYYY-MM-DDTHH:MM[:SS]Z" (UTC) as ms since the epoch; -1 if malformed. */
static int64_t utc_ms(const char *s)
{
    struct tm tm;
    const char *end;

    if (!s)
        return -1;
    memset(&tm, 0, sizeof tm);
    if (!(end = strptime(s, "%Y-%m-%dT%H:%M", &tm)))
        return -1;
    if (*end == ':' && !(end = strptime(end, ":%S", &tm)))
        return -1;
    if (strcmp(end, "Z"))
        return -1;
    return (int64_t)timegm(&tm) * 1000;
}

int fl_blackouts_validate(json_t *windows, struct fl_err *e)
{
    size_t i;
    json_t *w;

    if (!json_is_array(windows) || json_array_size(windows) > 64)
        return fl_err_set(e, FL_EUSAGE, "blackouts must be an array of at most 64 windows");
    json_array_foreach (windows, i, w) {
        const char *cron = json_string_value(json_object_get(w, "cron"));
        const char *from = json_string_value(json_object_get(w, "from"));
        const char *to = json_string_value(json_object_get(w, "to"));
        struct fl_cron c;

        if (!json_is_object(w) || json_object_size(w) != (cron ? 1u : 2u))
            return fl_err_set(e, FL_EUSAGE,
                              "blackout %zu: either {\"cron\": EXPR} or {\"from\": T, \"to\": T}",
                              i + 1);
        if (cron) {
            if (fl_cron_parse(cron, &c, e))
                return fl_err_prefix(e, "blackout %zu", i + 1);
            if (c.every_ms)
                return fl_err_set(e, FL_EUSAGE,
                                  "blackout %zu: @every is not a window; give the minutes "
                                  "as 5 cron fields",
                                  i + 1);
        } else if (utc_ms(from) < 0 || utc_ms(to) < 0) {
            return fl_err_set(e, FL_EUSAGE,
                              "blackout %zu: from and to are UTC times like "
                              "2026-12-20T00:00Z",
                              i + 1);
        } else if (utc_ms(from) >= utc_ms(to)) {
            return fl_err_set(e, FL_EUSAGE, "blackout %zu: from %s is not before to %s", i + 1,
                              from, to);
        }
    }
    return 0;
}

int fl_blackouts_check(json_t *windows, int64_t t_ms, char *reason, size_t len)
{
    size_t i;
    json_t *w;

    json_array_foreach (windows, i, w) {
        const char *cron = json_string_value(json_object_get(w, "cron"));
        struct fl_err e = {0};
        struct fl_cron c;

        if (cron) {
            if (!fl_cron_parse(cron, &c, &e) && fl_cron_matches(&c, t_ms)) {
                snprintf(reason, len, "in blackout window %zu (cron '%s')", i + 1, cron);
                return 1;
            }
            continue;
        }
        const char *from = json_string_value(json_object_get(w, "from"));
        const char *to = json_string_value(json_object_get(w, "to"));
        if (t_ms >= utc_ms(from) && t_ms < utc_ms(to)) {
            snprintf(reason, len, "in blackout window %zu (%s to %s)", i + 1, from, to);
            return 1;
        }
    }
    return 0;
}
