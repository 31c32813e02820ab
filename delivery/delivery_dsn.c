/*
 * delivery/delivery_dsn.c - bounces: RFC 3464 delivery status notifications.
 *
 * A multipart/report; report-type=delivery-status with three parts: a
 * human-readable explanation, the message/delivery-status fields (one block
 * per failed recipient: Final-Recipient, Action: failed, Status, Remote-MTA,
 * Diagnostic-Code) and the original message's header (text/rfc822-headers,
 * RFC 6522), so a bounce never carries a large body back. It goes into the
 * queue like any mail, from the null sender (RFC 5321 4.5.5), so it can
 * never cause another bounce. The caller never asks for one when the
 * original sender is null.
 * Tests: tests/e2e/test_delivery.py (550 for one of two recipients)
 */
#include "delivery.h"
#include "sl_dqueue.h"
#include "sl_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* s_status - "5.1.1" from a reply such as "550 5.1.1 no such user", else by class. */
static void
s_status(const delivery_rcpt_result_t *r, char *out, size_t size)
{
    const char *t = r->text;
    if (strlen(t) > 9 && t[4] >= '2' && t[4] <= '5' && t[5] == '.') {
        size_t n = 4;
        while (t[n] && t[n] != ' ' && n - 4 < size - 1)
            n++;
        snprintf(out, size, "%.*s", (int)(n - 4), t + 4);
        return;
    }
    snprintf(out, size, "%s", r->code / 100 == 5 ? "5.0.0" : "4.4.7");
}

/* s_header_end - length of the header block of MSG (through the empty line). */
static size_t
s_header_end(const char *msg, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (msg[i] != '\n')
            continue;
        if (i + 1 < len && msg[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
            return i + 3;
    }
    return len;
}

int
delivery_dsn_write(const delivery_conf_t *cf, const char *name, const char *id, const char *sender,
                   const delivery_rcpt_result_t *failed, size_t n, const char *msg, size_t len,
                   const char **why)
{
    /* per recipient: three addresses, two reply texts and fixed words; plus the head */
    size_t cap = 8192 + n * (3 * SL_DQUEUE_ADDR_MAX + 2 * DELIVERY_REPLY_TEXT_MAX + 400), used = 0;
    char *text = sl_xmalloc(cap);
    char date[64], boundary[320], new_id[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    sl_env_new_id(new_id, sizeof new_id);
    snprintf(boundary, sizeof boundary, "%s/%s", new_id, cf->hostname);
    used += (size_t)snprintf(text + used, cap - used,
                             "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
                             "To: <%s>\r\n"
                             "Subject: Undelivered Mail Returned to Sender\r\n"
                             "Date: %s\r\n"
                             "Message-ID: <%s@%s>\r\n"
                             "Auto-Submitted: auto-replied\r\n"
                             "MIME-Version: 1.0\r\n"
                             "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                             "\tboundary=\"%s\"\r\n"
                             "\r\n"
                             "This is a MIME-encapsulated message.\r\n"
                             "\r\n"
                             "--%s\r\n"
                             "Content-Type: text/plain; charset=us-ascii\r\n"
                             "\r\n"
                             "This is the mail system at host %s.\r\n"
                             "\r\n"
                             "Your message (queue id %s) could not be delivered to one or more\r\n"
                             "recipients:\r\n\r\n",
                             cf->hostname, sender, date, new_id, cf->hostname, boundary, boundary,
                             cf->hostname, id);
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "<%s>: %s\r\n", failed[i].rcpt,
                                 failed[i].text);
    used += (size_t)snprintf(text + used, cap - used,
                             "\r\n--%s\r\n"
                             "Content-Type: message/delivery-status\r\n"
                             "\r\n"
                             "Reporting-MTA: dns; %s\r\n"
                             "X-Sluice-Queue-ID: %s\r\n"
                             "Arrival-Date: %s\r\n",
                             boundary, cf->hostname, id, date);
    for (size_t i = 0; i < n; i++) {
        char status[16];
        s_status(&failed[i], status, sizeof status);
        used += (size_t)snprintf(text + used, cap - used,
                                 "\r\n"
                                 "Final-Recipient: rfc822; %s\r\n"
                                 "Original-Recipient: rfc822; %s\r\n"
                                 "Action: failed\r\n"
                                 "Status: %s\r\n"
                                 "Diagnostic-Code: smtp; %s\r\n",
                                 failed[i].rcpt, failed[i].rcpt, status, failed[i].text);
    }
    used += (size_t)snprintf(text + used, cap - used,
                             "\r\n--%s\r\n"
                             "Content-Type: text/rfc822-headers\r\n"
                             "\r\n",
                             boundary);
    char tail[340];
    snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
    size_t hlen = s_header_end(msg, len);
    sl_slice_t parts[] = {{text, used}, {msg, hlen}, {tail, strlen(tail)}};

    sl_dqueue_hdr_t hdr = {.created_ms = sl_now_ms()};
    snprintf(hdr.id, sizeof hdr.id, "%s", id);
    snprintf(hdr.kind, sizeof hdr.kind, "dsn");
    char *rcpt = (char *)sender;
    hdr.rcpts = &rcpt;
    hdr.rcpt_count = 1;
    char dsn_name[SL_DQUEUE_NAME_MAX];
    const char **names = sl_xcalloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = failed[i].rcpt;
    sl_dqueue_name(name, names, n, "dsn", dsn_name, sizeof dsn_name);
    free(names);
    /* "ID-HASH-dsn-HASH" may not fit; the name only needs to be unique and stable. */
    char short_name[SL_DQUEUE_NAME_MAX];
    snprintf(short_name, sizeof short_name, "%.40s-dsn%s", id, strrchr(dsn_name, '-'));
    int rc = sl_dqueue_write(cf->queue_dir, short_name, &hdr, parts, 3, why);
    if (rc == 0)
        rc = sl_dqueue_sync(cf->queue_dir, why);
    free(text);
    return rc;
}
