/*
 * guestbook: the crumb sample program.  Written against crumb.h and
 * libfcgi's fcgi_stdio.h only, it runs unchanged as a plain CGI program
 * (FCGI_Accept succeeds once) and as a FastCGI worker under spawn-fcgi.
 *
 * Routes (mounted at /; the README lists them):
 *   GET  /         entries, newest first; sign-in or post/sign-out forms
 *   POST /login    name (1-64 characters, visible, no Cf) -> 303 /
 *   POST /post     message (1-1000), csrf       -> 303 /, flash
 *   POST /logout   csrf                         -> 303 /, session gone
 *   POST /theme    theme=light|dark (client-side state) -> 303 /
 *   GET  /counter  {"count":N}, an atomic increment in server state
 *   GET  /sessions the user's sessions (label, started, last seen), each
 *                  with a sign-out form; anonymous -> 303 /
 *   POST /sessions/revoke  csrf, id_hash -> 303 /sessions, flash (the
 *                  current session's hash: signed out, 303 /); a
 *                  malformed hash 400, one not the user's 404
 *   POST /sessions/others  csrf -> 303 /sessions, flash with the count
 * Signed-in requests label their session with the User-Agent.
 * A POST that the browser says comes from another origin is 403 before
 * its body is read (gb_req_cross_origin); bodies are read with
 * crumb_form_read; every response carries gb_html_csp.
 *
 * Settings, read once per process before the first request (under
 * FastCGI, getenv() afterwards sees the request, not the process):
 *   CRUMB_STATE_DIR        holds sessions.db, guestbook.db and key (and
 *                          key.old, a retired key still accepted, and
 *                          key.next, the next one; the workers pick up
 *                          a rotation by themselves)
 *   CRUMB_INSECURE_COOKIE  "1": no Secure attribute (plain-HTTP demos)
 *   CRUMB_BUSY_MS          session-store busy timeout (default 5000),
 *                          also the entries' statement timeout on
 *                          PostgreSQL
 *   CRUMB_STORE            the session store's URL (crumb_store_open;
 *                          default: sessions.db in CRUMB_STATE_DIR)
 *   GB_DB                  the entries database's URL (gb_db_open):
 *                          default the session store's database when
 *                          CRUMB_STORE names PostgreSQL, so that several
 *                          hosts show one book; else guestbook.db in
 *                          CRUMB_STATE_DIR
 */
#include <fcgi_stdio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gb.h"

static int accepted;    /* a request has been accepted */

/* Log a line.  Before the first FCGI_Accept, libfcgi's stderr leads
 * nowhere under FastCGI: write to the process's own stderr then (which
 * spawn-fcgi setups keep in a log); afterwards to the request's error
 * stream, which Apache writes to its error log. */
static void gb_log(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));

static void
gb_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (accepted)
		vfprintf(stderr, fmt, ap);
	else
		vdprintf(STDERR_FILENO, fmt, ap);
	va_end(ap);
}

/* A handler's failure that is not the library's: the entries database. */
#define GB_E_DB (-1)

struct gb_app {
	char *state_dir;        /* NULL: CRUMB_STATE_DIR unset */
	char *store_url;        /* CRUMB_STORE; NULL: STATE_DIR/sessions.db */
	char *db_url;           /* GB_DB; NULL: see open_entries */
	int insecure;
	int busy_ms;
	int reopen;             /* the store failed in a way a reopen heals */
	crumb_store *store;
	crumb_config *cfg;
	struct gb_db *db;
	int ready;
	int key_failed;         /* setup failed on the key, not the store */
	time_t last_try;
};

struct gb_resp {
	int status;
	const char *ctype;
	const char *location;
	const char *allow;
	struct gb_buf body;
};

struct gb_ctx {
	struct gb_app *app;
	struct gb_req *req;
	crumb_session *s;
	struct gb_resp *resp;
};

typedef int (*gb_handler)(struct gb_ctx *c);

struct gb_route {
	const char *path;
	const char *method;     /* GET also answers HEAD where head is set */
	int head;
	int form;               /* reads an urlencoded body first */
	gb_handler fn;
	const char *allow;
};

