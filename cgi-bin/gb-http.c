/*
 * The request as CGI hands it over: method, route and an urlencoded
 * body.  Everything here is client input and is bounded before use.
 * Under FastCGI, fcgi_stdio makes getenv() and stdin the request's.
 */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gb.h"

#define GB_PATH_MAX 2048

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

/*
 * The route is the path below the program's mount point.
 *  - PATH_INFO when set: mod_cgi with ScriptAlias, or any server that
 *    mounts the program under a prefix.
 *  - Otherwise REQUEST_URI without its query string: mod_proxy_fcgi
 *    with ProxyPass "/" sends no PATH_INFO (and a SCRIPT_NAME that is
 *    the whole path).
 *  - A plain CGI program requested at its own URL has neither a
 *    PATH_INFO nor a REQUEST_URI beyond SCRIPT_NAME: that is "/".
 */
static char *
route_from_env(void)
{
	const char *pi = env("PATH_INFO"), *uri = env("REQUEST_URI");
	const char *sn = env("SCRIPT_NAME"), *sf = env("SCRIPT_FILENAME");
	size_t n;

	if (*pi != '\0')
		return strndup(pi, GB_PATH_MAX);
	n = strcspn(uri, "?#");
	if (n == 0)
		return strdup("/");
	if (*sn != '\0' && strncmp(sf, "proxy:", 6) != 0 &&
	    strlen(sn) == n && strncmp(uri, sn, n) == 0)
		return strdup("/");
	return strndup(uri, n < GB_PATH_MAX ? n : GB_PATH_MAX);
}

int
gb_req_init(struct gb_req *req)
{
	memset(req, 0, sizeof(*req));
	req->method = env("REQUEST_METHOD");
	if ((req->path = route_from_env()) == NULL)
		return CRUMB_E_NOMEM;
	return CRUMB_OK;
}

/* A crumb_read_fn over the request's stdin (fcgi_stdio's under
 * FastCGI).  It notes the end of the input, so that gb_req_drain knows
 * whether anything is left to discard. */
static long
read_stdin(void *buf, size_t len, void *ud)
{
	struct gb_req *req = ud;
	size_t r = fread(buf, 1, len, stdin);

	if (r == 0) {
		req->body_done = 1;
		return ferror(stdin) ? -1 : 0;
	}
	req->body_read = 1;
	return (long)r;
}

int
gb_req_read_form(struct gb_req *req, const char **why)
{
	int st, rc;

	rc = crumb_form_read(read_stdin, req, GB_BODY_MAX, &req->form, &st);
	/* A body the library accepted, or began to read, it read to its
	 * declared end, or to the end of the input. */
	if (rc == CRUMB_OK || req->body_read)
		req->body_done = 1;
	if (rc == CRUMB_OK)
		return 0;
	switch (st) {
	case 411:
		*why = "A Content-Length is required.";
		break;
	case 413:
		*why = "The form is larger than 64 KiB.";
		break;
	case 415:
		*why = "Forms must be application/x-www-form-urlencoded "
		    "(UTF-8).";
		break;
	case 400:
		*why = rc == CRUMB_E_TOO_LARGE ? "The form has more than "
		    STR(CRUMB_FORM_MAX_FIELDS) " fields." :
		    "The form is malformed (bad Content-Length, short body, "
		    "bad escape, NUL or invalid UTF-8).";
		break;
	default:
		*why = st == 503 ? "Out of memory." :
		    "The form could not be read.";
		break;
	}
	return st;
}

/* This request's own origin as a browser writes it: scheme://host,
 * then ":port" unless it is the scheme's default (HTTPS "on": https).
 * The host and port come from Host (HTTP_HOST), else from SERVER_NAME
 * and SERVER_PORT.  0, or -1 when it does not fit. */
static int
own_origin(char *buf, size_t size)
{
	const char *https = env("HTTPS"), *host = env("HTTP_HOST");
	const char *port = env("SERVER_PORT"), *colon, *def;
	int secure = strcasecmp(https, "on") == 0 || strcmp(https, "1") == 0;
	size_t hlen;
	int n;

	/* Host is what the browser put in the URL it also derives Origin
	 * from: without a port there, it used the default one, whatever
	 * port a proxy in front forwarded to. */
	if (*host != '\0')
		port = "";
	else
		host = env("SERVER_NAME");
	hlen = strlen(host);
	/* A port in Host follows the last ':', outside an IPv6 [...]. */
	colon = strrchr(host, ':');
	if (colon != NULL && strchr(colon, ']') == NULL) {
		hlen = (size_t)(colon - host);
		port = colon + 1;
	}
	def = secure ? "443" : "80";
	if (*port == '\0' || strcmp(port, def) == 0)
		n = snprintf(buf, size, "%s://%.*s", secure ? "https" : "http",
		    (int)hlen, host);
	else
		n = snprintf(buf, size, "%s://%.*s:%s",
		    secure ? "https" : "http", (int)hlen, host, port);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

int
gb_req_cross_origin(void)
{
	const char *origin = getenv("HTTP_ORIGIN");
	const char *site = getenv("HTTP_SEC_FETCH_SITE");
	char own[GB_PATH_MAX];

	/* same-site is refused too: a sibling subdomain is another
	 * origin, and may be someone else's. */
	if (site != NULL && strcmp(site, "same-origin") != 0 &&
	    strcmp(site, "none") != 0)
		return 1;
	if (origin == NULL)
		return 0;
	/* "null" (sandboxed frames, some redirects) and "" are no origin
	 * we can vouch for. */
	return own_origin(own, sizeof(own)) != 0 ||
	    strcasecmp(origin, own) != 0;
}

void
gb_req_drain(struct gb_req *req)
{
	const char *cl = env("CONTENT_LENGTH");
	char scrap[8192];
	size_t left = GB_DRAIN_MAX, r;

	if (req->body_done)
		return;
	/* No length and a method without a body: nothing to read (and a
	 * CGI run from a terminal must not wait for one). */
	if ((*cl == '\0' || strcmp(cl, "0") == 0) &&
	    strcmp(req->method, "POST") != 0 &&
	    strcmp(req->method, "PUT") != 0 &&
	    strcmp(req->method, "PATCH") != 0)
		return;
	while (left > 0) {
		r = fread(scrap, 1, left < sizeof(scrap) ? left : sizeof(scrap),
		    stdin);
		if (r == 0)
			break;
		left -= r;
	}
	req->body_done = 1;
}

const char *
gb_req_field(const struct gb_req *req, const char *name)
{
	return req->form ? crumb_form_get(req->form, name) : NULL;
}

void
gb_req_free(struct gb_req *req)
{
	free(req->path);
	crumb_form_free(req->form);
	memset(req, 0, sizeof(*req));
}
