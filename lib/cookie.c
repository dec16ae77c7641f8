/* The Cookie request header (RFC 6265 section 5.4 cookie-string, parsed
 * leniently as browsers send it) and Set-Cookie response lines. */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

static int
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static char *
trim(char *s, char *end)
{
	while (s < end && is_ws(*s))
		s++;
	while (end > s && is_ws(end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Does "token=" follow at p, after optional whitespace? */
static int
pair_follows(const char *p)
{
	const char *name;

	while (is_ws(*p))
		p++;
	for (name = p; crumb_is_tchar((unsigned char)*p); p++)
		;
	return p > name && *p == '=';
}

/* A server joins two Cookie lines with ", ".  A cookie value cannot hold
 * ',' (RFC 6265 cookie-octets), so a comma before "name=" separates
 * pairs; one merely inside a value ("a=x, y") is left alone. */
static void
split_joined(char *s)
{
	for (; (s = strchr(s, ',')) != NULL; s++)
		if (pair_follows(s + 1))
			*s = ';';
}

int
crumb_jar_parse(crumb_jar *jar, const char *header)
{
	size_t len, max = 1;
	const char *q;
	char *p, *end;

	memset(jar, 0, sizeof(*jar));
	if (header == NULL)
		return CRUMB_OK;
	/* Servers cap headers far lower; a giant one is hostile: no cookies. */
	len = strnlen(header, CRUMB_COOKIE_HEADER_MAX + 1);
	if (len > CRUMB_COOKIE_HEADER_MAX)
		return CRUMB_OK;
	for (q = header; *q != '\0'; q++)
		max += *q == ';' || *q == ',';
	/* One block: the pairs, then the header's copy they point into. */
	if ((jar->pairs = malloc(max * sizeof(*jar->pairs) + len + 1)) == NULL)
		return CRUMB_E_NOMEM;
	jar->copy = (char *)(jar->pairs + max);
	memcpy(jar->copy, header, len + 1);
	split_joined(jar->copy);
	for (p = jar->copy; p != NULL; p = end) {
		char *item = p, *eq, *name, *value;
		size_t vlen;

		end = strchr(p, ';');
		if (end != NULL)
			*end++ = '\0';
		if ((eq = strchr(item, '=')) == NULL)
			continue;       /* not a name=value pair: ignored */
		name = trim(item, eq);
		value = trim(eq + 1, eq + 1 + strlen(eq + 1));
		if (*name == '\0')
			continue;
		vlen = strlen(value);
		if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
			value[vlen - 1] = '\0';
			value++;
		}
		jar->pairs[jar->n].name = name;
		jar->pairs[jar->n].value = value;
		jar->n++;
	}
	return CRUMB_OK;
}

void
crumb_jar_release(crumb_jar *jar)
{
	free(jar->pairs);         /* the copy is in the same block */
	memset(jar, 0, sizeof(*jar));
}

void
crumb_set_cookie_line(crumb_buf *b, const char *name, const char *value,
    int64_t max_age, int max_age_set, const char *path, const char *domain,
    unsigned flags)
{
	crumb_buf_puts(b, "Set-Cookie: ");
	crumb_buf_puts(b, name);
	crumb_buf_puts(b, "=");
	crumb_buf_puts(b, value);
	if (max_age_set) {
		crumb_buf_printf(b, "; Max-Age=%lld", (long long)max_age);
		/* Expires for old clients; only the "gone" date is needed
		 * exactly, the others are covered by Max-Age. */
		if (max_age <= 0)
			crumb_buf_puts(b, "; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
	}
	if (domain != NULL) {
		crumb_buf_puts(b, "; Domain=");
		crumb_buf_puts(b, domain);
	}
	if (path != NULL) {
		crumb_buf_puts(b, "; Path=");
		crumb_buf_puts(b, path);
	}
	if (flags & CRUMB_COOKIE_SECURE)
		crumb_buf_puts(b, "; Secure");
	if (flags & CRUMB_COOKIE_HTTP_ONLY)
		crumb_buf_puts(b, "; HttpOnly");
	if (flags & CRUMB_COOKIE_SAMESITE_STRICT)
		crumb_buf_puts(b, "; SameSite=Strict");
	else if (flags & CRUMB_COOKIE_SAMESITE_LAX)
		crumb_buf_puts(b, "; SameSite=Lax");
	else if (flags & CRUMB_COOKIE_SAMESITE_NONE)
		crumb_buf_puts(b, "; SameSite=None");
	crumb_buf_puts(b, "\r\n");
}

CRUMB_API int
crumb_cookie_get(const crumb_session *s, const char *name, const char **value)
{
	size_t i;

	if (s == NULL || name == NULL || value == NULL)
		return CRUMB_E_INVAL;
	*value = NULL;
	for (i = 0; i < s->jar.n; i++) {
		if (strcmp(s->jar.pairs[i].name, name) == 0) {
			*value = s->jar.pairs[i].value;
			return CRUMB_OK;
		}
	}
	return CRUMB_E_NOT_FOUND;
}

/* Replace any queued cookie of the same name: the last call wins. */
static int
queue(crumb_session *s, const char *name, crumb_buf *line)
{
	crumb_out_cookie **pp, *c;

	if (line->failed) {
		crumb_buf_release(line);
		return CRUMB_E_NOMEM;
	}
	for (pp = &s->queued; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->name, name) == 0) {
			free((*pp)->line);
			(*pp)->line = line->data;
			return CRUMB_OK;
		}
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->name = crumb_strdup(name)) == NULL) {
		free(c);
		crumb_buf_release(line);
		return CRUMB_E_NOMEM;
	}
	c->line = line->data;
	*pp = c;
	return CRUMB_OK;
}

static int
attrs_valid(const char *path, const char *domain)
{
	/* Attribute values must not smuggle in further attributes. */
	return (path == NULL || (crumb_is_cookie_value(path) &&
	    strchr(path, ';') == NULL)) &&
	    (domain == NULL || crumb_is_cookie_value(domain));
}

CRUMB_API int
crumb_cookie_set(crumb_session *s, const char *name, const char *value,
    int64_t max_age, const char *path, const char *domain, unsigned flags)
{
	crumb_buf line = { 0 };

	if (s == NULL || !crumb_is_token(name) || !crumb_is_cookie_value(value) ||
	    !attrs_valid(path, domain))
		return CRUMB_E_INVAL;
	/* Browsers drop a SameSite=None cookie that is not Secure. */
	if ((flags & CRUMB_COOKIE_SAMESITE_NONE) && !(flags & CRUMB_COOKIE_SECURE))
		return CRUMB_E_INVAL;
	if (s->finished)
		return CRUMB_E_STATE;
	if (strcmp(name, crumb_cookie_name(s->cfg)) == 0)
		return CRUMB_E_INVAL;   /* the session cookie is ours */
	crumb_set_cookie_line(&line, name, value, max_age, max_age >= 0, path,
	    domain, flags);
	if (!line.failed && line.len - strlen("Set-Cookie: \r\n") > CRUMB_COOKIE_MAX) {
		crumb_buf_release(&line);
		return CRUMB_E_TOO_LARGE;
	}
	return queue(s, name, &line);
}

CRUMB_API int
crumb_cookie_remove(crumb_session *s, const char *name, const char *path,
    const char *domain)
{
	return crumb_cookie_set(s, name, "", 0, path, domain, 0);
}