/* ---------------------------------------------------------------- */
/* Responses.                                                        */

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static void
fail_page(struct gb_resp *r, int status, const char *why)
{
	gb_buf_free(&r->body);
	r->status = status;
	r->ctype = "text/html; charset=utf-8";
	r->location = NULL;
	gb_html_error(&r->body, status, reason(status), why);
}

/* Handlers answer bad input themselves and carry on with CRUMB_OK. */
static int
refuse(struct gb_ctx *c, int status, const char *why)
{
	fail_page(c->resp, status, why);
	return CRUMB_OK;
}

/* POST-redirect-GET: a reload never resubmits a form.  where is a
 * constant path. */
static int
see_other(struct gb_ctx *c, const char *where)
{
	c->resp->status = 303;
	c->resp->location = where;
	c->resp->ctype = "text/html; charset=utf-8";
	gb_buf_puts(&c->resp->body, "<a href=\"");
	gb_buf_puts(&c->resp->body, where);
	gb_buf_puts(&c->resp->body, "\">Continue</a>\n");
	return CRUMB_OK;
}

static int
see_front(struct gb_ctx *c)
{
	return see_other(c, "/");
}

/* Temporary trouble (store, disk, memory) is 503 so that clients and
 * proxies retry; anything else is our bug. */
static int
status_of(int err)
{
	switch (err) {
	case GB_E_DB:
	case CRUMB_E_NOMEM:
	case CRUMB_E_STORE:
	case CRUMB_E_BUSY:
	case CRUMB_E_READONLY:
	case CRUMB_E_FULL:
	case CRUMB_E_CORRUPT:
	case CRUMB_E_CANTOPEN:
	case CRUMB_E_CONFLICT:
		return 503;
	default:
		return 500;
	}
}

/* "NAME: VALUE\r\n" when there is a value. */
static void
header(struct gb_buf *h, const char *name, const char *value)
{
	if (value == NULL)
		return;
	gb_buf_puts(h, name);
	gb_buf_puts(h, ": ");
	gb_buf_puts(h, value);
	gb_buf_puts(h, "\r\n");
}

static void
emit(const struct gb_req *req, struct gb_resp *r, const struct gb_buf *cookies)
{
	struct gb_buf h = { 0 };

	/* Plain appends: printf cost as much as the rest of a request. */
	gb_buf_puts(&h, "Status: ");
	gb_buf_putu(&h, (unsigned)r->status);
	gb_buf_puts(&h, " ");
	gb_buf_puts(&h, reason(r->status));
	gb_buf_puts(&h, "\r\n");
	header(&h, "Content-Type", r->ctype);
	header(&h, "Location", r->location);
	header(&h, "Allow", r->allow);
	/* The body is complete in memory: no chunked encoding needed. */
	gb_buf_puts(&h, "Content-Length: ");
	gb_buf_putu(&h, r->body.len);
	gb_buf_puts(&h, "\r\n");
	/* Pages carry per-user content and tokens: never cache them. */
	gb_buf_puts(&h, "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Security-Policy: ");
	gb_buf_puts(&h, gb_html_csp);
	gb_buf_puts(&h, "\r\n");
	if (cookies->len > 0)
		gb_buf_add(&h, cookies->p, cookies->len);
	gb_buf_puts(&h, "\r\n");
	if (h.failed) {
		fputs("Status: 503 Service Unavailable\r\n\r\n", stdout);
	} else {
		fwrite(h.p, 1, h.len, stdout);
		if (strcmp(req->method, "HEAD") != 0 && r->body.len > 0)
			fwrite(r->body.p, 1, r->body.len, stdout);
	}
	gb_buf_free(&h);
}

/* ---------------------------------------------------------------- */
/* Input checks.                                                     */

static const char stale_form[] = "The form has expired or did not come "
    "from this site.  Reload the page and try again.";

/* *ok = 1 when the form's csrf field matches the session's token.  A
 * missing or malformed token is the client's fault (403); only store
 * trouble comes back as an error. */
