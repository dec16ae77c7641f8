/*
 * The session cookie's value: base64url of
 *   version (1) | key id (4) | nonce (12) | AES-256-GCM ciphertext | tag (16)
 * with version, key id and the cookie name as associated data, so a value
 * cannot be moved to another cookie name.  The plaintext is
 *   flags (1) | session ID (32, if F_ID) | created (8) | expires (8) |
 *   TTL override (8, if F_TTL) | CSRF secret (32, if F_CSRF) |
 *   client state as a JSON object (rest)
 * with integers big-endian.  Binary fields keep the cookie small and spare
 * a JSON parse when the client state is empty; optional ones cost nothing
 * when absent.
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

#define MAX_VALUE 8192   /* a longer value cannot be ours */

#define F_ID          0x01
#define F_TTL         0x02
#define F_PERSIST_SET 0x04
#define F_PERSIST     0x08
#define F_CSRF        0x10
#define F_KNOWN       0x1f
#define MIN_PLAIN     (1 + 16)   /* flags, created, expires */

size_t
crumb_envelope_len(size_t plain_len)
{
	return crumb_b64_enclen(CRUMB_HEADER_LEN + CRUMB_NONCE_LEN + plain_len +
	    CRUMB_TAG_LEN);
}

static void
put64(uint8_t *p, int64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)(v & 0xff);
}

static int64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
}

/* Build the plaintext: fixed binary fields, then the client JSON. */
static int
plaintext(const crumb_payload *p, uint8_t **out, size_t *len)
{
	char *json = NULL;
	size_t jlen = 0, n = MIN_PLAIN;
	uint8_t *buf, *q;

	if (p->client != NULL && p->client->child != NULL) {
		if ((json = cJSON_PrintUnformatted(p->client)) == NULL)
			return CRUMB_E_NOMEM;
		jlen = strlen(json);
	}
	n += (p->has_id ? CRUMB_ID_LEN : 0) + (p->ttl > 0 ? 8 : 0) +
	    (p->has_csrf ? CRUMB_CSRF_LEN : 0) + jlen;
	if ((buf = malloc(n)) == NULL) {
		cJSON_free(json);
		return CRUMB_E_NOMEM;
	}
	q = buf;
	*q++ = (uint8_t)((p->has_id ? F_ID : 0) | (p->ttl > 0 ? F_TTL : 0) |
	    (p->persistent >= 0 ? F_PERSIST_SET : 0) |
	    (p->persistent > 0 ? F_PERSIST : 0) | (p->has_csrf ? F_CSRF : 0));
	if (p->has_id) {
		memcpy(q, p->id, CRUMB_ID_LEN);
		q += CRUMB_ID_LEN;
	}
	put64(q, p->created);
	put64(q + 8, p->expires);
	q += 16;
	if (p->ttl > 0) {
		put64(q, p->ttl);
		q += 8;
	}
	if (p->has_csrf) {
		memcpy(q, p->csrf, CRUMB_CSRF_LEN);
		q += CRUMB_CSRF_LEN;
	}
	if (jlen > 0)
		memcpy(q, json, jlen);
	cJSON_free(json);
	*out = buf;
	*len = n;
	return CRUMB_OK;
}

/* Associated data: version and key id (raw's header), then the cookie
 * name, so a value cannot be moved to another cookie.  aad holds
 * CRUMB_HEADER_LEN + 256 bytes; names are at most 135. */
static size_t
aad_of(const crumb_config *cfg, const uint8_t *raw, uint8_t *aad)
{
	const char *name = crumb_cookie_name(cfg);
	size_t namelen = strlen(name);

	memcpy(aad, raw, CRUMB_HEADER_LEN);
	memcpy(aad + CRUMB_HEADER_LEN, name, namelen);
	return CRUMB_HEADER_LEN + namelen;
}

int
crumb_envelope_seal(crumb_config *cfg, const crumb_payload *p, size_t max_len,
    char **out)
{
	uint8_t *raw = NULL, *plain;
	char *text = NULL;
	size_t plen, rawlen, aadlen;
	uint8_t aad[CRUMB_HEADER_LEN + 256];
	int rc;

	*out = NULL;
	if (!cfg->has_current)
		return CRUMB_E_NOKEY;
	if ((rc = plaintext(p, &plain, &plen)) != CRUMB_OK)
		return rc;
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
	aadlen = aad_of(cfg, raw, aad);
	rc = crumb_key_seal(&cfg->current, raw + CRUMB_HEADER_LEN, aad, aadlen,
	    plain, plen,
	    raw + CRUMB_HEADER_LEN + CRUMB_NONCE_LEN);
	if (rc == CRUMB_OK) {
		crumb_b64_encode(raw, rawlen, text);
		*out = text;
		text = NULL;
	}
out:
	free(plain);
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
	/* The next key is about to become current: its cookies are not
	 * re-sealed with a key that is on its way out. */
	if (cfg->has_next && memcmp(cfg->next.id, id, CRUMB_KEYID_LEN) == 0)
		return &cfg->next;
	*old = 1;
	if (cfg->has_retired &&
	    memcmp(cfg->retired.id, id, CRUMB_KEYID_LEN) == 0)
		return &cfg->retired;
	for (i = 0; i < cfg->n_old; i++)
		if (memcmp(cfg->old[i].id, id, CRUMB_KEYID_LEN) == 0)
			return &cfg->old[i];
	*old = 0;
	return NULL;
}

