/* The fault journal (contract in journal.h): durable per-fault records,
 * written before a fault touches the world, removed after its revert. */
#include "agent/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/compose.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/time.h"

/* What to tell the user when the state directory cannot be used. Root is
 * only suggested when faultline does not run as root and the kernel said
 * EPERM/EACCES; a read-only or missing file system is named as such. */
static int state_dir_error(struct fl_journal *j, int code, const char *what, struct fl_err *e)
{
    const char *hint = code == FL_EPERM && geteuid() != 0
                           ? "faultline needs root, or a state directory you can write: "
                           : "";

    return fl_err_set(e, code == FL_EPERM ? FL_EPERM : FL_ESTATE,
                      "cannot use state directory %s: %s (%schoose another with --state-dir "
                      "or FAULTLINE_STATE_DIR)",
                      j->root, what, hint);
}

static int journal_init(struct fl_journal *j, const char *state_dir, struct fl_err *e)
{
    memset(j, 0, sizeof *j);
    pthread_mutex_init(&j->threads, NULL);
    j->lock_fd = -1;
    if (!state_dir || !*state_dir || strlen(state_dir) >= sizeof j->root)
        return fl_err_set(e, FL_EUSAGE,
                          "bad state directory '%s' (give a directory path of at most %zu "
                          "characters with --state-dir or FAULTLINE_STATE_DIR)",
                          state_dir ? state_dir : "", sizeof j->root - 1);
    snprintf(j->root, sizeof j->root, "%s", state_dir);
    snprintf(j->faults, sizeof j->faults, "%s/faults", j->root);
    return 0;
}

/* The journal lock lives in a directory that already exists. A reader
 * (!must_write) creates nothing: without a lock file it goes on without a
 * lock until fl_journal_lock needs one. */
static int open_lock(struct fl_journal *j, bool must_write, struct fl_err *e)
{
    char lock[PATH_MAX];

    snprintf(lock, sizeof lock, "%s/journal.lock", j->root);
    j->lock_fd = open(lock, O_RDWR | O_CLOEXEC | (must_write ? O_CREAT : 0), 0600);
    if (j->lock_fd < 0 && !must_write)
        j->lock_fd = open(lock, O_RDONLY | O_CLOEXEC); /* flock works on it too */
    if (j->lock_fd < 0 && must_write) {
        int err = errno;
        char what[PATH_MAX + 128];
        snprintf(what, sizeof what, "cannot open %s: %s", lock, strerror(err));
        return state_dir_error(j, fl_code_from_errno(err), what, e);
    }
    return 0;
}

int fl_journal_open(struct fl_journal *j, const char *state_dir, struct fl_err *e)
{
    int r = journal_init(j, state_dir, e);

    if (r)
        return r;
    if (fl_mkdir_p(j->faults, 0700, e))
        return state_dir_error(j, e->code, e->msg, e);
    j->exists = true;
    return open_lock(j, true, e);
}

int fl_journal_open_existing(struct fl_journal *j, const char *state_dir, struct fl_err *e)
{
    struct stat st;
    int r = journal_init(j, state_dir, e);

    if (r)
        return r;
    if (stat(j->faults, &st)) {
        int err = errno;
        char what[PATH_MAX + 128];
        if (err == ENOENT && stat(j->root, &st) == 0 && !S_ISDIR(st.st_mode))
            err = ENOTDIR;
        if (err == ENOENT)
            return 0; /* nothing journaled here: an empty journal */
        snprintf(what, sizeof what, "cannot look at %s: %s", j->faults, strerror(err));
        return state_dir_error(j, fl_code_from_errno(err), what, e);
    }
    if (!S_ISDIR(st.st_mode)) {
        char what[PATH_MAX + 64];
        snprintf(what, sizeof what, "%s is not a directory", j->faults);
        return state_dir_error(j, FL_ESTATE, what, e);
    }
    j->exists = true;
    return open_lock(j, false, e);
}

void fl_journal_close(struct fl_journal *j)
{
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    j->lock_fd = -1;
}