static int
csrf_ok(struct gb_ctx *c, int *ok)
{
	const char *given = gb_req_field(c->req, "csrf");
	int rc;

	*ok = 0;
	if (given == NULL)
		return CRUMB_OK;
	rc = crumb_session_csrf_check(c->s, given);
	if (rc == CRUMB_OK)
		*ok = 1;
	if (rc == CRUMB_OK || status_of(rc) != 503)
		return CRUMB_OK;
	return rc;
}

/* Names the device in the user's list of sessions.  The library
 * writes only a changed label; a User-Agent that is not UTF-8 leaves
 * the stored one as it is. */
static int
label_device(struct gb_ctx *c)
{
	int rc = crumb_session_set_label(c->s, getenv("HTTP_USER_AGENT"));

	return rc == CRUMB_E_INVAL ? CRUMB_OK : rc;
}

/* The signed-in user, NULL when anonymous; borrowed from the session.
 * A signed-in request also labels its session.  Only requests that
 * load the session anyway call this, and an anonymous one is not
 * labelled: a label needs the record loaded. */
static int
current_user(struct gb_ctx *c, const char **user)
{
	int rc;

	if ((rc = crumb_session_get_user(c->s, user)) != CRUMB_OK ||
	    *user == NULL)
		return rc;
	return label_device(c);
}

/* The checks of a form that only a signed-in user may send: *user is
 * NULL when the request was refused (403), and the handler then only
 * returns. */
static int
form_user(struct gb_ctx *c, const char *anonymous_why, const char **user)
{
	int rc, ok;

	if ((rc = current_user(c, user)) != CRUMB_OK)
		return rc;
	if (*user == NULL)
		return refuse(c, 403, anonymous_why);
	if ((rc = csrf_ok(c, &ok)) != CRUMB_OK)
		return rc;
	if (!ok) {
		*user = NULL;
		return refuse(c, 403, stale_form);
	}
	return CRUMB_OK;
}

/* The flash shows once, on the next page. */
static int
set_flash(struct gb_ctx *c, const char *text)
{
	return crumb_state_insert_string(crumb_session_server(c->s), "flash",
	    text);
}

/* ---------------------------------------------------------------- */
/* GET /                                                             */

/* The flash is read once: taking it removes it from the state. */
static int
take_flash(crumb_session *s, char **out)
{
	crumb_state *st = crumb_session_server(s);
	const char *f;
	int rc;

	*out = NULL;
	rc = crumb_state_get_string(st, "flash", &f);
	if (rc == CRUMB_E_NOT_FOUND)
		return CRUMB_OK;
	if (rc == CRUMB_E_TYPE)
		return crumb_state_remove_raw(st, "flash");
	if (rc != CRUMB_OK)
		return rc;
	if ((*out = strdup(f)) == NULL)
		return CRUMB_E_NOMEM;
	return crumb_state_remove_raw(st, "flash");
}

/* Only the two known names reach the class attribute. */
static const char *
theme_of(crumb_session *s)
{
	const char *t;

	if (crumb_state_get_string(crumb_session_client(s), "theme", &t) ==
	    CRUMB_OK && strcmp(t, "dark") == 0)
		return "dark";
	return "light";
}

/* The page asked for: "page=N" in the query string (1 to GB_PAGE_MAX,
 * digits only); 1 without one; 0 for a malformed one.  Other
 * parameters are ignored. */
static int
page_of(const char *qs)
{
	const char *p = qs;
	size_t n;
	long v = 0;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, "&");
		if (strncmp(p, "page=", 5) == 0) {
			const char *d = p + 5;
			size_t len = n - 5;

			if (len == 0 || len > 6 || *d == '0' ||
			    strspn(d, "0123456789") < len)
				return 0;
			while (len-- > 0)
				v = v * 10 + (*d++ - '0');
			return v <= GB_PAGE_MAX ? (int)v : 0;
		}
		p = p[n] == '&' ? p + n + 1 : NULL;
	}
	return 1;
}

