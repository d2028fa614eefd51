/* What probing costs, measured against the cheapest way to make the same
 * requests: a bare libcurl loop (one easy handle, keep-alive) against a tiny
 * HTTP server in a child process on loopback.
 *
 *  1. per sample: the http probe driven like the engine drives it (sample,
 *     per-sample tolerance, append) vs one bare curl_easy_perform
 *  2. per stored sample: fl_store_samples in transactions of 1000
 *     (target >= 10,000 samples/s)
 *  3. the whole engine: 20 http probes at 10 Hz for 5 s (target <= 5% of one
 *     core beyond what the same requests cost with bare libcurl) */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "probes/probe.h"
#include "spec/spec.h"
#include "store/store.h"
#include "util/time.h"

#define N_REQ 3000
#define N_STORE 200000

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double wall_s(void)
{
    return (double)fl_mono_ns() / 1e9;
}

/* A keep-alive HTTP responder: one "200 ok" per request header block. */
static void serve(int lfd)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct pollfd fds[256];
    char carry[256][4];
    int n = 1;

    fds[0].fd = lfd;
    fds[0].events = POLLIN;
    for (;;) {
        if (poll(fds, (nfds_t)n, -1) <= 0)
            continue;
        if ((fds[0].revents & POLLIN) && n < 256) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0) {
                fds[n].fd = c;
                fds[n].events = POLLIN;
                memset(carry[n], 0, 4);
                n++;
            }
        }
        for (int i = 1; i < n; i++) {
            char buf[8192];
            ssize_t got;
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) {
                close(fds[i].fd);
                fds[i] = fds[--n];
                memcpy(carry[i], carry[n], 4);
                i--;
                continue;
            }
            for (ssize_t k = 0; k < got; k++) {
                memmove(carry[i], carry[i] + 1, 3);
                carry[i][3] = buf[k];
                if (!memcmp(carry[i], "\r\n\r\n", 4) && write(fds[i].fd, resp, sizeof resp - 1) < 0)
                    break;
            }
        }
    }
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    return s * n;
}

