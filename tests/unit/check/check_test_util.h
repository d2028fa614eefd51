/* Helpers shared by the checker unit tests: load a history, apply the
 * options an .expect file names, run the check. */
#ifndef FL_TEST_CHECK_UTIL_H
#define FL_TEST_CHECK_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/edn.h"

/* Parse one EDN scalar into h's tables (like --initial). */
static inline int test_code(struct fl_history *h, const char *text, int64_t *out)
{
    struct fl_err e = {0};
    struct fl_edn r;
    struct fl_val v;
    fl_edn_init(&r, h, text, strlen(text), "test", &e);
    int rc = fl_edn_read(&r, &v);
    fl_edn_fini(&r);
    if (rc == 0)
        *out = fl_history_code(h, &v);
    return rc;
}

static inline char *test_path(const char *env, const char *rel)
{
    const char *base = getenv(env);
    char *p = NULL;
    if (!base)
        base = !strcmp(env, "FL_SHARED_DATA") ? "../shared/data" : "tests/data";
    if (asprintf(&p, "%s/%s", base, rel) < 0)
        return NULL;
    return p;
}

#endif
