/*
 * Shared test helpers: a settable clock, config and request shortcuts,
 * Set-Cookie parsing, a counting in-memory store built on crumb_store_new,
 * and temporary directories.  Helpers that cannot go on exit(1): they set
 * up the test rather than test anything.
 */
#ifndef CRUMB_TEST_HELPERS_H
#define CRUMB_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "crumb.h"

#define T_START 1000000   /* test clock's starting time (1970) */

/* A clock the test moves by hand: crumb_config_set_clock(cfg, tclock_now, &c). */
struct tclock {
	int64_t now;
};
int64_t tclock_now(void *ud);

/* A config with a 32-byte key of keybyte repeated, the store (may be NULL)
 * and the clock (may be NULL), the "__Host-" prefix off (the session
 * cookie is "id").  Exits on failure.  crumb_config_free. */
crumb_config *tcfg_new(crumb_store *store, struct tclock *clk,
    unsigned char keybyte);
/* Fills key with keybyte repeated CRUMB_KEY_LEN times. */
void tkey(unsigned char key[CRUMB_KEY_LEN], unsigned char keybyte);

/* Begins a session or exits. */
crumb_session *tbegin(crumb_config *cfg, const char *cookie_header);

/* The number under key in the server state of the session whose Cookie
 * header is cookie_header, read in a request of its own (not finished);
 * -1 when it is missing or not a number. */
double tread_number(crumb_config *cfg, const char *cookie_header,
    const char *key);

/* Finishes s, frees it, and returns finish's result.  *headers (may be
 * NULL) gets the header text (new, free with free()); *pair (may be NULL)
 * gets "name=value" of the Set-Cookie for cookie name, or NULL. */
int tend(crumb_session *s, const char *name, char **headers, char **pair);

/* A new session of user (crumb_session_set_user) holding "u" = user in
 * its server state, labelled when label is not NULL; its "name=value"
 * cookie for cookie "id" (new, free()).  Exits on failure. */
char *tlogin(crumb_config *cfg, const char *user, const char *label);
/* Non-zero when the session of cookie_header still holds its "u". */
int talive(crumb_config *cfg, const char *cookie_header);

/* "name=value" of the first "Set-Cookie: name=..." line; new (free()),
 * NULL when there is none. */
char *tcookie_pair(const char *headers, const char *name);
/* The whole Set-Cookie line for name without "Set-Cookie: " and CRLF;
 * new (free()), NULL when there is none. */
char *tcookie_line(const char *headers, const char *name);
/* Value part of "name=value" (borrowed from pair). */
const char *tpair_value(const char *pair);
/* Non-zero when line has attribute attr (case-insensitive).  When val is
 * not NULL it gets the attribute's value ("" for flags). */
int tcookie_attr(const char *line, const char *attr, char *val,
    size_t vlen);
/* Max-Age of the session cookie "id" in headers, -1 when none. */
int64_t tmax_age(const char *headers);
/* Number of "Set-Cookie:" lines. */
int tcount_set_cookie(const char *headers);

/*
 * Counting store: a linear map behind crumb_store_new.  Every op bumps a
 * counter; tmap_fail makes every op fail with err and errmsg "simulated
 * store failure".  The map is owned by the crumb_store (freed by
 * crumb_store_free).
 */
struct tcounts {
	unsigned create, load, update, touch, remove, change_id, purge,
	    user_remove, user_list;
};
struct tmap;
struct tmap *tmap_store_new(crumb_store **out);
struct tcounts *tmap_counts(struct tmap *m);
unsigned tmap_total(const struct tmap *m);
void tmap_reset(struct tmap *m);
void tmap_fail(struct tmap *m, int err);
/* Records held, expired or not. */
size_t tmap_records(const struct tmap *m);

/* A new temporary directory (new, free with tdir_remove, which also
 * deletes the files in it). */
char *tdir_new(void);
void tdir_remove(char *dir);
/* dir/name; new, free(). */
char *tpath(const char *dir, const char *name);

/* A private server for a test (tests/pg-server.sh, tests/redis-server.sh):
 * tserver_own runs "bash SCRIPT start DIR/SUB" in a new temporary DIR
 * (mode 0711: the server's user, not root, reaches SUB) and puts the
 * NAME='value' lines it prints into the environment (a failure exits);
 * the server is stopped and DIR removed by tserver_own_stop, which also
 * runs at exit and on SIGINT or SIGTERM.  One such server a process.
 * tserver runs "bash SCRIPT WHAT DIR" (stop, pause, resume) and returns
 * system()'s status.  tenv is getenv that exits when NAME is unset or
 * empty. */
void tserver_own(const char *script, const char *sub);
void tserver_own_stop(void);
int tserver(const char *script, const char *what, const char *dir);
const char *tenv(const char *name);

/* The backend table behind store, and in *ctx its context, for tests
 * that check the store contract op by op.  Test-only: it reads the
 * library's private struct (lib/crumb-private.h).  Borrowed from st. */
const crumb_store_ops *tstore_ops(crumb_store *st, void **ctx);

#endif /* CRUMB_TEST_HELPERS_H */
