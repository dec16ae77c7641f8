/* libFuzzer target: the Cookie request header, through the public API.
 * Any input must give a session (fresh or not) and never crash; the same
 * text as a CSRF token is refused (the key is not the fuzzer's to know). */
#include <stdlib.h>
#include <string.h>

#include "crumb.h"

static crumb_config *cfg;
static crumb_store *store;

static void
setup(void)
{
	static const unsigned char key[CRUMB_KEY_LEN] = { 7 };

	if (cfg != NULL)
		return;
	if (crumb_store_memory_new(&store) || crumb_config_new(&cfg) ||
	    crumb_config_set_store(cfg, store) ||
	    crumb_config_set_key(cfg, key, sizeof(key)))
		abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	crumb_session *s;
	char *header, *out = NULL;
	const char *v;

	setup();
	if ((header = malloc(size + 1)) == NULL)
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';
	if (crumb_session_begin(cfg, header, &s) != CRUMB_OK)
		abort();
	crumb_cookie_get(s, "id", &v);
	crumb_cookie_get(s, "a", &v);
	/* The CSRF token parser takes untrusted text too. */
	if (crumb_session_csrf_check(s, header) == CRUMB_OK)
		abort();
	if (crumb_state_insert_number(crumb_session_client(s), "n", 1) != CRUMB_OK)
		abort();
	if (crumb_session_finish_str(s, &out) != CRUMB_OK || out == NULL)
		abort();
	crumb_free(out);
	crumb_session_free(s);
	free(header);
	return 0;
}
