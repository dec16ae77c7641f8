/* Request bodies: the checks every CGI program makes before it parses a
 * form (CONTENT_LENGTH, a limit, the content type), then the read itself
 * through the caller's function, because under fcgi_stdio the request's
 * stdin is libfcgi's and not the library's. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crumb-private.h"

/* CGI (RFC 3875) CONTENT_LENGTH is "" or 1*digit: no sign, no spaces.
 * Returns 0 with *n set, or the status refusing it (411, 400). */
static int
parse_length(const char *cl, size_t *n)
{
	size_t v = 0;
	unsigned d;

	if (cl == NULL || *cl == '\0')
		return 411;
	for (; *cl != '\0'; cl++) {
		if (*cl < '0' || *cl > '9')
			return 400;
		d = (unsigned)(*cl - '0');
		if (v > (SIZE_MAX - d) / 10)
			return 400;
		v = v * 10 + d;
	}
	*n = v;
	return 0;
}

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static const char *
skip_token(const char *p)
{
	while (*p != '\0' && strchr(" \t\"(),/:;<=>?@[\\]{}", *p) == NULL &&
	    (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	return p;
}

/* A quoted-string starting at p ('"'); returns the character after the
 * closing quote, or NULL when there is none.  The unquoted text is
 * copied to val (at most vlen - 1 bytes, NUL-terminated). */
static const char *
skip_quoted(const char *p, char *val, size_t vlen)
{
	size_t o = 0;

	for (p++; *p != '"'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (*p == '\0' || (unsigned char)*p < 0x20)
			return NULL;
		if (o + 1 < vlen)
			val[o++] = *p;
	}
	val[o] = '\0';
	return p + 1;
}

/* application/x-www-form-urlencoded, any case, with parameters
 * (RFC 9110: type "/" subtype *( OWS ";" OWS name "=" value )).  A
 * charset, when given, must be UTF-8: the parser accepts nothing else,
 * and a body declared in another charset would be decoded wrongly. */
static int
is_urlencoded(const char *ct)
{
	static const char want[] = "application/x-www-form-urlencoded";
	const char *p, *name, *v;
	char val[16];
	size_t nlen;

	if (ct == NULL || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return 0;
	p = skip_ows(ct + sizeof(want) - 1);
	while (*p == ';') {
		p = skip_ows(p + 1);
		if (*p == '\0' || *p == ';')
			continue;       /* "type;" and "type;;x=y" */
		name = p;
		p = skip_token(p);
		nlen = (size_t)(p - name);
		if (nlen == 0 || *p != '=')
			return 0;
		v = ++p;
		if (*p == '"') {
			if ((p = skip_quoted(p, val, sizeof(val))) == NULL)
				return 0;
		} else {
			p = skip_token(p);
			if (p == v)
				return 0;
			if ((size_t)(p - v) < sizeof(val)) {
				memcpy(val, v, (size_t)(p - v));
				val[p - v] = '\0';
			} else {
				val[0] = '\0';
			}
		}
		if (nlen == 7 && strncasecmp(name, "charset", 7) == 0 &&
		    strcasecmp(val, "utf-8") != 0)
			return 0;
		p = skip_ows(p);
	}
	return *p == '\0';
}

/* Reads exactly len bytes.  CRUMB_E_PARSE when the body ends early,
 * CRUMB_E_IO on a read error, CRUMB_E_INVAL when read claims more than
 * it was asked for. */
static int
read_all(crumb_read_fn rd, void *ud, char *buf, size_t len)
{
	size_t got = 0, want;
	long r;

	while (got < len) {
		want = len - got;
		if (want > LONG_MAX)
			want = LONG_MAX;
		r = rd(buf + got, want, ud);
		if (r < 0)
			return CRUMB_E_IO;
		if (r == 0)
			return CRUMB_E_PARSE;
		if ((unsigned long)r > want)
			return CRUMB_E_INVAL;
		got += (size_t)r;
	}
	return CRUMB_OK;
}

static int
status_of(int rc)
{
	switch (rc) {
	case CRUMB_OK:
		return 0;
	case CRUMB_E_NOMEM:
		return 503;
	case CRUMB_E_INVAL:
		return 500;
	default:
		return 400;
	}
}

CRUMB_API int
crumb_form_read_body(const char *content_type, const char *content_length,
    crumb_read_fn rd, void *ud, size_t limit, crumb_form **out,
    int *http_status)
{
	size_t n = 0;
	char *body = NULL;
	int st, rc;

	if (out != NULL)
		*out = NULL;
	if (http_status != NULL)
		*http_status = 500;
	if (rd == NULL || out == NULL || http_status == NULL)
		return CRUMB_E_INVAL;
	if ((st = parse_length(content_length, &n)) != 0) {
		*http_status = st;
		return st == 411 ? CRUMB_E_NOT_FOUND : CRUMB_E_PARSE;
	}
	/* Refused before a byte is read: the length is the client's word,
	 * and nothing is allocated for it. */
	if (n > limit) {
		*http_status = 413;
		return CRUMB_E_TOO_LARGE;
	}
	if (!is_urlencoded(content_type)) {
		*http_status = 415;
		return CRUMB_E_TYPE;
	}
	if (n > 0 && (body = malloc(n)) == NULL) {
		*http_status = 503;
		return CRUMB_E_NOMEM;
	}
	rc = n > 0 ? read_all(rd, ud, body, n) : CRUMB_OK;
	if (rc == CRUMB_OK)
		rc = crumb_form_parse(body, n, out);
	free(body);
	*http_status = status_of(rc);
	return rc;
}

CRUMB_API int
crumb_form_read(crumb_read_fn rd, void *ud, size_t limit,
    crumb_form **out, int *http_status)
{
	return crumb_form_read_body(getenv("CONTENT_TYPE"),
	    getenv("CONTENT_LENGTH"), rd, ud, limit, out, http_status);
}
