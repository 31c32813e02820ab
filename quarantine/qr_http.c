/*
 * quarantine/qr_http.c - the HTTP server of sluice-quarantine: routing,
 * security headers, sessions, CSRF, login throttling, the embedded
 * dashboard and /healthz (contract: quarantine/API.md).
 *
 * libmicrohttpd runs a fixed pool of threads; each keeps its own copy of the
 * context with its own store handle, opened on first use (sl_store's rule).
 * Request bodies are capped at QR_JSON_BYTES_MAX (413 above).
 * Tests: tests/e2e/test_quarantine.py
 */
#include "qr_http.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_THREADS 4                   /* worker threads of the pool */
#define S_CONN_MAX 128                /* connections at once */
#define S_CONN_TIMEOUT_S 30           /* idle connection timeout */
#define S_FAIL_WINDOW_MS (15 * 60000) /* login throttling window (API.md) */
#define S_FAIL_MAX 5                  /* failures per login or IP in the window */
#define S_COOKIE "sluice_session"

static const char s_csp[] = "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                            "script-src 'self'; frame-src 'none'; object-src 'none'; "
                            "base-uri 'none'; form-action 'self'";

static struct MHD_Daemon *s_daemon;
static qr_ctx_t s_template;     /* configuration every thread copies */
static pthread_key_t s_ctx_key; /* the thread's qr_ctx_t */

typedef struct {
    char *buf;    /* body so far */
    size_t len;   /* its length */
    bool too_big; /* over the limit: answer 413 */
} s_conn_t;

static void
s_ctx_free(void *p)
{
    qr_ctx_t *ctx = p;
    sl_store_close(&ctx->store);
    free(ctx);
}

void
qr_http_store_tune(sl_store_t *store)
{
    if (strcmp(sl_store_backend(store), "sqlite") == 0 &&
        sl_store_exec(store, "PRAGMA cache_size = " QR_HTTP_CACHE_KB, NULL, 0) != 0)
        sl_log_warn(NULL, "store cache_size not set: %s", sl_store_error(store));
}

/* s_thread_ctx - this thread's context, its store opened lazily; NULL when the store fails. */
static qr_ctx_t *
s_thread_ctx(void)
{
    qr_ctx_t *ctx = pthread_getspecific(s_ctx_key);
    if (ctx == NULL) {
        ctx = sl_xmalloc(sizeof *ctx);
        *ctx = s_template;
        ctx->store = NULL;
        pthread_setspecific(s_ctx_key, ctx);
    }
    if (ctx->store == NULL) {
        char err[1024];
        ctx->store = sl_store_open(ctx->store_url, err, sizeof err);
        if (ctx->store == NULL) {
            sl_log_error(NULL, "store open failed: %s", err);
            return NULL;
        }
        qr_http_store_tune(ctx->store);
    }
    return ctx;
}

void
qr_resp_json(qr_resp_t *resp, int status, qr_jbuf_t *b)
{
    resp->status = status;
    free(resp->body);
    resp->body = qr_jbuf_take(b, &resp->len);
    resp->type = "application/json";
}

void
qr_resp_error(qr_resp_t *resp, int status, const char *text)
{
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "{");
    qr_jbuf_key(&b, "error");
    qr_jbuf_str(&b, text);
    qr_jbuf_raw(&b, "}");
    qr_resp_json(resp, status, &b);
}

const char *
qr_arg(const qr_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void
s_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* s_token_hash - hex SHA-256 of TOKEN: sessions are stored hashed. */
static void
s_token_hash(const char *token, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL);
    s_hex(md, 32, out);
}

static void
s_random_hex(size_t bytes, char *out)
{
    unsigned char buf[32];
    if (bytes > sizeof buf || RAND_bytes(buf, (int)bytes) != 1)
        sl_panic("no random bytes");
    s_hex(buf, bytes, out);
}