static int
h_index(struct gb_ctx *c)
{
	struct gb_view v = { NULL, NULL, NULL, "light" };
	char *flash = NULL;
	int rc, page, shown, more;

	if ((page = page_of(getenv("QUERY_STRING"))) == 0)
		return refuse(c, 400, "The page number must be a whole number "
		    "from 1 to 100000.");
	if ((rc = current_user(c, &v.user)) != CRUMB_OK)
		return rc;
	if ((rc = take_flash(c->s, &flash)) != CRUMB_OK)
		goto out;
	/* Anonymous visitors get no token: it would need a cookie, and a
	 * visitor who keeps nothing gets none.  The sign-in form is
	 * guarded by the origin check that every POST passes. */
	if (v.user != NULL &&
	    (rc = crumb_session_csrf_token(c->s, &v.csrf)) != CRUMB_OK)
		goto out;
	v.flash = flash;
	v.theme = theme_of(c->s);
	c->resp->status = 200;
	c->resp->ctype = "text/html; charset=utf-8";
	gb_html_head(&c->resp->body, &v);
	if (gb_db_entries_html(c->app->db, page, &c->resp->body, &shown,
	    &more) != 0) {
		rc = GB_E_DB;
		goto out;
	}
	if (shown == 0 && page > 1) {
		rc = refuse(c, 404, "There are not that many entries.");
		goto out;
	}
	gb_html_pager(&c->resp->body, page, more);
	gb_html_tail(&c->resp->body);
out:
	free(flash);
	return rc;
}

/* ---------------------------------------------------------------- */
/* POST /login, /post, /logout, /theme                               */

static int
h_login(struct gb_ctx *c)
{
	const char *name = gb_req_field(c->req, "name");
	int rc;

	if (!gb_text_valid(name, GB_NAME_MAX, 0))
		return refuse(c, 400, "Please give a name of 1 to 64 "
		    "characters, without control characters.");
	switch (gb_name_check(name)) {
	case GB_NAME_FORMAT:
		return refuse(c, 400, "Please give a name without invisible "
		    "formatting characters (zero-width spaces, direction "
		    "overrides and the like).");
	case GB_NAME_INVISIBLE:
		return refuse(c, 400, "Please give a name with at least one "
		    "visible character.");
	}
	/* A new ID at every privilege change defeats session fixation;
	 * cycling it also retires the CSRF token, so that one seen before
	 * does not carry over to the signed-in session. */
	if ((rc = crumb_session_cycle_id(c->s)) != CRUMB_OK)
		return rc;
	if ((rc = crumb_session_set_user(c->s, name)) != CRUMB_OK)
		return rc;
	if ((rc = label_device(c)) != CRUMB_OK)
		return rc;
	return see_front(c);
}

static int
h_post(struct gb_ctx *c)
{
	const char *user = NULL, *msg = gb_req_field(c->req, "message");
	int rc;

	if ((rc = form_user(c, "Please sign in before posting.", &user)) !=
	    CRUMB_OK || user == NULL)
		return rc;
	if (!gb_text_valid(msg, GB_MESSAGE_MAX, 1))
		return refuse(c, 400, "Please write a message of 1 to 1000 "
		    "characters.");
	if (gb_db_add(c->app->db, user, msg, (int64_t)time(NULL)) != 0)
		return GB_E_DB;
	if ((rc = set_flash(c, "Thanks for signing")) != CRUMB_OK)
		return rc;
	return see_front(c);
}

static int
h_logout(struct gb_ctx *c)
{
	int rc, ok;

	if ((rc = csrf_ok(c, &ok)) != CRUMB_OK)
		return rc;
	if (!ok)
		return refuse(c, 403, stale_form);
	if ((rc = crumb_session_invalidate(c->s)) != CRUMB_OK)
		return rc;
	return see_front(c);
}

/* The theme is harmless to forge, so it needs no token, and it lives
 * in the cookie: no server record for a visitor who only picks one. */
static int
h_theme(struct gb_ctx *c)
{
	const char *t = gb_req_field(c->req, "theme");
	int rc;

	if (t == NULL || (strcmp(t, "light") != 0 && strcmp(t, "dark") != 0))
		return refuse(c, 400, "The theme is light or dark.");
	rc = crumb_state_insert_string(crumb_session_client(c->s), "theme", t);
	if (rc != CRUMB_OK)
		return rc;
	return see_front(c);
}

