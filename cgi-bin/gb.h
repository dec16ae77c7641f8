/*
 * Internals of the sample guestbook (cgi-bin/guestbook).  Only the
 * guestbook's own files include this; the library is used through
 * crumb.h alone.
 */
#ifndef GB_H
#define GB_H

#include <stddef.h>
#include <stdint.h>

#include "crumb.h"

/* Request bodies above this are refused with 413 before being read. */
#define GB_BODY_MAX (64 * 1024)
/* A refused body is still read and thrown away, up to this much (the
 * LimitRequestBody of conf/apache-common.conf.in): a CGI program that
 * exits with input unread makes mod_cgid reset the connection, and the
 * client may never see the 4xx answer. */
#define GB_DRAIN_MAX (1024 * 1024)
#define GB_NAME_MAX 64          /* characters (code points) */
#define GB_MESSAGE_MAX 1000     /* characters (code points) */
/* GET /sessions lists at most this many of a user's sessions, the ones
 * seen last. */
#define GB_SESSIONS_SHOWN 100

/* gb-buf.c: a growable byte buffer.  After a failed allocation every
 * later append is ignored and failed stays set, so that callers check
 * once at the end. */
struct gb_buf {
	char *p;
	size_t len;
	size_t cap;
	int failed;
};

void gb_buf_add(struct gb_buf *b, const char *s, size_t n);
void gb_buf_puts(struct gb_buf *b, const char *s);
void gb_buf_putu(struct gb_buf *b, unsigned long long v);
void gb_buf_printf(struct gb_buf *b, const char *fmt, ...)
    __attribute__((format(__printf__, 2, 3)));
/* Appends s HTML-escaped (crumb_html_escape). */
void gb_buf_puts_html(struct gb_buf *b, const char *s);
void gb_buf_free(struct gb_buf *b);
/* A crumb_write_fn appending to the gb_buf passed as ud. */
int gb_buf_write_fn(const char *buf, size_t len, void *ud);

/* gb-http.c: the request as CGI describes it. */
struct gb_req {
	const char *method;     /* REQUEST_METHOD, "" when missing */
	char *path;             /* route: "/", "/login", ...; new */
	crumb_form *form;       /* POST body, after gb_req_read_form */
	int body_read;          /* some of the body was read */
	int body_done;          /* the body was read to its end */
};

/* Fills req from the environment.  CRUMB_E_NOMEM or CRUMB_OK. */
int gb_req_init(struct gb_req *req);
/* Reads and parses an urlencoded body (crumb_form_read, at most
 * GB_BODY_MAX bytes).  Returns 0, or the HTTP status that refuses it
 * (400, 411, 413, 415, 503) with *why set to a short static
 * explanation. */
int gb_req_read_form(struct gb_req *req, const char **why);
/* Reads what is left of the body (at most GB_DRAIN_MAX), discarding
 * it; call before answering. */
void gb_req_drain(struct gb_req *req);
void gb_req_free(struct gb_req *req);
/* Value of a form field, or NULL. */
const char *gb_req_field(const struct gb_req *req, const char *name);
/* Non-zero when the browser says the request comes from another origin:
 * an Origin that is not this request's own scheme://host[:port], or a
 * Sec-Fetch-Site other than same-origin (or none: typed by the user).
 * Without either header (curl, old browsers) it is 0: the CSRF token
 * stays the defence there. */
int gb_req_cross_origin(void);

/* gb-db.c: the entries database, named by a URL (GB_DB): a SQLite file
 * (schema sql/guestbook.sql; "sqlite:PATH", "sqlite:///abs/path" or a
 * bare path), or a PostgreSQL database that guestbooks on several hosts
 * share (gb-db-pg.c, schema sql/guestbook-postgresql.sql;
 * "postgresql://...", "postgres://..." or libpq's "key=value" form). */
struct gb_db;
typedef int (*gb_entry_fn)(const char *author, const char *message,
    int64_t created, void *ud);

/* Non-zero when url names a PostgreSQL database (see above). */
int gb_db_is_postgres(const char *url);
/* busy_ms: how long a statement may wait (PostgreSQL's
 * statement_timeout; SQLite keeps its own 5 s busy timeout).  0 on
 * success; on failure -1 and *out holds a handle whose errmsg says why
 * (or is NULL when out of memory); free it with gb_db_close.  A
 * PostgreSQL URL in a guestbook built without libpq fails here. */
