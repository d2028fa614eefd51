/* Cron expressions (see cron.h): parsing into bit sets, one per field, and
 * the next matching minute found by skipping whole months, days and hours
 * that cannot match. */
#include "server/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/parse.h"

#define HORIZON_S (10LL * 366 * 24 * 3600)

struct field {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] stands for min + i */
};

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                     "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},  {"hour", 0, 23, NULL},       {"day of month", 1, 31, NULL},
    {"month", 1, 12, months}, {"day of week", 0, 7, days},
};

/* A number or a name of field f at *p; advances *p. */
static int value(const struct field *f, const char **p, int *out)
{
    char *end;
    long v;

    if (f->names && isalpha((unsigned char)**p)) {
        for (int i = 0; f->names[i]; i++)
            if (!strncasecmp(*p, f->names[i], 3) && !isalpha((unsigned char)(*p)[3])) {
                *out = f->min + i;
                *p += 3;
                return 0;
            }
        return -1;
    }
    if (!isdigit((unsigned char)**p))
        return -1;
    v = strtol(*p, &end, 10);
    if (end - *p > 2)
        return -1;
    *p = end;
    *out = (int)v;
    return 0;
}

static int field_err(struct fl_err *e, int i, const char *item, const char *why)
{
    return fl_err_set(e, FL_EUSAGE,
                      "cron field %d (%s) '%s': %s; expected *, N, N-M, */S, N-M/S or a list "
                      "of those, within %d-%d",
                      i + 1, fields[i].name, item, why, fields[i].min, fields[i].max);
}

/* One comma-separated item of field i into bits. */
static int item(int i, const char *it, uint64_t *bits, bool *any, struct fl_err *e)
{
    const struct field *f = &fields[i];
    const char *p = it;
    int lo = f->min, hi = f->max, step = 1;

    if (*p == '*') {
        p++;
        if (!*p)
            *any = true;
    } else {
        if (value(f, &p, &lo))
            return field_err(e, i, it, "not a number or a name");
        hi = lo;
        if (*p == '-') {
            p++;
            if (value(f, &p, &hi))
                return field_err(e, i, it, "the range's end is not a number or a name");
        } else if (*p == '/') {
            hi = f->max;
        }
    }
    if (*p == '/') {
        char *end;
        long s = strtol(++p, &end, 10);
        if (!isdigit((unsigned char)*p) || s < 1 || s > f->max || *end)
            return field_err(e, i, it, "the step must be a number from 1");
        step = (int)s;
        p = end;
    }
    if (*p)
        return field_err(e, i, it, "unexpected characters");
    if (lo < f->min || hi > f->max)
        return field_err(e, i, it, "out of range");
    if (lo > hi)
        return field_err(e, i, it, "the range runs backwards");
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << (i == 4 && v == 7 ? 0 : v);
    return 0;
}

static int parse_field(int i, char *text, uint64_t *bits, bool *any, struct fl_err *e)
{
    char *save = NULL, *tok;

    *bits = 0;
    *any = false;
    if (!*text || text[strlen(text) - 1] == ',' || text[0] == ',' || strstr(text, ",,"))
        return field_err(e, i, text, "empty list item");
    for (tok = strtok_r(text, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int r = item(i, tok, bits, any, e);
        if (r)
            return r;
    }
    return 0;
}

static const char *alias(const char *spec)
{
    static const char *const a[][2] = {
        {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
        {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
    };

    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
        if (!strcmp(spec, a[i][0]))
            return a[i][1];
    return spec;
}

int fl_cron_parse(const char *spec, struct fl_cron *c, struct fl_err *e)
{
    char buf[256], *f[6], *save = NULL;
    uint64_t bits[5];
    bool any[5];
    int n = 0;

    memset(c, 0, sizeof *c);
    while (isspace((unsigned char)*spec))
        spec++;
    if (!strncmp(spec, "@every", 6) && (isspace((unsigned char)spec[6]) || !spec[6])) {
        if (fl_parse_duration_ms(spec + 6 + strspn(spec + 6, " \t"), &c->every_ms, e))
            return fl_err_prefix(e, "schedule '%s'", spec);
        if (c->every_ms < 1000 || c->every_ms > 366LL * 24 * 3600 * 1000)
            return fl_err_set(e, FL_EUSAGE,
                              "schedule '%s': @every needs a duration from 1s to 366 days", spec);
        return 0;
    }
    spec = alias(spec);
    if (spec[0] == '@')
        return fl_err_set(e, FL_EUSAGE,
                          "schedule '%s': unknown alias; use @every D, @hourly, @daily, "
                          "@weekly, @monthly or @yearly",
                          spec);
    if (strlen(spec) >= sizeof buf)
        return fl_err_set(e, FL_EUSAGE, "cron expression too long (%zu bytes)", strlen(spec));
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        if (n < 6)
            f[n++] = t;
        else
            n++;
    if (n != 5)
        return fl_err_set(e, FL_EUSAGE,
                          "cron expression '%s' has %d field%s; expected 5: minute hour "
                          "day-of-month month day-of-week (or @every D)",
                          spec, n, n == 1 ? "" : "s");
    for (int i = 0; i < 5; i++) {
        int r = parse_field(i, f[i], &bits[i], &any[i], e);
        if (r)
            return r;
    }
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint32_t)bits[3];
    c->dow = (uint32_t)bits[4];
    c->dom_any = any[2];
    c->dow_any = any[4];
    return 0;
}

static bool day_matches(const struct fl_cron *c, const struct tm *tm)
{
    bool dom = c->dom & (1U << tm->tm_mday), dow = c->dow & (1U << tm->tm_wday);

    /* as in Vixie cron: when both are restricted, either may match */
    if (!c->dom_any && !c->dow_any)
        return dom || dow;
    return dom && dow;
}

int64_t fl_cron_next(const struct fl_cron *c, int64_t after_ms)
{
    time_t t, limit;
    struct tm tm;

    if (c->every_ms > 0)
        return after_ms + c->every_ms;
    t = (time_t)((after_ms >= 0 ? after_ms / 60000 : (after_ms - 59999) / 60000) + 1) * 60;
    limit = t + HORIZON_S;
    while (t < limit) {
        gmtime_r(&t, &tm);
        if (!(c->month & (1U << (tm.tm_mon + 1)))) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!(c->hour & (1U << tm.tm_hour))) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else if (!(c->minute & (1ULL << tm.tm_min))) {
            tm.tm_min++;
        } else {
            return (int64_t)t * 1000;
        }
        tm.tm_sec = 0;
        tm.tm_isdst = 0;
        t = timegm(&tm);
    }
    return -1;
}

bool fl_cron_matches(const struct fl_cron *c, int64_t t_ms)
{
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;

    if (c->every_ms > 0)
        return false;
    gmtime_r(&t, &tm);
    return (c->month & (1U << (tm.tm_mon + 1))) && day_matches(c, &tm) &&
           (c->hour & (1U << tm.tm_hour)) && (c->minute & (1ULL << tm.tm_min));
}
