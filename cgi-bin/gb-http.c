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

/* Only urlencoded bodies: what HTML forms send by default. */
static int
is_urlencoded(const char *ct)
{
	static const char want[] = "application/x-www-form-urlencoded";
	size_t n = sizeof(want) - 1;

	if (strncasecmp(ct, want, n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* CONTENT_LENGTH as digits only: no sign, no spaces, no overflow.
 * Returns 0, or the status refusing it. */
static int
content_length(size_t *out)
{
	const char *cl = getenv("CONTENT_LENGTH");
	size_t n = 0;

	if (cl == NULL || *cl == '\0')
		return 411;
	for (; *cl != '\0'; cl++) {
		if (*cl < '0' || *cl > '9')
			return 400;
		if (n > GB_BODY_MAX)
			return 413;     /* already too big: stop counting */
		n = n * 10 + (size_t)(*cl - '0');
	}
	if (n > GB_BODY_MAX)
		return 413;
	*out = n;
	return 0;
}

/* fread loops: a FastCGI body arrives in several records. */
static int
read_body(char *buf, size_t n)
{
	size_t got = 0, r;

	while (got < n) {
		r = fread(buf + got, 1, n - got, stdin);
		if (r == 0)
			return -1;
		got += r;
	}
	return 0;
}

int
gb_req_read_form(struct gb_req *req, const char **why)
{
	size_t n = 0;
	char *body;
	int st, rc;

	if ((st = content_length(&n)) != 0) {
		*why = st == 411 ? "A Content-Length is required." :
		    st == 413 ? "The form is larger than 64 KiB." :
		    "The Content-Length is not a number.";
		return st;
	}
	if (!is_urlencoded(env("CONTENT_TYPE"))) {
		*why = "Forms must be application/x-www-form-urlencoded.";
		return 415;
	}
	if ((body = malloc(n + 1)) == NULL) {
		*why = "Out of memory.";
		return 503;
	}
	if (read_body(body, n) != 0) {
		free(body);
		*why = "The body is shorter than its Content-Length.";
		return 400;
	}
	req->body_done = 1;
	rc = crumb_form_parse(body, n, &req->form);
	free(body);
	if (rc == CRUMB_E_NOMEM) {
		*why = "Out of memory.";
		return 503;
	}
	if (rc != CRUMB_OK) {
		*why = "The form is malformed (bad escape, NUL or invalid UTF-8).";
		return 400;
	}
	return 0;
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
