/* test_net.c -- the HTTP client without a network: argument errors, a malformed URL, a refused
 * connection on a closed loopback port, a timeout against a listener that never answers, and
 * one exchange with a one-shot loopback server in a thread (request line, headers and body as
 * sent; status, body and headers as received).  Also whole-record appends. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "gids/io.h"
#include "gids/net.h"

/* A listening loopback socket on a free port (the kernel picks it). */
static int listen_any(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

typedef struct server {
    int fd;
    const char *reply;
    char request[8192];
    size_t request_len;
} server;

/* Reads one request (headers, then Content-Length bytes) and writes the canned reply. */
static void *serve_once(void *arg) {
    server *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) return NULL;
    size_t want = 0;
    for (;;) {
        ssize_t r = read(c, s->request + s->request_len, sizeof s->request - 1 - s->request_len);
        if (r <= 0) break;
        s->request_len += (size_t)r;
        s->request[s->request_len] = '\0';
        char *end = strstr(s->request, "\r\n\r\n");
        if (end == NULL) continue;
        char *cl = strstr(s->request, "Content-Length: ");
        want = (size_t)(end + 4 - s->request) + (cl ? (size_t)atol(cl + 16) : 0);
        if (s->request_len >= want) break;
    }
    ssize_t w = write(c, s->reply, strlen(s->reply));
    (void)w;
    close(c);
    return NULL;
}

TEST(rejects_bad_requests_before_any_io) {
    gids_http_response rs;
    gids_http_request rq = {.url = NULL};
    CHECK_ERR(gids_http_perform(&rq, &rs), GIDS_EINVAL, "no url");
    rq.url = "ftp://example.org/x";
    CHECK_ERR(gids_http_perform(&rq, &rs), GIDS_EINVAL, "must start with http:// or https://");
    rq.url = "http://127.0.0.1:1/x";
    const char *bad[] = {"NoColonHere"};
    rq.headers = bad;
    rq.n_headers = 1;
    CHECK_ERR(gids_http_perform(&rq, &rs), GIDS_EINVAL, "header 1 'NoColonHere'");
    rq.n_headers = 0;
    rq.method = "post";
    CHECK_ERR(gids_http_perform(&rq, &rs), GIDS_EINVAL, "upper-case");
    CHECK(rs.body == NULL && rs.status == 0);
}

TEST(a_malformed_url_is_einval_naming_it) {
    gids_http_response rs;
    gids_http_request rq = {.url = "http://[::1/x", .timeout_s = 2};
    CHECK_ERR(gids_http_perform(&rq, &rs), GIDS_EINVAL, "http://[::1/x");
}

TEST(a_refused_connection_is_eio_naming_method_and_url) {
    int port = 0;
    int fd = listen_any(&port);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd); /* the port is now closed: a connect is refused */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api", port);
    gids_http_request rq = {
        .method = "POST", .url = url, .body = "{}", .body_len = 2, .timeout_s = 5};
    gids_http_response rs;
    CHECK_ERR(gids_http_perform(&rq, &rs), GIDS_EIO, "POST http://127.0.0.1:");
    CHECK(strstr(gids_error_message(), "curl 7") != NULL); /* CURLE_COULDNT_CONNECT */
    CHECK(rs.body == NULL);
}

TEST(a_silent_server_times_out_as_eio) {
    int port = 0;
    int fd = listen_any(&port); /* listens, never accepts: the request gets no answer */
    CHECK(fd >= 0);
    if (fd < 0) return;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    gids_http_request rq = {.url = url, .timeout_s = 0.3};
    gids_http_response rs;
    CHECK_ERR(gids_http_perform(&rq, &rs), GIDS_EIO, "curl 28");
    close(fd);
}

