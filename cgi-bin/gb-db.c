/*
 * The guestbook's entries, in their own SQLite database beside the
 * session store, or (a URL naming PostgreSQL) in gb-db-pg.c, to which
 * every gb_db_* call is handed on.  Opened once per process; both SQLite
 * statements are prepared once and reused by every request.
 *
 * The entries' HTML is the same for every visitor, so each worker keeps
 * the last rendering and serves it again while nothing changed: a new
 * entry bumps a counter that all workers share (PATH-gen, mapped), and
 * a rendering is also at most a second old, for writers from outside
 * the guestbook.  Reading the counter is a memory load: an unchanged
 * front page costs no SQL and no system call (it was three, and most
 * of what the page cost over a constant one).
 */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gb.h"
#include "gb-schema.h"

struct gb_db {
	struct gb_pg *pg;       /* set: PostgreSQL, used instead of db */
	sqlite3 *db;
	sqlite3_stmt *add;
	sqlite3_stmt *list;
	uint64_t *gen;          /* shared: bumped by every new entry */
	/* The last rendering of the entries, either store's, and the stamp
	 * of the entries it was made from (entries_stamp). */
	struct gb_buf html;     /* the front page's entries only */
	int html_shown;         /* how many it holds */
	int html_more;          /* older entries follow */
	char stamp[64];
	time_t html_time;
	int html_ok;
	int render_nomem;       /* the last rendering ran out of memory */
	char err[256];
};

#define GB_BUSY_MS 5000

static const char sql_add[] =
    "INSERT INTO entries(author, message, created) VALUES (?1, ?2, ?3)";
static const char sql_list[] =
    "SELECT author, message, created FROM entries"
    " ORDER BY created DESC, id DESC LIMIT ?1 OFFSET ?2";

/* libpq's "key=value ..." form: its first word is one of libpq's
 * keywords followed by '=' (the test crumb_store_open makes). */
static int
is_conninfo(const char *url)
{
	static const char *const keys[] = {
		"host", "hostaddr", "port", "dbname", "user", "password",
		"passfile", "service", "sslmode", "connect_timeout",
		"application_name", "options", "target_session_attrs",
		"client_encoding", NULL,
	};
	size_t i, n;

	url += strspn(url, " \t\n");
	n = strspn(url, "abcdefghijklmnopqrstuvwxyz_");
	if (url[n + strspn(url + n, " \t")] != '=')
		return 0;
	for (i = 0; keys[i] != NULL; i++)
		if (strlen(keys[i]) == n && strncmp(url, keys[i], n) == 0)
			return 1;
	return 0;
}

int
gb_db_is_postgres(const char *url)
{
	return strncasecmp(url, "postgresql://", 13) == 0 ||
	    strncasecmp(url, "postgres://", 11) == 0 || is_conninfo(url);
}

/* Keep SQLite's message on the handle, as the library does. */
static int
fail(struct gb_db *g, const char *what)
{
	snprintf(g->err, sizeof(g->err), "%s: %s", what,
	    g->db ? sqlite3_errmsg(g->db) : "out of memory");
	return -1;
}

static int
prepare(struct gb_db *g, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(g->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) != SQLITE_OK)
		return fail(g, "prepare");
	return 0;
}

/* The shared counter beside path, or NULL (then nothing is cached). */
static uint64_t *
map_gen(const char *path)
{
	char p[4200];
	struct stat st;
	void *m;
	int fd;

	if (snprintf(p, sizeof(p), "%s-gen", path) >= (int)sizeof(p) ||
	    stat(path, &st) != 0 ||
	    (fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    st.st_mode & 0666)) < 0)
		return NULL;
	if ((fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(uint64_t)) &&
	    ftruncate(fd, sizeof(uint64_t)) != 0) {
		close(fd);
		return NULL;
	}
	m = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	close(fd);
	return m == MAP_FAILED ? NULL : m;
}