/* ---------------------------------------------------------------- */
/* GET /counter                                                      */

/* The count, edited in place: anything but a number starts over. */
static int
bump(cJSON **v, void *ud)
{
	if (!cJSON_IsNumber(*v)) {
		cJSON_Delete(*v);
		if ((*v = cJSON_CreateNumber(0)) == NULL)
			return CRUMB_E_NOMEM;
	}
	cJSON_SetNumberValue(*v, (*v)->valuedouble + 1);
	*(double *)ud = (*v)->valuedouble;
	return 0;
}

/* May run several times: it only reads and writes the session. */
static int
count_up(crumb_session *s, void *ud)
{
	return crumb_state_edit(crumb_session_server(s), "count", bump, ud);
}

static int
h_counter(struct gb_ctx *c)
{
	const char *user;
	double n = 0;
	int rc;

	if ((rc = crumb_session_atomic(c->s, count_up, &n)) != CRUMB_OK ||
	    (rc = current_user(c, &user)) != CRUMB_OK)
		return rc;
	c->resp->status = 200;
	c->resp->ctype = "application/json";
	gb_buf_puts(&c->resp->body, "{\"count\":");
	if (n >= 0 && n < 9007199254740992.0 &&     /* 2^53: exact */
	    n == (double)(unsigned long long)n)
		gb_buf_putu(&c->resp->body, (unsigned long long)n);
	else
		gb_buf_printf(&c->resp->body, "%.0f", n);
	gb_buf_puts(&c->resp->body, "}\n");
	return CRUMB_OK;
}

/* ---------------------------------------------------------------- */
/* GET /sessions, POST /sessions/revoke, /sessions/others            */

struct listing {
	crumb_session *s;
	struct gb_session_row *rows;
	size_t n;
	size_t cap;
	int more;       /* rows past GB_SESSIONS_SHOWN were left out */
	int nomem;
};

/* A crumb_info_fn: info is lent for the call only, so it is copied. */
static int
list_one(const crumb_session_info *info, void *ud)
{
	struct listing *l = ud;
	struct gb_session_row *rows;
	size_t cap;

	if (l->n == GB_SESSIONS_SHOWN) {
		l->more = 1;
		return 1;
	}
	if (l->n == l->cap) {
		cap = l->cap ? 2 * l->cap : 8;
		if ((rows = realloc(l->rows, cap * sizeof(*rows))) == NULL) {
			l->nomem = 1;
			return 1;
		}
		l->rows = rows;
		l->cap = cap;
	}
	l->rows[l->n].info = *info;
	l->rows[l->n].current = crumb_session_is_current(l->s, info);
	l->n++;
	return 0;
}

/* Anonymous visitors are sent to the front page, where they can sign
 * in: there is nothing of theirs to list. */
static int
h_sessions(struct gb_ctx *c)
{
	struct gb_view v = { NULL, NULL, NULL, "light" };
	struct listing l = { c->s, NULL, 0, 0, 0, 0 };
	char *flash = NULL;
	int rc;

	if ((rc = current_user(c, &v.user)) != CRUMB_OK)
		return rc;
	if (v.user == NULL)
		return see_front(c);
	if ((rc = take_flash(c->s, &flash)) != CRUMB_OK ||
	    (rc = crumb_session_csrf_token(c->s, &v.csrf)) != CRUMB_OK)
		goto out;
	rc = crumb_user_sessions(c->app->cfg, v.user, list_one, &l);
	if (rc == CRUMB_OK && l.nomem)
		rc = CRUMB_E_NOMEM;
	if (rc != CRUMB_OK)
		goto out;
	v.flash = flash;
	v.theme = theme_of(c->s);
	c->resp->status = 200;
	c->resp->ctype = "text/html; charset=utf-8";
	gb_html_sessions(&c->resp->body, &v, l.rows, l.n, l.more);
out:
	free(l.rows);
	free(flash);
	return rc;
}

