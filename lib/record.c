/*
 * The session's stored record: load, create, compare-and-swap update,
 * rename, remove, atomic read-modify-write, and the lifetime of what the
 * loaded record hands out.
 *
 * Writes are compare-and-swap on the record's version.  When another
 * request of the same visitor wrote first, the fresher record is loaded
 * and this request's journal replayed on top, so changes to different
 * keys are never lost; crumb_session_atomic() goes further and reruns
 * the handler's read-modify-write.
 *
 * A reload replaces the server map and the user while the program may
 * still hold values borrowed from them, so a map or user something was
 * lent out of is kept until the session is freed instead of freed at
 * the reload.  A store failure is kept too: the request cannot stand
 * behind anything it would write after it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crumb-private.h"

#define MAX_TRIES 200

struct crumb_kept {
	cJSON *map;              /* own tree, or NULL */
	crumb_shared *shared;    /* reference to a cached tree, or NULL */
	char *user;
	struct crumb_kept *next;
};

/* Make sure n nodes are ready for crumb_record_keep, so that keeping
 * never fails halfway through a reload. */
int
crumb_record_reserve(crumb_session *s, unsigned n)
{
	while (s->n_spare < n) {
		crumb_kept *k = calloc(1, sizeof(*k));

		if (k == NULL)
			return CRUMB_E_NOMEM;
		k->next = s->spare;
		s->spare = k;
		s->n_spare++;
	}
	return CRUMB_OK;
}

void
crumb_record_keep(crumb_session *s, cJSON *map, crumb_shared *sh, char *user)
{
	crumb_kept *k = s->spare;

	if (k == NULL) {
		/* Not reserved: better a leak than a dangling borrow. */
		if ((k = calloc(1, sizeof(*k))) == NULL)
			return;
	} else {
		s->spare = k->next;
		s->n_spare--;
	}
	k->map = map;
	k->shared = sh;
	k->user = user;
	k->next = s->kept;
	s->kept = k;
}

void
crumb_record_release(crumb_session *s)
{
	crumb_kept *k, *next;

	for (k = s->kept; k != NULL; k = next) {
		next = k->next;
		cJSON_Delete(k->map);
		crumb_shared_release(k->shared);
		free(k->user);
		free(k);
	}
	for (k = s->spare; k != NULL; k = next) {
		next = k->next;
		free(k);
	}
	s->kept = s->spare = NULL;
	s->n_spare = 0;
}

/* A store call failed: the error answers for the rest of the request. */
static int
store_fail(crumb_session *s, int rc)
{
	if (s->store_err == CRUMB_OK)
		s->store_err = rc;
	return crumb_session_fail(s, rc, crumb_store_msg(s->cfg->store));
}

int
crumb_record_usable(const crumb_session *s)
{
	int rc = crumb_session_usable(s);

	if (rc != CRUMB_OK)
		return rc;
	/* begin refuses a config without a store; this is one whose store
	 * was taken away during the request. */
	if (s->cfg->store == NULL)
		return CRUMB_E_STATE;
	return s->store_err;
}

/* The store knows the record by id from now on. */
void
crumb_record_set_id(crumb_session *s, const uint8_t *id)
{
	memcpy(s->rec_id, id, CRUMB_ID_LEN);
	s->has_rec_id = 1;
	s->rec_hash_ok = 0;
}

/* The SHA-256 of rec_id, hashed once per ID: a request asks the store
 * by it several times (load, lock, update). */
const uint8_t *
crumb_record_hash(crumb_session *s)
{
	if (!s->rec_hash_ok) {
		crumb_sha256(s->rec_id, CRUMB_ID_LEN, s->rec_hash);
		s->rec_hash_ok = 1;
	}
	return s->rec_hash;
}

static void
hash_of(const uint8_t *id, uint8_t *hash)
{
	crumb_sha256(id, CRUMB_ID_LEN, hash);
}

static int64_t
clamp_time(int64_t t)
{
	return t < 0 ? 0 : t > CRUMB_TIME_MAX ? CRUMB_TIME_MAX : t;
}