void fl_journal_lock(struct fl_journal *j)
{
    pthread_mutex_lock(&j->threads);
    if (j->lock_fd < 0 && j->exists)
        open_lock(j, true, &(struct fl_err){0});
    while (flock(j->lock_fd, LOCK_EX) && errno == EINTR)
        ;
}

void fl_journal_unlock(struct fl_journal *j)
{
    flock(j->lock_fd, LOCK_UN);
    pthread_mutex_unlock(&j->threads);
}

void fl_journal_lock_threads(struct fl_journal *j)
{
    pthread_mutex_lock(&j->threads);
}

void fl_journal_unlock_threads(struct fl_journal *j)
{
    pthread_mutex_unlock(&j->threads);
}

/* Bytes 1..RECORD_SLOTS of journal.lock: one per hash of a fault id. */
#define RECORD_SLOTS 65521

int fl_journal_record_lock(struct fl_journal *j, const char *id)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
    char lock[PATH_MAX];
    uint32_t h = 2166136261u; /* FNV-1a */
    int fd;

    if (!j->exists)
        return -1;
    for (const char *c = id; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    fl.l_start = 1 + (off_t)(h % RECORD_SLOTS);
    snprintf(lock, sizeof lock, "%s/journal.lock", j->root);
    /* Its own open file: OFD locks of one open file do not exclude the
     * threads that share it. */
    if ((fd = open(lock, O_RDWR | O_CLOEXEC | O_CREAT, 0600)) < 0)
        return -1;
    while (fcntl(fd, F_OFD_SETLKW, &fl) && errno == EINTR)
        ;
    return fd;
}

void fl_journal_record_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* drops the OFD lock */
}

json_t *fl_journal_record(const struct fl_fault *f, pid_t owner, int64_t lease_ms, int64_t end_at)
{
    char desc[512];
    int64_t now = fl_now_ms();
    json_t *owner_j = json_null();

    fl_fault_describe(f, desc, sizeof desc);
    if (owner > 0)
        owner_j = json_pack("{s:i, s:I}", "pid", (int)owner, "start",
                            (json_int_t)fl_proc_start_time(owner));
    return json_pack("{s:i, s:s, s:s, s:O, s:O, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
                     "version", 1, "id", f->id, "kind", f->ops->kind, "params", f->params, "undo",
                     f->undo, "state", "pending", "owner", owner_j, "created_ms", (json_int_t)now,
                     "created_wall_ms", (json_int_t)fl_wall_ms(), "lease_ms", (json_int_t)lease_ms,
                     "lease_until", (json_int_t)(now + lease_ms), "end_at", (json_int_t)end_at,
                     "duration_ms", (json_int_t)f->duration_ms, "seed", (json_int_t)f->seed,
                     "description", desc);
}

static void record_path(const struct fl_journal *j, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.json", j->faults, id);
}

/* Ids become file names: accept only what fl_fault_new_id makes. */
static bool id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

static int put(struct fl_journal *j, json_t *record, bool durable, struct fl_err *e)
{
    char path[PATH_MAX + 64];
    const char *id = json_string_value(json_object_get(record, "id"));

    if (!id_valid(id))
        return fl_err_set(e, FL_EFAIL, "journal record without a valid id");
    record_path(j, id, path, sizeof path);
    return durable ? fl_json_write_atomic(path, record, e)
                   : fl_json_write_atomic_nosync(path, record, e);
}

int fl_journal_put(struct fl_journal *j, json_t *record, struct fl_err *e)
{
    return put(j, record, true, e);
}

int fl_journal_put_nosync(struct fl_journal *j, json_t *record, struct fl_err *e)
{
    return put(j, record, false, e);
}

json_t *fl_journal_get(struct fl_journal *j, const char *id, struct fl_err *e)
{
    char path[PATH_MAX + 64];

    if (!id_valid(id)) {
        fl_err_set(e, FL_EUSAGE,
                   "'%s' is not a fault id (8 hex digits, as printed by inject and status)",
                   id ? id : "");
        return NULL;
    }
    record_path(j, id, path, sizeof path);
    return fl_json_load(path, e);
}