static const char revoke_anonymous[] = "Please sign in to manage your "
    "sessions.";

/* A hash that is not 64 hex digits is 400; one that names no session
 * of this user (ended already, or another user's) is 404, the same
 * answer for both so that a user learns nothing of others' sessions. */
static int
h_revoke(struct gb_ctx *c)
{
	const char *user, *hash = gb_req_field(c->req, "id_hash");
	crumb_session_info info;
	int rc;

	if ((rc = form_user(c, revoke_anonymous, &user)) != CRUMB_OK ||
	    user == NULL)
		return rc;
	memset(&info, 0, sizeof(info));
	if (hash == NULL || strlen(hash) >= sizeof(info.id_hash))
		return refuse(c, 400, "That is not a session of the list.");
	memcpy(info.id_hash, hash, strlen(hash) + 1);
	/* Signing out here also expires this browser's cookie. */
	if (crumb_session_is_current(c->s, &info)) {
		if ((rc = crumb_session_invalidate(c->s)) != CRUMB_OK)
			return rc;
		return see_front(c);
	}
	rc = crumb_user_revoke(c->app->cfg, user, hash);
	if (rc == CRUMB_E_INVAL)
		return refuse(c, 400, "That is not a session of the list.");
	if (rc == CRUMB_E_NOT_FOUND)
		return refuse(c, 404, "That session has ended already, or it "
		    "is not yours.");
	if (rc != CRUMB_OK || (rc = set_flash(c, "Signed out one session")) !=
	    CRUMB_OK)
		return rc;
	return see_other(c, "/sessions");
}

static int
h_others(struct gb_ctx *c)
{
	const char *user;
	char msg[64];
	uint64_t n = 0;
	int rc;

	if ((rc = form_user(c, revoke_anonymous, &user)) != CRUMB_OK ||
	    user == NULL)
		return rc;
	if ((rc = crumb_session_logout_others(c->s, &n)) != CRUMB_OK)
		return rc;
	snprintf(msg, sizeof(msg), "%llu other session%s signed out",
	    (unsigned long long)n, n == 1 ? "" : "s");
	if ((rc = set_flash(c, msg)) != CRUMB_OK)
		return rc;
	return see_other(c, "/sessions");
}

/* ---------------------------------------------------------------- */
/* Dispatch.                                                         */

static const struct gb_route routes[] = {
	{ "/", "GET", 1, 0, h_index, "GET, HEAD" },
	{ "/counter", "GET", 0, 0, h_counter, "GET" },
	{ "/login", "POST", 0, 1, h_login, "POST" },
	{ "/post", "POST", 0, 1, h_post, "POST" },
	{ "/logout", "POST", 0, 1, h_logout, "POST" },
	{ "/theme", "POST", 0, 1, h_theme, "POST" },
	{ "/sessions", "GET", 1, 0, h_sessions, "GET, HEAD" },
	{ "/sessions/revoke", "POST", 0, 1, h_revoke, "POST" },
	{ "/sessions/others", "POST", 0, 1, h_others, "POST" },
};

static const struct gb_route *
find_route(const char *path)
{
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	return NULL;
}

static int
method_ok(const struct gb_route *rt, const char *method)
{
	return strcmp(rt->method, method) == 0 ||
	    (rt->head && strcmp(method, "HEAD") == 0);
}

/* Runs a handler inside a session.  Cookies are collected into
 * cookies (crumb_session_finish writing to a buffer) so that a failure
 * while persisting still becomes a clean 503 with no Set-Cookie.  Error
 * answers and HEAD persist nothing: a refused request changes no state,
 * and a HEAD must not eat the flash meant for the next GET. */
static void
run(struct gb_app *app, const struct gb_route *rt, struct gb_req *req,
    struct gb_resp *resp, struct gb_buf *cookies)
{
	struct gb_ctx c = { app, req, NULL, resp };
	int rc;