/* s_session - looks up the session cookie; 1 with REQ's user set, 0 none, -1 store error. */
static int
s_session(qr_req_t *req)
{
    const char *token = MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, S_COOKIE);
    if (token == NULL || strlen(token) != 64)
        return 0;
    char hash[65], now[24];
    s_token_hash(token, hash);
    snprintf(now, sizeof now, "%llu", (unsigned long long)sl_now_ms());
    const char *p[] = {hash, now};
    sl_rows_t *rows = sl_store_query(
        req->ctx->store,
        "SELECT u.login, u.role, u.scope, s.csrf FROM quarantine_session s"
        " JOIN quarantine_user u ON u.login = s.login WHERE s.token_hash = ? AND s.expires_ms > ?",
        p, 2);
    if (rows == NULL)
        return -1;
    int found = sl_rows_count(rows) == 1;
    if (found) {
        sl_strlcpy(req->user.login, sl_rows_get(rows, 0, 0), sizeof req->user.login);
        sl_strlcpy(req->user.role, sl_rows_get(rows, 0, 1), sizeof req->user.role);
        const char *scope = sl_rows_get(rows, 0, 2);
        sl_strlcpy(req->user.scope, scope ? scope : "", sizeof req->user.scope);
        sl_strlcpy(req->csrf, sl_rows_get(rows, 0, 3), sizeof req->csrf);
    }
    sl_rows_free(&rows);
    return found;
}

/* s_throttled - seconds to wait when KEY has S_FAIL_MAX failures in the window, else 0. */
static long
s_throttled(qr_ctx_t *ctx, const char *key, uint64_t now)
{
    char since[24];
    snprintf(since, sizeof since, "%llu", (unsigned long long)(now - S_FAIL_WINDOW_MS));
    const char *p[] = {key, since};
    sl_rows_t *rows = sl_store_query(ctx->store,
                                     "SELECT time_ms FROM quarantine_fail WHERE k = ? AND"
                                     " time_ms > ? ORDER BY time_ms DESC LIMIT 5",
                                     p, 2);
    long wait = 0;
    if (rows && sl_rows_count(rows) >= S_FAIL_MAX) {
        uint64_t oldest = (uint64_t)sl_rows_int(rows, S_FAIL_MAX - 1, 0, (int64_t)now);
        wait = (long)((oldest + S_FAIL_WINDOW_MS - now) / 1000) + 1;
    }
    sl_rows_free(&rows);
    return wait;
}