int
gb_db_open(const char *url, int busy_ms, struct gb_db **out)
{
	struct gb_db *g;
	const char *path = url;

	if ((*out = g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	if (gb_db_is_postgres(url)) {
#ifdef GB_HAVE_POSTGRES
		if (gb_pg_open(url, busy_ms, &g->pg) != 0) {
			/* Its message, or none left for it. */
			snprintf(g->err, sizeof(g->err), "entries database: %s",
			    gb_pg_errmsg(g->pg));
			gb_pg_close(g->pg);
			g->pg = NULL;
			return -1;
		}
		return 0;
#else
		(void)busy_ms;
		snprintf(g->err, sizeof(g->err), "entries database: GB_DB "
		    "names a PostgreSQL database, but this guestbook was "
		    "built without PostgreSQL support (libpq)");
		return -1;
#endif
	}
	(void)busy_ms;
	/* sqlite:///abs/path and sqlite:PATH, as crumb_store_open reads
	 * them; anything else with a scheme is not ours. */
	if (strncmp(url, "sqlite://", 9) == 0)
		path = url + 9;
	else if (strncmp(url, "sqlite:", 7) == 0)
		path = url + 7;
	else if (strstr(url, "://") != NULL) {
		snprintf(g->err, sizeof(g->err), "entries database: GB_DB: "
		    "unknown kind of URL (sqlite:PATH, a path, "
		    "postgresql://...)");
		return -1;
	}
	if (sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		return fail(g, path);
	/* Workers write concurrently: wait for the lock rather than fail,
	 * and let readers go on while one writes (WAL). */
	sqlite3_busy_timeout(g->db, GB_BUSY_MS);
	if (sqlite3_exec(g->db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK)
		return fail(g, "pragma");
	if (sqlite3_exec(g->db, gb_schema, NULL, NULL, NULL) != SQLITE_OK)
		return fail(g, "schema");
	if (prepare(g, sql_add, &g->add) != 0 ||
	    prepare(g, sql_list, &g->list) != 0)
		return -1;
	g->gen = map_gen(path);
	return 0;
}

void
gb_db_close(struct gb_db *g)
{
	if (g == NULL)
		return;
#ifdef GB_HAVE_POSTGRES
	gb_pg_close(g->pg);
#endif
	sqlite3_finalize(g->add);
	sqlite3_finalize(g->list);
	sqlite3_close(g->db);
	if (g->gen != NULL)
		munmap(g->gen, sizeof(*g->gen));
	gb_buf_free(&g->html);
	free(g);
}

int
gb_db_add(struct gb_db *g, const char *author, const char *message,
    int64_t now)
{
	int rc;

#ifdef GB_HAVE_POSTGRES
	if (g->pg != NULL)
		return gb_pg_add(g->pg, author, message, now);
#endif
	sqlite3_bind_text(g->add, 1, author, -1, SQLITE_STATIC);
	sqlite3_bind_text(g->add, 2, message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(g->add, 3, now);
	rc = sqlite3_step(g->add);
	if (rc != SQLITE_DONE)
		fail(g, "insert");
	sqlite3_reset(g->add);
	/* The bound strings belong to the caller: drop them now. */
	sqlite3_clear_bindings(g->add);
	if (rc != SQLITE_DONE)
		return -1;
	/* After the commit, before the answer: whoever is told of the new
	 * entry can see it on every worker. */
	if (g->gen != NULL)
		__atomic_add_fetch(g->gen, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int
gb_db_foreach(struct gb_db *g, int offset, int limit, gb_entry_fn fn,
    void *ud)
{
	int rc, stop = 0;

#ifdef GB_HAVE_POSTGRES
	if (g->pg != NULL)
		return gb_pg_foreach(g->pg, offset, limit, fn, ud);
#endif
	sqlite3_bind_int(g->list, 1, limit);
	sqlite3_bind_int(g->list, 2, offset);
	while ((rc = sqlite3_step(g->list)) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(g->list, 0);
		const char *m = (const char *)sqlite3_column_text(g->list, 1);

		stop = fn(a ? a : "", m ? m : "",
		    sqlite3_column_int64(g->list, 2), ud);
		if (stop != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE) {
		fail(g, "select");
		stop = -1;
	}
	/* Reset ends the read transaction so that WAL can checkpoint. */
	sqlite3_reset(g->list);
	return stop;
}

/* One page's rendering: GB_PAGE entries, and whether one more came. */
struct page_html {
	struct gb_buf *b;
	int shown;
	int more;
};

static int
entry_html(const char *author, const char *message, int64_t created,
    void *ud)
{
	struct page_html *ph = ud;

	if (ph->shown == GB_PAGE) {
		ph->more = 1;
		return 0;
	}
	gb_html_entry(ph->b, author, message, created);
	ph->shown++;
	return 0;
}

/* GB_PAGE + 1 rows: the last one only says that there are older. */
static int
render_page(struct gb_db *g, int page, struct page_html *ph)
{
	return gb_db_foreach(g, (page - 1) * GB_PAGE, GB_PAGE + 1, entry_html,
	    ph);
}

/* What the entries' rendering depends on: the SQLite workers' shared
 * counter of new entries, or PostgreSQL's gb_pg_stamp.  "" when there is
 * nothing to compare (no shared counter): the rendering is not reused. */
static int
entries_stamp(struct gb_db *g, char *stamp, size_t size)
{
#ifdef GB_HAVE_POSTGRES
	if (g->pg != NULL)
		return gb_pg_stamp(g->pg, stamp, size);
#endif
	if (g->gen == NULL)
		*stamp = '\0';
	else
		snprintf(stamp, size, "%llu", (unsigned long long)
		    __atomic_load_n(g->gen, __ATOMIC_SEQ_CST));
	return 0;
}

int
gb_db_entries_html(struct gb_db *g, int page, struct gb_buf *out,
    int *shown, int *more)
{
	struct gb_buf fresh = { 0 };
	struct page_html ph = { &fresh, 0, 0 };
	char stamp[sizeof(g->stamp)];
	time_t now = time(NULL);

	*shown = *more = 0;
	g->render_nomem = 0;
	if (page != 1) {
		ph.b = out;
		if (render_page(g, page, &ph) != 0)
			return -1;
		*shown = ph.shown;
		*more = ph.more;
		return 0;
	}
	/* Taken before the query: an entry added meanwhile moves the stamp
	 * past this rendering, which is then done again next time. */
	if (entries_stamp(g, stamp, sizeof(stamp)) != 0)
		return -1;
	if (g->html_ok && *stamp != '\0' && strcmp(stamp, g->stamp) == 0 &&
	    now == g->html_time) {
		gb_buf_add(out, g->html.p, g->html.len);
		*shown = g->html_shown;
		*more = g->html_more;
		return 0;
	}
	if (render_page(g, 1, &ph) != 0 || fresh.failed) {
		g->render_nomem = fresh.failed;
		gb_buf_free(&fresh);
		return -1;
	}
	gb_buf_add(out, fresh.p, fresh.len);
	gb_buf_free(&g->html);
	g->html = fresh;
	g->html_shown = *shown = ph.shown;
	g->html_more = *more = ph.more;
	memcpy(g->stamp, stamp, sizeof(stamp));
	g->html_time = now;
	g->html_ok = 1;
	return 0;
}

const char *
gb_db_errmsg(const struct gb_db *g)
{
	if (g != NULL && g->render_nomem)
		return "render: out of memory";
#ifdef GB_HAVE_POSTGRES
	if (g != NULL && g->pg != NULL)
		return gb_pg_errmsg(g->pg);
#endif
	return g ? g->err : "out of memory";
}
