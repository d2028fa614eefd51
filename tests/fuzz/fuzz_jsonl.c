/* Fuzz the JSON Lines history reader, JSON Lines export and a short check:
 * whatever the bytes, no crash, no leak, no hang. And a differential check
 * of the reader's fast line scanner: the same bytes with a field whose key
 * has an escape put first on every line (which sends every line to the
 * general readers) must read as the same history, or fail on the same
 * line. */
#include <string.h>

#include "fuzz_history.h"

static char *slow_variant(const char *data, size_t size, size_t *out_len)
{
    static const char key[] = "\"\\u0078\": 0, ";
    char *out = malloc(size * (sizeof key) + 1), *o = out;
    size_t i = 0;

    if (!out)
        return NULL;
    while (i < size) {
        const char *nl = memchr(data + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (data + i)) + 1 : size - i;
        const char *brace = memchr(data + i, '{', len);
        size_t pre = brace ? (size_t)(brace - (data + i)) + 1 : len;
        memcpy(o, data + i, pre);
        o += pre;
        if (brace) {
            memcpy(o, key, sizeof key - 1);
            o += sizeof key - 1;
            memcpy(o, brace + 1, len - pre);
            o += len - pre;
        }
        i += len;
    }
    *out_len = (size_t)(o - out);
    return out;
}

static char *export(struct fl_history *h, size_t *len)
{
    char *buf = NULL;
    FILE *m = open_memstream(&buf, len);
    if (!m)
        abort();
    fl_history_write_jsonl(h, NULL, m);
    fclose(m);
    return buf;
}

/* The first number after the first ':' of an error message: its line. */
static unsigned long err_line(const char *msg)
{
    const char *c = strchr(msg, ':');
    return c ? strtoul(c + 1, NULL, 10) : 0;
}

static void differential(const uint8_t *data, size_t size, struct fl_history *fast, int rc,
                         const struct fl_err *efast)
{
    struct fl_history *slow = NULL;
    struct fl_err e;
    size_t n, la, lb;
    char *text;

    if (!(text = slow_variant((const char *)data, size, &n)))
        return;
    int rs = fl_history_parse(text, n, FL_FMT_JSONL, "fuzz.jsonl", &slow, &e);
    free(text);
    if ((rc < 0) != (rs < 0)) {
        fprintf(stderr, "fast %d (%s) vs slow %d (%s)\n", rc, rc < 0 ? efast->msg : "", rs,
                rs < 0 ? e.msg : "");
        abort();
    }
    if (rc < 0) {
        if (err_line(efast->msg) != err_line(e.msg)) {
            fprintf(stderr, "errors differ: %s vs %s\n", efast->msg, e.msg);
            abort();
        }
        return;
    }
    char *a = export(fast, &la), *b = export(slow, &lb);
    if (la != lb || memcmp(a, b, la)) {
        fprintf(stderr, "histories differ:\n%.*s\nvs\n%.*s\n", (int)la, a, (int)lb, b);
        abort();
    }
    free(a);
    free(b);
    fl_history_free(slow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const models[] = {"register", "kv", "counter", "mutex", "bank"};
    static const struct fuzz_history f = {
        .fmt = FL_FMT_JSONL,
        .reread_name = "re.jsonl",
        .write = fl_history_write_jsonl,
        .models = models,
        .nmodels = sizeof models / sizeof models[0],
    };
    struct fl_history *h = NULL;
    struct fl_err e;

    int rc = fl_history_parse((const char *)data, size, FL_FMT_JSONL, "fuzz.jsonl", &h, &e);
    differential(data, size, h, rc, &e);
    if (rc == 0)
        fuzz_history_exercise(&f, h, size);
    return 0;
}