static void
s_login(qr_req_t *req, qr_resp_t *resp)
{
    const char *why = NULL;
    qr_jval_t *body = qr_json_parse(req->body, req->body_len, &why);
    const char *login = qr_json_str(body, "login"), *password = qr_json_str(body, "password");
    if (login == NULL || password == NULL) {
        qr_json_free(&body);
        qr_resp_error(resp, 400, "login and password are required");
        return;
    }
    char lkey[QR_LOGIN_MAX + 16], ikey[80], shown[128];
    snprintf(lkey, sizeof lkey, "login:%s", login);
    qr_lower(lkey);
    snprintf(ikey, sizeof ikey, "ip:%s", req->ip);
    uint64_t now = sl_now_ms();
    long wait = s_throttled(req->ctx, lkey, now), wait_ip = s_throttled(req->ctx, ikey, now);
    if (wait_ip > wait)
        wait = wait_ip;
    sl_log_str(login, strlen(login), shown, sizeof shown);
    if (wait > 0) {
        sl_log_warn(NULL, "login refused login=%s client=%s reason=throttled", shown, req->ip);
        resp->retry_after = wait;
        qr_json_free(&body);
        qr_resp_error(resp, 429, "too many failed logins");
        return;
    }
    qr_user_t user = {0};
    char pw[QR_PW_HASH_MAX] = "";
    int found = qr_user_get(req->ctx->store, login, &user, pw, sizeof pw);
    if (found < 0) {
        qr_json_free(&body);
        qr_resp_error(resp, 500, "store error");
        return;
    }
    bool ok = qr_pw_verify(password, found ? pw : NULL) && found == 1;
    qr_json_free(&body);
    char t[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)now);
    if (!ok) {
        const char *p1[] = {lkey, t}, *p2[] = {ikey, t};
        sl_store_exec(req->ctx->store, "INSERT INTO quarantine_fail (k, time_ms) VALUES (?, ?)", p1,
                      2);
        sl_store_exec(req->ctx->store, "INSERT INTO quarantine_fail (k, time_ms) VALUES (?, ?)", p2,
                      2);
        sl_log_warn(NULL, "login refused login=%s client=%s reason=\"wrong login or password\"",
                    shown, req->ip);
        qr_resp_error(resp, 401, "login failed");
        return;
    }
    const char *pk[] = {lkey};
    sl_store_exec(req->ctx->store, "DELETE FROM quarantine_fail WHERE k = ?", pk, 1);
    char token[65], hash[65], csrf[65], exp[24];
    s_random_hex(32, token);
    s_random_hex(32, csrf);
    s_token_hash(token, hash);
    snprintf(exp, sizeof exp, "%llu", (unsigned long long)(now + req->ctx->session_ttl_ms));
    const char *ps[] = {hash, user.login, csrf, exp};
    if (sl_store_exec(req->ctx->store,
                      "INSERT INTO quarantine_session (token_hash, login, csrf, expires_ms)"
                      " VALUES (?, ?, ?, ?)",
                      ps, 4) != 0) {
        qr_resp_error(resp, 500, "store error");
        return;
    }
    snprintf(resp->cookie, sizeof resp->cookie, S_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/%s",
             token, req->ctx->cookie_secure ? "; Secure" : "");
    sl_log_info(NULL, "login login=%s role=%s client=%s", user.login, user.role, req->ip);
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "{");
    qr_jbuf_key(&b, "login");
    qr_jbuf_str(&b, user.login);
    qr_jbuf_key(&b, "role");
    qr_jbuf_str(&b, user.role);
    qr_jbuf_key(&b, "scope");
    qr_jbuf_str(&b, user.scope);
    qr_jbuf_key(&b, "csrf");
    qr_jbuf_str(&b, csrf);
    qr_jbuf_raw(&b, "}");
    qr_resp_json(resp, 200, &b);
}

static void
s_logout(qr_req_t *req, qr_resp_t *resp)
{
    const char *token = MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, S_COOKIE);
    char hash[65];
    s_token_hash(token ? token : "", hash);
    const char *p[] = {hash};
    sl_store_exec(req->ctx->store, "DELETE FROM quarantine_session WHERE token_hash = ?", p, 1);
    snprintf(resp->cookie, sizeof resp->cookie,
             S_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s",
             req->ctx->cookie_secure ? "; Secure" : "");
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "{\"ok\":true}");
    qr_resp_json(resp, 200, &b);
}

static void
s_me(qr_req_t *req, qr_resp_t *resp)
{
    const char *p[] = {req->user.login};
    sl_rows_t *rows = sl_store_query(
        req->ctx->store,
        "SELECT digest, digest_hour, digest_wday FROM quarantine_user WHERE login = ?", p, 1);
    if (rows == NULL || sl_rows_count(rows) != 1) {
        sl_rows_free(&rows);
        qr_resp_error(resp, 401, "no session");
        return;
    }
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "{");
    qr_jbuf_key(&b, "login");
    qr_jbuf_str(&b, req->user.login);
    qr_jbuf_key(&b, "role");
    qr_jbuf_str(&b, req->user.role);
    qr_jbuf_key(&b, "scope");
    qr_jbuf_str(&b, req->user.scope);
    qr_jbuf_key(&b, "csrf");
    qr_jbuf_str(&b, req->csrf);
    qr_jbuf_key(&b, "digest");
    qr_jbuf_str(&b, sl_rows_get(rows, 0, 0));
    qr_jbuf_key(&b, "digest_hour");
    qr_jbuf_printf(&b, "%lld", (long long)sl_rows_int(rows, 0, 1, 0));
    qr_jbuf_key(&b, "digest_wday");
    qr_jbuf_printf(&b, "%lld}", (long long)sl_rows_int(rows, 0, 2, 0));
    sl_rows_free(&rows);
    qr_resp_json(resp, 200, &b);
}

