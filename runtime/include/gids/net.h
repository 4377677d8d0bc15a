/* gids/net.h -- a small HTTP client (libcurl), for experiment tracking.
 *
 *   const char *hdr[] = {"Content-Type: application/json"};
 *   gids_http_request rq = {.method = "POST",
 *                           .url = "http://127.0.0.1:5000/api/2.0/mlflow/runs/create",
 *                           .headers = hdr, .n_headers = 1,
 *                           .body = "{}", .body_len = 2, .timeout_s = 120};
 *   gids_http_response rs;
 *   GIDS_TRY(gids_http_perform(&rq, &rs));       // EIO: no answer (refused, timeout, TLS, ...)
 *   printf("%ld %.*s\n", rs.status, (int)rs.body_len, rs.body);
 *   gids_http_response_free(&rs);
 *
 * Any HTTP status is a successful exchange (the caller decides what a 404 or a 503 means); a
 * failure is an exchange that produced no status.  Nothing here retries: the retry policy
 * belongs to the protocol (graphids.track.rest).  libcurl is initialised once per process,
 * thread-safely, on first use; each call uses its own handle, so calls may run concurrently.
 */
#ifndef GIDS_NET_H
#define GIDS_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gids_http_request {
    const char *method;         /* "GET", "POST", "PUT", "DELETE", ... (NULL: "GET") */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value" lines, n_headers of them (may be NULL) */
    int n_headers;
    const char *body; /* request body (NULL: none); sent as is */
    size_t body_len;
    double timeout_s;        /* whole exchange and connect; <= 0: 120 s (MLflow's default) */
    bool insecure_tls;       /* skip peer and host verification (MLFLOW_TRACKING_INSECURE_TLS) */
    const char *ca_file;     /* CA bundle (NULL: curl's default) */
    const char *client_cert; /* client certificate (NULL: none) */
} gids_http_request;

typedef struct gids_http_response {
    long status; /* HTTP status of the last response (after redirects) */
    char *body;  /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    char *headers; /* raw header lines of every response read ("HTTP/1.1 200 OK\r\n..."),
                      NUL-terminated */
    size_t headers_len;
} gids_http_response;

/* Largest response body accepted (a tracking answer is a few KiB; a larger one is refused). */
#define GIDS_HTTP_MAX_BODY ((size_t)64 << 20)

/* Performs one exchange.  On GIDS_OK *out holds the response (NEW: release with
 * gids_http_response_free).  On failure *out is zeroed and the message names the method, the URL
 * and curl's reason: EINVAL for a malformed request (no URL, an unsupported scheme, a header
 * without ':'), EIO when no response arrived (connection refused, DNS, timeout, TLS), ENOMEM.
 * BORROW: every field of req. */
gids_status gids_http_perform(const gids_http_request *req, gids_http_response *out);
/* Idempotent; zeroes *r. */
void gids_http_response_free(gids_http_response *r);

#ifdef __cplusplus
}
#endif
#endif
