/*
 * The guestbook's pages.  Every string that came from a visitor (names,
 * messages, the devices' labels) and every token goes through
 * crumb_html_escape.  The ids
 * and classes are what the browser test selects on.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gb.h"

/* Limits spelled into constant text at compile time (no printf). */
#define STR_(x) #x
#define STR(x) STR_(x)

static const char style[] =
    "body{font-family:sans-serif;max-width:40em;margin:2em auto;"
    "padding:0 1em;background:#fff;color:#111}"
    "body.dark{background:#111;color:#eee}"
    "#flash{background:#dfd;padding:.5em}"
    "body.dark #flash{background:#243}"
    ".entry{border-top:1px solid #8888;padding:.5em 0}"
    ".message{white-space:pre-wrap;margin:.3em 0}"
    "form{margin:.5em 0}"
    "table{border-collapse:collapse}"
    "th,td{text-align:left;padding:.3em .5em;border-top:1px solid #8888}"
    "td form{display:inline;margin:0 0 0 .5em}";

/* style-src names the sheet above by its SHA-256 (base64): change one
 * and the other changes too (tests/e2e-guestbook.sh checks the pair). */
const char gb_html_csp[] = "default-src 'none'; "
    "style-src 'sha256-FRlcWey9qR52xxAv7R97d9Ih8J39eAdCx3nvPr0fkSM='; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/* A hidden csrf field, the form's first. */
static void
csrf_field(struct gb_buf *b, const char *csrf)
{
	gb_buf_puts(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
	gb_buf_puts_html(b, csrf);
	gb_buf_puts(b, "\">");
}

/* "Signed in as NAME (link)"; link is constant HTML. */
static void
signed_in_as(struct gb_buf *b, const char *user, const char *link)
{
	gb_buf_puts(b, "<p>Signed in as <strong id=\"user\">");
	gb_buf_puts_html(b, user);
	gb_buf_puts(b, "</strong> (");
	gb_buf_puts(b, link);
	gb_buf_puts(b, ")</p>\n");
}

static void
signed_in(struct gb_buf *b, const struct gb_view *v)
{
	signed_in_as(b, v->user,
	    "<a id=\"sessions-link\" href=\"/sessions\">your sessions</a>");
	gb_buf_puts(b, "<form id=\"post\" method=\"post\" action=\"/post\">");
	csrf_field(b, v->csrf);
	gb_buf_puts(b, "<label>Message<br><textarea name=\"message\""
	    " rows=\"4\" cols=\"50\" maxlength=\"" STR(GB_MESSAGE_MAX)
	    "\" required></textarea>"
	    "</label><br><button type=\"submit\">Sign the guestbook</button>"
	    "</form>\n");
	gb_buf_puts(b, "<form id=\"logout\" method=\"post\" "
	    "action=\"/logout\">");
	csrf_field(b, v->csrf);
	gb_buf_puts(b, "<button type=\"submit\">Sign out</button></form>\n");
}

static void
anonymous(struct gb_buf *b)
{
	gb_buf_puts(b, "<form id=\"login\" method=\"post\" action=\"/login\">"
	    "<label>Name <input name=\"name\" maxlength=\"" STR(GB_NAME_MAX)
	    "\" required></label> <button type=\"submit\">Sign in</button>"
	    "</form>\n");
}

/* The theme is client-side state: no server record is needed. */
static void
theme_form(struct gb_buf *b, const char *theme)
{
	int dark = strcmp(theme, "dark") == 0;

	gb_buf_puts(b, "<form id=\"theme\" method=\"post\" action=\"/theme\">"
	    "<button type=\"submit\" name=\"theme\" value=\"");
	gb_buf_puts(b, dark ? "light\">Light" : "dark\">Dark");
	gb_buf_puts(b, " theme</button></form>\n");
}

/* What every page starts with: the style sheet (the one gb_html_csp
 * names), the theme and the flash. */
static void
page_top(struct gb_buf *b, const struct gb_view *v)
{
	/* Constant text by puts: a printf over the style sheet cost more
	 * than the session layer on an anonymous page. */
	gb_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><title>Guestbook</title>"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<style>");
	gb_buf_puts(b, style);
	gb_buf_puts(b, "</style></head>\n<body class=\"");
	gb_buf_puts(b, v->theme);
	gb_buf_puts(b, "\">\n<h1>Guestbook</h1>\n");
	if (v->flash != NULL) {
		gb_buf_puts(b, "<p id=\"flash\" role=\"status\">");
		gb_buf_puts_html(b, v->flash);
		gb_buf_puts(b, "</p>\n");
	}
}

void
gb_html_head(struct gb_buf *b, const struct gb_view *v)
{
	page_top(b, v);
	if (v->user != NULL)
		signed_in(b, v);
	else
		anonymous(b);
	theme_form(b, v->theme);
	gb_buf_puts(b, "<h2>Entries</h2>\n<div id=\"entries\">\n");
}

