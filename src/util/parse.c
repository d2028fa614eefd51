/* Parsers for the human units of command lines and experiment files
 * (parse.h): durations, sizes, rates, percentages, integers. */
#include "util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct unit {
    const char *name;
    double mult;
};

/* Split "12.5mbit" into a number and a suffix; reject empty, negative, junk. */
static int split_number(const char *s, double *num, const char **suffix)
{
    char *end;

    if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    *num = strtod(s, &end);
    if (end == s || errno || !isfinite(*num) || *num < 0)
        return -1;
    if (!strncasecmp(s, "nan", 3) || !strncasecmp(s, "inf", 3) || strchr(s, 'x') || strchr(s, 'X'))
        return -1;
    *suffix = end;
    return 0;
}

static const struct unit *find_unit(const struct unit *units, const char *suffix)
{
    for (; units->name; units++)
        if (!strcmp(units->name, suffix))
            return units;
    return NULL;
}

int fl_parse_duration_ms(const char *s, int64_t *out, struct fl_err *e)
{
    static const struct unit units[] = {{"ms", 1},      {"s", 1000}, {"m", 60000},
                                        {"h", 3600000}, {"", 1000},  {NULL, 0}};
    double total = 0;
    const char *p = s;
    int parts = 0;

    if (!s || !*s)
        goto bad;
    while (*p) {
        double num;
        const char *suffix;
        char unit[4] = {0};
        int n = 0;
        const struct unit *u;

        if (split_number(p, &num, &suffix))
            goto bad;
        while (isalpha((unsigned char)suffix[n]) && n < 3) {
            unit[n] = suffix[n];
            n++;
        }
        if (isalpha((unsigned char)suffix[n]))
            goto bad;
        u = find_unit(units, unit);
        if (!u || (n == 0 && suffix[0] != '\0'))
            goto bad;
        if (n == 0 && parts > 0)
            goto bad;
        total += num * u->mult;
        p = suffix + n;
        parts++;
    }
    if (total > 365.0 * 24 * 3600 * 1000)
        return fl_err_set(e, FL_EUSAGE, "duration '%s' is longer than a year", s);
    *out = (int64_t)llround(total);
    return 0;
bad:
    return fl_err_set(e, FL_EUSAGE,
                      "cannot read '%s' as a duration: use a number with a unit, "
                      "like 500ms, 30s, 2m, 1h or 1m30s",
                      s ? s : "");
}

int fl_parse_size(const char *s, uint64_t *out, struct fl_err *e)
{
    static const struct unit units[] = {{"", 1},
                                        {"B", 1},
                                        {"K", 1024.0},
                                        {"KiB", 1024.0},
                                        {"KB", 1000.0},
                                        {"k", 1024.0},
                                        {"M", 1048576.0},
                                        {"MiB", 1048576.0},
                                        {"MB", 1e6},
                                        {"G", 1073741824.0},
                                        {"GiB", 1073741824.0},
                                        {"GB", 1e9},
                                        {"T", 1099511627776.0},
                                        {"TiB", 1099511627776.0},
                                        {"TB", 1e12},
                                        {NULL, 0}};
    double num;
    const char *suffix;
    const struct unit *u;

    if (split_number(s, &num, &suffix) || !(u = find_unit(units, suffix)))
        return fl_err_set(e, FL_EUSAGE,
                          "cannot read '%s' as a size: use bytes or a unit, like 4096, "
                          "512MiB, 1GiB or 10MB",
                          s ? s : "");
    if (num * u->mult > 9.0e18)
        return fl_err_set(e, FL_EUSAGE, "size '%s' is too large", s);
    *out = (uint64_t)llround(num * u->mult);
    return 0;
}

int fl_parse_rate_bps(const char *s, uint64_t *out, struct fl_err *e)
{
    static const struct unit units[] = {
        {"", 1},    {"bit", 1},    {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9},  {"tbit", 1e12},
        {"bps", 8}, {"kbps", 8e3}, {"mbps", 8e6}, {"gbps", 8e9}, {"tbps", 8e12}, {NULL, 0}};
    double num;
    const char *suffix;
    const struct unit *u;
    char low[16];
    size_t i;

    if (split_number(s, &num, &suffix) || strlen(suffix) >= sizeof low)
        goto bad;
    for (i = 0; suffix[i]; i++)
        low[i] = (char)tolower((unsigned char)suffix[i]);
    low[i] = '\0';
    if (!(u = find_unit(units, low)))
        goto bad;
    if (num * u->mult < 8)
        return fl_err_set(e, FL_EUSAGE, "rate '%s' is below 8 bit/s (1 byte/s)", s);
    if (num * u->mult > 9.0e18)
        return fl_err_set(e, FL_EUSAGE, "rate '%s' is too large: at most 9000000tbit", s);
    *out = (uint64_t)llround(num * u->mult);
    return 0;
bad:
    return fl_err_set(e, FL_EUSAGE,
                      "cannot read '%s' as a rate: use bits per second with a unit "
                      "(100kbit, 1mbit, 1gbit, 1tbit) or bytes per second (125kbps, 1mbps)",
                      s ? s : "");
}

int fl_parse_percent(const char *s, double *out, struct fl_err *e)
{
    double num;
    const char *suffix;

    if (split_number(s, &num, &suffix) || (*suffix && strcmp(suffix, "%")))
        return fl_err_set(e, FL_EUSAGE, "cannot read '%s' as a percent: use a number from 0 to 100",
                          s ? s : "");
    if (num > 100)
        return fl_err_set(e, FL_EUSAGE, "percent %s is outside 0-100", s);
    *out = num;
    return 0;
}

int fl_parse_int(const char *s, long long min, long long max, long long *out, struct fl_err *e)
{
    char *end;
    long long v;

    errno = 0;
    v = s && *s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno)
        return fl_err_set(e, FL_EUSAGE, "cannot read '%s' as a whole number", s ? s : "");
    if (v < min || v > max)
        return fl_err_set(e, FL_EUSAGE, "%s is outside %lld-%lld", s, min, max);
    *out = v;
    return 0;
}

void fl_format_duration(int64_t ms, char *buf, int len)
{
    if (ms < 0)
        ms = 0;
    if (ms < 1000)
        snprintf(buf, len, "%lldms", (long long)ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, len, "%lldm%llds", (long long)(ms / 60000), (long long)(ms % 60000 / 1000));
    else
        snprintf(buf, len, "%lldh%lldm", (long long)(ms / 3600000),
                 (long long)(ms % 3600000 / 60000));
}

void fl_format_size(uint64_t bytes, char *buf, int len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int i = 0;

    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, len, "%lluB", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.4g%s", v, units[i]);
}