static int by_created(const void *a, const void *b)
{
    const json_t *ra = *(json_t *const *)a, *rb = *(json_t *const *)b;
    json_int_t ca = json_integer_value(json_object_get(ra, "created_ms"));
    json_int_t cb = json_integer_value(json_object_get(rb, "created_ms"));
    return ca < cb ? -1 : ca > cb;
}

/* Why a record file cannot be acted on, or NULL when it is sound: the
 * guardian and recover can revert exactly the sound ones. */
static const char *record_problem(const char *stem, const json_t *rec, char *buf, size_t len)
{
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *kind = json_string_value(json_object_get(rec, "kind"));

    if (!id_valid(stem))
        return "its file name is not a fault id (8 hex digits)";
    if (!json_is_object(rec))
        return "it is not a JSON object";
    if (!id || strcmp(id, stem)) {
        snprintf(buf, len, "its id '%s' differs from its file name", id ? id : "");
        return buf;
    }
    if (!kind || !fl_fault_lookup_record(kind)) {
        snprintf(buf, len, "unknown fault kind '%s'", kind ? kind : "");
        return buf;
    }
    if (!json_is_object(json_object_get(rec, "params")) ||
        !json_is_object(json_object_get(rec, "undo")) ||
        !json_is_integer(json_object_get(rec, "lease_until")))
        return "params, undo or lease_until is missing";
    return NULL;
}

static json_t *damaged_entry(const char *stem, const char *path, const char *problem,
                             const json_t *rec)
{
    json_t *d = json_pack("{s:s, s:s, s:s}", "id", stem, "file", path, "problem", problem);
    const char *fields[] = {"kind", "description", "params", "undo"};

    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        json_t *v = json_object_get(rec, fields[i]); /* NULL for a NULL or a non-object */
        json_object_set(d, fields[i], v ? v : json_null());
    }
    return d;
}

void fl_journal_scan(struct fl_journal *j, json_t *good, json_t *damaged)
{
    DIR *d = opendir(j->faults);
    struct dirent *de;
    json_t **items = NULL;
    size_t n = 0, cap = 0;

    while (d && (de = readdir(d))) {
        char stem[256], path[PATH_MAX + 300], why[256];
        size_t len = strlen(de->d_name);
        struct fl_err e = {0};
        const char *problem;
        json_t *rec;

        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json"))
            continue;
        memcpy(stem, de->d_name, len - 5);
        stem[len - 5] = '\0';
        snprintf(path, sizeof path, "%s/%s", j->faults, de->d_name);
        rec = fl_json_load(path, &e);
        if (!rec && e.code == FL_ENOTARGET)
            continue; /* reverted since readdir */
        problem = e.msg;
        if (rec) {
            problem = record_problem(stem, rec, why, sizeof why);
        } else if (!strncmp(e.msg, path, strlen(path)) && e.msg[strlen(path)] == ':') {
            snprintf(why, sizeof why, "not readable JSON (line:column %s)",
                     e.msg + strlen(path) + 1);
            problem = why;
        }
        if (problem) {
            if (damaged)
                json_array_append_new(damaged, damaged_entry(stem, path, problem, rec));
            json_decref(rec);
            continue;
        }
        if (good && n == cap) {
            json_t **grown = realloc(items, (cap ? cap * 2 : 16) * sizeof *items);
            if (grown) {
                items = grown;
                cap = cap ? cap * 2 : 16;
            }
        }
        if (good && n < cap)
            items[n++] = rec;
        else
            json_decref(rec);
    }
    if (d)
        closedir(d);
    if (n)
        qsort(items, n, sizeof *items, by_created);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(good, items[i]);
    free(items);
}

json_t *fl_journal_list(struct fl_journal *j)
{
    json_t *out = json_array();

    fl_journal_scan(j, out, NULL);
    return out;
}

json_t *fl_journal_list_damaged(struct fl_journal *j)
{
    json_t *out = json_array();

    fl_journal_scan(j, NULL, out);
    return out;
}

/* Names --forget accepts: what fl_journal_scan reports as an id, without any
 * way out of the faults directory. */
static bool forget_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 200 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+@:",
                    name[i]))
            return false;
    return true;
}

