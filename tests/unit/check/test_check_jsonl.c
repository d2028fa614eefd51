/* The JSON Lines reader's fast paths against its general ones.
 *
 * history.c reads a line three ways: a scanner for flat objects with plain
 * keys (the lines faultline writes), the EDN reader in JSON mode, and
 * jansson. Putting a key with an escape first on every line ("\u0078": 0, an
 * unknown field) makes the scanner hand every line to the slower paths, so
 * the same history read both ways must come out the same: same operations,
 * values, keys, times and errors (compared through the JSON Lines export),
 * or the same error. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"

/* text with "\u0078": 0, inserted after the first '{' of every line */
static char *slow_variant(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(n * 2 + 64 * 16 + 1024), *o = out;
    const char *p = text;

    cr_assert_not_null(out);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        const char *brace = memchr(p, '{', len);
        if (brace) {
            memcpy(o, p, (size_t)(brace - p) + 1);
            o += brace - p + 1;
            o += sprintf(o, "\"\\u0078\": 0, ");
            memcpy(o, brace + 1, len - (size_t)(brace - p) - 1);
            o += len - (size_t)(brace - p) - 1;
        } else {
            memcpy(o, p, len);
            o += len;
        }
        p += len;
    }
    *o = 0;
    return out;
}

static char *export_jsonl(struct fl_history *h)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cr_assert_not_null(m);
    cr_assert_eq(fl_history_write_jsonl(h, NULL, m), 0);
    fclose(m);
    return buf;
}

/* Both readings agree; returns the fast one (caller frees) or NULL when
 * both refused the history. */
static struct fl_history *same_both_ways(const char *text)
{
    struct fl_history *a = NULL, *b = NULL;
    struct fl_err ea = {0}, eb = {0};
    char *slow = slow_variant(text);
    int ra = fl_history_parse(text, strlen(text), FL_FMT_JSONL, "a.jsonl", &a, &ea);
    int rb = fl_history_parse(slow, strlen(slow), FL_FMT_JSONL, "a.jsonl", &b, &eb);

    cr_assert_eq(ra, rb, "fast %d (%s) vs slow %d (%s) on:\n%s", ra, ea.msg, rb, eb.msg, text);
    if (ra < 0) {
        /* the same error, at the same line */
        const char *ca = strchr(ea.msg, ':'), *cb = strchr(eb.msg, ':');
        cr_assert(ca && cb && strtoul(ca + 1, NULL, 10) == strtoul(cb + 1, NULL, 10), "%s vs %s",
                  ea.msg, eb.msg);
        free(slow);
        return NULL;
    }
    char *xa = export_jsonl(a), *xb = export_jsonl(b);
    cr_assert_str_eq(xa, xb, "on:\n%s", text);
    cr_assert_eq(a->nops, b->nops);
    cr_assert_eq(a->have_time, b->have_time);
    for (size_t i = 0; i < a->nops; i++) {
        cr_assert_eq(a->ops[i].call, b->ops[i].call);
        cr_assert_eq(a->ops[i].ret, b->ops[i].ret);
        cr_assert_eq(a->ops[i].call_line, b->ops[i].call_line);
        cr_assert_eq(a->ops[i].ret_line, b->ops[i].ret_line);
        cr_assert_eq(a->ops[i].type, b->ops[i].type);
    }
    free(xa);
    free(xb);
    free(slow);
    fl_history_free(b);
    return a;
}