/* Check and copy the decrypted fields into p. */
static int
read_payload(const uint8_t *plain, size_t len, crumb_payload *p)
{
	const uint8_t *q = plain, *end = plain + len;
	unsigned flags;

	if (len < MIN_PLAIN || ((flags = *q++) & ~F_KNOWN) != 0)
		return CRUMB_E_PARSE;
	if (flags & F_ID) {
		if ((size_t)(end - q) < CRUMB_ID_LEN + 16)
			return CRUMB_E_PARSE;
		memcpy(p->id, q, CRUMB_ID_LEN);
		p->has_id = 1;
		q += CRUMB_ID_LEN;
	}
	p->created = get64(q);
	p->expires = get64(q + 8);
	q += 16;
	if (flags & F_TTL) {
		if (end - q < 8 || (p->ttl = get64(q)) <= 0 ||
		    p->ttl > CRUMB_TTL_MAX)
			return CRUMB_E_PARSE;
		q += 8;
	}
	if (flags & F_CSRF) {
		if ((size_t)(end - q) < CRUMB_CSRF_LEN)
			return CRUMB_E_PARSE;
		memcpy(p->csrf, q, CRUMB_CSRF_LEN);
		p->has_csrf = 1;
		q += CRUMB_CSRF_LEN;
	}
	/* Times we never seal: not our cookie. */
	if (p->created < 0 || p->created > CRUMB_TIME_MAX ||
	    p->expires < 0 || p->expires > CRUMB_TIME_MAX)
		return CRUMB_E_PARSE;
	p->persistent = flags & F_PERSIST_SET ? (flags & F_PERSIST) != 0 : -1;
	if (q < end) {
		p->client = cJSON_ParseWithLengthOpts((const char *)q,
		    (size_t)(end - q), NULL, 0);
		if (!cJSON_IsObject(p->client)) {
			cJSON_Delete(p->client);
			p->client = NULL;
			return CRUMB_E_PARSE;
		}
	}
	return CRUMB_OK;
}

int
crumb_envelope_open(crumb_config *cfg, const char *value, crumb_payload *p,
    int *old_key)
{
	size_t vlen = strnlen(value, MAX_VALUE + 1), rawlen, clen, aadlen;
	uint8_t aad[CRUMB_HEADER_LEN + 256];
	/* On the stack: every request opens a cookie, and a value is at
	 * most MAX_VALUE characters.  Decrypted in place. */
	uint8_t raw[MAX_VALUE / 4 * 3 + 3], *ct;
	crumb_key *k;

	memset(p, 0, sizeof(*p));
	p->persistent = -1;
	if (vlen > MAX_VALUE || vlen < crumb_b64_enclen(CRUMB_HEADER_LEN +
	    CRUMB_NONCE_LEN + CRUMB_TAG_LEN + MIN_PLAIN))
		return CRUMB_E_PARSE;
	rawlen = crumb_b64_decode(value, vlen, raw);
	if (rawlen == (size_t)-1 || raw[0] != CRUMB_ENVELOPE_VERSION ||
	    rawlen < CRUMB_HEADER_LEN + CRUMB_NONCE_LEN + CRUMB_TAG_LEN + MIN_PLAIN)
		return CRUMB_E_PARSE;
	if ((k = find_key(cfg, raw + 1, old_key)) == NULL)
		return CRUMB_E_NOT_FOUND;
	clen = rawlen - CRUMB_HEADER_LEN - CRUMB_NONCE_LEN - CRUMB_TAG_LEN;
	ct = raw + CRUMB_HEADER_LEN + CRUMB_NONCE_LEN;
	aadlen = aad_of(cfg, raw, aad);
	if (crumb_key_open(k, raw + CRUMB_HEADER_LEN, aad, aadlen, ct, clen,
	    ct) != CRUMB_OK)
		return CRUMB_E_CRYPTO;
	return read_payload(ct, clen, p);
}
