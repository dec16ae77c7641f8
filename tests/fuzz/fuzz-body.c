/* libFuzzer target: crumb_form_read_body.  The input is the content
 * type, a newline, CONTENT_LENGTH, a newline, then the body, handed
 * out in pieces of a size taken from the body's first byte. */
#include <stdlib.h>
#include <string.h>

#include "crumb.h"

struct src {
	const unsigned char *p;
	size_t left, chunk, given;
};

static long
src_read(void *buf, size_t len, void *ud)
{
	struct src *s = ud;
	size_t n = len < s->left ? len : s->left;

	/* Never asked for more than the limit, nor past it. */
	if (len > 4096 - s->given)
		abort();
	if (n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->p, n);
	s->p += n;
	s->left -= n;
	s->given += n;
	return (long)n;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const unsigned char *nl1, *nl2;
	char *ct, *cl;
	struct src s;
	crumb_form *f = NULL;
	int rc, st = -1;

	if ((nl1 = memchr(data, '\n', size)) == NULL ||
	    (nl2 = memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - data))) ==
	    NULL)
		return 0;
	ct = strndup((const char *)data, (size_t)(nl1 - data));
	cl = strndup((const char *)nl1 + 1, (size_t)(nl2 - nl1 - 1));
	if (ct == NULL || cl == NULL)
		abort();
	s.p = nl2 + 1;
	s.left = size - (size_t)(s.p - data);
	s.chunk = s.left > 0 ? (size_t)s.p[0] % 16 + 1 : 1;
	s.given = 0;
	rc = crumb_form_read_body(ct, cl, src_read, &s, 4096, &f, &st);
	if (rc == CRUMB_OK) {
		if (st != 0 || f == NULL)
			abort();
	} else if (f != NULL || (st != 400 && st != 411 && st != 413 &&
	    st != 415)) {
		abort();
	}
	crumb_form_free(f);
	free(ct);
	free(cl);
	return 0;
}
