/*
 * supervisor/sluice_symbols.h - `sluice symbols`: every symbol with its weight and description.
 */
#ifndef SLUICE_SYMBOLS_H
#define SLUICE_SYMBOLS_H

/* sluice_symbols_main - `sluice symbols [-c FILE] [--symbols DIR] [--rules PATH]`;
 * argv[0] is "symbols". Prints one line per symbol: name, weight in use,
 * default weight, stage, description. Exit code: 0, or 2 for usage, config
 * or rule errors. */
int sluice_symbols_main(int argc, char **argv);

#endif
