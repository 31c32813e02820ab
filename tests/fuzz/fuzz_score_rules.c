/*
 * tests/fuzz/fuzz_score_rules.c - the score stage's parsers on hostile input:
 * the input as a rule file (refused or loaded, never a crash), and as a
 * message for the default-style rules and the Bayes tokenizer.
 * Seeds: tests/fuzz/corpus/score_rules/
 */
#include "score_bayes.h"
#include "score_rules.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_hit(const char *name, double score, const char *info, void *arg)
{
    (void)name, (void)score, (void)info;
    (*(size_t *)arg)++;
}

static void
s_token(const char *token, void *arg)
{
    (void)token;
    (*(size_t *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char rules[] = "header S Subject =~ /free|\\$\\$/i\nheader N Message-ID !~ /@/\n"
                                "header E exists:List-Id\nheader A ALL =~ /^X-/m\n"
                                "body B /(?:click|win)\\s+\\w+/i\nrawbody R /=[0-9A-F]{2}/\n"
                                "uri U /\\.exe$/\nmeta M (S || B) && !E\n";
    const char *text = (const char *)data;
    char err[256];
    score_rules_t *own = score_rules_parse(text, size, "fuzz", err, sizeof err);
    score_rules_destroy(&own);

    static score_rules_t *fixed;
    if (fixed == NULL &&
        (fixed = score_rules_parse(rules, sizeof rules - 1, "r", err, sizeof err)) == NULL)
        abort();
    const char *texts[] = {text};
    size_t lens[] = {size};
    const char *uris[] = {"http://example.com/a.exe"};
    score_input_t in = {.header = text,
                        .header_len = size,
                        .texts = texts,
                        .text_lens = lens,
                        .text_count = 1,
                        .raw_body = text,
                        .raw_body_len = size,
                        .uris = uris,
                        .uri_count = 1};
    size_t hits = 0, tokens = 0;
    score_rules_run(fixed, &in, s_hit, &hits);
    if (score_bayes_tokens(text, size, s_token, &tokens) != tokens || tokens > BAYES_TOKENS_MAX)
        abort();
    return 0;
}
