/*
 * Sessions of a user: list them, mark the current one, sign out one,
 * the others or all of them, and the short label each carries in a
 * listing.
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

CRUMB_API int
crumb_user_logout_all(crumb_config *cfg, const char *user, uint64_t *deleted)
{
	uint64_t n = 0;
	int rc;

	if (deleted != NULL)
		*deleted = 0;
	if (cfg == NULL || user == NULL || cfg->store == NULL)
		return CRUMB_E_INVAL;
	rc = cfg->store->ops->user_remove(cfg->store->ctx, user, &n);
	if (deleted != NULL)
		*deleted = n;
	return rc;
}

CRUMB_API int
crumb_user_sessions(crumb_config *cfg, const char *user, crumb_info_fn fn,
    void *ud)
{
	if (cfg == NULL || user == NULL || fn == NULL || cfg->store == NULL)
		return CRUMB_E_INVAL;
	return cfg->store->ops->user_list(cfg->store->ctx, user, crumb_now(cfg),
	    fn, ud);
}

/* 64 hex digits (either case) into CRUMB_HASH_LEN bytes; 0 when hex is
 * anything else. */
int
crumb_hash_parse(const char *hex, uint8_t *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < CRUMB_HASH_LEN; i++) {
		if ((hi = crumb_hexval(hex[2 * i])) < 0 ||
		    (lo = crumb_hexval(hex[2 * i + 1])) < 0)
			return 0;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * CRUMB_HASH_LEN] == '\0';
}

CRUMB_API int
crumb_session_is_current(crumb_session *s, const crumb_session_info *info)
{
	uint8_t hash[CRUMB_HASH_LEN];

	if (s == NULL || info == NULL || !s->has_rec_id ||
	    !crumb_hash_parse(info->id_hash, hash))
		return 0;
	return memcmp(hash, crumb_record_hash(s), CRUMB_HASH_LEN) == 0;
}

#define REVOKE_TRIES 8

/*
 * Sign out the record of hash if it is user's.  A plain load, check and
 * remove would delete whatever holds the hash by the time of the
 * remove, even a record given to another user in between; so the
 * record is ended first by a compare-and-swap on the version just read
 * (expiry now, no user, empty state), which fails when anything changed
 * it, and only the ended record is deleted.
 */
static int
revoke_hash(crumb_config *cfg, const char *user, const uint8_t *hash,
    int64_t now)
{
	crumb_store *st = cfg->store;
	crumb_record rec;
	int tries, rc;

	for (tries = 0; tries < REVOKE_TRIES; tries++) {
		memset(&rec, 0, sizeof(rec));
		if ((rc = st->ops->load(st->ctx, hash, now, &rec)) != CRUMB_OK)
			return rc;
		if (rec.user == NULL || strcmp(rec.user, user) != 0)
			return CRUMB_E_NOT_FOUND;
		rc = st->ops->update(st->ctx, hash, NULL, rec.version, "{}", 2,
		    NULL, now, now);
		if (rc == CRUMB_E_CONFLICT)
			continue;
		if (rc != CRUMB_OK)
			return rc;
		crumb_scache_forget(cfg, hash);
		/* No request can use it any more: a failed delete leaves
		 * an expired record to the purge. */
		(void)st->ops->remove(st->ctx, hash);
		return CRUMB_OK;
	}
	return CRUMB_E_CONFLICT;
}

CRUMB_API int
crumb_user_revoke(crumb_config *cfg, const char *user, const char *id_hash)
{
	uint8_t hash[CRUMB_HASH_LEN];

	if (cfg == NULL || user == NULL || id_hash == NULL ||
	    cfg->store == NULL || !crumb_hash_parse(id_hash, hash))
		return CRUMB_E_INVAL;
	return revoke_hash(cfg, user, hash, crumb_now(cfg));
}

/* Hashes of a listing, but the one to keep. */
struct others {
	const uint8_t *keep;     /* NULL: none */
	uint8_t (*hash)[CRUMB_HASH_LEN];
	size_t n, cap;
	int nomem;
};

static int
collect(const crumb_session_info *info, void *ud)
{
	struct others *o = ud;
	uint8_t h[CRUMB_HASH_LEN];

	if (!crumb_hash_parse(info->id_hash, h) ||
	    (o->keep != NULL && memcmp(h, o->keep, CRUMB_HASH_LEN) == 0))
		return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 8;
		void *p = realloc(o->hash, cap * sizeof(*o->hash));

		if (p == NULL) {
			o->nomem = 1;
			return 1;
		}
		o->hash = p;
		o->cap = cap;
	}
	memcpy(o->hash[o->n++], h, CRUMB_HASH_LEN);
	return 0;
}

/* A session renamed between a listing and its revoke shows up in the
 * next listing under its new hash. */
#define OTHERS_PASSES 3

/* Revoke every listed session of the user but the one kept; stops at
 * the first store failure. */
