/*
 * The session cookie's value: base64url of
 *   version (1) | key id (4) | nonce (12) | AES-256-GCM ciphertext | tag (16)
 * with version, key id and the cookie name as associated data, so a value
 * cannot be moved to another cookie name.  The plaintext is a small JSON
 * object: i = session ID (base64url), t = created, x = expires,
 * l / p = per-session TTL and persistence overrides, c = client state.
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

#define MAX_VALUE 8192   /* a longer value cannot be ours */

size_t
crumb_envelope_len(size_t plain_len)
{
	return crumb_b64_enclen(CRUMB_HEADER_LEN + CRUMB_NONCE_LEN + plain_len +
	    CRUMB_TAG_LEN);
}

static cJSON *
payload_json(const crumb_payload *p)
{
	char idtext[64];
	cJSON *o = cJSON_CreateObject();
	int ok = o != NULL;

	if (ok && p->has_id) {
		crumb_b64_encode(p->id, CRUMB_ID_LEN, idtext);
		ok = cJSON_AddStringToObject(o, "i", idtext) != NULL;
	}
	ok = ok && cJSON_AddNumberToObject(o, "t", (double)p->created) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "x", (double)p->expires) != NULL;
	if (ok && p->ttl > 0)
		ok = cJSON_AddNumberToObject(o, "l", (double)p->ttl) != NULL;
	if (ok && p->persistent >= 0)
		ok = cJSON_AddBoolToObject(o, "p", p->persistent) != NULL;
	if (ok && p->client != NULL && cJSON_GetArraySize(p->client) > 0) {
		/* Borrow the client map for printing; detached below. */
		cJSON_AddItemReferenceToObject(o, "c", p->client);
		ok = cJSON_GetObjectItemCaseSensitive(o, "c") != NULL;
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int
crumb_envelope_seal(crumb_config *cfg, const crumb_payload *p, size_t max_len,
    char **out)
{
	uint8_t *raw = NULL;
	char *plain, *text = NULL;
	size_t plen, rawlen, aadlen, namelen;
	uint8_t aad[CRUMB_HEADER_LEN + 256];
	cJSON *o;
	int rc;

	*out = NULL;
	if (!cfg->has_current)
		return CRUMB_E_NOKEY;
	if ((o = payload_json(p)) == NULL)
		return CRUMB_E_NOMEM;
	plain = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);      /* the "c" reference does not free the map */
	if (plain == NULL)
		return CRUMB_E_NOMEM;
	plen = strlen(plain);
	if (crumb_envelope_len(plen) > max_len) {
		rc = CRUMB_E_TOO_LARGE;
		goto out;
	}
	rawlen = CRUMB_HEADER_LEN + CRUMB_NONCE_LEN + plen + CRUMB_TAG_LEN;
	if ((raw = malloc(rawlen)) == NULL ||
	    (text = malloc(crumb_b64_enclen(rawlen) + 1)) == NULL) {
		rc = CRUMB_E_NOMEM;
		goto out;
	}
	raw[0] = CRUMB_ENVELOPE_VERSION;
	memcpy(raw + 1, cfg->current.id, CRUMB_KEYID_LEN);
	crumb_nonce(raw + CRUMB_HEADER_LEN, CRUMB_NONCE_LEN);
	namelen = strlen(crumb_cookie_name(cfg));   /* <= 135, fits */
	memcpy(aad, raw, CRUMB_HEADER_LEN);
	memcpy(aad + CRUMB_HEADER_LEN, crumb_cookie_name(cfg), namelen);
	aadlen = CRUMB_HEADER_LEN + namelen;
	rc = crumb_key_seal(&cfg->current, raw + CRUMB_HEADER_LEN, aad, aadlen,
	    (const uint8_t *)plain, plen,
	    raw + CRUMB_HEADER_LEN + CRUMB_NONCE_LEN);
	if (rc == CRUMB_OK) {
		crumb_b64_encode(raw, rawlen, text);
		*out = text;
		text = NULL;
	}
out:
	cJSON_free(plain);
	free(raw);
	free(text);
	return rc;
}

static crumb_key *
find_key(crumb_config *cfg, const uint8_t *id, int *old)
{
	size_t i;

	*old = 0;
	if (cfg->has_current && memcmp(cfg->current.id, id, CRUMB_KEYID_LEN) == 0)
		return &cfg->current;
	for (i = 0; i < cfg->n_old; i++) {
		if (memcmp(cfg->old[i].id, id, CRUMB_KEYID_LEN) == 0) {
			*old = 1;
			return &cfg->old[i];
		}
	}
	return NULL;
}

