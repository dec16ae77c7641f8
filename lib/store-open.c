/*
 * Stores opened from one URL, so that a program picks its store by
 * configuration ("sqlite:/var/lib/app/sessions.db", "memory:",
 * "postgresql://host/db", "redis://host/0") rather than by code.  This
 * file only reads the URL and calls the backend's own open function; it
 * never names a backend the build left out.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crumb-private.h"

#ifdef CRUMB_HAVE_POSTGRES
#define STORES_PG ", postgresql"
#else
#define STORES_PG ""
#endif
#ifdef CRUMB_HAVE_REDIS
#define STORES_REDIS ", redis"
#else
#define STORES_REDIS ""
#endif
#define STORES "sqlite, memory" STORES_PG STORES_REDIS

#define SQLITE_BUSY_DEFAULT 5000
#define SQLITE_BUSY_MAX 3600000       /* an hour: longer is a mistake */
#define POSTGRES_TIMEOUT 5000
#define REDIS_TIMEOUT 5000

static int
refuse(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
refuse(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (errbuf != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Length of url's scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" /
 * "." ) before ':'), 0 when it has none: then it is a path. */
static size_t
scheme_len(const char *url)
{
	size_t n = 0;

	if (!((url[0] >= 'a' && url[0] <= 'z') ||
	    (url[0] >= 'A' && url[0] <= 'Z')))
		return 0;
	while ((url[n] >= 'a' && url[n] <= 'z') ||
	    (url[n] >= 'A' && url[n] <= 'Z') ||
	    (url[n] >= '0' && url[n] <= '9') ||
	    url[n] == '+' || url[n] == '-' || url[n] == '.')
		n++;
	return url[n] == ':' ? n : 0;
}

static int
is_scheme(const char *url, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(url, name, n) == 0;
}

/* libpq's "key=value ..." form: its first word is one of libpq's
 * keywords followed by '='.  A file of such a name is still reached as
 * "sqlite:" NAME or "./" NAME. */
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

/* One "name=value" of a sqlite: URL's query into busy_ms / flags. */
static int
sqlite_param(const char *p, size_t n, int *busy_ms, unsigned *flags,
    char *errbuf, size_t errlen)
{
	const char *eq = memchr(p, '=', n);
	size_t kn = eq != NULL ? (size_t)(eq - p) : n;
	const char *v = eq != NULL ? eq + 1 : p + n;
	size_t vn = (size_t)(p + n - v);

	if (kn == 7 && strncmp(p, "busy_ms", 7) == 0) {
		long ms = 0;
		size_t i;

		for (i = 0; i < vn && v[i] >= '0' && v[i] <= '9' &&
		    ms <= SQLITE_BUSY_MAX; i++)
			ms = ms * 10 + (v[i] - '0');
		if (vn == 0 || i != vn || ms > SQLITE_BUSY_MAX)
			return refuse(errbuf, errlen, CRUMB_E_INVAL,
			    "sqlite URL: busy_ms must be 0..%d (milliseconds)",
			    SQLITE_BUSY_MAX);
		*busy_ms = (int)ms;
	} else if (kn == 4 && strncmp(p, "sync", 4) == 0) {
		if (vn == 4 && strncmp(v, "full", 4) == 0)
			*flags |= CRUMB_SQLITE_FULL_SYNC;
		else if (vn == 6 && strncmp(v, "normal", 6) == 0)
			*flags &= ~(unsigned)CRUMB_SQLITE_FULL_SYNC;
		else
			return refuse(errbuf, errlen, CRUMB_E_INVAL,
			    "sqlite URL: sync must be normal or full");
	} else if (kn == 5 && strncmp(p, "group", 5) == 0) {
		if (vn == 1 && *v == '1')
			*flags |= CRUMB_SQLITE_GROUP;
		else if (vn == 1 && *v == '0')
			*flags &= ~(unsigned)CRUMB_SQLITE_GROUP;
		else
			return refuse(errbuf, errlen, CRUMB_E_INVAL,
			    "sqlite URL: group must be 0 or 1");
	} else {
		/* The name only, and only when it is plain: the value could
		 * be a secret given to the wrong store. */
		int plain = kn > 0 && kn <= 32 &&
		    strspn(p, "abcdefghijklmnopqrstuvwxyz_") >= kn;

		return refuse(errbuf, errlen, CRUMB_E_INVAL,
		    "sqlite URL: unknown parameter%s%.*s%s (known: busy_ms, "
		    "sync, group)", plain ? " \"" : "", plain ? (int)kn : 0, p,
		    plain ? "\"" : "");
	}
	return CRUMB_OK;
}

/* rest: what follows "sqlite:" ("/abs", "///abs", "rel", each with an
 * optional "?query"). */
static int
open_sqlite_url(const char *rest, crumb_store **out, char *errbuf,
    size_t errlen)
{
	int busy_ms = SQLITE_BUSY_DEFAULT, bad, rc;
	unsigned flags = 0;
	const char *q, *p;
	char *path;

	if (strncmp(rest, "//", 2) == 0) {
		/* An authority: only the empty one (sqlite:///abs/path). */
		if (rest[2] != '/' && rest[2] != '\0')
			return refuse(errbuf, errlen, CRUMB_E_INVAL,
			    "sqlite URL names a host: a SQLite store is a "
			    "local file (sqlite:/path or sqlite:///path)");
		rest += 2;
	}
	q = strchr(rest, '?');
	if (q == rest || *rest == '\0')
		return refuse(errbuf, errlen, CRUMB_E_INVAL,
		    "sqlite URL has no file path");
	for (p = q; p != NULL && *p != '\0'; ) {
		size_t n;

		p++;
		n = strcspn(p, "&");
		if (n > 0 && (rc = sqlite_param(p, n, &busy_ms, &flags,
		    errbuf, errlen)) != CRUMB_OK)
			return rc;
		p += n;
	}
	path = crumb_pct_decode(rest,
	    q != NULL ? (size_t)(q - rest) : strlen(rest), &bad);
	if (path == NULL)
		return bad ? refuse(errbuf, errlen, CRUMB_E_INVAL,
		    "sqlite URL: bad %%-escape in the path") : CRUMB_E_NOMEM;
	rc = crumb_store_sqlite_open_v3(path, busy_ms, flags, out, errbuf,
	    errlen);
	free(path);
	return rc;
}

/* Replace every occurrence of secret in buf (errlen bytes) with "***";
 * 0 when out of memory (buf is then unchanged). */
static int
redact_one(char *buf, size_t buflen, const char *secret)
{
	char *tmp, *h;
	size_t at = 0, n = strlen(secret);

	if (n == 0)
		return 1;
	if ((tmp = malloc(buflen)) == NULL)
		return 0;
	while ((h = strstr(buf + at, secret)) != NULL) {
		at = (size_t)(h - buf);
		snprintf(tmp, buflen, "%s", h + n);
		snprintf(h, buflen - at, "***%s", tmp);
		at += 3;
		if (at >= strlen(buf))
			break;
	}
	free(tmp);
	return 1;
}

/* Redact the secret in[0..n) as written and %-decoded. */
static int
redact_both(char *buf, size_t buflen, const char *in, size_t n)
{
	char *raw, *plain;
	int bad, ok;

	if (n == 0)
		return 1;
	if ((raw = malloc(n + 1)) == NULL)
		return 0;
	memcpy(raw, in, n);
	raw[n] = '\0';
	ok = redact_one(buf, buflen, raw);
	free(raw);
	if (!ok)
		return 0;
	/* A bad escape decodes to nothing that could be shown. */
	if ((plain = crumb_pct_decode(in, n, &bad)) == NULL)
		return bad;
	ok = redact_one(buf, buflen, plain);
	free(plain);
	return ok;
}

/* A password in url never reaches errbuf, whoever wrote the message:
 * the userinfo's (scheme://user:PASSWORD@host), a "password=" query
 * parameter's and a conninfo "password=" keyword's, each as written and
 * %-decoded.  Should that fail for want of memory, the message goes. */
static void
redact(const char *url, char *errbuf, size_t errlen)
{
	const char *p = strstr(url, "://"), *v, *at = NULL, *c, *end;
	int ok = 1;

	errbuf[errlen - 1] = '\0';
	if (p != NULL) {
		p += 3;
		end = p + strcspn(p, "/?#");
		for (c = p; c < end; c++)
			if (*c == '@')
				at = c;
		if (at != NULL &&
		    (c = memchr(p, ':', (size_t)(at - p))) != NULL)
			ok = redact_both(errbuf, errlen, c + 1,
			    (size_t)(at - c - 1));
	}
	for (p = url; ok && (p = strstr(p, "password")) != NULL; p += 8) {
		if (p != url && strchr("?& \t", p[-1]) == NULL)
			continue;
		v = p + 8 + strspn(p + 8, " \t");
		if (*v != '=')
			continue;
		v++;
		v += strspn(v, " \t");
		v += *v == '\'';
		ok = redact_both(errbuf, errlen, v, strcspn(v, "&' \t"));
	}
	if (!ok)
		errbuf[0] = '\0';
}

static int
open_postgres(const char *url, crumb_store **out, char *errbuf,
    size_t errlen)
{
#ifdef CRUMB_HAVE_POSTGRES
	return crumb_store_postgres_open(url, POSTGRES_TIMEOUT, out, errbuf,
	    errlen);
#else
	(void)url;
	(void)out;
	return refuse(errbuf, errlen, CRUMB_E_INVAL, "store \"postgresql\" is "
	    "not built into this crumb (configure found no libpq): this "
	    "crumb has " STORES);
#endif
}

static int
open_redis(const char *url, crumb_store **out, char *errbuf, size_t errlen)
{
#ifdef CRUMB_HAVE_REDIS
	return crumb_store_redis_open(url, REDIS_TIMEOUT, out, errbuf, errlen);
#else
	(void)url;
	(void)out;
	return refuse(errbuf, errlen, CRUMB_E_INVAL, "store \"redis\" is "
	    "not built into this crumb (configure found no hiredis): this "
	    "crumb has " STORES);
#endif
}

static int
open_url(const char *url, crumb_store **out, char *errbuf, size_t errlen)
{
	size_t n;

	if (*url == '\0')
		return refuse(errbuf, errlen, CRUMB_E_INVAL,
		    "empty store URL: this crumb has " STORES);
	if (is_conninfo(url))
		return open_postgres(url, out, errbuf, errlen);
	if ((n = scheme_len(url)) == 0)
		return crumb_store_sqlite_open_v3(url, SQLITE_BUSY_DEFAULT, 0,
		    out, errbuf, errlen);
	if (is_scheme(url, n, "sqlite"))
		return open_sqlite_url(url + n + 1, out, errbuf, errlen);
	if (is_scheme(url, n, "memory")) {
		if (url[n + 1] != '\0')
			return refuse(errbuf, errlen, CRUMB_E_INVAL,
			    "memory: takes nothing after the colon");
		return crumb_store_memory_new(out);
	}
	if (is_scheme(url, n, "postgresql") || is_scheme(url, n, "postgres"))
		return open_postgres(url, out, errbuf, errlen);
	if (is_scheme(url, n, "redis") || is_scheme(url, n, "redis+unix"))
		return open_redis(url, out, errbuf, errlen);
	return refuse(errbuf, errlen, CRUMB_E_INVAL, "unknown store URL scheme "
	    "\"%.*s\": this crumb has " STORES, n > 32 ? 32 : (int)n, url);
}

CRUMB_API int
crumb_store_open(const char *url, crumb_store **out, char *errbuf,
    size_t errlen)
{
	int rc;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL)
		return refuse(errbuf, errlen, CRUMB_E_INVAL, "no place for "
		    "the store (out is NULL)");
	*out = NULL;
	if (url == NULL)
		return refuse(errbuf, errlen, CRUMB_E_INVAL, "no store URL");
	rc = open_url(url, out, errbuf, errlen);
	if (rc != CRUMB_OK && errbuf != NULL && errlen > 0) {
		redact(url, errbuf, errlen);
		if (errbuf[0] == '\0')
			refuse(errbuf, errlen, rc, "%s", crumb_strerror(rc));
	}
	return rc;
}
