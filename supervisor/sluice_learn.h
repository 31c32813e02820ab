/*
 * supervisor/sluice_learn.h - `sluice learn`: train the score stage's Bayes classifier.
 */
#ifndef SLUICE_LEARN_H
#define SLUICE_LEARN_H

/* sluice_learn_main - `sluice learn [-c FILE] [--store URL] --spam|--ham PATH...`
 * or `sluice learn [-c FILE] [--store URL] --stats`; argv[0] is "learn". PATH
 * is a message file, an mbox, or a maildir (cur/ and new/) or folder of
 * message files. Exit code: 0, 1 when some message could not be learned,
 * 2 for usage, config or store errors. */
int sluice_learn_main(int argc, char **argv);

#endif
