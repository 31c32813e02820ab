/*
 * stages/url/url_extract.h - URLs out of decoded text and HTML, normalised.
 *
 * Input is untrusted UTF-8 text (mime converted it); every parser takes
 * (ptr, len). A URL list is bounded (max) and deduplicated on the
 * normalised form. Tests: tests/unit/test_url_extract.c
 */
#ifndef URL_EXTRACT_H
#define URL_EXTRACT_H

#include "sl_env.h"

#include <stdbool.h>
#include <stddef.h>

#define URL_LEN_MAX 2048  /* octets of one URL kept; longer ones are cut (browsers take 2 KB+) */
#define URL_HOST_MAX 253  /* RFC 1035 2.3.4, presentation form without the final dot */
#define URL_COUNT_MAX 250 /* default URLs kept per message (option max_urls) */
#define URL_TEXT_MAX 512  /* octets of link text looked at for a shown host */

/* What normalisation found. */
#define URL_F_HTML 0x01       /* from an HTML attribute (href, src, action) */
#define URL_F_IP 0x02         /* host is an IP address */
#define URL_F_OBFUSCATED 0x04 /* hxxp, hex/decimal/octal IP, %-encoded host, [.] */
#define URL_F_IDN 0x08        /* host had non-ASCII or xn-- labels */
#define URL_F_HOMOGRAPH 0x10  /* an IDN label mixes Latin with Cyrillic/Greek look-alikes */
#define URL_F_USERINFO 0x20   /* user@ before the host (http://bank.com@evil.test) */
#define URL_F_FORM 0x40       /* a form action */

typedef struct {
    char *url;                        /* normalised: scheme://host[:port]/rest (owned) */
    char host[URL_HOST_MAX + 1];      /* lower case ASCII (punycode) or dotted IPv4 / [IPv6] */
    char text_host[URL_HOST_MAX + 1]; /* host the link text shows, "" when none */
    unsigned flags;                   /* URL_F_* */
} url_t;

typedef struct {
    url_t *items;   /* count entries */
    size_t count;   /* kept */
    size_t cap;     /* allocated */
    size_t max;     /* limit; 0 means URL_COUNT_MAX */
    size_t dropped; /* distinct URLs over the limit */
} url_list_t;

/* url_normalise - URL P/LEN as found in text into OUT (OUT->url is the
 * caller's, free it); -1 with *why when it is not a URL we can use. */
int url_normalise(const char *p, size_t len, url_t *out, const char **why);

/* url_list_add_text - every URL in plain text P/LEN (schemes, hxxp, www.). */
void url_list_add_text(url_list_t *list, const char *p, size_t len);
/* url_list_add_html - href/src/action attributes (with the host their <a>
 * text shows) and the URLs in the text between tags. */
void url_list_add_html(url_list_t *list, const char *p, size_t len);
/* url_list_clear - frees every URL; the list is empty and reusable. */
void url_list_clear(url_list_t *list);

/* url_part_kind - from a decoded part's metadata (msgpack map, as mime
 * sends it): whether its data is text (`text`) and whether its declared or
 * true type is HTML. Both false for anything unreadable. */
void url_part_kind(sl_slice_t meta, bool *text, bool *html);

/* url_host_is_ip - whether HOST (normalised) is an IPv4 or [IPv6] literal. */
bool url_host_is_ip(const char *host);

#endif
