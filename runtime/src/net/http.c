/* http.c -- one HTTP exchange through libcurl (gids_http_perform). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gids/net.h"

/* curl_global_init is not thread-safe before 7.84 and must run once per process. */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_code = CURLE_OK;

static void global_init(void) {
    g_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct buffer {
    char *data;
    size_t len, cap;
    bool too_big;
} buffer;

static bool buffer_add(buffer *b, const char *src, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL) return false;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

/* Returning less than asked makes curl abort the transfer with CURLE_WRITE_ERROR. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
    buffer *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > GIDS_HTTP_MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    return buffer_add(b, ptr, n) ? n : 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
    buffer *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > GIDS_HTTP_MAX_BODY) return 0;
    return buffer_add(b, ptr, n) ? n : 0;
}

void gids_http_response_free(gids_http_response *r) {
    if (r == NULL) return;
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

static gids_status check_request(const gids_http_request *rq) {
    GIDS_CHECK(rq != NULL, GIDS_EINVAL, "http: request is NULL");
    GIDS_CHECK(rq->url != NULL && rq->url[0] != '\0', GIDS_EINVAL, "http: request has no url");
    GIDS_CHECK(strncmp(rq->url, "http://", 7) == 0 || strncmp(rq->url, "https://", 8) == 0,
               GIDS_EINVAL, "http: url '%s' must start with http:// or https://", rq->url);
    GIDS_CHECK(rq->n_headers >= 0 && (rq->n_headers == 0 || rq->headers != NULL), GIDS_EINVAL,
               "http: %d headers given without a header array", rq->n_headers);
    for (int i = 0; i < rq->n_headers; i++) {
        const char *h = rq->headers[i];
        GIDS_CHECK(h != NULL && strchr(h, ':') != NULL && h[0] != ':', GIDS_EINVAL,
                   "http: header %d '%s' is not 'Name: value'", i + 1, h ? h : "(null)");
        GIDS_CHECK(strpbrk(h, "\r\n") == NULL, GIDS_EINVAL, "http: header %d contains a line break",
                   i + 1);
    }
    GIDS_CHECK(rq->body != NULL || rq->body_len == 0, GIDS_EINVAL,
               "http: body_len %zu with a NULL body", rq->body_len);
    return GIDS_OK;
}

/* Sets the method and body: curl infers POST from POSTFIELDS, so other methods with a body go
 * through CUSTOMREQUEST on top of it. */
static void set_method(CURL *c, const char *method, const gids_http_request *rq) {
    if (strcmp(method, "GET") == 0 && rq->body == NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        return;
    }
    if (rq->body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(method, "POST") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

gids_status gids_http_perform(const gids_http_request *rq, gids_http_response *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "http: out is NULL");
    memset(out, 0, sizeof *out);
    GIDS_TRY(check_request(rq));
    const char *method = rq->method ? rq->method : "GET";
    for (const char *p = method; *p; p++)
        GIDS_CHECK(*p >= 'A' && *p <= 'Z', GIDS_EINVAL,
                   "http: method '%s' must be upper-case letters", method);

    pthread_once(&g_once, global_init);
    GIDS_CHECK(g_init_code == CURLE_OK, GIDS_EUNSUPPORTED, "http: curl_global_init failed: %s",
               curl_easy_strerror(g_init_code));

    CURL *c = curl_easy_init();
    GIDS_CHECK(c != NULL, GIDS_ENOMEM, "http: curl_easy_init failed");
    struct curl_slist *hdrs = NULL;
    bool hdr_ok = true;
    for (int i = 0; i < rq->n_headers && hdr_ok; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, rq->headers[i]);
        if (n == NULL)
            hdr_ok = false;
        else
            hdrs = n;
    }
    /* curl adds "Expect: 100-continue" to large POSTs; servers answer faster without it. */
    if (hdr_ok) {
        struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
        if (n == NULL)
            hdr_ok = false;
        else
            hdrs = n;
    }
    if (!hdr_ok) {
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        GIDS_FAIL(GIDS_ENOMEM, "http: out of memory building the header list");
    }

    double t = rq->timeout_s > 0 ? rq->timeout_s : 120.0;
    long timeout_ms = (long)(t * 1000.0);
    if (timeout_ms < 1) timeout_ms = 1;
    buffer body = {0}, head = {0};
    char errbuf[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(c, CURLOPT_URL, rq->url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* the _STR forms replace the bitmasks from 7.85 */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L); /* MLFLOW_ALLOW_HTTP_REDIRECTS defaults on */
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM for DNS timeouts in threads */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "graphids-track/1");
    if (rq->insecure_tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (rq->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
    if (rq->client_cert) curl_easy_setopt(c, CURLOPT_SSLCERT, rq->client_cert);
    set_method(c, method, rq);

    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);

    if (rc != CURLE_OK || status == 0) {
        bool too_big = body.too_big;
        free(body.data);
        free(head.data);
        if (too_big)
            GIDS_FAIL(GIDS_EIO, "http: %s %s: response body larger than %zu bytes", method, rq->url,
                      GIDS_HTTP_MAX_BODY);
        gids_status code = (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
                               ? GIDS_EINVAL
                               : (rc == CURLE_OUT_OF_MEMORY ? GIDS_ENOMEM : GIDS_EIO);
        GIDS_FAIL(code, "http: %s %s: %s (curl %d: %s)", method, rq->url, curl_easy_strerror(rc),
                  (int)rc, errbuf[0] ? errbuf : "no detail");
    }
    /* An empty body or header block is still a valid, NUL-terminated string for the caller. */
    if ((body.data == NULL && !buffer_add(&body, "", 0)) ||
        (head.data == NULL && !buffer_add(&head, "", 0))) {
        free(body.data);
        free(head.data);
        GIDS_FAIL(GIDS_ENOMEM, "http: out of memory storing the response");
    }
    out->status = status;
    out->body = body.data;
    out->body_len = body.len;
    out->headers = head.data;
    out->headers_len = head.len;
    return GIDS_OK;
}
