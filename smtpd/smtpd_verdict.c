/*
 * smtpd/smtpd_verdict.c - what a connect or rcpt phase result means for the dialogue.
 *
 * Order: the first valid permanent smtp_reply of any verdict, else the first
 * valid temporary one, else classification reject/tempfail, else (rcpt) the
 * action of recipient 0. Anything else lets the dialogue go on.
 * Tests: tests/unit/test_smtpd_verdict.c
 */
#include "smtpd_verdict.h"

#include "sl_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_digits(const char *p, size_t *i, size_t min, size_t max)
{
    size_t n = 0;
    while (p[*i] >= '0' && p[*i] <= '9') {
        (*i)++;
        n++;
    }
    return n >= min && n <= max;
}

bool
smtpd_reply_valid(const char *r)
{
    if (r == NULL || (r[0] != '4' && r[0] != '5') || r[1] < '0' || r[1] > '9' || r[2] < '0' ||
        r[2] > '9' || r[3] != ' ' || r[4] != r[0] || r[5] != '.')
        return false;
    size_t i = 6;
    if (!s_digits(r, &i, 1, 3) || r[i] != '.')
        return false;
    i++;
    if (!s_digits(r, &i, 1, 3) || r[i] != ' ')
        return false;
    i++;
    size_t text = 0;
    for (; r[i]; i++, text++)
        if ((unsigned char)r[i] < 32 || (unsigned char)r[i] > 126)
            return false;
    return text >= 1 && text <= SMTPD_REPLY_TEXT_MAX;
}

static const char *
s_copy(char *buf, size_t size, const char *text)
{
    sl_strlcpy(buf, text, size);
    return buf;
}

const char *
smtpd_verdict_reply(const sl_env_t *env, bool rcpt, char *buf, size_t size, const char **stage)
{
    *stage = "";
    for (int pass = 0; pass < 2; pass++) {
        char want = pass == 0 ? '5' : '4';
        for (size_t i = 0; i < sl_env_verdict_count(env); i++) {
            const sl_verdict_t *v = sl_env_verdict_at(env, i);
            char *reply = sl_verdict_field_get_str(v, "smtp_reply");
            bool use = reply != NULL && smtpd_reply_valid(reply) && reply[0] == want;
            if (use) {
                *stage = sl_verdict_stage(v);
                s_copy(buf, size, reply);
            }
            free(reply);
            if (use)
                return buf;
        }
    }
    const char *cls = sl_env_str(env, SL_ENV_CLASSIFICATION);
    const char *act = rcpt && sl_env_rcpt_count(env) > 0 ? sl_env_action(env, 0) : "";
    if (strcmp(cls, "reject") == 0 || strcmp(act, "reject") == 0)
        return s_copy(buf, size,
                      rcpt ? "550 5.7.1 Recipient address rejected by policy"
                           : "554 5.7.1 Service refused by policy");
    if (strcmp(cls, "tempfail") == 0 || strcmp(act, "tempfail") == 0)
        return s_copy(buf, size,
                      rcpt ? "451 4.7.1 Recipient address deferred, try again later"
                           : "421 4.7.1 Service deferred, try again later");
    return NULL;
}