/* The end of a TTL window starting now, never past the absolute
 * lifetime. */
int64_t
crumb_record_expiry(const crumb_session *s)
{
	int64_t e = s->now + crumb_session_ttl(s);

	if (s->cfg->absolute > 0 && s->created + s->cfg->absolute < e)
		e = s->created + s->cfg->absolute;
	return e;
}

/* Has the record outlived the absolute lifetime, whatever the cookie
 * says about when the session started? */
static int
too_old(const crumb_session *s, int64_t created)
{
	return s->cfg->absolute > 0 &&
	    clamp_time(created) <= s->now - s->cfg->absolute;
}

/* Replace the server map with the stored record (or an empty map). */
int
crumb_record_load(crumb_session *s)
{
	crumb_store *st = s->cfg->store;
	crumb_record rec;
	crumb_shared *shared = NULL;
	cJSON *map = NULL;
	char *user = NULL;
	int rc;

	if (s->store_err != CRUMB_OK)
		return s->store_err;
	if ((rc = crumb_record_reserve(s, 2)) != CRUMB_OK)
		return rc;
	s->exists = 0;
	if (s->has_rec_id && !s->pending_delete) {
		memset(&rec, 0, sizeof(rec));
		rc = st->ops->load(st->ctx, crumb_record_hash(s), s->now, &rec);
		if (rc == CRUMB_OK && too_old(s, rec.created)) {
			/* As if expired; finish removes it. */
			s->pending_delete = 1;
		} else if (rc == CRUMB_OK) {
			if (rec.user != NULL &&
			    (user = crumb_strdup(rec.user)) == NULL)
				return CRUMB_E_NOMEM;
			rc = crumb_scache_parse(s->cfg, crumb_record_hash(s),
			    rec.state, rec.state_len, &map, &shared);
			if (rc != CRUMB_OK) {
				free(user);
				return rc != CRUMB_E_CORRUPT ? rc :
				    crumb_session_fail(s, s->store_err =
				    CRUMB_E_CORRUPT,
				    "stored state is not a JSON object");
			}
			s->exists = 1;
			s->version = rec.version;
			s->rec_expires = clamp_time(rec.expires);
			if (clamp_time(rec.created) < s->created)
				s->created = clamp_time(rec.created);
			crumb_session_label_loaded(s, rec.label);
		} else if (rc != CRUMB_E_NOT_FOUND) {
			return store_fail(s, rc);
		}
	}
	if (map == NULL && (map = cJSON_CreateObject()) == NULL) {
		free(user);
		return CRUMB_E_NOMEM;
	}
	cJSON_Delete(s->server.journal);
	s->server.journal = NULL;
	crumb_state_set_map(&s->server, map, shared);
	if (!s->user_changed) {
		if (s->user_lent)
			crumb_record_keep(s, NULL, NULL, s->user);
		else
			free(s->user);
		s->user = user;
		s->user_lent = 0;
	} else {
		free(user);
	}
	s->loaded = 1;
	return CRUMB_OK;
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
	return crumb_record_load(s);
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

/* Is a new expiry due?  When the one we have runs past the absolute
 * lifetime (it must be pulled back), and under CRUMB_TTL_ON_REQUEST when
 * the threshold has passed since it was last pushed back, unless the
 * absolute lifetime leaves nothing to push back.  The record's expiry
 * when loaded, else the cookie's (they are kept equal). */
int
crumb_record_ttl_due(const crumb_session *s)
{
	int64_t expires = s->loaded && s->exists ? s->rec_expires :
	    s->in.expires;

	if (s->incoming && s->cfg->absolute > 0 &&
	    expires > s->created + s->cfg->absolute)
		return 1;
	if (!s->incoming || s->cfg->ttl_policy != CRUMB_TTL_ON_REQUEST ||
	    crumb_record_expiry(s) <= expires)
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
	    crumb_record_ttl_due(s);
}

/* The record now holds the session's state under its current ID. */
static void
written(crumb_session *s, int64_t version, int extended)
{
	crumb_record_set_id(s, s->id);
	s->exists = 1;
	s->version = version;
	s->wrote = 1;
	if (extended) {
		s->rec_expires = crumb_record_expiry(s);
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
		rc = st->ops->update(st->ctx, crumb_record_hash(s),
		    rename ? nhash : NULL,
		    s->version, text, strlen(text), s->user, s->now,
		    extend ? crumb_record_expiry(s) : 0);
		cJSON_free(text);
		if (rc == CRUMB_OK) {
			crumb_scache_forget(s->cfg, crumb_record_hash(s));
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
	    crumb_record_expiry(s));
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
	rc = st->ops->change_id(st->ctx, crumb_record_hash(s), nhash, s->now);
	if (rc == CRUMB_E_NOT_FOUND) {
		/* Nothing stored under the old ID: nothing to rename. */
		s->has_rec_id = 0;
		s->exists = 0;
		return CRUMB_OK;
	}
	if (rc != CRUMB_OK)
		return store_fail(s, rc);
	crumb_scache_forget(s->cfg, crumb_record_hash(s));
	crumb_record_set_id(s, s->id);
	return CRUMB_OK;
}

/* Delete the record the store knows this session by. */
int
crumb_record_remove(crumb_session *s)
{
	crumb_store *st = s->cfg->store;
	int rc;

	if (!s->has_rec_id)
		return CRUMB_OK;
	if ((rc = st->ops->remove(st->ctx, crumb_record_hash(s))) != CRUMB_OK)
		return store_fail(s, rc);
	crumb_scache_forget(s->cfg, crumb_record_hash(s));
	s->has_rec_id = 0;
	return CRUMB_OK;
}

/* Write what changed on the server side.  replay: on a version conflict,
 * reload and replay instead of failing with CRUMB_E_CONFLICT. */
int
crumb_record_persist(crumb_session *s, int replay)
{
	int rc;

	if (!s->loaded)
		return CRUMB_OK;
	if (s->pending_delete) {
		if ((rc = crumb_record_remove(s)) != CRUMB_OK)
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

/* Without writing the record: rename it if the ID was cycled, and push
 * its expiry back when extend is set. */
int
crumb_record_touch(crumb_session *s, int extend)
{
	crumb_store *st = s->cfg->store;
	int rc;

	if (!s->has_rec_id)
		return CRUMB_OK;
	if (renamed(s) && (rc = change_id(s)) != CRUMB_OK)
		return rc;
	if (!s->has_rec_id || !extend)
		return CRUMB_OK;
	rc = st->ops->touch(st->ctx, crumb_record_hash(s), s->now,
	    crumb_record_expiry(s));
	if (rc != CRUMB_OK && rc != CRUMB_E_NOT_FOUND)
		return store_fail(s, rc);
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_save(crumb_session *s)
{
	int rc = crumb_record_usable(s);

	return rc != CRUMB_OK ? rc : crumb_record_persist(s, 1);
}

/* The store locks the record: load, fn and write in one transaction. */
static int
atomic_locked(crumb_session *s, crumb_atomic_fn fn, void *ud)
{
	crumb_store *st = s->cfg->store;
	int rc, fn_rc, unlock_rc;

	if ((rc = st->ops->lock(st->ctx, crumb_record_hash(s))) != CRUMB_OK)
		return store_fail(s, rc);
	fn_rc = rc = reload(s);
	s->locked = 1;
	if (rc == CRUMB_OK && !s->lost)
		fn_rc = rc = fn(s, ud);
	if (rc == CRUMB_OK)
		rc = crumb_record_persist(s, 0);
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
	if ((rc = crumb_record_usable(s)) != CRUMB_OK)
		return rc;
	st = s->cfg->store;
	/* Earlier changes of this request go first, on their own. */
	if ((rc = crumb_record_persist(s, 1)) != CRUMB_OK)
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
		rc = crumb_record_persist(s, 0);
		if (rc != CRUMB_E_CONFLICT)
			return rc;
		backoff(tries);
		if ((rc = reload(s)) != CRUMB_OK)
			return rc;
	}
	return crumb_session_fail(s, CRUMB_E_CONFLICT,
	    "too many concurrent updates");
}
