/*
 * The guestbook's pages.  Every string that came from a visitor (names,
 * messages) and every token goes through crumb_html_escape.  The ids
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
    "form{margin:.5em 0}";

/* style-src names the sheet above by its SHA-256 (base64): change one
 * and the other changes too (tests/e2e-guestbook.sh checks the pair). */
const char gb_html_csp[] = "default-src 'none'; "
    "style-src 'sha256-Zm5habFoGwPlmCGNjWdiwLrbWR+O0Nbng2mP9MMlr08='; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

static void
signed_in(struct gb_buf *b, const struct gb_view *v)
{
	gb_buf_puts(b, "<p>Signed in as <strong id=\"user\">");
	gb_buf_puts_html(b, v->user);
	gb_buf_puts(b, "</strong></p>\n"
	    "<form id=\"post\" method=\"post\" action=\"/post\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"");
	gb_buf_puts_html(b, v->csrf);
	gb_buf_puts(b, "\"><label>Message<br><textarea name=\"message\""
	    " rows=\"4\" cols=\"50\" maxlength=\"" STR(GB_MESSAGE_MAX)
	    "\" required></textarea>"
	    "</label><br><button type=\"submit\">Sign the guestbook</button>"
	    "</form>\n");
	gb_buf_puts(b, "<form id=\"logout\" method=\"post\" action=\"/logout\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"");
	gb_buf_puts_html(b, v->csrf);
	gb_buf_puts(b, "\"><button type=\"submit\">Sign out</button></form>\n");
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

void
gb_html_head(struct gb_buf *b, const struct gb_view *v)
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
	if (v->user != NULL)
		signed_in(b, v);
	else
		anonymous(b);
	theme_form(b, v->theme);
	gb_buf_puts(b, "<h2>Entries</h2>\n<div id=\"entries\">\n");
}

void
gb_html_entry(struct gb_buf *b, const char *author, const char *message,
    int64_t created)
{
	char iso[32] = "", shown[32] = "";
	time_t t = (time_t)created;
	struct tm tm;

	if (gmtime_r(&t, &tm) != NULL) {
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
		strftime(shown, sizeof(shown), "%Y-%m-%d %H:%M UTC", &tm);
	}
	gb_buf_puts(b, "<div class=\"entry\"><strong class=\"author\">");
	gb_buf_puts_html(b, author);
	gb_buf_printf(b, "</strong> <time datetime=\"%s\">%s</time>"
	    "<p class=\"message\">", iso, shown);
	gb_buf_puts_html(b, message);
	gb_buf_puts(b, "</p></div>\n");
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