static void
s_static(const char *name, qr_resp_t *resp)
{
    for (const qr_web_file_t *f = qr_web_files; f->name; f++) {
        if (strcmp(f->name, name) == 0) {
            resp->status = 200;
            resp->static_body = (const char *)f->data;
            resp->len = f->len;
            resp->type = f->type;
            resp->html = strncmp(f->type, "text/html", 9) == 0;
            return;
        }
    }
    qr_resp_error(resp, 404, "not found");
}

static void
s_digest_link(qr_req_t *req, qr_resp_t *resp, const char *token)
{
    int status = 500;
    char *html = NULL;
    qr_digest_http(req->ctx, req->method, token, &status, &html);
    resp->status = status;
    resp->body = html ? html : sl_xstrdup("");
    resp->len = strlen(resp->body);
    resp->type = "text/html; charset=utf-8";
    resp->html = true;
}

static bool
s_state_changing(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* s_route - fills RESP for REQ. */
static void
s_route(qr_req_t *req, qr_resp_t *resp)
{
    const char *url = req->url, *m = req->method;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    if (strcmp(url, "/healthz") == 0) {
        resp->status = 200;
        resp->static_body = "ok\n";
        resp->len = 3;
        resp->type = "text/plain; charset=utf-8";
        return;
    }
    if (strcmp(url, "/") == 0 || strncmp(url, "/static/", 8) == 0) {
        if (!get)
            qr_resp_error(resp, 405, "method not allowed");
        else
            s_static(strcmp(url, "/") == 0 ? "index.html" : url + 8, resp);
        return;
    }
    if (strncmp(url, "/r/", 3) == 0) {
        if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0)
            qr_resp_error(resp, 405, "method not allowed");
        else
            s_digest_link(req, resp, url + 3);
        return;
    }
    if (strncmp(url, "/api/", 5) != 0) {
        qr_resp_error(resp, 404, "not found");
        return;
    }
    const char *rest = url + 5;
    if (strcmp(rest, "login") == 0) {
        if (strcmp(m, "POST") != 0)
            qr_resp_error(resp, 405, "method not allowed");
        else
            s_login(req, resp);
        return;
    }
    int s = s_session(req);
    if (s < 0) {
        qr_resp_error(resp, 500, "store error");
        return;
    }
    if (s == 0) {
        qr_resp_error(resp, 401, "no session");
        return;
    }
    if (s_state_changing(m)) {
        const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-CSRF-Token");
        if (h == NULL || strlen(h) != strlen(req->csrf) ||
            CRYPTO_memcmp(h, req->csrf, strlen(req->csrf)) != 0) {
            qr_resp_error(resp, 403, "csrf");
            return;
        }
    }
    bool admin = strcmp(req->user.role, "admin") == 0 || strcmp(req->user.role, "domain") == 0;
    if (strcmp(rest, "logout") == 0 && strcmp(m, "POST") == 0)
        s_logout(req, resp);
    else if (strcmp(rest, "me") == 0 && get)
        s_me(req, resp);
    else if (strcmp(rest, "messages") == 0 || strncmp(rest, "messages/", 9) == 0)
        qr_api_messages(req, resp, rest);
    else if (strcmp(rest, "lists") == 0)
        qr_api_lists(req, resp);
    else if (strcmp(rest, "digest") == 0)
        qr_api_digest(req, resp);
    else if ((strcmp(rest, "trace") == 0 || strcmp(rest, "stats") == 0) && !admin)
        qr_resp_error(resp, 403, "admins only");
    else if (strcmp(rest, "trace") == 0 && get)
        qr_api_trace(req, resp);
    else if (strcmp(rest, "stats") == 0 && get)
        qr_api_stats(req, resp);
    else if (strcmp(rest, "logout") == 0 || strcmp(rest, "me") == 0 || strcmp(rest, "trace") == 0 ||
             strcmp(rest, "stats") == 0)
        qr_resp_error(resp, 405, "method not allowed");
    else
        qr_resp_error(resp, 404, "not found");
}

