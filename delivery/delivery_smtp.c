/*
 * delivery/delivery_smtp.c - the SMTP client: one connection, blocking, bounded.
 *
 * Connect with a timeout, greeting, EHLO (HELO when EHLO is refused),
 * STARTTLS per the domain's TLS policy (none: never; may: when offered, no
 * checks; encrypt: required, no checks; verify: required, chain and name
 * checked by OpenSSL), then transactions: MAIL, RCPT..., DATA in one write
 * when the server offers PIPELINING (RFC 2920), one by one otherwise.
 * Every byte the server sends is untrusted: lines are bounded and parsed
 * by delivery_reply.c; a malformed reply closes the connection (a 4xx-like
 * temporary failure for the message). The thread blocks; SO_RCVTIMEO and
 * SO_SNDTIMEO bound every wait.
 * Tests: tests/e2e/test_delivery.py (aiosmtpd downstream), tests/unit/test_delivery_reply.c
 */
#include "delivery.h"
#include "sl_dns.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_IN_BUF 16384  /* reply bytes buffered */
#define S_OUT_BUF 65536 /* DATA is written in chunks of this */

struct delivery_conn {
    int fd;                /* the socket */
    SSL *ssl;              /* after STARTTLS, else NULL */
    unsigned ext;          /* EHLO keywords */
    char in[S_IN_BUF];     /* read buffer */
    size_t in_len, in_off; /* bytes in it, bytes consumed */
    char tls[128];         /* "TLSv1.3 CIPHER" */
    char host[256];        /* host connected to (an MX host for mx routes) */
    char peer[300];        /* host:port for logs */
};

#define S_MX_MAX 8 /* MX hosts tried per attempt, lowest preference first */

static SSL_CTX *s_ctx_noverify; /* may, encrypt */
static sl_dns_t *s_dns;         /* MX lookups (shared by every connection thread) */
static SSL_CTX *s_ctx_verify;   /* verify */

