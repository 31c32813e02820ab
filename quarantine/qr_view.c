/*
 * quarantine/qr_view.c - what a user is shown of a quarantined message:
 * decoded headers, the text with every link neutralised, the attachments.
 *
 * The message is hostile. GMime parses it; we never hand back HTML (HTML
 * parts become text with tags dropped) and never a clickable URL (each
 * becomes "[link: host]"). Output sizes are capped.
 * Tests: tests/unit/test_qr_json.c, tests/e2e/test_quarantine.py
 */
#include "qr_core.h"
#include "sl_mem.h"
#include "sl_text.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#define S_HEADERS_MAX 200       /* headers shown (API.md) */
#define S_TEXT_MAX (512u << 10) /* text shown */
#define S_PARTS_MAX 500         /* parts looked at */
#define S_ATTACH_MAX 100        /* attachments listed */
#define S_HOST_MAX 253          /* shown host name */

typedef struct {
    size_t len, cap; /* bytes of buf used / allocated */
    char *buf;       /* NUL-terminated */
} s_text_t;

static void
s_add(s_text_t *t, const char *p, size_t n)
{
    if (n > S_TEXT_MAX - t->len)
        n = S_TEXT_MAX - t->len;
    if (t->cap - t->len <= n) {
        t->cap = (t->len + n + 1) * 2;
        t->buf = sl_xrealloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static bool
s_url_char(unsigned char c)
{
    return c > ' ' && c < 0x7f && !strchr("<>\"'()[]{}|\\^`", c);
}

char *
qr_neutralise(const char *text, size_t len)
{
    static const char *const schemes[] = {"https://", "http://", "ftp://", "www.", NULL};
    s_text_t t = {0};
    s_add(&t, "", 0);
    for (size_t i = 0; i < len;) {
        size_t skip = 0;
        bool word_start = i == 0 || !isalnum((unsigned char)text[i - 1]);
        for (int s = 0; word_start && schemes[s]; s++)
            if (sl_text_casestarts(text + i, len - i, schemes[s])) {
                skip = s == 3 ? 0 : strlen(schemes[s]);
                break;
            }
        if (!word_start || (skip == 0 && !sl_text_casestarts(text + i, len - i, "www."))) {
            s_add(&t, text + i, 1);
            i++;
            continue;
        }
        size_t end = i + skip;
        while (end < len && s_url_char((unsigned char)text[end]))
            end++;
        /* host: after any userinfo, up to the port, path, query or fragment */
        size_t hs = i + skip, he = hs;
        while (he < end && !strchr("/?#", text[he]))
            he++;
        for (size_t k = hs; k < he; k++)
            if (text[k] == '@')
                hs = k + 1;
        char host[S_HOST_MAX + 1];
        size_t hn = 0;
        for (size_t k = hs; k < he && text[k] != ':' && hn < S_HOST_MAX; k++)
            if (isalnum((unsigned char)text[k]) || text[k] == '.' || text[k] == '-')
                host[hn++] = (char)tolower((unsigned char)text[k]);
        host[hn] = '\0';
        s_add(&t, "[link: ", 7);
        s_add(&t, hn ? host : "?", hn ? hn : 1);
        s_add(&t, "]", 1);
        i = end;
    }
    return t.buf;
}

/* s_entity - decodes the entity at P (after '&'); bytes consumed, 0 if none. */
static size_t
s_entity(const char *p, size_t len, s_text_t *t)
{
    static const struct {
        const char *name, *text;
    } names[] = {{"amp;", "&"}, {"lt;", "<"},   {"gt;", ">"},  {"quot;", "\""},
                 {"#39;", "'"}, {"nbsp;", " "}, {"apos;", "'"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (sl_text_casestarts(p, len, names[i].name)) {
            s_add(t, names[i].text, strlen(names[i].text));
            return strlen(names[i].name);
        }
    return 0;
}

char *
qr_html_to_text(const char *html, size_t len)
{
    s_text_t t = {0};
    s_add(&t, "", 0);
    for (size_t i = 0; i < len;) {
        if (html[i] == '<') {
            const char *skip_to = NULL;
            if (sl_text_casestarts(html + i, len - i, "<script"))
                skip_to = "</script";
            else if (sl_text_casestarts(html + i, len - i, "<style"))
                skip_to = "</style";
            else if (sl_text_casestarts(html + i, len - i, "<!--"))
                skip_to = "-->";
            if (skip_to) {
                size_t k = i + 1;
                while (k < len && !sl_text_casestarts(html + k, len - k, skip_to))
                    k++;
                i = k;
            }
            bool brk = sl_text_casestarts(html + i, len - i, "<br") ||
                       sl_text_casestarts(html + i, len - i, "</p") ||
                       sl_text_casestarts(html + i, len - i, "</div") ||
                       sl_text_casestarts(html + i, len - i, "</tr") ||
                       sl_text_casestarts(html + i, len - i, "<li");
            while (i < len && html[i] != '>')
                i++;
            i += i < len;
            if (brk)
                s_add(&t, "\n", 1);
            continue;
        }
        if (html[i] == '&') {
            size_t n = s_entity(html + i + 1, len - i - 1, &t);
            if (n) {
                i += n + 1;
                continue;
            }
        }
        s_add(&t, html + i, 1);
        i++;
    }
    return t.buf;
}

typedef struct {
    s_text_t plain;   /* text/plain parts */
    s_text_t html;    /* text/html parts, as text */
    qr_jbuf_t attach; /* attachments array members */
    size_t parts;     /* parts seen */
    size_t attached;  /* attachments listed */
} s_walk_t;

static void
s_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
    (void)parent;
    s_walk_t *w = data;
    if (++w->parts > S_PARTS_MAX || !GMIME_IS_PART(part))
        return;
    GMimePart *mp = GMIME_PART(part);
    GMimeContentType *ct = g_mime_object_get_content_type(part);
    const char *filename = g_mime_part_get_filename(mp);
    bool attachment = filename != NULL || g_mime_part_is_attachment(mp);
    if (attachment) {
        if (w->attached++ >= S_ATTACH_MAX)
            return;
        gint64 size = 0;
        GMimeDataWrapper *content = g_mime_part_get_content(mp);
        if (content) {
            GMimeStream *null = g_mime_stream_null_new();
            size = g_mime_data_wrapper_write_to_stream(content, null);
            g_object_unref(null);
        }
        char *type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
        qr_jbuf_raw(&w->attach, w->attached > 1 ? ",{" : "{");
        qr_jbuf_key(&w->attach, "name");
        qr_jbuf_str(&w->attach, filename ? filename : "");
        qr_jbuf_key(&w->attach, "type");
        qr_jbuf_str(&w->attach, type ? type : "application/octet-stream");
        qr_jbuf_key(&w->attach, "size");
        qr_jbuf_printf(&w->attach, "%lld}", (long long)(size > 0 ? size : 0));
        g_free(type);
        return;
    }
    if (!GMIME_IS_TEXT_PART(part) || ct == NULL)
        return;
    char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
    if (text == NULL)
        return;
    if (g_mime_content_type_is_type(ct, "text", "html")) {
        char *plain = qr_html_to_text(text, strlen(text));
        s_add(&w->html, plain, strlen(plain));
        s_add(&w->html, "\n", 1);
        free(plain);
    } else {
        s_add(&w->plain, text, strlen(text));
        s_add(&w->plain, "\n", 1);
    }
    g_free(text);
}

int
qr_view_json(const char *path, qr_jbuf_t *out)
{
    size_t len = 0;
    char *raw = qr_read_file(path, &len);
    if (raw == NULL)
        return -1;
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    free(raw);
    qr_jbuf_key(out, "headers");
    qr_jbuf_raw(out, "[");
    s_walk_t w = {0};
    qr_jbuf_raw(&w.attach, "");
    if (msg) {
        GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
        int n = hl ? g_mime_header_list_get_count(hl) : 0;
        for (int i = 0; i < n && i < S_HEADERS_MAX; i++) {
            GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
            const char *value = g_mime_header_get_value(h);
            qr_jbuf_raw(out, i ? ",[" : "[");
            qr_jbuf_str(out, g_mime_header_get_name(h));
            qr_jbuf_raw(out, ",");
            qr_jbuf_str(out, value ? value : "");
            qr_jbuf_raw(out, "]");
        }
        g_mime_message_foreach(msg, s_part, &w);
    }
    qr_jbuf_raw(out, "]");
    s_text_t *body = w.plain.len ? &w.plain : &w.html;
    char *safe = qr_neutralise(body->buf ? body->buf : "", body->len);
    qr_jbuf_key(out, "text");
    qr_jbuf_str(out, safe);
    free(safe);
    qr_jbuf_key(out, "attachments");
    qr_jbuf_raw(out, "[");
    qr_jbuf_raw(out, w.attach.buf);
    qr_jbuf_raw(out, "]");
    qr_jbuf_free(&w.attach);
    free(w.plain.buf);
    free(w.html.buf);
    if (msg)
        g_object_unref(msg);
    return 0;
}