TEST(one_exchange_sends_and_receives_everything) {
    server s = {.reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Retry-After: 2\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 17\r\n"
                         "Connection: close\r\n\r\n{\"error\":\"busy\"}\n"};
    int port = 0;
    s.fd = listen_any(&port);
    CHECK(s.fd >= 0);
    if (s.fd < 0) return;
    pthread_t th;
    pthread_create(&th, NULL, serve_once, &s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/2.0/x?a=1", port);
    const char *hdr[] = {"Content-Type: application/json", "Authorization: Bearer tok"};
    gids_http_request rq = {.method = "POST",
                            .url = url,
                            .headers = hdr,
                            .n_headers = 2,
                            .body = "{\"k\":1}",
                            .body_len = 7,
                            .timeout_s = 10};
    gids_http_response rs;
    CHECK_OK(gids_http_perform(&rq, &rs));
    pthread_join(th, NULL);
    close(s.fd);
    CHECK(rs.status == 503);
    CHECK(rs.body_len == 17 && strcmp(rs.body, "{\"error\":\"busy\"}\n") == 0);
    CHECK(strstr(rs.headers, "Retry-After: 2\r\n") != NULL);
    CHECK(strncmp(s.request, "POST /api/2.0/x?a=1 HTTP/1.1\r\n", 30) == 0);
    CHECK(strstr(s.request, "\r\nContent-Type: application/json\r\n") != NULL);
    CHECK(strstr(s.request, "\r\nAuthorization: Bearer tok\r\n") != NULL);
    CHECK(strstr(s.request, "Expect:") == NULL);
    CHECK(s.request_len >= 7 && memcmp(s.request + s.request_len - 7, "{\"k\":1}", 7) == 0);
    gids_http_response_free(&rs);
    gids_http_response_free(&rs); /* idempotent */
    CHECK(rs.body == NULL);
}

TEST(appends_whole_records_and_names_a_bad_path) {
    char path[] = "/tmp/gids_test_net_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    CHECK_OK(gids_append_file(path, "a\n", 2, false));
    CHECK_OK(gids_append_file(path, "bc\n", 3, true));
    FILE *f = fopen(path, "rb");
    char buf[16] = {0};
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    CHECK(n == 5 && strcmp(buf, "a\nbc\n") == 0);
    unlink(path);
    CHECK_ERR(gids_append_file("/nonexistent-dir/x.jsonl", "a", 1, false), GIDS_EIO,
              "cannot open '/nonexistent-dir/x.jsonl'");
    CHECK_ERR(gids_append_file("", "a", 1, false), GIDS_EINVAL, "path is empty");
}

/* In a child whose file-size limit cuts a record short (a full disk's short write): 0 when the
 * short write is reported and leaves the file as it was, so the next record starts clean. */
static int short_write_child(const char *path) {
    signal(SIGXFSZ, SIG_IGN); /* over the limit: a short write, then EFBIG, not a signal */
    if (gids_append_file(path, "0123456789\n", 11, false) != GIDS_OK) return 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0) return 3;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = 16;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 3;
    if (gids_append_file(path, "abcdefghij\n", 11, false) != GIDS_EIO) return 4;
    if (strstr(gids_error_message(), "short write") == NULL) return 5;
    rl.rlim_cur = was;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 3;
    if (gids_append_file(path, "next\n", 5, false) != GIDS_OK) return 6;
    return 0;
}

TEST(a_short_write_leaves_no_partial_record) {
    char path[] = "/tmp/gids_test_net_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(short_write_child(path));
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FILE *f = fopen(path, "rb");
    char buf[64] = {0};
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    CHECK(n == 16 && strcmp(buf, "0123456789\nnext\n") == 0);
    unlink(path);
}

int main(void) {
    RUN(rejects_bad_requests_before_any_io);
    RUN(a_malformed_url_is_einval_naming_it);
    RUN(a_refused_connection_is_eio_naming_method_and_url);
    RUN(a_silent_server_times_out_as_eio);
    RUN(one_exchange_sends_and_receives_everything);
    RUN(appends_whole_records_and_names_a_bad_path);
    RUN(a_short_write_leaves_no_partial_record);
    return check_summary("net");
}