int gb_db_open(const char *url, int busy_ms, struct gb_db **out);
void gb_db_close(struct gb_db *db);
int gb_db_add(struct gb_db *db, const char *author, const char *message,
    int64_t now);
/* The front page shows the newest GB_PAGE entries; page N (up to
 * GB_PAGE_MAX, "/?page=N") the GB_PAGE before those of page N - 1. */
#define GB_PAGE 50
#define GB_PAGE_MAX 100000
/* Newest first, at most limit entries after skipping offset; stops
 * when fn returns non-zero (returned as is); -1 on a database failure. */
int gb_db_foreach(struct gb_db *db, int offset, int limit, gb_entry_fn fn,
    void *ud);
/* Appends page's entries' HTML (gb_html_entry each); *shown: how many,
 * *more: 1 when older entries follow.  The front page (page 1) is kept
 * and rendered again only when an entry was added since (on any host,
 * with PostgreSQL), or a second has passed; other pages are rendered
 * each time.  0, or -1 on a database failure (errmsg). */
int gb_db_entries_html(struct gb_db *db, int page, struct gb_buf *out,
    int *shown, int *more);
/* Why the last call failed; borrowed, valid until the next call. */
const char *gb_db_errmsg(const struct gb_db *db);

/* gb-db-pg.c: the PostgreSQL variant, used by gb-db.c only, with the
 * same contracts as the gb_db_* above.  Built only with libpq
 * (GB_HAVE_POSTGRES).  A lost connection fails the call that saw it;
 * the next call connects again. */
struct gb_pg;
int gb_pg_open(const char *conninfo, int busy_ms, struct gb_pg **out);
void gb_pg_close(struct gb_pg *p);
int gb_pg_add(struct gb_pg *p, const char *author, const char *message,
    int64_t now);
int gb_pg_foreach(struct gb_pg *p, int offset, int limit, gb_entry_fn fn,
    void *ud);
/* max(id) and count(*) of the entries, as "ID/COUNT": what a rendering
 * of them depends on, whichever host added them.  0, or -1. */
int gb_pg_stamp(struct gb_pg *p, char *stamp, size_t size);
const char *gb_pg_errmsg(const struct gb_pg *p);

/* gb-html.c: the pages. */
struct gb_view {
	const char *user;       /* NULL: anonymous */
	const char *csrf;       /* set when user is */
	const char *flash;      /* NULL: none pending */
	const char *theme;      /* "light" or "dark" */
};

void gb_html_head(struct gb_buf *b, const struct gb_view *v);
void gb_html_entry(struct gb_buf *b, const char *author,
    const char *message, int64_t created);
/* Links to the newer and the older page, when there are. */
void gb_html_pager(struct gb_buf *b, int page, int more);
void gb_html_tail(struct gb_buf *b);

/* One row of GET /sessions. */
struct gb_session_row {
	crumb_session_info info;        /* a copy: crumb_user_sessions
					 * lends it only for the call */
	int current;                    /* crumb_session_is_current */
};

/* The whole page listing the user's sessions (v->user and v->csrf
 * set): each with a sign-out form, then "Sign out all other sessions".
 * more: some were left out (GB_SESSIONS_SHOWN). */
void gb_html_sessions(struct gb_buf *b, const struct gb_view *v,
    const struct gb_session_row *rows, size_t n, int more);
/* A short page for an error status. */
void gb_html_error(struct gb_buf *b, int status, const char *reason,
    const char *why);

/* The Content-Security-Policy of every response: nothing but the
 * pages' own style sheet (by its hash), forms posting to this site, no
 * framing. */
extern const char gb_html_csp[];

/* gb-text.c: what the guestbook accepts as text. */
/* Characters (code points) of valid UTF-8 text. */
size_t gb_utf8_chars(const char *s);
/* Non-zero for 1..max characters of valid UTF-8, not only spaces,
 * without control characters (but line breaks and tabs where
 * multiline). */
int gb_text_valid(const char *s, size_t max, int multiline);
/* A display name (gb_text_valid already): GB_NAME_OK, GB_NAME_FORMAT
 * when it holds a format character (general category Cf: zero-width,
 * bidi controls...), GB_NAME_INVISIBLE when nothing in it is visible. */
#define GB_NAME_OK 0
#define GB_NAME_FORMAT 1
#define GB_NAME_INVISIBLE 2
int gb_name_check(const char *s);

#endif /* GB_H */
