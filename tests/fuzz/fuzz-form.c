/* libFuzzer target: the urlencoded form parser and HTML escaping. */
#include <stdlib.h>
#include <string.h>

#include "crumb.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	crumb_form *f;
	const char *name, *value;
	char *esc;
	size_t i;

	if (crumb_form_parse((const char *)data, size, &f) != CRUMB_OK)
		return 0;
	for (i = 0; crumb_form_field(f, i, &name, &value) == CRUMB_OK; i++) {
		/* Accepted fields are valid UTF-8 without NUL. */
		if (!crumb_utf8_valid(name, strlen(name)) ||
		    !crumb_utf8_valid(value, strlen(value)))
			abort();
		if (crumb_html_escape(value, &esc) != CRUMB_OK ||
		    strpbrk(esc, "<>\"'") != NULL)
			abort();
		crumb_free(esc);
	}
	if (i != crumb_form_count(f))
		abort();
	crumb_form_free(f);
	return 0;
}
