/* A growable buffer: pages are built in memory so that a failure half
 * way (store, database) can still turn into a clean 503. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb.h"

static int
grow(struct gb_buf *b, size_t need)
{
	size_t cap;
	char *p;

	if (b->failed)
		return -1;
	if (b->len + need + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + need + 1) {
		if (cap > ((size_t)-1) / 2)
			goto fail;
		cap *= 2;
	}
	if ((p = realloc(b->p, cap)) == NULL)
		goto fail;
	b->p = p;
	b->cap = cap;
	return 0;
fail:
	b->failed = 1;
	return -1;
}

void
gb_buf_add(struct gb_buf *b, const char *s, size_t n)
{
	if (grow(b, n) != 0)
		return;
	if (n > 0)      /* s may be NULL then (an empty buffer's p) */
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
gb_buf_puts(struct gb_buf *b, const char *s)
{
	gb_buf_add(b, s, strlen(s));
}

/* One vsnprintf when the text fits in what is left (the common case),
 * a second only after growing. */
void
gb_buf_printf(struct gb_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (grow(b, 0) != 0)
		return;
	room = b->cap > b->len ? b->cap - b->len : 0;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)n >= room) {
		if (grow(b, (size_t)n) != 0)
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Decimal digits of v, without printf's machinery. */
void
gb_buf_putu(struct gb_buf *b, unsigned long long v)
{
	char d[24], *p = d + sizeof(d);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	gb_buf_add(b, p, (size_t)(d + sizeof(d) - p));
}

void
gb_buf_puts_html(struct gb_buf *b, const char *s)
{
	char *esc = NULL;

	if (crumb_html_escape(s, &esc) != CRUMB_OK) {
		b->failed = 1;
		return;
	}
	gb_buf_puts(b, esc);
	crumb_free(esc);
}

void
gb_buf_free(struct gb_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

int
gb_buf_write_fn(const char *buf, size_t len, void *ud)
{
	struct gb_buf *b = ud;

	gb_buf_add(b, buf, len);
	return b->failed ? -1 : 0;
}