int fl_journal_forget(struct fl_journal *j, const char *name, bool *was_sound, struct fl_err *e)
{
    char path[PATH_MAX + 300], why[256];
    struct fl_err le = {0};
    json_t *rec;
    int r = 0, rl;

    *was_sound = false;
    if (!forget_name_valid(name))
        return fl_err_set(e, FL_EUSAGE,
                          "'%s' is not a journal record name (use the id `faultline status` "
                          "shows)",
                          name);
    snprintf(path, sizeof path, "%s/%s.json", j->faults, name);
    if (!j->exists || access(path, F_OK))
        return fl_err_set(e, FL_ENOTARGET,
                          "no journal record %s in %s (`faultline status` lists them)", name,
                          j->faults);
    rl = fl_journal_record_lock(j, name);
    fl_journal_lock(j);
    rec = fl_json_load(path, &le);
    *was_sound = rec && !record_problem(name, rec, why, sizeof why);
    json_decref(rec);
    if (unlink(path) && errno != ENOENT)
        r = fl_err_set(e, fl_code_from_errno(errno), "cannot remove %s: %s", path, strerror(errno));
    fl_journal_unlock(j);
    fl_journal_record_unlock(rl);
    return r;
}

int fl_journal_count(struct fl_journal *j)
{
    json_t *all = fl_journal_list(j);
    int n = (int)json_array_size(all);
    json_decref(all);
    return n;
}

void fl_journal_remove(struct fl_journal *j, const char *id)
{
    char path[PATH_MAX + 64];

    if (!id_valid(id))
        return;
    record_path(j, id, path, sizeof path);
    unlink(path);
}

int fl_journal_to_fault(const json_t *record, struct fl_fault *f, struct fl_err *e)
{
    const char *kind = json_string_value(json_object_get(record, "kind"));
    const char *id = json_string_value(json_object_get(record, "id"));
    const struct fl_fault_ops *ops = kind ? fl_fault_lookup_record(kind) : NULL;
    json_t *params = json_object_get(record, "params");
    json_t *undo = json_object_get(record, "undo");

    if (!ops)
        return fl_err_set(e, FL_ESTATE,
                          "journal record %s has unknown kind '%s', so faultline cannot revert "
                          "it: check by hand that its fault is gone, then `faultline recover "
                          "--forget %s`",
                          id ? id : "?", kind ? kind : "", id ? id : "ID");
    if (!id_valid(id) || !json_is_object(params) || !json_is_object(undo))
        return fl_err_set(e, FL_ESTATE,
                          "journal record %s is malformed, so faultline cannot revert it: check "
                          "by hand that its fault is gone, then `faultline recover --forget %s`",
                          id ? id : "?", id ? id : "ID");
    fl_fault_init(f, ops, json_deep_copy(params));
    json_decref(f->undo);
    f->undo = json_deep_copy(undo);
    snprintf(f->id, sizeof f->id, "%s", id);
    f->duration_ms = json_integer_value(json_object_get(record, "duration_ms"));
    f->seed = (uint64_t)json_integer_value(json_object_get(record, "seed"));
    return 0;
}

static void note_path(const struct fl_journal *j, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.reverted", j->faults, id);
}

/* Leave a note for the owner of `rec` (if it has one) saying who reverted
 * its fault: the owner finds its record gone and tells its user why. */
static void leave_note(struct fl_journal *j, const json_t *rec, const char *id, const char *by)
{
    char path[PATH_MAX + 64];
    FILE *f;

    if (!by || !json_is_object(json_object_get(rec, "owner")))
        return;
    note_path(j, id, path, sizeof path);
    f = fopen(path, "we");
    if (!f)
        return;
    fprintf(f, "%s\n", by);
    fclose(f);
}

void fl_journal_reverted_by(struct fl_journal *j, const char *id, char *buf, size_t len)
{
    char path[PATH_MAX + 64];
    int n;

    note_path(j, id, path, sizeof path);
    n = id_valid(id) ? fl_read_small(path, buf, len) : -ENOENT;
    if (n > 0) {
        buf[strcspn(buf, "\n")] = '\0';
        unlink(path);
        return;
    }
    snprintf(buf, len,
             "someone else: its journal record was removed without a note (by hand, "
             "or `recover --forget`?)");
}

