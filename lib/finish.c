/*
 * Persisting the server state and emitting Set-Cookie lines.
 *
 * Writes are compare-and-swap on the record's version.  When another
 * request of the same visitor wrote first, the fresher record is loaded
 * and this request's journal replayed on top, so changes to different
 * keys are never lost; crumb_session_atomic() goes further and reruns
 * the handler's read-modify-write.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crumb-private.h"

#define MAX_TRIES 200

static int
store_fail(crumb_session *s, int rc)
{
	return crumb_session_fail(s, rc, crumb_store_msg(s->cfg->store));
}

static void
hash_of(const uint8_t *id, uint8_t *hash)
{
	crumb_sha256(id, CRUMB_ID_LEN, hash);
}

static int
renamed(const crumb_session *s)
{
	return s->has_rec_id && memcmp(s->id, s->rec_id, CRUMB_ID_LEN) != 0;
}

/* The record vanished under us (signed out elsewhere, expired, purged):
 * this request's server changes are dropped, the session ends. */
static void
mark_lost(crumb_session *s)
{
	s->lost = 1;
	s->exists = 0;
	s->has_rec_id = 0;
	cJSON_Delete(s->server.journal);
	s->server.journal = NULL;
}

static void
backoff(int tries)
{
	unsigned char r;
	struct timespec ts;
	int shift = tries < 6 ? tries : 6;

	crumb_nonce(&r, 1);
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(r % (1u << shift) + 1) * 20000L;
	nanosleep(&ts, NULL);
}

/* Back to the stored state, dropping changes not yet written. */
static int
reload(crumb_session *s)
{
	s->loaded = 0;
	return crumb_session_load_record(s);
}

/* Reload the record and replay our journal on it. */
static int
refresh(crumb_session *s)
{
	cJSON *journal = s->server.journal;
	int rc;

	s->server.journal = NULL;
	if ((rc = reload(s)) != CRUMB_OK) {
		cJSON_Delete(journal);
		return rc;
	}
	if (!s->exists) {
		cJSON_Delete(journal);
		mark_lost(s);
		return CRUMB_OK;
	}
	if ((rc = crumb_state_own(&s->server)) == CRUMB_OK)
		rc = crumb_state_replay(s->server.map, journal);
	s->server.journal = journal;
	return rc;
}

/* Under CRUMB_TTL_ON_REQUEST: has the threshold passed since the expiry
 * was last pushed back?  The record's expiry when loaded, else the
 * cookie's (they are kept equal). */
static int
ttl_due(const crumb_session *s)
{
	int64_t expires = s->loaded && s->exists ? s->rec_expires :
	    s->in.expires;

	if (!s->incoming || s->cfg->ttl_policy != CRUMB_TTL_ON_REQUEST)
		return 0;
	return s->now - (expires - crumb_session_ttl(s)) >= s->cfg->ttl_threshold;
}

/* Does a write of the record also push its expiry back?  Not within
 * the threshold: moving the indexed expiry column doubles what a write
 * costs (two pages into the WAL instead of one). */
static int
write_extends(const crumb_session *s)
{
	return s->cfg->ttl_policy == CRUMB_TTL_ON_CHANGE || s->expiry_changed ||
	    ttl_due(s);
}

/* The record now holds the session's state under its current ID. */
static void
written(crumb_session *s, int64_t version, int extended)
{
	crumb_session_set_rec_id(s, s->id);
	s->exists = 1;
	s->version = version;
	s->wrote = 1;
	if (extended) {
		s->rec_expires = s->now + crumb_session_ttl(s);
		s->extended = 1;
	}
	cJSON_Delete(s->server.journal);
	s->server.journal = NULL;
	s->user_dirty = 0;
}

