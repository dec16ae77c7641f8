/*
 * CSRF tokens without stored state.  The secret is 32 random bytes in the
 * session cookie's sealed payload, added the first time a token is asked
 * for, so an anonymous page with a form writes only the cookie, and a
 * session that never asks keeps its cookie size.  It is never in the
 * server map, so the application's keys, len/foreach and clear never see
 * it.  Cycling the ID or invalidating the session retires it.
 *
 * A token is base64url(mask || secret XOR mask) with a fresh random mask
 * per request, so the page never carries the same bytes twice (BREACH:
 * a compressed response must not let an attacker guess the secret byte
 * by byte).
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

#define TOKEN_RAW (2 * CRUMB_CSRF_LEN)

/* A token handed out.  Kept until the session is freed: the caller may
 * hold it after the secret it was made of is retired. */
struct crumb_csrf_text {
	crumb_csrf_text *next;
	char text[];
};

void
crumb_csrf_adopt(crumb_csrf *c, const crumb_payload *p)
{
	if (p->has_csrf) {
		memcpy(c->secret, p->csrf, CRUMB_CSRF_LEN);
		c->has_secret = 1;
	}
}

void
crumb_csrf_put(const crumb_csrf *c, crumb_payload *p)
{
	p->has_csrf = c->has_secret;
	if (c->has_secret)
		memcpy(p->csrf, c->secret, CRUMB_CSRF_LEN);
}

void
crumb_csrf_retire(crumb_csrf *c)
{
	memset(c->secret, 0, sizeof(c->secret));
	c->has_secret = 0;
	c->current = NULL;
}

void
crumb_csrf_release(crumb_csrf *c)
{
	crumb_csrf_text *t, *next;

	for (t = c->texts; t != NULL; t = next) {
		next = t->next;
		free(t);
	}
	crumb_csrf_retire(c);
	c->texts = NULL;
}

/* A new masked token of the current secret, kept in c->texts. */
static int
mask_token(crumb_csrf *c)
{
	uint8_t raw[TOKEN_RAW];
	crumb_csrf_text *t;
	size_t i;

	if ((t = malloc(sizeof(*t) + crumb_b64_enclen(TOKEN_RAW) + 1)) == NULL)
		return CRUMB_E_NOMEM;
	crumb_nonce(raw, CRUMB_CSRF_LEN);
	for (i = 0; i < CRUMB_CSRF_LEN; i++)
		raw[CRUMB_CSRF_LEN + i] = raw[i] ^ c->secret[i];
	crumb_b64_encode(raw, sizeof(raw), t->text);
	t->next = c->texts;
	c->texts = t;
	c->current = t->text;
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_csrf_token(crumb_session *s, const char **token)
{
	int rc;

	if (token == NULL)
		return CRUMB_E_INVAL;
	*token = NULL;
	if ((rc = crumb_session_usable(s)) != CRUMB_OK)
		return rc;
	if (!s->csrf.has_secret) {
		crumb_random(s->csrf.secret, CRUMB_CSRF_LEN);
		s->csrf.has_secret = 1;
		s->csrf.current = NULL;
		/* The secret lives in the cookie only. */
		s->cookie_dirty = 1;
	}
	if (s->csrf.current == NULL && (rc = mask_token(&s->csrf)) != CRUMB_OK)
		return rc;
	*token = s->csrf.current;
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_csrf_check(crumb_session *s, const char *given)
{
	uint8_t raw[TOKEN_RAW + 3];  /* decode writes up to n*3/4 bytes */
	size_t len, i;

	if (s == NULL)
		return CRUMB_E_INVAL;
	if (!s->csrf.has_secret || given == NULL)
		return CRUMB_E_NOT_FOUND;
	len = strnlen(given, crumb_b64_enclen(TOKEN_RAW) + 1);
	if (len != crumb_b64_enclen(TOKEN_RAW) ||
	    crumb_b64_decode(given, len, raw) != TOKEN_RAW)
		return CRUMB_E_NOT_FOUND;
	for (i = 0; i < CRUMB_CSRF_LEN; i++)
		raw[CRUMB_CSRF_LEN + i] ^= raw[i];
	if (!crumb_ct_equal(raw + CRUMB_CSRF_LEN, CRUMB_CSRF_LEN,
	    s->csrf.secret, CRUMB_CSRF_LEN))
		return CRUMB_E_NOT_FOUND;
	return CRUMB_OK;
}
