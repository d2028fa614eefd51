/* A self-contained HTML report: the verdict, the explanation and an SVG
 * timeline with one row per process and one bar per operation from its
 * invocation to its completion. Offending operations are red, the smallest
 * failing sub-history is outlined. No scripts, fonts or images from outside. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

#define MAX_DRAWN 20000
#define ROW_H 22
#define LEFT 90
#define WIDTH 1400

static void esc(const char *s, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(s[i], out);
        }
    }
}

/* Where the timeline draws ops: for the dependency arrows. */
struct geo {
    const struct fl_history *h;
    size_t first, n;
    const int64_t *procs;
    size_t np;
    int64_t lo, hi;
    double span;
    bool t;
};

/* Centre of op i's bar; false when op i is not drawn. */
static bool bar_mid(const struct geo *g, size_t i, double *x, double *y)
{
    if (i < g->first || i >= g->first + g->n)
        return false;
    const struct fl_hop *op = &g->h->ops[i];
    const int64_t *p = bsearch(&op->process, g->procs, g->np, sizeof *g->procs, fl_code_cmp);
    int64_t a = g->t ? op->call_time : op->call;
    int64_t b = op->ret == FL_HOP_NORET ? g->hi : (g->t ? op->ret_time : op->ret);
    *x = LEFT + ((double)(a - g->lo) + (double)(b - a) / 2) / g->span * WIDTH;
    *y = (double)(p - g->procs) * ROW_H + 11;
    return p != NULL;
}

static size_t op_at_line(const struct geo *g, json_int_t line)
{
    for (size_t i = g->first; i < g->first + g->n; i++)
        if (g->h->ops[i].call_line == line)
            return i;
    return SIZE_MAX;
}

/* The transactional checker's cycles (list-append, rw-register): the first
 * example of each class as arrows from transaction to transaction, each
 * labelled with its dependency (ww, wr, rw, rt). */
static void draw_cycles(const struct geo *g, const struct fl_check_report *r, FILE *out)
{
    json_t *an = json_object_get(json_object_get(r->json, "txn"), "anomalies"), *v;
    const char *name;
    bool defs = false;

    json_object_foreach (an, name, v) {
        json_t *ex = json_array_get(json_object_get(v, "examples"), 0);
        json_t *lines = json_object_get(ex, "lines"), *edges = json_object_get(ex, "edges");
        size_t len = json_array_size(edges);
        for (size_t k = 0; k < len && k < 32; k++) {
            double x1, y1, x2, y2;
            size_t a = op_at_line(g, json_integer_value(json_array_get(lines, k)));
            size_t b = op_at_line(g, json_integer_value(json_array_get(lines, (k + 1) % len)));
            if (!bar_mid(g, a, &x1, &y1) || !bar_mid(g, b, &x2, &y2))
                continue;
            if (!defs) {
                fputs("<defs><marker id=\"arr\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
                      "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 "
                      "5L0 10z\" fill=\"#1565c0\"/></marker></defs>\n",
                      out);
                defs = true;
            }
            fprintf(out,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1565c0\" "
                    "stroke-width=\"1.5\" marker-end=\"url(#arr)\"><title>%s</title></line>"
                    "<text x=\"%.1f\" y=\"%.1f\" fill=\"#1565c0\">%s</text>\n",
                    x1, y1, x2, y2, name, (x1 + x2) / 2, (y1 + y2) / 2 - 2,
                    json_string_value(json_array_get(edges, k)));
        }
    }
}

/* The first op drawn: large histories show the window around the first
 * offending op. */
static size_t window_start(const struct fl_history *h, const struct fl_check_report *r, size_t n)
{
    size_t first = 0;

    for (size_t i = 0; n < h->nops && r->offending && i < h->nops; i++)
        if (r->offending[i]) {
            first = i > n / 2 ? i - n / 2 : 0;
            if (first + n > h->nops)
                first = h->nops - n;
            break;
        }
    return first;
}

