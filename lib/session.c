/*
 * A request's session: begin (read the cookie) and the operations on
 * the session as a whole.  The stored record is record.c's; emitting
 * headers is finish.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

int
crumb_session_fail(crumb_session *s, int err, const char *detail)
{
	crumb_fmt(s->errmsg, sizeof(s->errmsg), "%s%s%s", crumb_strerror(err),
	    detail != NULL && *detail != '\0' ? ": " : "",
	    detail != NULL ? detail : "");
	return err;
}

int64_t
crumb_session_ttl(const crumb_session *s)
{
	return s->ttl > 0 ? s->ttl : s->cfg->ttl;
}

int
crumb_session_persistent(const crumb_session *s)
{
	return s->persistent >= 0 ? s->persistent : s->cfg->persistent;
}

/* Is a decoded cookie still alive? */
static int
payload_alive(const crumb_session *s, const crumb_payload *p)
{
	if (p->expires <= s->now)
		return 0;
	if (s->cfg->absolute > 0 && s->now - p->created >= s->cfg->absolute)
		return 0;
	return 1;
}

/* Take the first session cookie that opens and is alive: a browser sends
 * the most specific path first, and an attacker's extra copies fail. */
static int
read_session_cookie(crumb_session *s)
{
	const char *name = crumb_cookie_name(s->cfg);
	size_t i;
	int rechecked = 0;

	for (i = 0; i < s->jar.n; i++) {
		crumb_payload p;
		int old = 0, rc;

		if (strcmp(s->jar.pairs[i].name, name) != 0)
			continue;
		rc = crumb_envelope_open(s->cfg, s->jar.pairs[i].value, &p, &old);
		/* A key we do not hold may be one that another worker loaded
		 * already: look at the key files now (once per request; a
		 * look costs a stat() per file and reads only what changed). */
		if (rc == CRUMB_E_NOT_FOUND && !rechecked) {
			rechecked = 1;
			if (crumb_keys_poll(s->cfg, 1))
				rc = crumb_envelope_open(s->cfg,
				    s->jar.pairs[i].value, &p, &old);
		}
		if (rc == CRUMB_E_NOMEM)
			return rc;
		if (rc != CRUMB_OK || !payload_alive(s, &p)) {
			cJSON_Delete(p.client);
			continue;
		}
		s->in = p;
		s->incoming = 1;
		s->old_key = old;
		return CRUMB_OK;
	}
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_begin(crumb_config *cfg, const char *cookie_header,
    crumb_session **out)
{
	crumb_session *s;
	int rc;

	if (out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	if (cfg == NULL)
		return CRUMB_E_INVAL;
	/* A rotated key directory is picked up without a restart. */
	(void)crumb_keys_poll(cfg, 0);
	if (!cfg->has_current)
		return CRUMB_E_NOKEY;
	if (cfg->store == NULL)
		return CRUMB_E_STATE;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CRUMB_E_NOMEM;
	s->cfg = cfg;
	s->now = crumb_now(cfg);
	s->persistent = -1;
	s->in.persistent = -1;
	s->server.s = s->client.s = s;
	s->server.server = 1;
	if ((rc = crumb_jar_parse(&s->jar, cookie_header)) != CRUMB_OK ||
	    (rc = read_session_cookie(s)) != CRUMB_OK)
		goto fail;
	if (s->incoming) {
		s->client.map = s->in.client;
		s->in.client = NULL;
		if (s->in.has_id) {
			memcpy(s->id, s->in.id, CRUMB_ID_LEN);
			crumb_record_set_id(s, s->in.id);
			s->has_id = 1;
		}
		s->ttl = s->in.ttl;
		s->persistent = s->in.persistent;
		s->created = s->in.created;
		crumb_csrf_adopt(&s->csrf, &s->in);
		/* Re-seal under the current key. */
		s->cookie_dirty = s->old_key;
	} else {
		s->created = s->now;
	}
	*out = s;
	return CRUMB_OK;
fail:
	crumb_session_free(s);
	return rc;
}

CRUMB_API int
crumb_session_begin_env(crumb_config *cfg, crumb_session **out)
{
	return crumb_session_begin(cfg, getenv("HTTP_COOKIE"), out);
}

CRUMB_API void
crumb_session_free(crumb_session *s)
{
	crumb_out_cookie *c, *next;

	if (s == NULL)
		return;
	crumb_jar_release(&s->jar);
	cJSON_Delete(s->in.client);
	crumb_state_reset(&s->server);
	crumb_state_reset(&s->client);
	crumb_record_release(s);
	crumb_csrf_release(&s->csrf);
	for (c = s->queued; c != NULL; c = next) {
		next = c->next;
		free(c->line);
		free(c->name);
		free(c);
	}
	free(s->user);
	free(s);
}

CRUMB_API crumb_state *
crumb_session_server(crumb_session *s)
{
	return s != NULL ? &s->server : NULL;
}

CRUMB_API crumb_state *
crumb_session_client(crumb_session *s)
{
	return s != NULL ? &s->client : NULL;
}

/* May the session still be changed? */
int
crumb_session_usable(const crumb_session *s)
{
	if (s == NULL)
		return CRUMB_E_INVAL;
	if (s->finished)
		return CRUMB_E_STATE;
	if (s->invalidated)
		return CRUMB_E_INVALIDATED;
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_load(crumb_session *s)
{
	int rc = crumb_record_usable(s);

	if (rc != CRUMB_OK)
		return rc;
	return s->loaded ? CRUMB_OK : crumb_record_load(s);
}

CRUMB_API int
crumb_session_clear(crumb_session *s)
{
	int rc = crumb_session_usable(s);

	return rc != CRUMB_OK ? rc : crumb_state_clear(&s->server);
}

CRUMB_API int
crumb_session_delete(crumb_session *s)
{
	int rc = crumb_session_load(s);

	if (rc != CRUMB_OK)
		return rc;
	/* Drop the record (finish removes it) and start over empty. */
	if (s->exists)
		s->pending_delete = 1;
	s->exists = 0;
	cJSON_Delete(s->server.journal);
	s->server.journal = NULL;
	if (s->server.map->child != NULL) {
		cJSON *fresh;

		if ((rc = crumb_record_reserve(s, 1)) != CRUMB_OK)
			return rc;
		if ((fresh = cJSON_CreateObject()) == NULL)
			return CRUMB_E_NOMEM;
		crumb_state_set_map(&s->server, fresh, NULL);
	}
	s->deleted = 1;
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_invalidate(crumb_session *s)
{
	int rc = crumb_session_usable(s);

	if (rc != CRUMB_OK)
		return rc;
	s->invalidated = 1;
	crumb_csrf_retire(&s->csrf);
	return CRUMB_OK;
}

int
crumb_session_ensure_id(crumb_session *s)
{
	if (!s->has_id) {
		crumb_random(s->id, CRUMB_ID_LEN);
		s->has_id = 1;
	}
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_cycle_id(crumb_session *s)
{
	int rc = crumb_session_usable(s);

	if (rc != CRUMB_OK)
		return rc;
	/* rec_id keeps the ID the store knows until finish renames it. */
	crumb_random(s->id, CRUMB_ID_LEN);
	s->has_id = 1;
	s->renewed = 1;
	s->cookie_dirty = 1;
	/* A token handed out before (say, before sign-in) stops working. */
	crumb_csrf_retire(&s->csrf);
	return CRUMB_OK;
}

/* A user name goes into an indexed column and into listings: 1 to
 * CRUMB_USER_MAX bytes of UTF-8 without control characters. */
int
crumb_user_valid(const char *user)
{
	size_t n = strlen(user), i;

	if (n == 0 || n > CRUMB_USER_MAX || !crumb_utf8_valid(user, n))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
			return 0;
	return 1;
}

CRUMB_API int
crumb_session_set_user(crumb_session *s, const char *user)
{
	char *copy = NULL;
	int rc;

	if (s == NULL || (user != NULL && !crumb_user_valid(user)))
		return CRUMB_E_INVAL;
	if ((rc = crumb_session_load(s)) != CRUMB_OK)
		return rc;
	if ((user == NULL && s->user == NULL) ||
	    (user != NULL && s->user != NULL && strcmp(user, s->user) == 0))
		return CRUMB_OK;
	if (user != NULL && (copy = crumb_strdup(user)) == NULL)
		return CRUMB_E_NOMEM;
	free(s->user);
	s->user = copy;
	s->user_lent = 0;
	s->user_changed = 1;
	s->user_dirty = 1;
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_get_user(crumb_session *s, const char **user)
{
	int rc;

	if (user == NULL)
		return CRUMB_E_INVAL;
	*user = NULL;
	if ((rc = crumb_session_load(s)) != CRUMB_OK)
		return rc;
	*user = s->user;
	s->user_lent = 1;
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_set_expiry(crumb_session *s, int64_t ttl, int persistent)
{
	int rc = crumb_session_usable(s);

	if (rc != CRUMB_OK)
		return rc;
	if (ttl < 0 || ttl > CRUMB_TTL_MAX)
		return CRUMB_E_INVAL;
	s->ttl = ttl;
	s->persistent = persistent != 0;
	s->expiry_changed = 1;
	s->cookie_dirty = 1;
	return CRUMB_OK;
}

CRUMB_API crumb_status
crumb_session_status(const crumb_session *s)
{
	if (s == NULL)
		return CRUMB_STATUS_UNCHANGED;
	if (s->invalidated || s->lost)
		return CRUMB_STATUS_INVALIDATED;
	if (s->renewed)
		return CRUMB_STATUS_RENEWED;
	if (s->server.modified || s->client.modified || s->user_changed ||
	    s->deleted || s->expiry_changed)
		return CRUMB_STATUS_CHANGED;
	return CRUMB_STATUS_UNCHANGED;
}

CRUMB_API int
crumb_session_is_modified(const crumb_session *s)
{
	return crumb_session_status(s) != CRUMB_STATUS_UNCHANGED;
}

CRUMB_API int
crumb_session_is_new(const crumb_session *s)
{
	return s == NULL || !s->incoming;
}

CRUMB_API const char *
crumb_session_errmsg(const crumb_session *s)
{
	return s != NULL ? s->errmsg : "";
}
