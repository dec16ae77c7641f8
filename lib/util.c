/* Small helpers: strings, header buffers, HTML escaping, UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

CRUMB_API const char *
crumb_version(void)
{
	return CRUMB_VERSION_STRING;
}

CRUMB_API void
crumb_free(void *p)
{
	free(p);
}

int
crumb_hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Decode %XX escapes of in[0..n) into a new string (free()); NULL on a
 * bad escape or an escaped NUL (*bad set) or no memory (*bad clear). */
char *
crumb_pct_decode(const char *in, size_t n, int *bad)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;

	*bad = 0;
	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		int hi, lo;

		if (in[i] != '%') {
			*o++ = in[i];
			continue;
		}
		if (n - i < 3) {
			hi = lo = -1;
		} else {
			hi = crumb_hexval((unsigned char)in[i + 1]);
			lo = crumb_hexval((unsigned char)in[i + 2]);
		}
		if (hi < 0 || lo < 0 || (hi | lo) == 0) {
			*bad = 1;
			free(out);
			return NULL;
		}
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

void
crumb_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		*out++ = digits[in[i] >> 4];
		*out++ = digits[in[i] & 15];
	}
	*out = '\0';
}

void
crumb_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

char *
crumb_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

int
crumb_is_tchar(int c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

int
crumb_is_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!crumb_is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

int
crumb_is_cookie_value(const char *s)
{
	if (s == NULL)
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		/* cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
		if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' ||
		    c == '\\')
			return 0;
	}
	return 1;
}

void
crumb_buf_add(crumb_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->data, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
crumb_buf_puts(crumb_buf *b, const char *s)
{
	crumb_buf_add(b, s, strlen(s));
}

void
crumb_buf_printf(crumb_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* Only used for short numeric attributes. */
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->failed = 1;
		return;
	}
	crumb_buf_add(b, tmp, (size_t)n);
}

void
crumb_buf_release(crumb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

CRUMB_API int
crumb_html_escape(const char *in, char **out)
{
	crumb_buf b = { 0 };

	if (in == NULL || out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	crumb_buf_add(&b, "", 0);
	for (; *in != '\0'; in++) {
		switch (*in) {
		case '&': crumb_buf_puts(&b, "&amp;"); break;
		case '<': crumb_buf_puts(&b, "&lt;"); break;
		case '>': crumb_buf_puts(&b, "&gt;"); break;
		case '"': crumb_buf_puts(&b, "&quot;"); break;
		case '\'': crumb_buf_puts(&b, "&#39;"); break;
		default: crumb_buf_add(&b, in, 1); break;
		}
	}
	if (b.failed) {
		crumb_buf_release(&b);
		return CRUMB_E_NOMEM;
	}
	*out = b.data;
	return CRUMB_OK;
}

CRUMB_API int
crumb_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	if (s == NULL)
		return 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1; cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2; cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3; cp = c & 0x07;
		} else
			return 0;
		if (len - i <= need)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

CRUMB_API int
crumb_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	unsigned char diff = 0;
	size_t i;

	if (a == NULL || b == NULL)
		return 0;
	/* Compare over a's length whatever b is, so time leaks no prefix. */
	diff = (unsigned char)(alen != blen);
	for (i = 0; i < alen; i++)
		diff |= x[i] ^ (blen ? y[i % blen] : 0);
	return diff == 0;
}
