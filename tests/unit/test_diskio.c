/* disk.io's rules: which file operations a fault selects. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "diskio/diskio.h"

static void rules(struct fl_diskio_rules *r, const char *json)
{
    json_error_t je;
    json_t *p = json_loads(json, 0, &je);
    struct fl_err e = {0};

    cr_assert_not_null(p, "%s", je.text);
    cr_assert_eq(fl_diskio_rules_from_params(p, r, &e), 0, "%s", e.msg);
    json_decref(p);
}

Test(diskio, selects_by_operation_and_path)
{
    struct fl_diskio_rules r;

    rules(&r, "{\"op\": [\"read\", \"fsync\"], \"file\": [\"*.aof\", \"pg_wal/*\"], "
              "\"errno\": \"eio\"}");
    cr_expect_eq(r.err, EIO);
    cr_expect(fl_diskio_selects(&r, FL_IO_READ, "appendonly.aof", 0.5));
    cr_expect(fl_diskio_selects(&r, FL_IO_FSYNC, "dir/x.aof", 0.5), "'*' crosses '/'");
    cr_expect(fl_diskio_selects(&r, FL_IO_READ, "pg_wal/000001", 0.5));
    cr_expect(!fl_diskio_selects(&r, FL_IO_WRITE, "appendonly.aof", 0.5));
    cr_expect(!fl_diskio_selects(&r, FL_IO_READ, "dump.rdb", 0.5));
    cr_expect(fl_diskio_selects(&r, FL_IO_OPEN | FL_IO_READ, "a.aof", 0.5), "any of the bits");
    fl_diskio_rules_fini(&r);
}

Test(diskio, defaults_every_operation_and_file_and_percent)
{
    struct fl_diskio_rules r;

    rules(&r, "{\"delay\": 5, \"percent\": 25}");
    cr_expect_eq(r.ops, (unsigned)FL_IO_ALL);
    cr_expect(fl_diskio_selects(&r, FL_IO_RENAME, "", 0.24));
    cr_expect(!fl_diskio_selects(&r, FL_IO_RENAME, "", 0.25));
    fl_diskio_rules_fini(&r);
}

Test(diskio, bad_rules_name_the_option)
{
    static const char *const cases[][2] = {
        {"{\"errno\": \"EWHAT\"}", "--errno"},
        {"{}", "say what happens"},
        {"{\"errno\": \"EIO\", \"short\": true}", "exclude each other"},
        {"{\"short\": true, \"op\": \"fsync\"}", "--short"},
        {"{\"errno\": \"EIO\", \"op\": \"nope\"}", "--op 'nope'"},
        {"{\"errno\": \"EIO\", \"file\": \"/abs\"}", "relative to --path"},
        {"{\"errno\": \"EIO\", \"percent\": 101}", "--percent"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fl_diskio_rules r;
        struct fl_err e = {0};
        json_t *p = json_loads(cases[i][0], 0, NULL);

        cr_expect_lt(fl_diskio_rules_from_params(p, &r, &e), 0, "%s", cases[i][0]);
        cr_expect(strstr(e.msg, cases[i][1]), "%s: '%s'", cases[i][0], e.msg);
        fl_diskio_rules_fini(&r);
        json_decref(p);
    }
}

Test(diskio, describe)
{
    struct fl_diskio_rules r;
    char buf[256];

    rules(&r, "{\"op\": \"fsync\", \"file\": \"*.aof\", \"errno\": \"ENOSPC\", \"delay\": 10, "
              "\"percent\": 30}");
    fl_diskio_rules_describe(&r, buf, sizeof buf);
    cr_expect_str_eq(buf, "ENOSPC after 10ms delay on fsync of *.aof (30% of them)");
    fl_diskio_rules_fini(&r);
}
