/*
 * crumbctl's commands, one file each: crumbctl.c parses the common
 * options and calls the command's function with the words after the
 * common options (argv[0] is the command's name).  A command returns
 * the exit status: 0 done, 1 failed (one line on stderr saying why),
 * 2 usage.  It never prints a session ID or a key, only stored hashes.
 * ctl-util.c holds what the commands share.
 */
#ifndef CRUMB_CTL_H
#define CRUMB_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "crumb.h"

typedef struct ctl_opts {
	const char *store;      /* --store URL, else $CRUMB_STORE, or NULL */
	int json;               /* --json: print data as JSON */
	int quiet;              /* --quiet: no progress, no summary */
	int tty;                /* stderr is a terminal: progress lines */
	int out_tty;            /* stdout is a terminal: summaries */
} ctl_opts;

/* crumbctl key new PATH | key rotate DIR (ctl-key.c). */
int ctl_key(const ctl_opts *o, int argc, char **argv);
/* crumbctl stats (ctl-stats.c). */
int ctl_stats(const ctl_opts *o, int argc, char **argv);
/* crumbctl purge [--batch N] (ctl-purge.c). */
int ctl_purge(const ctl_opts *o, int argc, char **argv);
/* crumbctl list USER, revoke USER, revoke --session HASH (ctl-user.c). */
int ctl_list(const ctl_opts *o, int argc, char **argv);
int ctl_revoke(const ctl_opts *o, int argc, char **argv);
/* crumbctl migrate --from URL --to URL (ctl-migrate.c). */
int ctl_migrate(const ctl_opts *o, int argc, char **argv);

/* ---- ctl-util.c ---- */

/* A command's words: its options (want: what it takes) and the common
 * ones, which may also follow the command; the rest are operands. */
typedef struct ctl_args {
	ctl_opts o;             /* the common options, updated */
	const char *opt_val[4]; /* values of the command's own options */
	int help;               /* --help or -h given */
	char **operand;         /* the words that are no option */
	int n_operand;
} ctl_args;

/* Parse argv (argv[0] the command) into a, against the command's own
 * options names[0..n) (each "--name VALUE" or "--name=VALUE").  On a
 * bad word prints "crumbctl CMD: reason" and the usage on stderr and
 * returns 2; else 0 (a->operand is allocated: ctl_args_free). */
int ctl_args_parse(ctl_args *a, const ctl_opts *o, int argc, char **argv,
    const char *const *names, int n, const char *usage);
void ctl_args_free(ctl_args *a);
/* ctl_args_parse, then: --help prints usage on stdout (exit 0); fewer
 * than lo or more than hi operands, or need_store without a store, is
 * a usage error (2).  Returns -1 when the command goes on (then
 * ctl_args_free a), else the exit status (a already freed). */
int ctl_start(ctl_args *a, const ctl_opts *o, int argc, char **argv,
    const char *const *names, int n, const char *usage, int lo, int hi,
    int need_store);

/* "crumbctl CMD: reason" and the usage on stderr; returns 2. */
int ctl_usage(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "crumbctl CMD: reason" on stderr; returns 1. */
int ctl_fail(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Open the store url names (may_create: a SQLite file that does not
 * exist yet is created; otherwise it is an error, so that a mistyped
 * path never makes an empty store).  Returns 0, or 1 with the reason
 * printed (never a password). */
int ctl_open(const char *cmd, const char *url, int may_create,
    crumb_store **out);
/* A name for url fit to print: the SQLite file's path, "memory:", or
 * for a server "the PostgreSQL store" (its URL may hold a password).
 * Borrowed from url or static. */
const char *ctl_store_name(const char *url);
/* The store's last detail, or the code's text. */
const char *ctl_why(crumb_store *st, int rc);

/* A positive decimal that fits an unsigned, or 0. */
unsigned ctl_parse_count(const char *s);
/* t as "YYYY-MM-DD HH:MM:SS" UTC into buf (at least 20 bytes). */
void ctl_time(int64_t t, char *buf, size_t len);
/* Seconds since an arbitrary start, for durations. */
double ctl_clock(void);
/* Print j on stdout (one line, then a newline) and delete it; 0, or 1
 * with a reason on stderr when it could not be printed. */
int ctl_print_json(const char *cmd, cJSON *j);

#endif