int
delivery_smtp_init(const delivery_conf_t *cf, const char **why)
{
    s_ctx_noverify = SSL_CTX_new(TLS_client_method());
    s_ctx_verify = SSL_CTX_new(TLS_client_method());
    if (s_ctx_noverify == NULL || s_ctx_verify == NULL)
        return sl_fail(why, "cannot create OpenSSL contexts");
    SSL_CTX_set_min_proto_version(s_ctx_noverify, TLS1_2_VERSION);
    SSL_CTX_set_min_proto_version(s_ctx_verify, TLS1_2_VERSION);
    SSL_CTX_set_verify(s_ctx_noverify, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_verify(s_ctx_verify, SSL_VERIFY_PEER, NULL);
    int ok = cf->tls_ca_file[0] ? SSL_CTX_load_verify_locations(s_ctx_verify, cf->tls_ca_file, NULL)
                                : SSL_CTX_set_default_verify_paths(s_ctx_verify);
    if (ok != 1)
        return sl_fail(why, "cannot load the CA certificates for tls verify");
    static char err[256];
    const sl_cfg_node_t *dns = cf->cfg ? sl_cfg_get(sl_cfg_root(cf->cfg), "dns") : NULL;
    s_dns = sl_dns_new(cf->cfg, dns, err, sizeof err);
    if (s_dns == NULL)
        return sl_fail(why, err);
    return 0;
}

static void
s_result(delivery_rcpt_result_t *r, int code, const char *text)
{
    r->code = code;
    snprintf(r->text, sizeof r->text, "%s", text);
}

static ssize_t
s_write_raw(delivery_conn_t *c, const char *p, size_t len)
{
    if (c->ssl) {
        int n = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
        return n > 0 ? n : -1;
    }
    ssize_t n;
    do
        n = send(c->fd, p, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
}

static int
s_write(delivery_conn_t *c, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = s_write_raw(c, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
s_fill(delivery_conn_t *c)
{
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == sizeof c->in)
        return -1;
    ssize_t n;
    if (c->ssl) {
        int r = SSL_read(c->ssl, c->in + c->in_len, (int)(sizeof c->in - c->in_len));
        n = r > 0 ? r : -1;
    } else {
        do
            n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        while (n < 0 && errno == EINTR);
    }
    if (n <= 0)
        return -1;
    c->in_len += (size_t)n;
    return 0;
}

/* s_reply - reads one whole reply into R. 0, or -1 with R's text saying why
 * (timeout, connection lost, malformed reply): the connection is unusable. */
static int
s_reply(delivery_conn_t *c, delivery_reply_t *r)
{
    delivery_reply_init(r);
    while (!r->done) {
        char *start = c->in + c->in_off;
        char *nl = memchr(start, '\n', c->in_len - c->in_off);
        if (nl == NULL) {
            if (c->in_len - c->in_off > DELIVERY_REPLY_LINE_MAX || s_fill(c) != 0) {
                snprintf(r->text, sizeof r->text, "connection lost or timed out reading from %s",
                         c->peer);
                r->code = 0;
                return -1;
            }
            continue;
        }
        size_t len = (size_t)(nl - start);
        c->in_off += len + 1;
        if (len > 0 && start[len - 1] == '\r')
            len--;
        const char *why = NULL;
        if (delivery_reply_feed(r, start, len, &why) != 0) {
            char shown[80];
            snprintf(r->text, sizeof r->text, "malformed reply from %s: %s: \"%s\"", c->peer, why,
                     sl_log_str(start, len, shown, sizeof shown));
            r->code = 0;
            return -1;
        }
    }
    return 0;
}

/* s_command - send LINE (with CRLF) and read the reply. */
static int
s_command(delivery_conn_t *c, const char *line, delivery_reply_t *r)
{
    if (s_write(c, line, strlen(line)) != 0) {
        delivery_reply_init(r);
        snprintf(r->text, sizeof r->text, "connection lost writing to %s", c->peer);
        return -1;
    }
    return s_reply(c, r);
}

/* s_resolve - HOST's addresses as a getaddrinfo list (chained results of several calls:
 * glibc's freeaddrinfo frees node by node): a numeric address as it
 * is, a name through lib/sl_dns (A, then AAAA), the one resolver of the
 * process, so that tests and operators point every lookup at one place. */
static struct addrinfo *
s_resolve(const char *host, int portnum, char *why, size_t size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", portnum);
    if (getaddrinfo(host, port, &hints, &res) == 0)
        return res;
    sl_dns_query_t qs[2] = {{.type = SL_DNS_A}, {.type = SL_DNS_AAAA}};
    if (snprintf(qs[0].name, sizeof qs[0].name, "%s", host) >= (int)sizeof qs[0].name) {
        snprintf(why, size, "host name too long");
        return NULL;
    }
    memcpy(qs[1].name, qs[0].name, sizeof qs[1].name);
    sl_dns_answer_t a[2];
    sl_dns_query_many(s_dns, qs, 2, a, 0);
    struct addrinfo *head = NULL, **tail = &head;
    for (size_t q = 0; q < 2; q++) {
        for (size_t i = 0; i < a[q].count; i++) {
            struct addrinfo *one = NULL;
            if (getaddrinfo(a[q].rr[i].text, port, &hints, &one) != 0)
                continue; /* not an address: the answer is refused, not trusted */
            *tail = one;
            while (*tail)
                tail = &(*tail)->ai_next;
        }
    }
    if (head == NULL)
        snprintf(why, size, "cannot resolve %s: %s", host,
                 a[0].status == SL_DNS_TEMPFAIL ? a[0].why : "no A or AAAA record");
    sl_dns_answer_clear(&a[0]);
    sl_dns_answer_clear(&a[1]);
    return head;
}

static int
s_connect_host(const delivery_conf_t *cf, const char *host, int portnum, char *why, size_t size)
{
    struct addrinfo *res = s_resolve(host, portnum, why, size);
    if (res == NULL)
        return -1;
    int fd = -1;
    snprintf(why, size, "no address for %s", host);
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t el = sizeof err;
            if (poll(&p, 1, cf->connect_timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
                rc = 0;
            else
                errno = err ? err : ETIMEDOUT;
        }
        if (rc != 0) {
            snprintf(why, size, "connect to %s:%d failed: %s", host, portnum, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {cf->command_timeout_ms / 1000, (cf->command_timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* s_connect - to the route's host, or for mx to the best MX host that answers
 * (no MX record: the domain itself, RFC 5321 5.1). NAME gets the host
 * connected to, for the certificate check. *permanent is set when the
 * domain does not exist. */
static int
s_connect(const delivery_conf_t *cf, const delivery_dest_t *d, char *name, size_t name_size,
          char *why, size_t size, bool *permanent)
{
    *permanent = false;
    snprintf(name, name_size, "%s", d->host);
    if (!d->mx)
        return s_connect_host(cf, d->host, d->port, why, size);
    sl_dns_answer_t a;
    sl_dns_status_t st = sl_dns_query(s_dns, d->host, SL_DNS_MX, &a);
    if (st == SL_DNS_TEMPFAIL) {
        snprintf(why, size, "MX lookup for %s failed: %s", d->host, a.why);
        sl_dns_answer_clear(&a);
        return -1;
    }
    if (st == SL_DNS_NXDOMAIN) {
        snprintf(why, size, "550 5.1.2 domain %s does not exist", d->host);
        *permanent = true;
        sl_dns_answer_clear(&a);
        return -1;
    }
    struct {
        unsigned pref;
        char host[256];
    } mx[S_MX_MAX];
    size_t n = 0;
    for (size_t i = 0; st == SL_DNS_OK && i < a.count; i++) {
        /* "PREF HOST": checked, never trusted */
        const char *t = a.rr[i].text, *sp = memchr(t, ' ', a.rr[i].len);
        unsigned pref = 0;
        for (const char *q = t; sp && q < sp && pref < 65536; q++)
            pref = *q >= '0' && *q <= '9' ? pref * 10 + (unsigned)(*q - '0') : 65536;
        size_t hl = sp ? a.rr[i].len - (size_t)(sp + 1 - t) : 0;
        if (sp == NULL || pref > 65535 || hl == 0 || hl >= sizeof mx[0].host)
            continue;
        size_t k = n < S_MX_MAX ? n++ : S_MX_MAX - 1;
        if (k == S_MX_MAX - 1 && n == S_MX_MAX && pref >= mx[k].pref)
            continue;
        mx[k].pref = pref;
        memcpy(mx[k].host, sp + 1, hl);
        mx[k].host[hl] = '\0';
        if (hl > 1 && mx[k].host[hl - 1] == '.')
            mx[k].host[hl - 1] = '\0';
        for (; k > 0 && mx[k - 1].pref > mx[k].pref; k--) { /* keep sorted */
            __typeof__(mx[0]) tmp = mx[k - 1];
            mx[k - 1] = mx[k];
            mx[k] = tmp;
        }
    }
    sl_dns_answer_clear(&a);
    if (n == 0) {
        n = 1;
        snprintf(mx[0].host, sizeof mx[0].host, "%s", d->host); /* implicit MX */
    }
    if (n == 1 && strcmp(mx[0].host, "") == 0) { /* "0 ." null MX, RFC 7505 */
        snprintf(why, size, "556 5.1.10 domain %s accepts no mail (null MX)", d->host);
        *permanent = true;
        return -1;
    }
    char first[DELIVERY_REPLY_TEXT_MAX] = "";
    for (size_t i = 0; i < n; i++) {
        int fd = s_connect_host(cf, mx[i].host, d->port, why, size);
        if (fd >= 0) {
            snprintf(name, name_size, "%s", mx[i].host);
            return fd;
        }
        if (i == 0)
            snprintf(first, sizeof first, "%s", why);
    }
    if (n > 1) /* the best MX's reason is the one an operator needs first */
        snprintf(why, size, "%.200s (and %zu more MX hosts failed)", first, n - 1);
    return -1;
}

static int
s_ehlo(delivery_conn_t *c, const delivery_conf_t *cf, delivery_reply_t *r)
{
    char line[300];
    snprintf(line, sizeof line, "EHLO %s\r\n", cf->hostname);
    if (s_command(c, line, r) != 0)
        return -1;
    if (r->code / 100 == 2) {
        c->ext = r->ext;
        return 0;
    }
    snprintf(line, sizeof line, "HELO %s\r\n", cf->hostname);
    if (s_command(c, line, r) != 0)
        return -1;
    c->ext = 0;
    return r->code / 100 == 2 ? 0 : -1;
}

/* s_starttls - STARTTLS and the handshake; the checks VERIFY asks for. */
static int
s_starttls(delivery_conn_t *c, const delivery_dest_t *d, delivery_rcpt_result_t *why)
{
    delivery_reply_t r;
    if (s_command(c, "STARTTLS\r\n", &r) != 0 || r.code != 220) {
        s_result(why, 0, r.text[0] ? r.text : "STARTTLS refused");
        return -1;
    }
    if (c->in_len != c->in_off) {
        s_result(why, 0, "server sent data after STARTTLS's 220 (injection attempt?)");
        return -1;
    }
    c->ssl = SSL_new(d->tls == SL_TLS_VERIFY ? s_ctx_verify : s_ctx_noverify);
    SSL_set_fd(c->ssl, c->fd);
    const char *name = d->mx ? c->host : d->tls_name[0] ? d->tls_name : d->host;
    SSL_set_tlsext_host_name(c->ssl, name);
    if (d->tls == SL_TLS_VERIFY) {
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(c->ssl, name);
    }
    if (SSL_connect(c->ssl) != 1) {
        char text[DELIVERY_REPLY_TEXT_MAX];
        long v = SSL_get_verify_result(c->ssl);
        snprintf(text, sizeof text, "TLS handshake with %s failed: %s", c->peer,
                 v != X509_V_OK ? X509_verify_cert_error_string(v)
                                : ERR_reason_error_string(ERR_get_error()));
        ERR_clear_error();
        s_result(why, 0, text);
        return -1;
    }
    snprintf(c->tls, sizeof c->tls, "%s %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
    return 0;
}

delivery_conn_t *
delivery_smtp_open(const delivery_conf_t *cf, const delivery_dest_t *dest,
                   delivery_rcpt_result_t *why)
{
    char text[DELIVERY_REPLY_TEXT_MAX], host[256];
    bool permanent = false;
    int fd = s_connect(cf, dest, host, sizeof host, text, sizeof text, &permanent);
    if (fd < 0) {
        s_result(why, permanent ? 550 : 0, text);
        return NULL;
    }
    delivery_conn_t *c = sl_xcalloc(1, sizeof *c);
    c->fd = fd;
    snprintf(c->host, sizeof c->host, "%s", host);
    snprintf(c->peer, sizeof c->peer, "%s:%d", host, dest->port);
    delivery_reply_t r;
    if (s_reply(c, &r) != 0 || r.code != 220) {
        s_result(why, 0, r.text); /* a refusing greeting says nothing of the recipients */
        goto fail;
    }
    if (s_ehlo(c, cf, &r) != 0) {
        s_result(why, 0, r.text);
        goto fail;
    }
    bool offered = (c->ext & DELIVERY_EXT_STARTTLS) != 0;
    if (dest->tls >= SL_TLS_ENCRYPT && !offered) {
        s_result(why, 0, "TLS is required for this domain but the server does not offer STARTTLS");
        goto fail;
    }
    if (dest->tls != SL_TLS_NONE && offered) {
        if (s_starttls(c, dest, why) != 0)
            goto fail;
        if (s_ehlo(c, cf, &r) != 0) { /* RFC 3207 4.2: forget what was said in plain text */
            s_result(why, 0, r.text);
            goto fail;
        }
    }
    return c;
fail:
    delivery_smtp_close(&c, false);
    return NULL;
}

const char *
delivery_smtp_tls(const delivery_conn_t *conn)
{
    return conn->tls;
}

/* s_send_data - MSG as DATA content: CRLF line endings, leading dots doubled,
 * then "." on its own line. */
static int
s_send_data(delivery_conn_t *c, const char *msg, size_t len)
{
    char *out = sl_xmalloc(S_OUT_BUF + 8);
    size_t o = 0;
    bool bol = true;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        char ch = msg[i];
        if (bol && ch == '.')
            out[o++] = '.';
        if (ch == '\n' && (i == 0 || msg[i - 1] != '\r'))
            out[o++] = '\r';
        else if (ch == '\r' && (i + 1 >= len || msg[i + 1] != '\n')) {
            out[o++] = '\r'; /* a bare CR becomes CRLF: no smuggling through us */
            ch = '\n';
        }
        out[o++] = ch;
        bol = ch == '\n';
        if (o >= S_OUT_BUF) {
            rc = s_write(c, out, o);
            o = 0;
        }
    }
    if (!bol) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o++] = '.';
    out[o++] = '\r';
    out[o++] = '\n';
    if (rc == 0)
        rc = s_write(c, out, o);
    free(out);
    return rc;
}

static void
s_all(delivery_rcpt_result_t *results, size_t n, int code, const char *text)
{
    for (size_t i = 0; i < n; i++)
        if (results[i].code == 0 || results[i].code / 100 == 2)
            s_result(&results[i], code, text);
}

int
delivery_smtp_send(delivery_conn_t *c, const char *from, const char *msg, size_t len,
                   delivery_rcpt_result_t *results, size_t n)
{
    size_t cap = 64 + strlen(from), used = 0;
    for (size_t i = 0; i < n; i++) {
        cap += strlen(results[i].rcpt) + 16;
        results[i].code = 0;
        results[i].text[0] = '\0';
    }
    char *cmds = sl_xmalloc(cap);
    bool pipe = (c->ext & DELIVERY_EXT_PIPELINING) != 0;
    delivery_reply_t r;
    used = (size_t)snprintf(cmds, cap, "MAIL FROM:<%s>\r\n", from);
    size_t mail_end = used;
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(cmds + used, cap - used, "RCPT TO:<%s>\r\n", results[i].rcpt);
    used += (size_t)snprintf(cmds + used, cap - used, "DATA\r\n");
    int rc = -1;
    size_t accepted = 0;
    if (pipe) {
        /* RFC 2920: the whole batch in one write, then the replies in order. */
        if (s_write(c, cmds, used) != 0) {
            s_all(results, n, 0, "connection lost sending the envelope");
            goto out;
        }
        if (s_reply(c, &r) != 0) {
            s_all(results, n, 0, r.text);
            goto out;
        }
        bool mail_ok = r.code / 100 == 2;
        delivery_reply_t mail = r;
        for (size_t i = 0; i < n; i++) {
            if (s_reply(c, &r) != 0) {
                s_all(results, n, 0, r.text);
                goto out;
            }
            if (!mail_ok)
                s_result(&results[i], mail.code, mail.text);
            else if (r.code / 100 == 2) {
                s_result(&results[i], r.code, r.text); /* provisional until DATA's end */
                accepted++;
            } else
                s_result(&results[i], r.code, r.text);
        }
        if (s_reply(c, &r) != 0) {
            s_all(results, n, 0, r.text);
            goto out;
        }
        if (accepted == 0 || r.code != 354) {
            if (accepted > 0)
                s_all(results, n, r.code / 100 == 5 ? 554 : 451, r.text);
            /* 354 with nothing accepted cannot be taken back but by an empty message:
             * end it and let the server throw it away. */
            if (r.code == 354 && s_write(c, ".\r\n", 3) == 0 && s_reply(c, &r) != 0)
                goto out;
            rc = s_command(c, "RSET\r\n", &r) == 0 && r.code / 100 == 2 ? 0 : -1;
            goto out;
        }
    } else {
        cmds[mail_end] = '\0';
        if (s_command(c, cmds, &r) != 0 || r.code / 100 != 2) {
            s_all(results, n, r.code, r.text);
            rc = r.code ? (s_command(c, "RSET\r\n", &r) == 0 ? 0 : -1) : -1;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            char line[SL_POLICY_TARGET_MAX + 600];
            snprintf(line, sizeof line, "RCPT TO:<%s>\r\n", results[i].rcpt);
            if (s_command(c, line, &r) != 0) {
                s_all(results, n, 0, r.text);
                goto out;
            }
            s_result(&results[i], r.code, r.text);
            accepted += r.code / 100 == 2;
        }
        if (accepted == 0) {
            rc = s_command(c, "RSET\r\n", &r) == 0 ? 0 : -1;
            goto out;
        }
        if (s_command(c, "DATA\r\n", &r) != 0 || r.code != 354) {
            s_all(results, n, r.code, r.text);
            rc = r.code ? (s_command(c, "RSET\r\n", &r) == 0 ? 0 : -1) : -1;
            goto out;
        }
    }
    if (s_send_data(c, msg, len) != 0) {
        s_all(results, n, 0, "connection lost sending the message");
        goto out;
    }
    if (s_reply(c, &r) != 0) {
        s_all(results, n, 0, r.text);
        goto out;
    }
    s_all(results, n, r.code, r.text); /* the end of DATA decides for every accepted rcpt */
    rc = 0;
out:
    free(cmds);
    return rc;
}

void
delivery_smtp_close(delivery_conn_t **conn_p, bool polite)
{
    delivery_conn_t *c = *conn_p;
    if (c == NULL)
        return;
    if (polite) {
        delivery_reply_t r;
        s_command(c, "QUIT\r\n", &r);
    }
    if (c->ssl) {
        if (polite)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    free(c);
    *conn_p = NULL;
}