static void
s_client_ip(struct MHD_Connection *conn, char *buf, size_t size)
{
    snprintf(buf, size, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)size);
}

static enum MHD_Result
s_send(struct MHD_Connection *conn, qr_resp_t *resp)
{
    struct MHD_Response *r =
        resp->static_body ? MHD_create_response_from_buffer(resp->len, (void *)resp->static_body,
                                                            MHD_RESPMEM_PERSISTENT)
                          : MHD_create_response_from_buffer(
                                resp->len, resp->body ? resp->body : (void *)"",
                                resp->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    resp->body = NULL; /* MHD frees it */
    MHD_add_response_header(r, "Content-Type", resp->type ? resp->type : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    if (resp->html)
        MHD_add_response_header(r, "Content-Security-Policy", s_csp);
    if (resp->cookie[0])
        MHD_add_response_header(r, "Set-Cookie", resp->cookie);
    if (resp->disposition[0])
        MHD_add_response_header(r, "Content-Disposition", resp->disposition);
    if (resp->retry_after > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", resp->retry_after);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result
s_answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    s_conn_t *c = *con_cls;
    if (c == NULL) { /* first call: headers only */
        *con_cls = sl_xcalloc(1, sizeof(s_conn_t));
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (c->too_big || *upload_data_size > QR_JSON_BYTES_MAX - c->len)
            c->too_big = true;
        else {
            c->buf = sl_xrealloc(c->buf, c->len + *upload_data_size + 1);
            memcpy(c->buf + c->len, upload_data, *upload_data_size);
            c->len += *upload_data_size;
            c->buf[c->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    qr_resp_t resp = {.status = 500};
    qr_req_t req = {.conn = conn,
                    .method = method,
                    .url = url,
                    .body = c->buf ? c->buf : "",
                    .body_len = c->len};
    s_client_ip(conn, req.ip, sizeof req.ip);
    if (c->too_big)
        qr_resp_error(&resp, 413, "body over 64 KB");
    else if ((req.ctx = s_thread_ctx()) == NULL)
        qr_resp_error(&resp, 500, "store unavailable");
    else if (memchr(req.body, '\0', req.body_len) != NULL)
        qr_resp_error(&resp, 400, "NUL in body");
    else
        s_route(&req, &resp);
    enum MHD_Result rc = s_send(conn, &resp);
    free(resp.body);
    return rc;
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    s_conn_t *c = *con_cls;
    if (c) {
        free(c->buf);
        free(c);
        *con_cls = NULL;
    }
}

/* s_parse_listen - "host:port" or "[v6]:port" into an address. */
static int
s_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= sizeof host)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof *a;
        return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof *a;
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

int
qr_http_start(const qr_ctx_t *ctx)
{
    s_template = *ctx;
    s_template.store = NULL;
    pthread_key_create(&s_ctx_key, s_ctx_free);
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (s_parse_listen(ctx->listen, &ss, &sslen) != 0) {
        sl_log_error(NULL,
                     "quarantine.listen: expected host:port with a numeric address, "
                     "found \"%s\"",
                     ctx->listen);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s_daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_answer, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)S_THREADS, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)S_CONN_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)S_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
        s_completed, NULL, MHD_OPTION_END);
    if (s_daemon == NULL) {
        sl_log_error(NULL, "cannot listen on %s", ctx->listen);
        return -1;
    }
    (void)sslen;
    return 0;
}

void
qr_http_stop(void)
{
    if (s_daemon)
        MHD_stop_daemon(s_daemon);
    s_daemon = NULL;
}
