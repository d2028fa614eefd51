/* The libcurl set-up the HTTP-speaking probes share (probes/curl.h). */
#include "probes/curl.h"

#include <pthread.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURL *fl_probe_curl_new(const struct fl_probe *p, const char *url, curl_write_callback sink,
                        void *data, struct fl_err *e)
{
    CURL *c;

    pthread_once(&curl_once, curl_init_once); /* probes open on their own threads */
    if (!(c = curl_easy_init())) {
        fl_err_set(e, FL_EFAIL, "cannot create an HTTP client");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, data);
    return c;
}

int fl_probe_check_url(const char *url, struct fl_err *e)
{
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return fl_err_set(e, FL_EUSAGE, "url '%s' must start with http:// or https://", url);
    return 0;
}
