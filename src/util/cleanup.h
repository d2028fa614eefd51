/* Scope-based cleanup, so early returns cannot leak (systemd's habit). */
#ifndef FL_UTIL_CLEANUP_H
#define FL_UTIL_CLEANUP_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void fl_freep(void *p)
{
    free(*(void **)p);
}
static inline void fl_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
static inline void fl_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
static inline void fl_json_decrefp(json_t **j)
{
    json_decref(*j);
}

#define _cleanup_free_ __attribute__((cleanup(fl_freep)))
#define _cleanup_close_ __attribute__((cleanup(fl_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(fl_fclosep)))
#define _cleanup_json_ __attribute__((cleanup(fl_json_decrefp)))

#endif