	rc = crumb_session_begin_env(app->cfg, &c.s);
	if (rc == CRUMB_OK)
		rc = rt->fn(&c);
	if (rc == CRUMB_OK && resp->body.failed)
		rc = CRUMB_E_NOMEM;
	if (rc == CRUMB_OK && resp->status < 400 &&
	    strcmp(req->method, "HEAD") != 0)
		rc = crumb_session_finish(c.s, gb_buf_write_fn, cookies);
	if (rc != CRUMB_OK) {
		if (rc == GB_E_DB)
			gb_log("guestbook: %s %s: entries: %s\n",
			    req->method, req->path, gb_db_errmsg(app->db));
		else
			gb_log("guestbook: %s %s: %s\n",
			    req->method, req->path,
			    c.s && *crumb_session_errmsg(c.s) ?
			    crumb_session_errmsg(c.s) : crumb_strerror(rc));
		/* A file repaired or made writable again is only seen by a
		 * new connection.  Not CRUMB_E_CANTOPEN: from an open SQLite
		 * store it means its files were deleted or replaced under
		 * it, and a new connection would quietly carry on with an
		 * empty or other store; that takes a restart on purpose
		 * (PostgreSQL reconnects by itself). */
		if (rc == CRUMB_E_READONLY || rc == CRUMB_E_CORRUPT)
			app->reopen = 1;
		gb_buf_free(cookies);
		fail_page(resp, status_of(rc), "The guestbook is busy or "
		    "its storage failed.  Please try again in a moment.");
	}
	crumb_session_free(c.s);
}

/* ---------------------------------------------------------------- */
/* Per-process setup.                                                */

static void
app_settings(struct gb_app *app)
{
	const char *dir = getenv("CRUMB_STATE_DIR");
	const char *insecure = getenv("CRUMB_INSECURE_COOKIE");
	const char *busy = getenv("CRUMB_BUSY_MS");
	const char *url = getenv("CRUMB_STORE");
	const char *gb_db = getenv("GB_DB");

	memset(app, 0, sizeof(*app));
	app->busy_ms = busy != NULL && atoi(busy) > 0 ? atoi(busy) : 5000;
	if (dir != NULL && *dir != '\0')
		app->state_dir = strdup(dir);
	app->insecure = insecure != NULL && strcmp(insecure, "1") == 0;
	if (url != NULL && *url != '\0')
		app->store_url = strdup(url);
	if (gb_db != NULL && *gb_db != '\0')
		app->db_url = strdup(gb_db);
}

static void
app_close(struct gb_app *app)
{
	gb_db_close(app->db);
	crumb_config_free(app->cfg);
	crumb_store_free(app->store);   /* after cfg: cfg borrows it */
	app->db = NULL;
	app->cfg = NULL;
	app->store = NULL;
	app->ready = 0;
}

static int
state_path(const struct gb_app *app, const char *name, char *buf,
    size_t size)
{
	int n = snprintf(buf, size, "%s/%s", app->state_dir, name);

	return n > 0 && (size_t)n < size ? 0 : -1;
}

static int
open_crumb(struct gb_app *app)
{
	char path[4096], why[256];
	int rc;

	/* CRUMB_STORE names any store crumb_store_open knows; the default
	 * is the SQLite file in the state directory. */
	if (app->store_url != NULL)
		rc = crumb_store_open(app->store_url, &app->store, why,
		    sizeof(why));
	else if (state_path(app, "sessions.db", path, sizeof(path)) != 0)
		return CRUMB_E_INVAL;
	else
		rc = crumb_store_sqlite_open_v2(path, app->busy_ms, 0,
		    &app->store, why, sizeof(why));
	if (rc != CRUMB_OK) {
		/* why never holds a password: crumb_store_open masks it. */
		gb_log("guestbook: session store: %s: %s\n",
		    crumb_strerror(rc), why);
		return rc;
	}
	if ((rc = crumb_config_new(&app->cfg)) != CRUMB_OK ||
	    (rc = crumb_config_set_store(app->cfg, app->store)) != CRUMB_OK)
		return rc;
	/* The keys: key, key.old (retired: its cookies are still read and
	 * re-sealed with key) and key.next, picked up again by the library
	 * whenever `crumbctl key rotate` changes them, without a restart. */
	if ((rc = crumb_config_watch_keys(app->cfg, app->state_dir)) !=
	    CRUMB_OK) {
		gb_log("guestbook: %s\n", *crumb_config_errmsg(app->cfg) ?
		    crumb_config_errmsg(app->cfg) : crumb_strerror(rc));
		app->key_failed = 1;
		return rc;
	}
	/* Only for plain-HTTP demos on loopback; the default stays on. */
	if (app->insecure)
		rc = crumb_config_set_secure(app->cfg, 0);
	return rc;
}

