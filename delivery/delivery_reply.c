/*
 * delivery/delivery_reply.c - parse SMTP reply lines from a remote server, bounded.
 *
 * A reply line is "CODE" followed by "-" (more lines follow), " " or nothing
 * (the last line), then text (RFC 5321 4.2). The EHLO reply's lines after
 * the first are keywords; the ones the client cares about are recorded.
 * All input is untrusted. Tests: tests/unit/test_delivery_reply.c,
 * tests/fuzz/fuzz_delivery_reply.c
 */
#include "delivery_reply.h"

#include <string.h>
#include <strings.h>

void
delivery_reply_init(delivery_reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
}

static int
s_fail(const char **why, const char *text)
{
    if (why)
        *why = text;
    return -1;
}

/* s_keyword - the EHLO keyword at the start of TEXT (LEN bytes), as a flag. */
static unsigned
s_keyword(const char *text, size_t len)
{
    static const struct {
        const char *name;
        unsigned flag;
    } kw[] = {
        {"PIPELINING", DELIVERY_EXT_PIPELINING},
        {"STARTTLS", DELIVERY_EXT_STARTTLS},
        {"SIZE", DELIVERY_EXT_SIZE},
        {"8BITMIME", DELIVERY_EXT_8BITMIME},
        {"ENHANCEDSTATUSCODES", DELIVERY_EXT_ENHANCED},
        {"SMTPUTF8", DELIVERY_EXT_SMTPUTF8},
    };
    size_t word = 0;
    while (word < len && text[word] != ' ' && text[word] != '=')
        word++;
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strlen(kw[i].name) == word && strncasecmp(text, kw[i].name, word) == 0)
            return kw[i].flag;
    return 0;
}

int
delivery_reply_feed(delivery_reply_t *reply, const char *line, size_t len, const char **why)
{
    if (reply->done)
        return s_fail(why, "reply line after the last one");
    if (len > DELIVERY_REPLY_LINE_MAX)
        return s_fail(why, "reply line too long");
    if (reply->lines >= DELIVERY_REPLY_LINES_MAX)
        return s_fail(why, "too many reply lines");
    if (len < 3 || memchr(line, '\0', len) != NULL)
        return s_fail(why, "reply line without a code, or with a NUL");
    if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' ||
        line[2] > '9')
        return s_fail(why, "reply code out of range");
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (reply->lines > 0 && code != reply->code)
        return s_fail(why, "reply code changes within a multi-line reply");
    bool more = false;
    if (len > 3) {
        if (line[3] == '-')
            more = true;
        else if (line[3] != ' ')
            return s_fail(why, "reply code not followed by space or hyphen");
    }
    const char *text = len > 4 ? line + 4 : line + len;
    size_t text_len = len > 4 ? len - 4 : 0;
    if (reply->lines == 0) {
        reply->code = code;
        /* Keep "CODE text" of the first line, printable, for logs and DSNs. */
        size_t n = 0;
        for (size_t i = 0; i < len && n + 1 < sizeof reply->text; i++) {
            unsigned char c = (unsigned char)line[i];
            reply->text[n++] = (c < ' ' || c >= 0x7f) ? '?' : (char)c;
        }
        if (n > 3)
            reply->text[3] = ' ';
        reply->text[n] = '\0';
    } else {
        reply->ext |= s_keyword(text, text_len);
    }
    reply->lines++;
    reply->done = !more;
    return 0;
}

int
delivery_reply_class(const delivery_reply_t *reply)
{
    return reply->done ? reply->code / 100 : 0;
}