static int
get_int(const cJSON *o, const char *name, int64_t *v)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
	    it->valuedouble > 9.0e15)
		return 0;
	*v = (int64_t)it->valuedouble;
	return 1;
}

/* Check and copy the decrypted JSON into p. */
static int
read_payload(const char *plain, size_t len, crumb_payload *p)
{
	const cJSON *it;
	cJSON *o = cJSON_ParseWithLengthOpts(plain, len, NULL, 0);
	int ok = cJSON_IsObject(o);

	if (ok && (it = cJSON_GetObjectItemCaseSensitive(o, "i")) != NULL) {
		uint8_t id[CRUMB_ID_LEN + 3];
		ok = cJSON_IsString(it) &&
		    strlen(it->valuestring) == crumb_b64_enclen(CRUMB_ID_LEN) &&
		    crumb_b64_decode(it->valuestring, strlen(it->valuestring),
		    id) == CRUMB_ID_LEN;
		if (ok) {
			memcpy(p->id, id, CRUMB_ID_LEN);
			p->has_id = 1;
		}
	}
	ok = ok && get_int(o, "t", &p->created) && get_int(o, "x", &p->expires);
	p->ttl = 0;
	if (ok && cJSON_GetObjectItemCaseSensitive(o, "l") != NULL)
		ok = get_int(o, "l", &p->ttl) && p->ttl > 0;
	p->persistent = -1;
	if (ok && (it = cJSON_GetObjectItemCaseSensitive(o, "p")) != NULL) {
		ok = cJSON_IsBool(it);
		p->persistent = cJSON_IsTrue(it);
	}
	if (ok && (it = cJSON_GetObjectItemCaseSensitive(o, "c")) != NULL) {
		ok = cJSON_IsObject(it);
		if (ok)
			p->client = cJSON_DetachItemViaPointer(o, (cJSON *)it);
	}
	cJSON_Delete(o);
	return ok ? CRUMB_OK : CRUMB_E_PARSE;
}

int
crumb_envelope_open(crumb_config *cfg, const char *value, crumb_payload *p,
    int *old_key)
{
	size_t vlen = strnlen(value, MAX_VALUE + 1), rawlen, clen, namelen;
	uint8_t aad[CRUMB_HEADER_LEN + 256];
	uint8_t *raw = NULL, *plain = NULL;
	crumb_key *k;
	int rc = CRUMB_E_PARSE;

	memset(p, 0, sizeof(*p));
	p->persistent = -1;
	if (vlen > MAX_VALUE || vlen < crumb_b64_enclen(CRUMB_HEADER_LEN +
	    CRUMB_NONCE_LEN + CRUMB_TAG_LEN + 2))
		return CRUMB_E_PARSE;
	if ((raw = malloc(vlen * 3 / 4 + 3)) == NULL)
		return CRUMB_E_NOMEM;
	rawlen = crumb_b64_decode(value, vlen, raw);
	if (rawlen == (size_t)-1 || raw[0] != CRUMB_ENVELOPE_VERSION ||
	    rawlen < CRUMB_HEADER_LEN + CRUMB_NONCE_LEN + CRUMB_TAG_LEN + 2)
		goto out;
	if ((k = find_key(cfg, raw + 1, old_key)) == NULL)
		goto out;
	clen = rawlen - CRUMB_HEADER_LEN - CRUMB_NONCE_LEN - CRUMB_TAG_LEN;
	if ((plain = malloc(clen)) == NULL) {
		rc = CRUMB_E_NOMEM;
		goto out;
	}
	namelen = strlen(crumb_cookie_name(cfg));
	memcpy(aad, raw, CRUMB_HEADER_LEN);
	memcpy(aad + CRUMB_HEADER_LEN, crumb_cookie_name(cfg), namelen);
	if (crumb_key_open(k, raw + CRUMB_HEADER_LEN, aad,
	    CRUMB_HEADER_LEN + namelen, raw + CRUMB_HEADER_LEN + CRUMB_NONCE_LEN,
	    clen, plain) != CRUMB_OK) {
		rc = CRUMB_E_CRYPTO;
		goto out;
	}
	rc = read_payload((const char *)plain, clen, p);
out:
	free(raw);
	free(plain);
	return rc;
}
