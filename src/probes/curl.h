/* The libcurl set-up the HTTP-speaking probes (http, prometheus) share. */
#ifndef FL_PROBES_CURL_H
#define FL_PROBES_CURL_H

#include <curl/curl.h>

#include "probes/probe.h"

/* A handle for p: libcurl initialised once for every probe thread, the
 * probe's timeout for the connect and the whole transfer, no signals
 * (probes run on threads), no proxy from the environment, url, and the body
 * handed to sink(data). NULL with e filled when libcurl cannot make one. */
CURL *fl_probe_curl_new(const struct fl_probe *p, const char *url, curl_write_callback sink,
                        void *data, struct fl_err *e);

/* 0 when url starts with http:// or https://, else FL_EUSAGE saying so. */
int fl_probe_check_url(const char *url, struct fl_err *e);

#endif