static int
revoke_others(crumb_session *s, struct others *o, uint64_t *n)
{
	crumb_store *st = s->cfg->store;
	int pass, rc = CRUMB_OK;
	size_t i;

	for (pass = 0; pass < OTHERS_PASSES; pass++) {
		o->n = 0;
		rc = st->ops->user_list(st->ctx, s->user, s->now, collect, o);
		if (rc != CRUMB_OK || o->nomem || o->n == 0)
			break;
		for (i = 0; i < o->n; i++) {
			rc = revoke_hash(s->cfg, s->user, o->hash[i], s->now);
			if (rc == CRUMB_OK)
				(*n)++;
			else if (rc != CRUMB_E_NOT_FOUND)
				return rc;
		}
		rc = CRUMB_OK;
	}
	return o->nomem ? CRUMB_E_NOMEM : rc;
}

CRUMB_API int
crumb_session_logout_others(crumb_session *s, uint64_t *deleted)
{
	struct others o;
	uint64_t n = 0;
	int rc;

	if (deleted != NULL)
		*deleted = 0;
	if ((rc = crumb_session_load(s)) != CRUMB_OK)
		return rc;
	if (s->user == NULL)
		return CRUMB_E_NOT_FOUND;
	memset(&o, 0, sizeof(o));
	o.keep = s->has_rec_id ? crumb_record_hash(s) : NULL;
	rc = revoke_others(s, &o, &n);
	free(o.hash);
	if (deleted != NULL)
		*deleted = n;
	if (rc != CRUMB_OK && rc != CRUMB_E_NOMEM)
		return crumb_session_fail(s, rc, crumb_store_msg(s->cfg->store));
	return rc;
}

/* Characters a label shows as a space: controls, which could break the
 * line or the page, and bidirectional formatting, which could reorder
 * the text around it. */
static int
label_hidden(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	    cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

int
crumb_label_clean(const char *in, char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t len, i = 0, o = 0, n, k;
	uint32_t cp;

	out[0] = '\0';
	if (in == NULL)
		return CRUMB_OK;
	len = strlen(in);
	if (!crumb_utf8_valid(in, len))
		return CRUMB_E_INVAL;
	while (i < len) {
		n = p[i] < 0x80 ? 1 : p[i] < 0xe0 ? 2 : p[i] < 0xf0 ? 3 : 4;
		cp = n == 1 ? p[i] : p[i] & (0x7fu >> n);
		for (k = 1; k < n; k++)
			cp = cp << 6 | (p[i + k] & 0x3f);
		if (label_hidden(cp)) {
			if (o + 1 > CRUMB_LABEL_MAX)
				break;
			out[o++] = ' ';
		} else {
			/* Whole characters only: a cut never splits one. */
			if (o + n > CRUMB_LABEL_MAX)
				break;
			memcpy(out + o, p + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
	return CRUMB_OK;
}

CRUMB_API int
crumb_session_set_label(crumb_session *s, const char *label)
{
	char clean[CRUMB_LABEL_MAX + 1];
	int rc;

	if ((rc = crumb_label_clean(label, clean)) != CRUMB_OK)
		return rc;
	/* The stored label comes with the record: finish writes only a
	 * different one. */
	if ((rc = crumb_session_load(s)) != CRUMB_OK)
		return rc;
	memcpy(s->label, clean, sizeof(clean));
	s->label_set = 1;
	return CRUMB_OK;
}

void
crumb_session_label_loaded(crumb_session *s, const char *label)
{
	if (s->cfg->store->ops->set_label == NULL)
		return;
	(void)crumb_label_clean(label, s->label_stored);
	memcpy(s->label_of, crumb_record_hash(s), CRUMB_HASH_LEN);
	s->label_known = 1;
}

int
crumb_session_label_store(crumb_session *s)
{
	crumb_store *st = s->cfg->store;
	const uint8_t *hash;
	int rc;

	if (!s->label_set || st == NULL || st->ops->set_label == NULL ||
	    !s->exists || !s->has_rec_id || s->lost)
		return CRUMB_OK;
	/* What the store holds is known for the record loaded; a record
	 * created or renamed since gets the label written. */
	hash = crumb_record_hash(s);
	if (s->label_known && memcmp(s->label_of, hash, CRUMB_HASH_LEN) == 0 &&
	    strcmp(s->label, s->label_stored) == 0)
		return CRUMB_OK;
	rc = st->ops->set_label(st->ctx, hash, s->label);
	if (rc == CRUMB_E_NOT_FOUND)
		return CRUMB_OK;        /* gone meanwhile: nothing to label */
	if (rc != CRUMB_OK)
		return crumb_session_fail(s, rc, crumb_store_msg(st));
	memcpy(s->label_stored, s->label, sizeof(s->label));
	memcpy(s->label_of, hash, CRUMB_HASH_LEN);
	s->label_known = 1;
	return CRUMB_OK;
}
