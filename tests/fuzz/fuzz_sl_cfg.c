/*
 * tests/fuzz/fuzz_sl_cfg.c - the config parser and loader on arbitrary bytes.
 *
 * Parses the input as a config file, reads every scalar through each typed
 * getter (the number, duration and size parsers), walks key paths, then
 * parses again and validates the tree as sluice.yaml. Seeds:
 * tests/fuzz/corpus/sl_cfg/. Nothing here may crash, leak or hang.
 */
#include "sl_cfg.h"
#include "sl_conf.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* s_walk - every getter on every key of every map, down the whole tree. */
static void
s_walk(sl_cfg_t *cfg, const sl_cfg_node_t *node)
{
    static const char *const none[] = {"name", NULL};
    char path[64];
    sl_cfg_node_path(node, path, sizeof path);
    sl_cfg_check_keys(cfg, node, none);
    for (size_t i = 0; i < sl_cfg_count(node); i++) {
        const char *key = sl_cfg_key_at(node, i);
        if (key) {
            (void) sl_cfg_get_str(cfg, node, key, "");
            (void) sl_cfg_get_int(cfg, node, key, 0, -100, 100);
            (void) sl_cfg_get_double(cfg, node, key, 0, -1e9, 1e9);
            (void) sl_cfg_get_bool(cfg, node, key, false);
            (void) sl_cfg_get_duration_ms(cfg, node, key, 0, 0, INT64_MAX);
            (void) sl_cfg_get_size(cfg, node, key, 0, 1, 1 << 30);
            (void) sl_cfg_get_map(cfg, node, key);
            (void) sl_cfg_get_seq(cfg, node, key);
        }
        s_walk(cfg, sl_cfg_at(node, i));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    sl_cfg_t *cfg = sl_cfg_parse((const char *) data, size, "fuzz.yaml", err, sizeof err);
    if (cfg == NULL)
        return 0;
    s_walk(cfg, sl_cfg_root(cfg));
    (void) sl_cfg_errors(cfg);
    sl_cfg_destroy(&cfg);

    cfg = sl_cfg_parse((const char *) data, size, "fuzz.yaml", err, sizeof err);
    sl_conf_t *conf = sl_conf_from_cfg(&cfg, err, sizeof err);
    sl_conf_destroy(&conf);
    return 0;
}
