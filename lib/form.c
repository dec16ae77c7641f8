/* application/x-www-form-urlencoded bodies and query strings.  Input is
 * checked at the boundary: a bad escape, a NUL, invalid UTF-8 or too many
 * fields rejects the whole body rather than passing odd values on. */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

struct crumb_form {
	char *buf;               /* decoded names and values, NUL-separated */
	crumb_pair *fields;
	size_t n;
};

/* Decode in[0..len) into out, NUL-terminate; returns bytes or -1. */
static long
decode(const char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '+') {
			out[o++] = ' ';
		} else if (in[i] == '%') {
			int hi, lo;
			if (i + 2 >= len || (hi = crumb_hexval(in[i + 1])) < 0 ||
			    (lo = crumb_hexval(in[i + 2])) < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (in[i] == '\0') {
			return -1;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
	if (!crumb_utf8_valid(out, o))
		return -1;
	return (long)o;
}

CRUMB_API int
crumb_form_parse(const char *body, size_t len, crumb_form **out)
{
	crumb_form *f;
	size_t i, start, max = 0, seg = 0, pos = 0;

	if (out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	if (body == NULL && len > 0)
		return CRUMB_E_INVAL;
	if (body == NULL)
		body = "";
	/* Count only the fields the loop below keeps: empty ones ("a&&b",
	 * a trailing '&') are skipped there, so they must not count
	 * against the limit either. */
	for (i = 0; i <= len; i++) {
		if (i < len && body[i] != '&') {
			seg++;
			continue;
		}
		max += seg > 0;
		seg = 0;
	}
	if (max > CRUMB_FORM_MAX_FIELDS)
		return CRUMB_E_TOO_LARGE;
	if (max == 0)
		max = 1;        /* calloc(0) may be NULL */
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->buf = malloc(len + 2 * max + 1)) == NULL ||
	    (f->fields = calloc(max, sizeof(*f->fields))) == NULL) {
		crumb_form_free(f);
		return CRUMB_E_NOMEM;
	}
	for (start = 0; start <= len; start = i + 1) {
		const char *item = body + start, *eq;
		size_t ilen, nlen;
		long d;

		for (i = start; i < len && body[i] != '&'; i++)
			;
		ilen = i - start;
		if (ilen == 0)
			continue;       /* "a=1&&b=2" and trailing '&' */
		eq = memchr(item, '=', ilen);
		nlen = eq != NULL ? (size_t)(eq - item) : ilen;
		f->fields[f->n].name = f->buf + pos;
		if ((d = decode(item, nlen, f->buf + pos)) < 0)
			goto bad;
		pos += (size_t)d + 1;
		f->fields[f->n].value = f->buf + pos;
		d = eq != NULL ? decode(eq + 1, ilen - nlen - 1, f->buf + pos) :
		    decode("", 0, f->buf + pos);
		if (d < 0)
			goto bad;
		pos += (size_t)d + 1;
		f->n++;
	}
	*out = f;
	return CRUMB_OK;
bad:
	crumb_form_free(f);
	return CRUMB_E_PARSE;
}

CRUMB_API void
crumb_form_free(crumb_form *f)
{
	if (f == NULL)
		return;
	free(f->buf);
	free(f->fields);
	free(f);
}

CRUMB_API const char *
crumb_form_get(const crumb_form *f, const char *name)
{
	size_t i;

	if (f == NULL || name == NULL)
		return NULL;
	for (i = 0; i < f->n; i++)
		if (strcmp(f->fields[i].name, name) == 0)
			return f->fields[i].value;
	return NULL;
}

CRUMB_API size_t
crumb_form_count(const crumb_form *f)
{
	return f != NULL ? f->n : 0;
}

CRUMB_API int
crumb_form_field(const crumb_form *f, size_t i, const char **name,
    const char **value)
{
	if (f == NULL || name == NULL || value == NULL)
		return CRUMB_E_INVAL;
	if (i >= f->n)
		return CRUMB_E_NOT_FOUND;
	*name = f->fields[i].name;
	*value = f->fields[i].value;
	return CRUMB_OK;
}
