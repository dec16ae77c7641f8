/*
 * Turning the session into Set-Cookie lines: the session cookie sealed
 * with its attributes, the invalidation cookie, and the queued cookies.
 * What is stored goes through record.c first.
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

/* The session cookie's Set-Cookie line, with the configured attributes;
 * Max-Age only for a persistent cookie (or with expire set, as 0), and
 * within 0..CRUMB_TTL_MAX whatever the clock and the store said. */
static void
session_line(crumb_session *s, crumb_buf *b, const char *value,
    int64_t max_age, int expire)
{
	if (max_age < 0)
		max_age = 0;
	if (max_age > CRUMB_TTL_MAX)
		max_age = CRUMB_TTL_MAX;
	crumb_set_cookie_line(b, crumb_cookie_name(s->cfg), value,
	    expire ? 0 : max_age, expire || crumb_session_persistent(s),
	    crumb_cookie_path(s->cfg), crumb_cookie_domain(s->cfg),
	    crumb_cookie_flags(s->cfg));
}

/* Space left for the session cookie's value within CRUMB_COOKIE_MAX. */
static size_t
value_room(crumb_session *s)
{
	crumb_buf b = { 0 };
	size_t used;

	session_line(s, &b, "", crumb_session_ttl(s), 0);
	used = b.failed ? CRUMB_COOKIE_MAX : b.len - strlen("Set-Cookie: \r\n");
	crumb_buf_release(&b);
	return used >= CRUMB_COOKIE_MAX ? 0 : CRUMB_COOKIE_MAX - used;
}

static int
seal(crumb_session *s, cJSON *client, int64_t expires, char **value)
{
	crumb_payload p;

	memset(&p, 0, sizeof(p));
	crumb_session_ensure_id(s);
	memcpy(p.id, s->id, CRUMB_ID_LEN);
	p.has_id = 1;
	p.created = s->created;
	p.expires = expires;
	p.ttl = s->ttl;
	p.persistent = s->persistent;
	crumb_csrf_put(&s->csrf, &p);
	p.client = client;
	return crumb_envelope_seal(s->cfg, &p, value_room(s), value);
}

int
crumb_session_client_fits(crumb_session *s, const cJSON *client)
{
	char *value = NULL;
	int rc = seal(s, (cJSON *)client, crumb_record_expiry(s), &value);

	free(value);
	return rc;
}

static int
finish_invalidated(crumb_session *s, crumb_buf *b)
{
	int rc;

	if ((rc = crumb_record_remove(s)) != CRUMB_OK)
		return rc;
	if (s->incoming)
		session_line(s, b, "", 0, 1);
	return CRUMB_OK;
}

static int
finish_live(crumb_session *s, crumb_buf *b)
{
	char *value = NULL;
	int64_t expires;
	int rc, emit, extend;

	if ((rc = crumb_record_persist(s, 1)) != CRUMB_OK)
		return rc;
	if (s->lost) {
		if (s->incoming)
			session_line(s, b, "", 0, 1);
		return CRUMB_OK;
	}
	/* The label goes on the record just written (user.c). */
	if ((rc = crumb_session_label_store(s)) != CRUMB_OK)
		return rc;
	/* A new expiry when a write pushed it back, the TTL is due for
	 * extension or changed, or the session is new.  Otherwise the
	 * cookie keeps the expiry it had (which the record shares), and a
	 * change of the client state alone needs no store at all.  The
	 * cookie is only sent when something in it changes. */
	extend = s->extended || (!s->wrote && crumb_record_ttl_due(s)) ||
	    s->expiry_changed || !s->incoming;
	emit = s->cookie_dirty || s->client.modified || extend;
	/* A visitor with nothing stored anywhere gets no cookie.  A CSRF
	 * secret counts: it is kept in the cookie only. */
	if (!s->incoming && !s->exists && !s->csrf.has_secret &&
	    (s->client.map == NULL || s->client.map->child == NULL))
		emit = 0;
	if (!emit)
		return CRUMB_OK;
	if (!s->wrote && (!s->loaded || s->exists) &&
	    (rc = crumb_record_touch(s, extend && s->incoming)) != CRUMB_OK)
		return rc;
	expires = extend ? crumb_record_expiry(s) :
	    s->wrote ? s->rec_expires : s->in.expires;
	if ((rc = seal(s, s->client.map, expires, &value)) != CRUMB_OK)
		return crumb_session_fail(s, rc, rc == CRUMB_E_TOO_LARGE ?
		    "session cookie would exceed 4096 bytes" : NULL);
	session_line(s, b, value, expires - s->now, 0);
	free(value);
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_finish(crumb_session *s, crumb_write_fn write, void *ud)
{
	crumb_buf b = { 0 };
	crumb_out_cookie *c;
	int rc;

	if (s == NULL || write == NULL)
		return CRUMB_E_INVAL;
	if (s->finished)
		return CRUMB_E_STATE;
	s->finished = 1;
	/* After a store failure nothing written would be true. */
	if (s->store_err != CRUMB_OK)
		return s->store_err;
	if (s->cfg->store == NULL)
		return crumb_session_fail(s, CRUMB_E_STATE, "no store configured");
	rc = s->invalidated ? finish_invalidated(s, &b) : finish_live(s, &b);
	if (rc != CRUMB_OK) {
		crumb_buf_release(&b);
		return rc;
	}
	for (c = s->queued; c != NULL; c = c->next)
		crumb_buf_puts(&b, c->line);
	if (b.failed) {
		crumb_buf_release(&b);
		return CRUMB_E_NOMEM;
	}
	if (b.len > 0 && write(b.data, b.len, ud) != 0)
		rc = crumb_session_fail(s, CRUMB_E_IO, NULL);
	crumb_buf_release(&b);
	return rc;
}

static int
append(const char *buf, size_t len, void *ud)
{
	crumb_buf_add(ud, buf, len);
	return ((crumb_buf *)ud)->failed ? -1 : 0;
}

CRUMB_API int
crumb_session_finish_str(crumb_session *s, char **headers)
{
	crumb_buf b = { 0 };
	int rc;

	if (headers == NULL)
		return CRUMB_E_INVAL;
	*headers = NULL;
	crumb_buf_add(&b, "", 0);
	if ((rc = crumb_session_finish(s, append, &b)) != CRUMB_OK ||
	    b.failed) {
		crumb_buf_release(&b);
		return rc != CRUMB_OK ? rc : CRUMB_E_NOMEM;
	}
	*headers = b.data;
	return CRUMB_OK;
}