static int
write_update(crumb_session *s, int replay)
{
	crumb_store *st = s->cfg->store;
	uint8_t nhash[CRUMB_HASH_LEN];
	int tries, rc;

	for (tries = 0;; tries++) {
		int rename = renamed(s), extend = write_extends(s);
		char *text = cJSON_PrintUnformatted(s->server.map);

		if (text == NULL)
			return CRUMB_E_NOMEM;
		if (rename)
			hash_of(s->id, nhash);
		rc = st->ops->update(st->ctx, crumb_session_rec_hash(s),
		    rename ? nhash : NULL,
		    s->version, text, strlen(text), s->user, s->now,
		    extend ? s->now + crumb_session_ttl(s) : 0);
		cJSON_free(text);
		if (rc == CRUMB_OK) {
			crumb_scache_forget(s->cfg, crumb_session_rec_hash(s));
			written(s, s->version + 1, extend);
			return CRUMB_OK;
		}
		if (rc == CRUMB_E_NOT_FOUND) {
			mark_lost(s);
			return CRUMB_OK;
		}
		if (rc != CRUMB_E_CONFLICT || !replay)
			return rc == CRUMB_E_CONFLICT ? rc : store_fail(s, rc);
		if (tries == MAX_TRIES)
			return crumb_session_fail(s, CRUMB_E_CONFLICT,
			    "too many concurrent updates");
		backoff(tries);
		if ((rc = refresh(s)) != CRUMB_OK)
			return rc;
		if (s->lost)
			return CRUMB_OK;
	}
}

static int
create_record(crumb_session *s)
{
	crumb_store *st = s->cfg->store;
	uint8_t hash[CRUMB_HASH_LEN];
	char *text;
	int rc;

	/* A new record always gets a new ID: an ID that came from outside
	 * and that the store does not know is never adopted. */
	crumb_random(s->id, CRUMB_ID_LEN);
	s->has_id = 1;
	if ((text = cJSON_PrintUnformatted(s->server.map)) == NULL)
		return CRUMB_E_NOMEM;
	hash_of(s->id, hash);
	rc = st->ops->create(st->ctx, hash, text, strlen(text), s->user, s->now,
	    s->now + crumb_session_ttl(s));
	cJSON_free(text);
	if (rc != CRUMB_OK)
		return store_fail(s, rc);
	written(s, 1, 1);
	s->cookie_dirty = 1;
	return CRUMB_OK;
}

static int
change_id(crumb_session *s)
{
	crumb_store *st = s->cfg->store;
	uint8_t nhash[CRUMB_HASH_LEN];
	int rc;

	hash_of(s->id, nhash);
	rc = st->ops->change_id(st->ctx, crumb_session_rec_hash(s), nhash,
	    s->now);
	if (rc == CRUMB_E_NOT_FOUND) {
		/* Nothing stored under the old ID: nothing to rename. */
		s->has_rec_id = 0;
		s->exists = 0;
		return CRUMB_OK;
	}
	if (rc != CRUMB_OK)
		return store_fail(s, rc);
	crumb_scache_forget(s->cfg, crumb_session_rec_hash(s));
	crumb_session_set_rec_id(s, s->id);
	return CRUMB_OK;
}

/* Delete the record the store knows this session by. */
static int
remove_record(crumb_session *s)
{
	crumb_store *st = s->cfg->store;
	int rc;

	if ((rc = st->ops->remove(st->ctx, crumb_session_rec_hash(s))) !=
	    CRUMB_OK)
		return store_fail(s, rc);
	crumb_scache_forget(s->cfg, crumb_session_rec_hash(s));
	s->has_rec_id = 0;
	return CRUMB_OK;
}

/* Write what changed on the server side.  replay: on a version conflict,
 * reload and replay instead of failing with CRUMB_E_CONFLICT. */