/* <time> in UTC, readable, with the machine form as its datetime. */
static void
put_time(struct gb_buf *b, int64_t when)
{
	char iso[32] = "", shown[32] = "";
	time_t t = (time_t)when;
	struct tm tm;

	if (gmtime_r(&t, &tm) != NULL) {
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
		strftime(shown, sizeof(shown), "%Y-%m-%d %H:%M UTC", &tm);
	}
	gb_buf_printf(b, "<time datetime=\"%s\">%s</time>", iso, shown);
}

void
gb_html_entry(struct gb_buf *b, const char *author, const char *message,
    int64_t created)
{
	gb_buf_puts(b, "<div class=\"entry\"><strong class=\"author\">");
	gb_buf_puts_html(b, author);
	gb_buf_puts(b, "</strong> ");
	put_time(b, created);
	gb_buf_puts(b, "<p class=\"message\">");
	gb_buf_puts_html(b, message);
	gb_buf_puts(b, "</p></div>\n");
}

/* One row per line: the end-to-end test reads them with grep. */
static void
session_row(struct gb_buf *b, const struct gb_view *v,
    const struct gb_session_row *r)
{
	gb_buf_puts(b, r->current ? "<tr class=\"session current\">" :
	    "<tr class=\"session\">");
	gb_buf_puts(b, "<td class=\"label\">");
	if (r->info.label[0] != '\0')
		gb_buf_puts_html(b, r->info.label);
	else
		gb_buf_puts(b, "<em>unknown device</em>");
	gb_buf_puts(b, "</td><td>");
	put_time(b, r->info.created);
	gb_buf_puts(b, "</td><td>");
	put_time(b, r->info.last_seen);
	gb_buf_puts(b, "</td><td>");
	if (r->current)
		gb_buf_puts(b, "<strong class=\"here\">this device</strong>");
	gb_buf_puts(b, "<form class=\"revoke\" method=\"post\" "
	    "action=\"/sessions/revoke\">");
	csrf_field(b, v->csrf);
	gb_buf_puts(b, "<input type=\"hidden\" name=\"id_hash\" value=\"");
	gb_buf_puts_html(b, r->info.id_hash);
	gb_buf_puts(b, "\"><button type=\"submit\">Sign out</button></form>"
	    "</td></tr>\n");
}

void
gb_html_sessions(struct gb_buf *b, const struct gb_view *v,
    const struct gb_session_row *rows, size_t n, int more)
{
	size_t i;

	page_top(b, v);
	signed_in_as(b, v->user, "<a href=\"/\">back to the guestbook</a>");
	gb_buf_puts(b, "<h2>Your sessions</h2>\n<table id=\"sessions\">\n"
	    "<tr><th>Device</th><th>Started</th><th>Last seen</th><th></th>"
	    "</tr>\n");
	for (i = 0; i < n; i++)
		session_row(b, v, &rows[i]);
	gb_buf_puts(b, "</table>\n");
	if (more)
		gb_buf_puts(b, "<p id=\"more\">Only the " STR(GB_SESSIONS_SHOWN)
		    " sessions seen last are listed.</p>\n");
	gb_buf_puts(b, "<form id=\"others\" method=\"post\" "
	    "action=\"/sessions/others\">");
	csrf_field(b, v->csrf);
	gb_buf_puts(b, "<button type=\"submit\">Sign out all other sessions"
	    "</button></form>\n</body></html>\n");
}

void
gb_html_pager(struct gb_buf *b, int page, int more)
{
	if (page <= 1 && !more)
		return;
	gb_buf_puts(b, "<p class=\"pages\">");
	if (page == 2)
		gb_buf_puts(b, "<a id=\"newer\" href=\"/\">Newer entries</a> ");
	else if (page > 2)
		gb_buf_printf(b, "<a id=\"newer\" href=\"/?page=%d\">Newer "
		    "entries</a> ", page - 1);
	if (more)
		gb_buf_printf(b, "<a id=\"older\" rel=\"next\" "
		    "href=\"/?page=%d\">Older entries</a>", page + 1);
	gb_buf_puts(b, "</p>\n");
}

void
gb_html_tail(struct gb_buf *b)
{
	gb_buf_puts(b, "</div>\n</body></html>\n");
}

void
gb_html_error(struct gb_buf *b, int status, const char *reason,
    const char *why)
{
	gb_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><title>%d %s</title></head>\n"
	    "<body><h1>%d %s</h1>\n<p>", status, reason, status, reason);
	gb_buf_puts_html(b, why);
	gb_buf_puts(b, "</p>\n<p><a href=\"/\">Back to the guestbook</a></p>"
	    "</body></html>\n");
}
