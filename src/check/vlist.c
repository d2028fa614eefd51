/* Helpers the anomaly analyses share (set_anomalies.c, total_queue.c): value
 * lists for reports, and sorted value codes. */
#include <stdlib.h>

#include "check/check.h"

#define SHOW_MAX 20

int fl_code_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

bool fl_code_has(const int64_t *sorted, size_t n, int64_t code)
{
    return bsearch(&code, sorted, n, sizeof *sorted, fl_code_cmp) != NULL;
}

int fl_vlist_open(struct fl_vlist *l)
{
    *l = (struct fl_vlist){0};
    l->j = json_array();
    l->f = open_memstream(&l->buf, &l->len);
    return l->j && l->f ? 0 : -1;
}

void fl_vlist_note(const struct fl_history *h, struct fl_vlist *l, int64_t code)
{
    if (l->n < SHOW_MAX) {
        fputc(' ', l->f);
        fl_history_print_code(h, code, l->f);
    } else if (l->n == SHOW_MAX) {
        fputs(" ...", l->f);
    }
    l->n++;
    if (fl_code_is_int(code)) {
        json_array_append_new(l->j, json_integer(code));
    } else {
        char *b = NULL;
        size_t bl = 0;
        FILE *m = open_memstream(&b, &bl);
        if (m) {
            fl_history_print_code(h, code, m);
            fclose(m);
            json_array_append_new(l->j, json_string(b));
        }
        free(b);
    }
}

void fl_vlist_close(struct fl_vlist *l)
{
    if (l->f)
        fclose(l->f);
    l->f = NULL;
}

void fl_vlist_free(struct fl_vlist *l)
{
    fl_vlist_close(l);
    free(l->buf);
    json_decref(l->j);
    *l = (struct fl_vlist){0};
}