int main(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    char url[64], dir[] = "/tmp/fl-bench-XXXXXX", db[128], spec_text[8192];
    double w0, c0, bare_cpu, bare_wall, probe_cpu, probe_wall, store_rate;
    pid_t server;
    size_t off;

    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 128) ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) || !mkdtemp(dir)) {
        perror("setup");
        return 1;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    server = fork();
    if (server == 0) {
        serve(lfd);
        _exit(0);
    }
    close(lfd);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* 1a. baseline: bare libcurl */
    {
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_perform(c); /* connect once */
        w0 = wall_s();
        c0 = cpu_s();
        for (int i = 0; i < N_REQ; i++)
            curl_easy_perform(c);
        bare_cpu = (cpu_s() - c0) / N_REQ;
        bare_wall = (wall_s() - w0) / N_REQ;
        curl_easy_cleanup(c);
    }
    /* 1b. the http probe as the engine drives it */
    {
        const struct fl_probe_ops *ops = fl_probe_lookup("http");
        json_t *params = json_pack("{s:s}", "url", url);
        struct fl_probe p = {.ops = ops, .params = params, .timeout_ms = 2000};
        struct fl_tolerance tol;
        struct fl_sample *s = calloc(N_REQ, sizeof *s);
        struct fl_err e;
        fl_tolerance_default(&tol);
        ops->open(&p, &e);
        {
            struct fl_probe_result r = {0};
            ops->sample(&p, &r);
        }
        w0 = wall_s();
        c0 = cpu_s();
        for (int i = 0; i < N_REQ; i++) {
            struct fl_probe_result r = {0};
            int64_t t = fl_mono_ns();
            ops->sample(&p, &r);
            s[i].latency_ms = (double)(fl_mono_ns() - t) / 1e6;
            s[i].value = r.has_value ? r.value : NAN;
            s[i].probe_ok = r.ok;
            s[i].ok = fl_tolerance_sample_ok(&tol, r.ok, s[i].value);
        }
        probe_cpu = (cpu_s() - c0) / N_REQ;
        probe_wall = (wall_s() - w0) / N_REQ;
        ops->close(&p);
        free(s);
        json_decref(params);
    }
    printf("per sample      bare libcurl %7.1f us cpu %7.1f us wall | http probe %7.1f us cpu "
           "%7.1f us wall | ratio cpu %.2fx wall %.2fx\n",
           bare_cpu * 1e6, bare_wall * 1e6, probe_cpu * 1e6, probe_wall * 1e6, probe_cpu / bare_cpu,
           probe_wall / bare_wall);

    /* 2. stored samples */
    {
        struct fl_store *st;
        struct fl_err e = {0};
        struct fl_sample batch[1000];
        int64_t run;
        snprintf(db, sizeof db, "%s/h.db", dir);
        if (fl_store_open(db, &st, &e) ||
            fl_store_run_begin(st, "bench", "bench.yaml", "x", "0", 0, 0, &run, &e)) {
            fprintf(stderr, "store: %s\n", e.msg);
            return 1;
        }
        for (int i = 0; i < 1000; i++)
            batch[i] = (struct fl_sample){
                .t_ms = i, .value = 200, .probe_ok = true, .ok = true, .latency_ms = 0.5};
        w0 = wall_s();
        for (int i = 0; i < N_STORE / 1000; i++) {
            fl_store_begin(st);
            fl_store_samples(st, run, i % 20, batch, 1000);
            fl_store_commit(st);
        }
        store_rate = N_STORE / (wall_s() - w0);
        fl_store_close(st);
    }
    printf("stored samples  %.0f samples/s (%.2f us each; target >= 10000/s: %s) | one bare "
           "libcurl request costs %.0f stored samples\n",
           store_rate, 1e6 / store_rate, store_rate >= 10000 ? "ok" : "MISSED",
           bare_wall * store_rate);

    /* 3. the engine: 20 probes at 10 Hz for 5 s */
    {
        struct fl_spec_errors errs = {0};
        struct fl_spec *spec;
        struct fl_engine_opts o = {0};
        struct fl_run_result res;
        struct fl_err e = {0};
        char state[160];
        FILE *devnull = fopen("/dev/null", "w");
        size_t samples = 0;
        double cpu, wall, bare_equiv;
        json_t *run, *p;
        size_t i;

        off = (size_t)snprintf(spec_text, sizeof spec_text,
                               "title: bench\nduration: 5s\nsteady_state:\n  interval: 100ms\n"
                               "  preflight: 200ms\n  probes:\n");
        for (int k = 0; k < 20; k++)
            off += (size_t)snprintf(spec_text + off, sizeof spec_text - off,
                                    "    - {name: p%d, type: http, url: '%s'}\n", k, url);
        snprintf(spec_text + off, sizeof spec_text - off,
                 "method:\n  - {command: 'true', start: 0s}\n");
        spec = fl_spec_load_string("bench.yaml", spec_text, strlen(spec_text), &errs);
        if (!spec) {
            fprintf(stderr, "spec: %s\n", errs.n ? errs.msg[0] : "?");
            return 1;
        }
        snprintf(state, sizeof state, "%s/state", dir);
        o.state_dir = state;
        o.out = devnull;
        fl_store_open(db, &o.store, &e);
        w0 = wall_s();
        c0 = cpu_s();
        fl_engine_run(spec, &o, &res, &e);
        cpu = cpu_s() - c0;
        wall = wall_s() - w0;
        run = fl_store_show_run(o.store, res.run_id, 0, &e);
        json_array_foreach (json_object_get(run, "probes"), i, p)
            samples += (size_t)json_integer_value(json_object_get(p, "samples"));
        /* the probes' samples over the injection phase; add preflight's share */
        samples = (size_t)((double)samples * wall / 5.0);
        bare_equiv = (double)samples * bare_cpu;
        printf("engine          20 http probes at 10 Hz for %.1fs: %zu samples, %.2f%% of one "
               "core (bare libcurl for the same requests %.2f%%) | engine overhead %.2f%% of "
               "one core (target <= 5%%: %s), %.2fx bare libcurl\n",
               wall, samples, 100 * cpu / wall, 100 * bare_equiv / wall,
               100 * (cpu - bare_equiv) / wall,
               100 * (cpu - bare_equiv) / wall <= 5 ? "ok" : "MISSED",
               cpu / (bare_equiv > 0 ? bare_equiv : 1));
        json_decref(run);
        fl_store_close(o.store);
        fl_spec_free(spec);
        fclose(devnull);
    }
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd)) {
        }
    }
    return 0;
}
