/*
 * tests/fuzz/fuzz_url_extract.c - the url stage's extractor on hostile text:
 * the input is searched as plain text and as HTML, every URL found is
 * normalised again (a normalised URL must normalise to itself).
 * Seeds: tests/fuzz/corpus/url_extract/
 */
#include "url_extract.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    url_list_t list = {.max = 64};
    url_list_add_text(&list, (const char *)data, size);
    url_list_add_html(&list, (const char *)data, size);
    for (size_t i = 0; i < list.count; i++) {
        url_t again;
        if (url_normalise(list.items[i].url, strlen(list.items[i].url), &again, NULL) != 0)
            abort();
        if (strcmp(again.host, list.items[i].host) != 0)
            abort();
        free(again.url);
    }
    url_list_clear(&list);
    return 0;
}