void fl_journal_prune_notes(struct fl_journal *j, int64_t max_age_s)
{
    DIR *d = opendir(j->faults);
    struct dirent *de;
    struct stat st;
    time_t now = time(NULL);

    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 9 && !strcmp(de->d_name + len - 9, ".reverted") &&
            fstatat(dirfd(d), de->d_name, &st, 0) == 0 && now - st.st_mtime > max_age_s)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    if (d)
        closedir(d);
}

int fl_journal_revert(struct fl_journal *j, const char *id, bool *found, struct fl_err *e)
{
    return fl_journal_revert_by(j, id, NULL, found, e);
}

int fl_journal_revert_by(struct fl_journal *j, const char *id, const char *by, bool *found,
                         struct fl_err *e)
{
    struct fl_fault f;
    json_t *rec;
    int r = 0, rl;

    *found = false;
    /* A first look without the lock: reverting an unknown id creates nothing. */
    rec = fl_journal_get(j, id, e);
    if (!rec && e->code == FL_ESTATE)
        return fl_err_set(e, FL_ESTATE,
                          "journal record %s cannot be read, so faultline cannot revert it (%s): "
                          "check by hand that its fault is gone, then `faultline recover "
                          "--forget %s`",
                          id, e->msg, id);
    if (!rec)
        return e->code == FL_ENOTARGET ? 0 : -e->code;
    json_decref(rec);
    /* The record lock first: a second revert of this fault (another thread,
     * the guardian) waits here for the first to finish, then finds no record. */
    rl = fl_journal_record_lock(j, id);
    fl_journal_lock(j);
    rec = fl_journal_get(j, id, e);
    if (!rec) {
        fl_journal_unlock(j);
        fl_journal_record_unlock(rl);
        return e->code == FL_ENOTARGET ? 0 : -e->code;
    }
    *found = true;
    r = fl_journal_to_fault(rec, &f, e);
    if (r == 0) {
        /* What other faults still hold stays in place (compose.h). */
        if (f.ops->revert && (r = fl_compose_check(j, &f, false, e)) == 0)
            r = f.ops->revert(&f, e);
        fl_fault_fini(&f);
    }
    if (r == 0) {
        leave_note(j, rec, id, by);
        fl_journal_remove(j, id);
    } else {
        struct fl_err e2 = {0};
        json_object_set_new(rec, "last_error", json_string(e->msg));
        fl_journal_put(j, rec, &e2);
    }
    json_decref(rec);
    fl_journal_unlock(j);
    fl_journal_record_unlock(rl);
    return r;
}

bool fl_journal_owner_alive(const json_t *record)
{
    json_t *owner = json_object_get(record, "owner");

    if (!json_is_object(owner))
        return false;
    return fl_proc_alive((pid_t)json_integer_value(json_object_get(owner, "pid")),
                         (uint64_t)json_integer_value(json_object_get(owner, "start")));
}

enum fl_lease_verdict fl_lease_check(const json_t *record, int64_t now_ms, bool owner_alive)
{
    bool owned = json_is_object(json_object_get(record, "owner"));
    int64_t lease_until = json_integer_value(json_object_get(record, "lease_until"));
    int64_t end_at = json_integer_value(json_object_get(record, "end_at"));

    if (owned && !owner_alive)
        return FL_LEASE_OWNER_GONE;
    if (now_ms >= lease_until)
        return FL_LEASE_EXPIRED;
    /* An owner ends its own fault at end_at; the guardian does it for detached faults. */
    if (!owned && end_at > 0 && now_ms >= end_at)
        return FL_LEASE_DURATION_END;
    return FL_LEASE_KEEP;
}

const char *fl_lease_verdict_str(enum fl_lease_verdict v)
{
    switch (v) {
    case FL_LEASE_KEEP:
        return "held";
    case FL_LEASE_OWNER_GONE:
        return "owner process died";
    case FL_LEASE_EXPIRED:
        return "lease expired";
    case FL_LEASE_DURATION_END:
        return "duration ended";
    }
    return "?";
}