Test(check_jsonl, fast_scanner_reads_like_the_general_reader)
{
    static const char *const cases[] = {
        /* faultline's own shape */
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"write\", \"value\": 3, \"time\": 10}\n"
        "{\"process\": 0, \"type\": \"ok\", \"f\": \"write\", \"value\": 3, \"time\": 20}\n",
        /* other key orders, no spaces, extra fields, keys, errors */
        "{\"f\":\"read\",\"value\":null,\"type\":\"invoke\",\"process\":1,\"key\":\"k1\"}\n"
        "{\"extra\":{\"a\":[1,2,{\"b\":null}]},\"type\":\"ok\",\"process\":1,\"f\":\"read\","
        "\"value\":7}\n"
        "{\"process\":2,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1,2]}\n"
        "{\"process\":2,\"type\":\"fail\",\"f\":\"cas\",\"value\":[1,2],\"error\":\"mismatch\"}\n"
        "{\"process\":3,\"type\":\"invoke\",\"f\":\"write\",\"value\":5}\n"
        "{\"process\":3,\"type\":\"info\",\"f\":\"write\",\"value\":5,\"error\":42}\n",
        /* the nemesis, a non-integer process, is skipped */
        "{\"process\": \"nemesis\", \"type\": \"info\", \"f\": \"start\", \"value\": null}\n"
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\"}\n"
        "{\"process\": 0, \"type\": \"ok\", \"f\": \"read\", \"value\": 0}\n",
        /* values that must not be taken for an echo of the invocation */
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"add\", \"value\": 12}\n"
        "{\"process\": 0, \"type\": \"ok\", \"f\": \"add\", \"value\": 123}\n"
        "{\"process\": 1, \"type\": \"invoke\", \"f\": \"add\", \"value\": \"ab\"}\n"
        "{\"process\": 1, \"type\": \"ok\", \"f\": \"add\", \"value\": \"ab\"}\n"
        "{\"process\": 2, \"type\": \"invoke\", \"f\": \"add\", \"value\": [1, 2]}\n"
        "{\"process\": 2, \"type\": \"ok\", \"f\": \"add\", \"value\": [1, 2, 3]}\n"
        "{\"process\": 3, \"type\": \"invoke\", \"f\": \"add\", \"value\": 1.5}\n"
        "{\"process\": 3, \"type\": \"ok\", \"f\": \"add\", \"value\": 1.5e3}\n"
        "{\"process\": 4, \"type\": \"invoke\", \"f\": \"add\", \"value\": true}\n"
        "{\"process\": 4, \"type\": \"ok\", \"f\": \"add\", \"value\": true }\n",
        /* escapes, unicode, big and negative numbers, empty containers */
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"w\\u0072ite\", \"value\": \"a\\\"b\\n\"}\n"
        "{\"process\": 0, \"type\": \"ok\", \"f\": \"write\", \"value\": \"a\\\"b\\n\"}\n"
        "{\"process\": 1, \"type\": \"invoke\", \"f\": \"write\", \"value\": "
        "123456789012345678901234567890}\n"
        "{\"process\": 1, \"type\": \"ok\", \"f\": \"write\", \"value\": -4611686018427387904}\n"
        "{\"process\": 2, \"type\": \"invoke\", \"f\": \"write\", \"value\": {}}\n"
        "{\"process\": 2, \"type\": \"ok\", \"f\": \"write\", \"value\": []}\n"
        "{\"process\": 3, \"type\": \"invoke\", \"f\": \"\\u00e9t\\u00e9\", \"value\": -0}\n",
        /* blank lines, CRLF, tabs, comments */
        "\n  \n{\"process\": 0,\t\"type\": \"invoke\", \"f\": \"read\", \"value\": null}\r\n"
        "# a comment\n"
        "{ \"process\" : 0 , \"type\" : \"ok\" , \"f\" : \"read\" , \"value\" : 1 }\r\n",
        /* duplicate keys: the first one counts, on every path */
        "{\"process\": 0, \"type\": \"invoke\", \"type\": \"ok\", \"f\": \"read\", \"f\": \"x\"}\n"
        "{\"process\": 0, \"process\": 9, \"type\": \"ok\", \"f\": \"read\", \"value\": 1, "
        "\"value\": 2}\n",
        /* a type that is not a plain string */
        "{\"process\": 0, \"type\": \"in\\u0076oke\", \"f\": \"read\"}\n"
        "{\"process\": 0, \"type\": \"ok\", \"f\": \"read\", \"value\": 5}\n",
        /* errors: the same message on the same line */
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\"}\n"
        "{\"process\": 1, \"type\": \"ok\", \"f\": \"read\", \"value\": 5}\n",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\"}\n"
        "{\"process\": 0, \"type\": \"ok\", \"f\": \"write\", \"value\": 5}\n",
        "{\"process\": 0, \"type\": \"begin\", \"f\": \"read\"}\n",
        "{\"type\": \"invoke\", \"f\": \"read\"}\n",
        "{\"process\": 0, \"type\": \"invoke\"}\n",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\", \"value\": [1, 2}\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        fl_history_free(same_both_ways(cases[i]));
}

/* A completion that repeats its invocation's value shares the parsed value;
 * one that differs, even by a trailing digit, does not. */
Test(check_jsonl, echoed_values)
{
    const char *text =
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"t\", \"value\": {\"a\": [1, "
        "2]}}\n"
        "{\"process\": 0, \"type\": \"ok\", \"f\": \"t\", \"value\": {\"a\": [1, "
        "2]}}\n"
        "{\"process\": 1, \"type\": \"invoke\", \"f\": \"t\", \"value\": 12}\n"
        "{\"process\": 1, \"type\": \"ok\", \"f\": \"t\", \"value\": 123}\n";
    struct fl_history *h = same_both_ways(text);
    cr_assert_not_null(h);
    cr_assert_eq(h->nops, 2);
    cr_assert_eq(h->ops[0].comp.kind, FL_V_MAP);
    cr_assert_eq(h->ops[0].comp.x, h->ops[0].inv.x, "the echo shares the value");
    cr_assert_eq(h->ops[1].inv.x, 12);
    cr_assert_eq(h->ops[1].comp.x, 123);
    fl_history_free(h);
}

/* A history truncated by another program while it is read through its
 * mapping: the process ends with the input error, exit 3, instead of dying
 * of SIGBUS. The truncating thread waits until the file is mapped (it shows
 * in /proc/self/maps), so the parse is under way when the file shrinks. */
static char shrink_path[64];

static void *shrink_when_mapped(void *arg)
{
    static char maps[1 << 16];

    (void)arg;
    for (;;) {
        FILE *f = fopen("/proc/self/maps", "r");
        size_t n = f ? fread(maps, 1, sizeof maps - 1, f) : 0;
        if (f)
            fclose(f);
        maps[n] = '\0';
        if (strstr(maps, shrink_path)) {
            /* unlinked first: the process may end at the ftruncate */
            int fd = open(shrink_path, O_WRONLY);
            unlink(shrink_path);
            if (fd < 0 || ftruncate(fd, 0) < 0)
                abort();
            return NULL;
        }
        usleep(50);
    }
}

Test(check_jsonl, history_truncated_while_read_is_an_input_error, .exit_code = 3)
{
    struct fl_history *h = NULL;
    struct fl_err e = {0};
    pthread_t t;
    FILE *f;
    int fd;

    snprintf(shrink_path, sizeof shrink_path, "/tmp/fl-shrink-XXXXXX");
    cr_assert((fd = mkstemp(shrink_path)) >= 0);
    cr_assert_not_null(f = fdopen(fd, "w"));
    for (int i = 0; i < 400000; i++)
        fprintf(f,
                "{\"process\": %d, \"type\": \"invoke\", \"f\": \"write\", \"value\": %d}\n"
                "{\"process\": %d, \"type\": \"ok\", \"f\": \"write\", \"value\": %d}\n",
                i % 8, i, i % 8, i);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(pthread_create(&t, NULL, shrink_when_mapped, NULL), 0);
    fl_history_load(shrink_path, FL_FMT_JSONL, &h, &e);
    unlink(shrink_path);
    cr_assert_fail("the history was read whole before it was truncated (%s)", e.msg);
}
