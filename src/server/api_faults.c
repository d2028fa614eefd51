/* /api/v1/faults: the faults applied now under the runs' state directory
 * (the journal that `faultline status` reads), and recovering one at once
 * (as `faultline recover ID`: revert from its journal record). Listing
 * reads the journal directory only; it creates nothing. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/journal.h"
#include "server/server.h"
#include "util/time.h"

const char *fl_server_state_dir(struct fl_server *s)
{
    const char *env = getenv("FAULTLINE_STATE_DIR");

    return s->state_dir[0] ? s->state_dir : env && *env ? env : FL_STATE_DIR_DEFAULT;
}

static json_t *fault_json(json_t *rec, int64_t now)
{
    json_t *owner = json_object_get(rec, "owner");
    int64_t created = json_integer_value(json_object_get(rec, "created_ms"));
    int64_t lease = json_integer_value(json_object_get(rec, "lease_until"));

    return json_pack("{s:O?,s:O?,s:O?,s:O?,s:I,s:I,s:O?,s:b,s:O?}", "id",
                     json_object_get(rec, "id"), "kind", json_object_get(rec, "kind"),
                     "description", json_object_get(rec, "description"), "state",
                     json_object_get(rec, "state"), "age_ms", (json_int_t)(now - created),
                     "lease_left_ms", (json_int_t)(lease > now ? lease - now : 0), "owner_pid",
                     json_object_get(owner, "pid"), "owner_alive", fl_journal_owner_alive(rec),
                     "last_error", json_object_get(rec, "last_error"));
}

int fl_api_faults_list(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    char dir[PATH_MAX + 16], path[PATH_MAX + 300];
    json_t *all = json_array();
    int64_t now = fl_now_ms();
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof dir, "%s/faults", fl_server_state_dir(s));
    if ((d = opendir(dir))) {
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            json_t *rec;
            if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            if ((rec = json_load_file(path, 0, NULL))) {
                json_array_append_new(all, fault_json(rec, now));
                json_decref(rec);
            }
        }
        closedir(d);
    }
    return fl_http_ok(rs, 200,
                      json_pack("{s:s,s:o}", "state_dir", fl_server_state_dir(s), "faults", all));
}

int fl_api_faults_recover(struct fl_server *s, struct fl_req *rq, struct fl_resp *rs)
{
    struct fl_journal j;
    struct fl_err e = {0};
    bool found = false;

    for (const char *p = rq->arg[0]; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return fl_http_error(rs, 400, "invalid_id",
                                 "fault id '%s': hex digits, as GET /api/v1/faults lists",
                                 rq->arg[0]);
    if (fl_journal_open(&j, fl_server_state_dir(s), &e))
        return fl_http_error(rs, 500, "journal", "%s", e.msg);
    if (fl_journal_revert(&j, rq->arg[0], &found, &e)) {
        fl_journal_close(&j);
        return fl_http_error(rs, 500, "revert_failed", "%s", e.msg);
    }
    fl_journal_close(&j);
    if (!found)
        return fl_http_error(rs, 404, "not_found",
                             "no active fault %s (already reverted, or never applied)", rq->arg[0]);
    return fl_http_ok(rs, 200, json_pack("{s:s,s:b}", "id", rq->arg[0], "reverted", 1));
}
