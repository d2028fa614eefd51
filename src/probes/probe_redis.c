/* redis: send a command (default PING) over a kept-alive hiredis
 * connection; ok when the reply is not an error and, if given, its text
 * matches a regex. Unlike a tcp connect, this sees a frozen server: the
 * command gets no reply within the timeout. The value is the reply when it
 * is a number (an integer reply, or a numeric string), else none. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "probes/probe.h"
#include "util/time.h"

#define REDIS_MAX_ARGS 32

static const struct fl_opt redis_opts[] = {
    {"address", FL_OPT_STRING, FL_OPT_REQUIRED, "HOST:PORT", "the server: 127.0.0.1:6379", NULL, 0,
     0},
    {"command", FL_OPT_STRING, 0, "COMMAND",
     "the command, words split on spaces (default PING): GET health, DBSIZE", NULL, 0, 0},
    {"expect", FL_OPT_STRING, 0, "REGEX",
     "ok only when the reply's text matches this POSIX extended regex", NULL, 0, 0},
    {"password", FL_OPT_STRING, 0, "PASSWORD", "AUTH with this password after connecting", NULL, 0,
     0},
    FL_OPT_END,
};

struct redis_state {
    redisContext *c;
    bool has_re;
    regex_t re;
    char *words; /* the command, split in place */
    const char *argv[REDIS_MAX_ARGS];
    size_t argc;
};

static int redis_validate(const json_t *params, struct fl_err *e)
{
    char host[256], port[32], *end;
    const char *a = fl_param_str(params, "address", "");
    const char *cmd = fl_param_str(params, "command", "PING");
    const char *rx = fl_param_str(params, "expect", NULL);
    size_t words = 0;
    long pn;

    if (fl_probe_split_address(a, host, sizeof host, port, sizeof port))
        return fl_err_set(e, FL_EUSAGE, "address '%s' must be HOST:PORT (or [V6]:PORT)", a);
    pn = strtol(port, &end, 10);
    if (*end || pn < 1 || pn > 65535)
        return fl_err_set(e, FL_EUSAGE, "address '%s': the port must be a number 1-65535", a);
    for (const char *p = cmd; *p;) {
        while (*p == ' ')
            p++;
        if (*p)
            words++;
        while (*p && *p != ' ')
            p++;
    }
    if (!words || words > REDIS_MAX_ARGS)
        return fl_err_set(e, FL_EUSAGE, "command '%s' must have 1 to %d words (e.g. PING)", cmd,
                          REDIS_MAX_ARGS);
    return rx ? fl_probe_regex("expect regex", rx, NULL, e) : 0;
}

static int redis_open(struct fl_probe *p, struct fl_err *e)
{
    struct redis_state *st = calloc(1, sizeof *st);
    const char *rx = fl_param_str(p->params, "expect", NULL);
    char *save = NULL, *w;

    if (!st || !(st->words = strdup(fl_param_str(p->params, "command", "PING")))) {
        free(st);
        return fl_err_set(e, FL_EFAIL, "out of memory");
    }
    for (w = strtok_r(st->words, " ", &save); w && st->argc < REDIS_MAX_ARGS;
         w = strtok_r(NULL, " ", &save))
        st->argv[st->argc++] = w;
    if (rx) {
        if (fl_probe_regex("expect regex", rx, &st->re, e)) {
            free(st->words);
            free(st);
            return -FL_EUSAGE;
        }
        st->has_re = true;
    }
    p->state = st;
    return 0;
}

static void redis_close(struct fl_probe *p)
{
    struct redis_state *st = p->state;

    if (!st)
        return;
    if (st->c)
        redisFree(st->c);
    if (st->has_re)
        regfree(&st->re);
    free(st->words);
    free(st);
    p->state = NULL;
}