/* The page up to the timeline: title, style, summary, legend, explanation. */
static void write_head(const struct geo *g, const struct fl_check_report *r, const char *model,
                       FILE *out)
{
    const struct fl_history *h = g->h;

    fprintf(out,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>faultline check: "
            "%s</title>\n<style>\nbody{font-family:sans-serif;margin:1em}"
            "pre{background:#f4f4f4;padding:.8em;white-space:pre-wrap}"
            ".valid{color:#2e7d32}.invalid{color:#c62828}.unknown{color:#ef6c00}"
            "rect.ok{fill:#81c784}rect.fail{fill:#e0e0e0}rect.info{fill:#ffe082}"
            "rect.bad{fill:#e53935;stroke:#b71c1c;stroke-width:2}"
            "rect.cx{stroke:#000;stroke-width:1.5}text{font-size:11px}"
            "</style></head><body>\n",
            fl_check_verdict_name(r->verdict));
    fprintf(out, "<h1>faultline check: <span class=\"%s\">%s</span></h1>\n",
            fl_check_verdict_name(r->verdict), fl_check_verdict_name(r->verdict));
    fputs("<p>History <code>", out);
    esc(h->name, strlen(h->name), out);
    fprintf(out, "</code>, model <code>%s</code>, %zu operations, %zu processes. Time axis: %s.",
            model, h->nops, g->np, g->t ? "recorded time" : "event order");
    if (g->n < h->nops)
        fprintf(out, " Only operations %zu to %zu are drawn.", g->first + 1, g->first + g->n);
    fputs("</p>\n<p>Legend: <svg width=\"380\" height=\"14\">"
          "<rect class=\"ok\" x=\"0\" y=\"1\" width=\"20\" height=\"12\"/><text x=\"24\" "
          "y=\"11\">ok</text><rect class=\"info\" x=\"50\" y=\"1\" width=\"20\" height=\"12\"/>"
          "<text x=\"74\" y=\"11\">unknown</text><rect class=\"fail\" x=\"130\" y=\"1\" "
          "width=\"20\" height=\"12\"/><text x=\"154\" y=\"11\">failed</text><rect class=\"bad\" "
          "x=\"200\" y=\"1\" width=\"20\" height=\"12\"/><text x=\"224\" y=\"11\">offending</text>"
          "<rect class=\"ok cx\" x=\"290\" y=\"1\" width=\"20\" height=\"12\"/><text x=\"314\" "
          "y=\"11\">counterexample</text></svg></p>\n<h2>Explanation</h2>\n<pre>",
          out);
    if (r->text)
        esc(r->text, strlen(r->text), out);
}

/* One bar per drawn op, on its process's row, with the op as its title. */
static void draw_ops(const struct geo *g, const struct fl_check_report *r, FILE *out)
{
    const struct fl_history *h = g->h;

    for (size_t i = g->first; i < g->first + g->n; i++) {
        const struct fl_hop *op = &h->ops[i];
        size_t row = (size_t)((const int64_t *)bsearch(&op->process, g->procs, g->np,
                                                       sizeof *g->procs, fl_code_cmp) -
                              g->procs);
        int64_t a = g->t ? op->call_time : op->call;
        int64_t b = op->ret == FL_HOP_NORET ? g->hi : (g->t ? op->ret_time : op->ret);
        double x0 = LEFT + (double)(a - g->lo) / g->span * WIDTH;
        double w = (double)(b - a) / g->span * WIDTH;
        if (w < 2)
            w = 2;
        const char *cls = op->type == FL_OP_OK ? "ok" : op->type == FL_OP_FAIL ? "fail" : "info";
        bool bad = r->offending && r->offending[i];
        bool cx = r->counterexample && r->counterexample[i];
        fprintf(out, "<rect class=\"%s%s\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" height=\"16\">",
                bad ? "bad" : cls, cx ? " cx" : "", x0, row * ROW_H + 3, w);
        char *d = NULL;
        size_t dl = 0;
        FILE *m = open_memstream(&d, &dl);
        if (m) {
            fl_check_describe_op(h, i, m);
            fclose(m);
            fputs("<title>", out);
            esc(d, dl, out);
            fputs("</title>", out);
        }
        free(d);
        fputs("</rect>\n", out);
    }
}

int fl_check_write_html(const struct fl_history *h, const struct fl_check_report *r,
                        const char *model, FILE *out)
{
    size_t n = h->nops < MAX_DRAWN ? h->nops : MAX_DRAWN;
    size_t first = window_start(h, r, n);
    int64_t *procs = malloc((n + 1) * sizeof *procs);
    size_t np = 0;
    bool t = h->have_time;
    int64_t lo = INT64_MAX, hi = INT64_MIN;

    if (!procs)
        return -FL_EFAIL;
    for (size_t i = first; i < first + n; i++) {
        const struct fl_hop *op = &h->ops[i];
        procs[np++] = op->process;
        int64_t a = t ? op->call_time : op->call;
        int64_t b = op->ret == FL_HOP_NORET ? a : (t ? op->ret_time : op->ret);
        if (a < lo)
            lo = a;
        if (b > hi)
            hi = b;
    }
    qsort(procs, np, sizeof *procs, fl_code_cmp);
    size_t u = 0;
    for (size_t i = 0; i < np; i++)
        if (!u || procs[u - 1] != procs[i])
            procs[u++] = procs[i];
    np = u;
    if (hi <= lo)
        hi = lo + 1;
    struct geo g = {h, first, n, procs, np, lo, hi, (double)(hi - lo) * 1.02, t};
    write_head(&g, r, model, out);
    fprintf(out,
            "</pre>\n<h2>Timeline</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%zu\">\n",
            WIDTH + LEFT, (np + 1) * ROW_H + 10);
    for (size_t p = 0; p < np; p++)
        fprintf(out, "<text x=\"4\" y=\"%zu\">process %" PRId64 "</text>\n", p * ROW_H + 15,
                procs[p]);
    draw_ops(&g, r, out);
    draw_cycles(&g, r, out);
    fputs("</svg>\n<p>Hover a bar for the operation; arrows are the dependencies of a "
          "reported cycle.</p>\n</body></html>\n",
          out);
    free(procs);
    return ferror(out) ? -FL_EFAIL : 0;
}