static int
open_entries(struct gb_app *app)
{
	char path[4096];
	const char *url = app->db_url;

	/* Sessions shared through PostgreSQL come with a shared book: the
	 * entries go to the same database unless GB_DB says otherwise. */
	if (url == NULL && app->store_url != NULL &&
	    gb_db_is_postgres(app->store_url))
		url = app->store_url;
	if (url == NULL) {
		if (state_path(app, "guestbook.db", path, sizeof(path)) != 0)
			return -1;
		url = path;
	}
	if (gb_db_open(url, app->busy_ms, &app->db) != 0) {
		gb_log("guestbook: %s\n", gb_db_errmsg(app->db));
		return -1;
	}
	return 0;
}

/* Opens the stores on first use, retrying at most once a second after
 * a failure: a state directory created late, or a full disk freed,
 * heals without restarting the workers. */
static int
app_ready(struct gb_app *app)
{
	time_t now = time(NULL);

	if (app->ready)
		return 1;
	if (app->state_dir == NULL) {
		if (now != app->last_try)
			gb_log("guestbook: CRUMB_STATE_DIR is not set\n");
		app->last_try = now;
		return 0;
	}
	if (now == app->last_try)
		return 0;
	app->last_try = now;
	app->key_failed = 0;
	if (open_crumb(app) != CRUMB_OK || open_entries(app) != 0) {
		app_close(app);
		return 0;
	}
	app->ready = 1;
	return 1;
}

static void
handle(struct gb_app *app)
{
	struct gb_req req;
	struct gb_resp resp = { 0 };
	struct gb_buf cookies = { 0 };
	const struct gb_route *rt;
	const char *why = NULL;
	int st;

	if (gb_req_init(&req) != CRUMB_OK)
		fail_page(&resp, 503, "Out of memory.");
	else if ((rt = find_route(req.path)) == NULL)
		fail_page(&resp, 404, "There is no such page.");
	else if (!method_ok(rt, req.method)) {
		fail_page(&resp, 405, "That method is not allowed here.");
		resp.allow = rt->allow;
	} else if (strcmp(req.method, "POST") == 0 && gb_req_cross_origin())
		/* Before the body and the session: a forged sign-in or post
		 * from another site's page never reaches either. */
		fail_page(&resp, 403, "Forms are accepted only from this "
		    "site's own pages.");
	else if (!app_ready(app))
		fail_page(&resp, 503, app->key_failed ?
		    "The guestbook is not available right now (its session "
		    "key cannot be used)." : "The guestbook is not available "
		    "right now (its storage could not be opened).");
	else if (rt->form && (st = gb_req_read_form(&req, &why)) != 0)
		fail_page(&resp, st, why);
	else
		run(app, rt, &req, &resp, &cookies);
	if (resp.body.failed)
		fail_page(&resp, 503, "Out of memory.");
	gb_req_drain(&req);
	emit(&req, &resp, &cookies);
	gb_buf_free(&cookies);
	gb_buf_free(&resp.body);
	gb_req_free(&req);
	if (app->reopen) {
		/* The next request opens the store afresh (app_ready). */
		app_close(app);
		app->reopen = 0;
		app->last_try = 0;
	}
}

int
main(void)
{
	struct gb_app app;

	/* A client that hangs up must not kill the worker. */
	signal(SIGPIPE, SIG_IGN);
	app_settings(&app);
	(void)app_ready(&app);
	while (FCGI_Accept() >= 0) {
		accepted = 1;
		handle(&app);
	}
	app_close(&app);
	free(app.state_dir);
	free(app.store_url);
	free(app.db_url);
	return 0;
}
