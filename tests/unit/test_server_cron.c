/* Cron expressions of the server's scheduler (src/server/cron.c): fields,
 * ranges, steps, lists, names, the day-of-month/day-of-week rule, @every,
 * errors that name the field, and expressions that never fire. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "server/cron.h"

/* ms since the epoch of a UTC date and time */
static int64_t at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

static int64_t next(const char *spec, int64_t after)
{
    struct fl_cron c;
    struct fl_err e = {0};

    cr_assert_eq(fl_cron_parse(spec, &c, &e), 0, "%s: %s", spec, e.msg);
    return fl_cron_next(&c, after);
}

static void bad(const char *spec, const char *needle)
{
    struct fl_cron c;
    struct fl_err e = {0};

    cr_assert_lt(fl_cron_parse(spec, &c, &e), 0, "%s should be refused", spec);
    cr_assert(strstr(e.msg, needle), "%s: '%s' lacks '%s'", spec, e.msg, needle);
}

Test(cron, every_minute_is_the_next_whole_minute)
{
    cr_assert_eq(next("* * * * *", at(2026, 1, 1, 0, 0) + 1), at(2026, 1, 1, 0, 1));
    cr_assert_eq(next("* * * * *", at(2026, 1, 1, 0, 0)), at(2026, 1, 1, 0, 1));
}

Test(cron, steps_ranges_and_lists)
{
    int64_t t = at(2026, 3, 2, 8, 50); /* a Monday */

    cr_assert_eq(next("*/15 9-17 * * 1-5", t), at(2026, 3, 2, 9, 0));
    cr_assert_eq(next("*/15 9-17 * * 1-5", at(2026, 3, 2, 17, 45)), at(2026, 3, 3, 9, 0));
    cr_assert_eq(next("5,35 */6 * * *", t), at(2026, 3, 2, 12, 5));
    cr_assert_eq(next("10-20/5 * * * *", at(2026, 3, 2, 8, 16)), at(2026, 3, 2, 8, 20));
    cr_assert_eq(next("0 0 * * *", at(2026, 12, 31, 23, 59)), at(2027, 1, 1, 0, 0));
}

Test(cron, names_of_days_and_months_and_sunday_as_7)
{
    int64_t t = at(2026, 3, 2, 0, 0); /* Monday */

    cr_assert_eq(next("0 12 * * sat", t), at(2026, 3, 7, 12, 0));
    cr_assert_eq(next("0 12 * * SUN", t), at(2026, 3, 8, 12, 0));
    cr_assert_eq(next("0 12 * * 7", t), at(2026, 3, 8, 12, 0));
    cr_assert_eq(next("0 0 1 jun *", t), at(2026, 6, 1, 0, 0));
    cr_assert_eq(next("0 0 1 Jan-Mar/2 *", t), at(2027, 1, 1, 0, 0));
}

Test(cron, restricted_day_of_month_and_week_match_either)
{
    /* the 13th, or any Friday: after Monday 2026-03-02 the first is Friday the 6th */
    cr_assert_eq(next("0 0 13 * 5", at(2026, 3, 2, 0, 0)), at(2026, 3, 6, 0, 0));
    cr_assert_eq(next("0 0 13 * *", at(2026, 3, 2, 0, 0)), at(2026, 3, 13, 0, 0));
}

Test(cron, leap_day_and_aliases)
{
    cr_assert_eq(next("0 0 29 2 *", at(2026, 1, 1, 0, 0)), at(2028, 2, 29, 0, 0));
    cr_assert_eq(next("@daily", at(2026, 1, 1, 5, 0)), at(2026, 1, 2, 0, 0));
    cr_assert_eq(next("@hourly", at(2026, 1, 1, 5, 0)), at(2026, 1, 1, 6, 0));
    cr_assert_eq(next("@weekly", at(2026, 3, 2, 0, 0)), at(2026, 3, 8, 0, 0));
    cr_assert_eq(next("@monthly", at(2026, 3, 2, 0, 0)), at(2026, 4, 1, 0, 0));
}

Test(cron, every_duration)
{
    cr_assert_eq(next("@every 10m", 1000), 1000 + 600000);
    cr_assert_eq(next("@every 2s", 5), 2005);
    bad("@every 0s", "from 1s");
    bad("@every", "duration");
    bad("@every soon", "soon");
}

Test(cron, never_firing_expressions_return_minus_one)
{
    cr_assert_eq(next("0 0 31 2 *", at(2026, 1, 1, 0, 0)), -1);
    cr_assert_eq(next("0 0 30 feb *", at(2026, 1, 1, 0, 0)), -1);
    cr_assert_eq(next("0 0 31 4,6,9,11 *", at(2026, 1, 1, 0, 0)), -1);
}

Test(cron, errors_name_the_field)
{
    bad("* * * *", "has 4 fields; expected 5");
    bad("* * * * * *", "has 6 fields");
    bad("60 * * * *", "field 1 (minute) '60': out of range");
    bad("* 24 * * *", "field 2 (hour)");
    bad("* * 0 * *", "field 3 (day of month) '0'");
    bad("* * * 13 *", "field 4 (month)");
    bad("* * * foo *", "field 4 (month) 'foo': not a number or a name");
    bad("* * * * 8", "field 5 (day of week)");
    bad("* * * * mon-", "field 5 (day of week)");
    bad("5-1 * * * *", "runs backwards");
    bad("*/0 * * * *", "step");
    bad("1,,2 * * * *", "field 1");
    bad(",1 * * * *", "empty list item");
    bad("*x * * * *", "unexpected characters");
    bad("@often", "unknown alias");
}

Test(cron, matches_a_minute_for_blackout_windows)
{
    struct fl_cron c;
    struct fl_err e = {0};

    cr_assert_eq(fl_cron_parse("* 0-8,18-23 * * *", &c, &e), 0);
    cr_assert(fl_cron_matches(&c, at(2026, 3, 2, 7, 59) + 30000));
    cr_assert(!fl_cron_matches(&c, at(2026, 3, 2, 9, 0)));
    cr_assert(fl_cron_matches(&c, at(2026, 3, 2, 23, 59)));
    cr_assert_eq(fl_cron_parse("* * * * sat,sun", &c, &e), 0);
    cr_assert(fl_cron_matches(&c, at(2026, 3, 7, 12, 0)));
    cr_assert(!fl_cron_matches(&c, at(2026, 3, 6, 12, 0)));
    cr_assert_eq(fl_cron_parse("@every 1m", &c, &e), 0);
    cr_assert(!fl_cron_matches(&c, at(2026, 3, 7, 12, 0)));
}
