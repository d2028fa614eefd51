/* Inside the agent's jobs (jobs.h): the job and the set of them, shared by
 * jobs.c (the processes: start, the pipe thread, the reaper's turn, the
 * restart sweep, the stop) and jobs_api.c (request checks, statuses and the
 * HTTP handlers). The functions here are called with j->mu held. */
#ifndef FL_REMOTE_JOBS_INT_H
#define FL_REMOTE_JOBS_INT_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "remote/jobs.h"
#include "util/err.h"

#define FL_JOBS_ID_LEN 20 /* "j" + 16 hex + NUL, with room */
#define FL_JOBS_SESSION_LEN 64
#define FL_JOBS_DEFAULT_LEASE_MS 10000

enum fl_job_kind { FL_JOB_COMMAND, FL_JOB_PROBE, FL_JOB_WORKLOAD };
enum fl_job_state {
    FL_JOB_PENDING,
    FL_JOB_RUNNING,
    FL_JOB_EXITED,
    FL_JOB_KILLED,
    FL_JOB_TIMED_OUT,
    FL_JOB_FAILED,
};

extern const char *const fl_jobs_kind_names[3];  /* by enum fl_job_kind */
extern const char *const fl_jobs_state_names[6]; /* by enum fl_job_state */

struct fl_job {
    struct fl_job *next;
    char id[FL_JOBS_ID_LEN], name[FL_JOB_NAME_MAX + 1], session[FL_JOBS_SESSION_LEN + 1], who[64];
    enum fl_job_kind kind;
    enum fl_job_state state, end_as; /* end_as: what a kill under way ends it as */
    json_t *req;                     /* the checked request: command, args, env */
    bool run_on_lease_end, deleted;  /* deleted: hidden, freed once reaped */
    int64_t created_ms, start_at, lease_ms, lease_until; /* lease_until 0: no lease any more */
    int64_t timeout_ms, started_ms, ended_ms, kill_at;   /* kill_at: SIGKILL then (0: none) */
    int64_t leader_done_ms; /* its process ended (unreaped) while others were in its group */
    pid_t pid;
    uint64_t start_time;         /* /proc/PID/stat's, for the next agent's sweep */
    int exit_code, sig;          /* -1: none */
    int out_fd, err_fd, file_fd; /* the pipes' read ends, STATE_DIR/jobs/ID.out */
    uint64_t stdout_bytes;
    bool truncated;
    char tail[FL_JOB_STDERR_TAIL]; /* the last bytes of stderr */
    size_t tail_len;
    char error[256]; /* why it could not start */
};

struct fl_jobs {
    pthread_mutex_t mu; /* everything here; taken after the agent's d->lock */
    struct fl_job *list;
    size_t n; /* jobs in list, deleted ones still running included */
    char dir[PATH_MAX], exe[PATH_MAX], host[256];
    bool allow_commands, io_started, io_stop;
    uint64_t output_max;
    pthread_t io;
    int wake[2]; /* written to wake the pipe thread */
};

/* jobs.c */
/* STATE_DIR/jobs/ID.EXT */
void fl_jobs_path(struct fl_jobs *j, const struct fl_job *jb, const char *ext, char *buf,
                  size_t len);
/* The record the next agent's sweep reads (ID.json), written whole; and its
 * removal; files_remove also removes the output. */
void fl_jobs_record_write(struct fl_jobs *j, const struct fl_job *jb);
void fl_jobs_record_remove(struct fl_jobs *j, const struct fl_job *jb);
void fl_jobs_files_remove(struct fl_jobs *j, const struct fl_job *jb);
/* The kind named s, or -1. */
int fl_jobs_kind_of(const char *s);
void fl_jobs_close_fd(int *fd);
/* A job with a new id (id NULL) or the given one, nothing started; NULL on ENOMEM. */
struct fl_job *fl_jobs_job_alloc(const char *id);
/* Start jb now; on failure it is "failed" with the reason in jb->error. */
void fl_jobs_start_job(struct fl_jobs *j, struct fl_job *jb);
/* Start the pipe thread if it does not run yet. */
int fl_jobs_io_start(struct fl_jobs *j, struct fl_err *e);
/* SIGTERM to a running job's process group, SIGKILL after the grace; it ends as `as`. */
void fl_jobs_begin_kill(struct fl_job *jb, enum fl_job_state as, const char *why);
/* Reap jb if it ended (never waits for a running one); true when it did. */
bool fl_jobs_reap(struct fl_jobs *j, struct fl_job *jb);
/* Take jb out of j's list; free it. */
void fl_jobs_unlink(struct fl_jobs *j, struct fl_job *jb);
void fl_jobs_job_free(struct fl_job *jb);

#endif
