/*
 * supervisor/sluice_replay.h - `sluice replay`: spooled or archived mail through the pipeline
 * again.
 */
#ifndef SLUICE_REPLAY_H
#define SLUICE_REPLAY_H

/* sluice_replay_main - `sluice replay -c FILE [--id ID | --since TIME]
 * [--graph NAME] [--dry-run]`; argv[0] is "replay". Exit code: 0 every
 * message came back, 1 some did not, 2 usage or config error. */
int sluice_replay_main(int argc, char **argv);

#endif