static struct timeval tv_ms(int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Connect (and AUTH) if not connected; 0 or -1 with detail filled. */
static int ensure_connected(struct fl_probe *p, struct redis_state *st, int64_t deadline,
                            struct fl_probe_result *r)
{
    char host[256], port[32];
    const char *pw = fl_param_str(p->params, "password", NULL);
    int64_t left = deadline - fl_now_ms();

    if (st->c)
        return 0;
    fl_probe_split_address(fl_param_str(p->params, "address", ""), host, sizeof host, port,
                           sizeof port);
    st->c = redisConnectWithTimeout(host, (int)strtol(port, NULL, 10), tv_ms(left > 1 ? left : 1));
    if (!st->c || st->c->err) {
        snprintf(r->detail, sizeof r->detail, "connect: %s",
                 st->c ? st->c->errstr : "out of memory");
        if (st->c)
            redisFree(st->c);
        st->c = NULL;
        return -1;
    }
    if (pw) {
        redisReply *rep;
        left = deadline - fl_now_ms();
        redisSetTimeout(st->c, tv_ms(left > 1 ? left : 1));
        rep = redisCommand(st->c, "AUTH %s", pw);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(r->detail, sizeof r->detail, "AUTH: %s", rep ? rep->str : st->c->errstr);
            if (rep)
                freeReplyObject(rep);
            redisFree(st->c);
            st->c = NULL;
            return -1;
        }
        freeReplyObject(rep);
    }
    return 0;
}

/* The reply as text (for expect and detail) and, when numeric, a value. */
static void reply_text(const redisReply *rep, char *buf, size_t len, struct fl_probe_result *r)
{
    char *end;

    buf[0] = '\0';
    switch (rep->type) {
    case REDIS_REPLY_INTEGER:
        snprintf(buf, len, "%lld", rep->integer);
        r->has_value = true;
        r->value = (double)rep->integer;
        return;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        snprintf(buf, len, "%.*s", (int)rep->len, rep->str);
        break;
    case REDIS_REPLY_NIL:
        snprintf(buf, len, "(nil)");
        return;
    case REDIS_REPLY_ARRAY:
        snprintf(buf, len, "(array of %zu)", rep->elements);
        return;
    }
    if (rep->type == REDIS_REPLY_STRING && buf[0]) {
        double v = strtod(buf, &end);
        if (!*end) {
            r->has_value = true;
            r->value = v;
        }
    }
}

static void redis_sample(struct fl_probe *p, struct fl_probe_result *r)
{
    struct redis_state *st = p->state;
    int64_t deadline = fl_now_ms() + p->timeout_ms, left;
    redisReply *rep;
    char text[256];

    if (ensure_connected(p, st, deadline, r))
        return;
    left = deadline - fl_now_ms();
    redisSetTimeout(st->c, tv_ms(left > 1 ? left : 1));
    rep = redisCommandArgv(st->c, (int)st->argc, st->argv, NULL);
    if (!rep) {
        /* a timeout or a broken connection: start afresh next time */
        snprintf(r->detail, sizeof r->detail, "%s: %s%s", st->argv[0], st->c->errstr,
                 st->c->err == REDIS_ERR_IO && strstr(st->c->errstr, "temporarily unavailable")
                     ? " (no reply within the timeout: is the server paused or hung?)"
                     : "");
        redisFree(st->c);
        st->c = NULL;
        return;
    }
    reply_text(rep, text, sizeof text, r);
    if (rep->type == REDIS_REPLY_ERROR)
        snprintf(r->detail, sizeof r->detail, "%s: error reply: %.120s", st->argv[0], text);
    else if (st->has_re && regexec(&st->re, text, 0, NULL, 0))
        snprintf(r->detail, sizeof r->detail, "%s: reply '%.100s' does not match expect",
                 st->argv[0], text);
    else {
        r->ok = true;
        snprintf(r->detail, sizeof r->detail, "%.150s", text);
    }
    freeReplyObject(rep);
}

const struct fl_probe_ops fl_probe_redis = {
    .kind = "redis",
    .summary = "send a Redis command (default PING) and wait for a reply that is not an error",
    .opts = redis_opts,
    .validate = redis_validate,
    .open = redis_open,
    .sample = redis_sample,
    .close = redis_close,
};
