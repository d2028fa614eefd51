/* The web console's embedded files (src/server/console.c and the table
 * scripts/gen-web-assets generates from web/): every page module and uPlot
 * are embedded with the right Content-Type and an ETag, a view's URL falls
 * back to index.html, a missing file does not, the API stays the API. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/console.h"

Test(console, embeds_the_pages_and_uplot_with_types_and_etags)
{
    static const char *const want[][2] = {
        {"/index.html", "text/html"},
        {"/css/console.css", "text/css"},
        {"/js/app.js", "text/javascript"},
        {"/js/pages/run.js", "text/javascript"},
        {"/vendor/uPlot.iife.min.js", "text/javascript"},
        {"/vendor/uPlot.min.css", "text/css"},
    };

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct fl_web_asset *a = fl_console_find(want[i][0]);
        cr_assert(a, "%s is not embedded", want[i][0]);
        cr_assert_str_eq(a->path, want[i][0]);
        cr_assert(!strncmp(a->ctype, want[i][1], strlen(want[i][1])), "%s: %s", a->path, a->ctype);
        cr_assert_gt(a->len, 100, "%s is nearly empty", a->path);
        cr_assert_eq(strlen(a->etag), 18, "%s: etag %s", a->path, a->etag);
        cr_assert_eq(a->data[a->len], '\0');
    }
    cr_assert(strstr((const char *)fl_console_find("/vendor/uPlot.iife.min.js")->data, "uPlot"));
}

Test(console, views_fall_back_to_index_and_missing_files_do_not)
{
    const struct fl_web_asset *index = fl_console_find("/index.html");

    cr_assert_eq(fl_console_find("/"), index);
    cr_assert_eq(fl_console_find("/runs/12"), index);
    cr_assert_eq(fl_console_find("/compare"), index);
    cr_assert_null(fl_console_find("/js/missing.js"));
    cr_assert_null(fl_console_find("/favicon.ico"));
}

Test(console, owns_only_reads_outside_the_api)
{
    cr_assert(fl_console_owns("GET", "/"));
    cr_assert(fl_console_owns("HEAD", "/runs/3"));
    cr_assert_not(fl_console_owns("POST", "/"));
    cr_assert_not(fl_console_owns("GET", "/api/v1/runs"));
    cr_assert_not(fl_console_owns("GET", "/api"));
    cr_assert_not(fl_console_owns("GET", "/metrics"));
}
