/*
 * libFuzzer target: the session cookie decoder.  The first byte picks
 * the layer: 0 feeds the bytes as the cookie value (base64url, version,
 * key id, AES-GCM envelope); otherwise the rest is sealed under the
 * server key first, so the fuzzer reaches the JSON payload and client
 * state that a forger could never reach without the key.
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

static crumb_config *cfg;
static crumb_store *store;

static void
setup(void)
{
	static const unsigned char key[CRUMB_KEY_LEN] = { 9 };

	if (cfg != NULL)
		return;
	if (crumb_store_memory_new(&store) || crumb_config_new(&cfg) ||
	    crumb_config_set_store(cfg, store) ||
	    crumb_config_set_key(cfg, key, sizeof(key)))
		abort();
}

/* Seal plaintext as the library would and return "id=<value>". */
static char *
sealed_header(const uint8_t *plain, size_t len)
{
	size_t rawlen = CRUMB_HEADER_LEN + CRUMB_NONCE_LEN + len + CRUMB_TAG_LEN;
	uint8_t *raw = malloc(rawlen), aad[CRUMB_HEADER_LEN + 2];
	char *hdr = malloc(crumb_b64_enclen(rawlen) + 4);

	if (raw == NULL || hdr == NULL)
		abort();
	raw[0] = CRUMB_ENVELOPE_VERSION;
	memcpy(raw + 1, cfg->current.id, CRUMB_KEYID_LEN);
	memset(raw + CRUMB_HEADER_LEN, 1, CRUMB_NONCE_LEN);
	memcpy(aad, raw, CRUMB_HEADER_LEN);
	memcpy(aad + CRUMB_HEADER_LEN, "id", 2);
	if (crumb_key_seal(&cfg->current, raw + CRUMB_HEADER_LEN, aad,
	    sizeof(aad), plain, len, raw + CRUMB_HEADER_LEN + CRUMB_NONCE_LEN))
		abort();
	memcpy(hdr, "id=", 3);
	crumb_b64_encode(raw, rawlen, hdr + 3);
	free(raw);
	return hdr;
}

static int
visit(const char *key, const cJSON *value, void *ud)
{
	(void)key; (void)value; (void)ud;
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	crumb_session *s;
	char *header, *out = NULL;
	const char *str;

	setup();
	if (size == 0)
		return 0;
	if (data[0] == 0) {
		if ((header = malloc(size + 3)) == NULL)
			return 0;
		memcpy(header, "id=", 3);
		memcpy(header + 3, data + 1, size - 1);
		header[size + 2] = '\0';
	} else {
		header = sealed_header(data + 1, size - 1);
	}
	if (crumb_session_begin(cfg, header, &s) != CRUMB_OK)
		abort();
	crumb_state_foreach(crumb_session_client(s), visit, NULL);
	crumb_state_get_string(crumb_session_client(s), "theme", &str);
	crumb_state_insert_string(crumb_session_client(s), "theme", "dark");
	if (crumb_session_finish_str(s, &out) != CRUMB_OK)
		abort();
	crumb_free(out);
	crumb_session_free(s);
	free(header);
	return 0;
}
