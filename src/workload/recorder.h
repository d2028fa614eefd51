/* The history recorder: workers hand it events, one writer thread writes them
 * as JSON Lines in real-time order.
 *
 * Each worker appends to its own buffer (a mutex only the worker and, once
 * per flush, the writer take), so recording costs a clock read and a copy.
 * The writer merges buffers by timestamp. It may write an event with time t
 * only when no worker can still produce an earlier one: a worker that is
 * between reading the clock and appending (its `stamping` flag is set) holds
 * the watermark at its last appended time; any other worker's next event
 * will be stamped after the writer's own clock read. Timestamps of one worker
 * strictly increase, and across workers equal times put invocations first
 * (treating the two operations as concurrent, the safe reading).
 */
#ifndef FL_WORKLOAD_RECORDER_H
#define FL_WORKLOAD_RECORDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"
#include "workload/workload.h"

enum fl_rec_type { FL_REC_INVOKE, FL_REC_OK, FL_REC_FAIL, FL_REC_INFO };

/* Value shapes the recorder knows how to write. */
enum fl_rec_vkind {
    FL_RV_NIL,
    FL_RV_INT,      /* a */
    FL_RV_PAIR,     /* [a, b] (cas) */
    FL_RV_TRANSFER, /* {"from":a,"to":b,"amount":c} */
    FL_RV_LIST,     /* [arr...] */
    FL_RV_JSON,     /* json: text already formatted (transactions) */
};

struct fl_rec_ev {
    int64_t time; /* set by fl_recorder_add */
    int64_t process;
    uint8_t type;  /* enum fl_rec_type */
    uint8_t f;     /* enum fl_wl_f */
    uint8_t vkind; /* enum fl_rec_vkind */
    int32_t key;   /* -1: no "key" field */
    int64_t a, b, c;
    int64_t *arr; /* FL_RV_LIST; owned by the recorder once added */
    uint32_t narr;
    char *error; /* owned by the recorder once added; NULL if none */
    char *json;  /* FL_RV_JSON; owned by the recorder once added */
};

struct fl_recorder;

/* Start a recorder writing to out (not closed by the recorder) for nworkers
 * workers. time_base is subtracted from every timestamp. */
int fl_recorder_new(FILE *out, int nworkers, int64_t time_base, struct fl_recorder **r,
                    struct fl_err *e);
/* Stamp ev with the current monotonic time and queue it; takes ownership of
 * ev->arr and ev->error. Returns the time used (before time_base). */
int64_t fl_recorder_add(struct fl_recorder *r, int worker, struct fl_rec_ev *ev);
/* Write everything left, stop the writer, free r. Returns 0, or -FL_EFAIL
 * (with e) if writing failed at any point. */
int fl_recorder_close(struct fl_recorder *r, uint64_t *events, struct fl_err *e);

/* Format one event as a JSON line (no newline) into out; for tests and the
 * writer. */
void fl_recorder_format(const struct fl_rec_ev *ev, FILE *out);

#endif