static int
persist(crumb_session *s, int replay)
{
	int rc;

	if (!s->loaded)
		return CRUMB_OK;
	if (s->pending_delete) {
		if ((rc = remove_record(s)) != CRUMB_OK)
			return rc;
		s->pending_delete = 0;
	}
	if (s->exists) {
		if (s->server.journal != NULL || s->user_dirty)
			return write_update(s, replay);
		return renamed(s) ? change_id(s) : CRUMB_OK;
	}
	if (s->server.map->child != NULL || (s->user != NULL && s->user_dirty))
		return create_record(s);
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_save(crumb_session *s)
{
	int rc = crumb_session_usable(s);

	return rc != CRUMB_OK ? rc : persist(s, 1);
}

/* The store locks the record: load, fn and write in one transaction. */
static int
atomic_locked(crumb_session *s, crumb_atomic_fn fn, void *ud)
{
	crumb_store *st = s->cfg->store;
	int rc, fn_rc, unlock_rc;

	if ((rc = st->ops->lock(st->ctx, crumb_session_rec_hash(s))) !=
	    CRUMB_OK)
		return store_fail(s, rc);
	fn_rc = rc = reload(s);
	s->locked = 1;
	if (rc == CRUMB_OK && !s->lost)
		fn_rc = rc = fn(s, ud);
	if (rc == CRUMB_OK)
		rc = persist(s, 0);
	s->locked = 0;
	unlock_rc = st->ops->unlock(st->ctx, rc == CRUMB_OK);
	if (rc == CRUMB_OK && unlock_rc != CRUMB_OK)
		rc = store_fail(s, unlock_rc);
	if (rc != CRUMB_OK) {
		/* Nothing was committed: the session shows the store again. */
		reload(s);
		return fn_rc != CRUMB_OK ? fn_rc : rc;
	}
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_atomic(crumb_session *s, crumb_atomic_fn fn, void *ud)
{
	crumb_store *st;
	int tries, rc;

	if (fn == NULL)
		return CRUMB_E_INVAL;
	if ((rc = crumb_session_usable(s)) != CRUMB_OK)
		return rc;
	if ((st = s->cfg->store) == NULL)
		return crumb_session_fail(s, CRUMB_E_STATE, "no store configured");
	/* Earlier changes of this request go first, on their own. */
	if ((rc = persist(s, 1)) != CRUMB_OK)
		return rc;
	if (s->lost)
		return CRUMB_E_INVALIDATED;
	/* A record that may exist is read inside the locked transaction
	 * only: no separate read before it.  A new session cannot
	 * conflict: the lock-free path below serves it. */
	if (s->has_rec_id && !s->pending_delete && st->ops->lock != NULL &&
	    st->ops->unlock != NULL)
		return atomic_locked(s, fn, ud);
	if ((rc = crumb_session_load(s)) != CRUMB_OK)
		return rc;
	for (tries = 0; tries < MAX_TRIES; tries++) {
		if (s->lost)
			return CRUMB_E_INVALIDATED;
		if ((rc = fn(s, ud)) != 0) {
			reload(s);      /* undo fn's changes */
			return rc;
		}
		rc = persist(s, 0);
		if (rc != CRUMB_E_CONFLICT)
			return rc;
		backoff(tries);
		if ((rc = reload(s)) != CRUMB_OK)
			return rc;
	}
	return crumb_session_fail(s, CRUMB_E_CONFLICT,
	    "too many concurrent updates");
}

/* The session cookie's Set-Cookie line, with the configured attributes;
 * Max-Age only for a persistent cookie (or with expire set, as 0). */
static void
session_line(crumb_session *s, crumb_buf *b, const char *value,
    int64_t max_age, int expire)
{
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
	int rc = seal(s, (cJSON *)client, s->now + crumb_session_ttl(s), &value);

	free(value);
	return rc;
}

static int
finish_invalidated(crumb_session *s, crumb_buf *b)
{
	int rc;

	if (s->has_rec_id && s->cfg->store != NULL &&
	    (rc = remove_record(s)) != CRUMB_OK)
		return rc;
	if (s->incoming)
		session_line(s, b, "", 0, 1);
	return CRUMB_OK;
}

/* Without writing the record: rename it if the ID was cycled, and push
 * its expiry back when extend is set. */
static int
blind_update(crumb_session *s, int extend)
{
	crumb_store *st = s->cfg->store;
	int rc;

	if (st == NULL || !s->has_rec_id)
		return CRUMB_OK;
	if (renamed(s) && (rc = change_id(s)) != CRUMB_OK)
		return rc;
	if (!s->has_rec_id || !extend)
		return CRUMB_OK;
	rc = st->ops->touch(st->ctx, crumb_session_rec_hash(s), s->now,
	    s->now + crumb_session_ttl(s));
	if (rc != CRUMB_OK && rc != CRUMB_E_NOT_FOUND)
		return store_fail(s, rc);
	return CRUMB_OK;
}

static int
finish_live(crumb_session *s, crumb_buf *b)
{
	char *value = NULL;
	int64_t expires;
	int rc, emit, extend;

	if ((rc = persist(s, 1)) != CRUMB_OK)
		return rc;
	if (s->lost) {
		if (s->incoming)
			session_line(s, b, "", 0, 1);
		return CRUMB_OK;
	}
	/* A new expiry when a write pushed it back, the TTL is due for
	 * extension or changed, or the session is new.  Otherwise the
	 * cookie keeps the expiry it had (which the record shares), and a
	 * change of the client state alone needs no store at all.  The
	 * cookie is only sent when something in it changes. */
	extend = s->extended || (!s->wrote && ttl_due(s)) ||
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
	    (rc = blind_update(s, extend && s->incoming)) != CRUMB_OK)
		return rc;
	expires = extend ? s->now + crumb_session_ttl(s) :
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
