/*
 * crumbctl's commands, one file each: crumbctl.c parses the common
 * options and calls the command's function with the words after the
 * common options (argv[0] is the command's name).  A command returns
 * the exit status: 0 done, 1 failed (one line on stderr saying why),
 * 2 usage.  It never prints a session ID or a key, only stored hashes.
 */
#ifndef CRUMB_CTL_H
#define CRUMB_CTL_H

#include <stdio.h>

typedef struct ctl_opts {
	const char *store;      /* --store URL, else $CRUMB_STORE, or NULL */
	int json;               /* --json: print data as JSON */
	int quiet;              /* --quiet: no progress, no summary */
	int tty;                /* stderr is a terminal: progress lines */
} ctl_opts;

/* crumbctl key new PATH | key rotate DIR (ctl-key.c). */
int ctl_key(const ctl_opts *o, int argc, char **argv);

#endif
