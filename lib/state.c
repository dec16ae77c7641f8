/*
 * A state map: string keys -> cJSON values.  The server-side map is
 * loaded on first use and journals its changes, so that when a
 * concurrent request wins the race to the store, the changes of this
 * request can be replayed on top of the fresher copy instead of
 * overwriting it.  The client-side map lives in the cookie and checks
 * the cookie's size limit on every insert.
 */
#include <string.h>

#include "crumb-private.h"

int
crumb_state_ready(crumb_state *st)
{
	crumb_session *s = st->s;
	int rc = st->server ? crumb_record_usable(s) : crumb_session_usable(s);

	if (rc != CRUMB_OK)
		return rc;
	if (st->server && !s->loaded)
		return crumb_record_load(s);
	/* The client map is made on first use: a request that never looks
	 * at an empty client state never allocates one. */
	if (st->map == NULL && (st->map = cJSON_CreateObject()) == NULL)
		return CRUMB_E_NOMEM;
	return CRUMB_OK;
}

/* Replace the map; sh: the cached tree map is borrowed from, or NULL.
 * The old map (and the reference it was borrowed under) is freed, or,
 * when values were lent out of it, kept until the session is freed. */
void
crumb_state_set_map(crumb_state *st, cJSON *map, crumb_shared *sh)
{
	cJSON *own = st->shared == NULL || st->map != st->shared->map ?
	    st->map : NULL;

	if (st->lent && st->map != NULL) {
		crumb_record_keep(st->s, own, st->shared, NULL);
	} else {
		cJSON_Delete(own);
		crumb_shared_release(st->shared);
	}
	st->map = map;
	st->shared = sh;
	st->lent = 0;
}

void
crumb_state_reset(crumb_state *st)
{
	st->lent = 0;           /* the session is going: nothing to keep */
	crumb_state_set_map(st, NULL, NULL);
	cJSON_Delete(st->journal);
	st->journal = NULL;
}

int
crumb_state_own(crumb_state *st)
{
	cJSON *copy;

	if (st->shared == NULL || st->map != st->shared->map)
		return CRUMB_OK;
	if ((copy = cJSON_Duplicate(st->map, 1)) == NULL)
		return CRUMB_E_NOMEM;
	st->map = copy;         /* the reference stays until reset */
	return CRUMB_OK;
}

static int
journal(crumb_state *st, const char *op, const char *key, const cJSON *value)
{
	cJSON *entry, *copy = NULL;

	if (!st->server)
		return CRUMB_OK;
	if (st->journal == NULL && (st->journal = cJSON_CreateArray()) == NULL)
		return CRUMB_E_NOMEM;
	/* Under the store's lock no write can conflict, so nothing will be
	 * replayed: the (empty) journal only marks that there is a change
	 * to save, and the copies below would be made for nothing. */
	if (st->s->locked)
		return CRUMB_OK;
	if ((entry = cJSON_CreateArray()) == NULL)
		return CRUMB_E_NOMEM;
	cJSON_AddItemToArray(entry, cJSON_CreateString(op));
	if (key != NULL)
		cJSON_AddItemToArray(entry, cJSON_CreateString(key));
	if (value != NULL && (copy = cJSON_Duplicate(value, 1)) != NULL)
		cJSON_AddItemToArray(entry, copy);
	if (cJSON_GetArraySize(entry) != 1 + (key != NULL) + (value != NULL)) {
		cJSON_Delete(entry);
		return CRUMB_E_NOMEM;
	}
	cJSON_AddItemToArray(st->journal, entry);
	return CRUMB_OK;
}

/* Set key in map, keeping the position of an existing entry.  value is
 * taken over, even on failure. */
static int
put(cJSON *map, const char *key, cJSON *value)
{
	int ok;

	if (cJSON_GetObjectItemCaseSensitive(map, key) != NULL)
		ok = cJSON_ReplaceItemInObjectCaseSensitive(map, key, value);
	else
		ok = cJSON_AddItemToObject(map, key, value);
	if (!ok) {
		cJSON_Delete(value);
		return CRUMB_E_NOMEM;
	}
	return CRUMB_OK;
}

static void
map_clear(cJSON *map)
{
	cJSON *it;

	while ((it = map->child) != NULL)
		cJSON_Delete(cJSON_DetachItemViaPointer(map, it));
}

int
crumb_state_replay(cJSON *map, const cJSON *journal_)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, journal_) {
		const char *op = cJSON_GetArrayItem(e, 0)->valuestring;
		const cJSON *key = cJSON_GetArrayItem(e, 1);
		cJSON *copy;

		if (op[0] == 'c') {
			map_clear(map);
		} else if (op[0] == 'r') {
			cJSON_DeleteItemFromObjectCaseSensitive(map, key->valuestring);
		} else {
			copy = cJSON_Duplicate(cJSON_GetArrayItem(e, 2), 1);
			if (copy == NULL ||
			    put(map, key->valuestring, copy) != CRUMB_OK)
				return CRUMB_E_NOMEM;
		}
	}
	return CRUMB_OK;
}

/* Client state: try the change on a copy; when the cookie still fits,
 * move the value into the map itself, so that values lent out for
 * other keys stay where they are. */
static int
client_insert(crumb_state *st, const char *key, cJSON *value)
{
	cJSON *copy = cJSON_Duplicate(st->map, 1);
	int rc;

	if (copy == NULL) {
		cJSON_Delete(value);
		return CRUMB_E_NOMEM;
	}
	if ((rc = put(copy, key, value)) != CRUMB_OK ||
	    (rc = crumb_session_client_fits(st->s, copy)) != CRUMB_OK) {
		cJSON_Delete(copy);
		return rc;
	}
	value = cJSON_DetachItemFromObjectCaseSensitive(copy, key);
	cJSON_Delete(copy);
	if ((rc = put(st->map, key, value)) != CRUMB_OK)
		return rc;
	st->modified = 1;
	return CRUMB_OK;
}

CRUMB_API int
crumb_state_insert(crumb_state *st, const char *key, cJSON *value)
{
	const cJSON *old;
	int rc;

	if (st == NULL || key == NULL || value == NULL) {
		cJSON_Delete(value);
		return CRUMB_E_INVAL;
	}
	if ((rc = crumb_state_ready(st)) != CRUMB_OK) {
		cJSON_Delete(value);
		return rc;
	}
	old = cJSON_GetObjectItemCaseSensitive(st->map, key);
	if (old != NULL && cJSON_Compare(old, value, 1)) {
		cJSON_Delete(value);    /* same value: not a change */
		return CRUMB_OK;
	}
	if (!st->server)
		return client_insert(st, key, value);
	if ((rc = crumb_state_own(st)) != CRUMB_OK ||
	    (rc = journal(st, "s", key, value)) != CRUMB_OK) {
		cJSON_Delete(value);
		return rc;
	}
	if ((rc = put(st->map, key, value)) != CRUMB_OK)
		return rc;
	st->modified = 1;
	return CRUMB_OK;
}

CRUMB_API int
crumb_state_insert_json(crumb_state *st, const char *key, const char *json)
{
	cJSON *v;

	if (json == NULL)
		return CRUMB_E_INVAL;
	if ((v = cJSON_ParseWithOpts(json, NULL, 1)) == NULL)
		return CRUMB_E_PARSE;
	return crumb_state_insert(st, key, v);
}

CRUMB_API int
crumb_state_insert_string(crumb_state *st, const char *key, const char *value)
{
	cJSON *v;

	if (value == NULL)
		return CRUMB_E_INVAL;
	if ((v = cJSON_CreateString(value)) == NULL)
		return CRUMB_E_NOMEM;
	return crumb_state_insert(st, key, v);
}

CRUMB_API int
crumb_state_insert_number(crumb_state *st, const char *key, double value)
{
	cJSON *v = cJSON_CreateNumber(value);

	return v == NULL ? CRUMB_E_NOMEM : crumb_state_insert(st, key, v);
}

CRUMB_API int
crumb_state_insert_bool(crumb_state *st, const char *key, int value)
{
	cJSON *v = cJSON_CreateBool(value != 0);

	return v == NULL ? CRUMB_E_NOMEM : crumb_state_insert(st, key, v);
}

CRUMB_API int
crumb_state_get(crumb_state *st, const char *key, const cJSON **value)
{
	const cJSON *v;
	int rc;

	if (value != NULL)
		*value = NULL;
	if (st == NULL || key == NULL || value == NULL)
		return CRUMB_E_INVAL;
	if ((rc = crumb_state_ready(st)) != CRUMB_OK)
		return rc;
	if ((v = cJSON_GetObjectItemCaseSensitive(st->map, key)) == NULL)
		return CRUMB_E_NOT_FOUND;
	*value = v;
	st->lent = 1;
	return CRUMB_OK;
}

/* Get key and check its type with is (cJSON_IsString...). */
static int
get_typed(crumb_state *st, const char *key, cJSON_bool (*is)(const cJSON *),
    const cJSON **v)
{
	int rc = crumb_state_get(st, key, v);

	if (rc != CRUMB_OK)
		return rc;
	return is(*v) ? CRUMB_OK : CRUMB_E_TYPE;
}

CRUMB_API int
crumb_state_get_string(crumb_state *st, const char *key, const char **value)
{
	const cJSON *v;
	int rc;

	if (value == NULL)
		return CRUMB_E_INVAL;
	*value = NULL;
	if ((rc = get_typed(st, key, cJSON_IsString, &v)) == CRUMB_OK)
		*value = v->valuestring;
	return rc;
}

CRUMB_API int
crumb_state_get_number(crumb_state *st, const char *key, double *value)
{
	const cJSON *v;
	int rc;

	if (value == NULL)
		return CRUMB_E_INVAL;
	if ((rc = get_typed(st, key, cJSON_IsNumber, &v)) == CRUMB_OK)
		*value = v->valuedouble;
	return rc;
}

CRUMB_API int
crumb_state_get_bool(crumb_state *st, const char *key, int *value)
{
	const cJSON *v;
	int rc;

	if (value == NULL)
		return CRUMB_E_INVAL;
	if ((rc = get_typed(st, key, cJSON_IsBool, &v)) == CRUMB_OK)
		*value = cJSON_IsTrue(v);
	return rc;
}

CRUMB_API int
crumb_state_remove(crumb_state *st, const char *key, cJSON **value)
{
	cJSON *v;
	int rc;

	if (value != NULL)
		*value = NULL;
	if (st == NULL || key == NULL)
		return CRUMB_E_INVAL;
	if ((rc = crumb_state_ready(st)) != CRUMB_OK)
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(st->map, key) == NULL)
		return CRUMB_E_NOT_FOUND;
	if ((rc = crumb_state_own(st)) != CRUMB_OK ||
	    (rc = journal(st, "r", key, NULL)) != CRUMB_OK)
		return rc;
	v = cJSON_DetachItemFromObjectCaseSensitive(st->map, key);
	st->modified = 1;
	if (value != NULL)
		*value = v;
	else
		cJSON_Delete(v);
	return CRUMB_OK;
}

CRUMB_API int
crumb_state_remove_raw(crumb_state *st, const char *key)
{
	return crumb_state_remove(st, key, NULL);
}

CRUMB_API int
crumb_state_clear(crumb_state *st)
{
	int rc;

	if (st == NULL)
		return CRUMB_E_INVAL;
	if ((rc = crumb_state_ready(st)) != CRUMB_OK)
		return rc;
	if (st->map->child == NULL)
		return CRUMB_OK;
	if ((rc = crumb_state_own(st)) != CRUMB_OK ||
	    (rc = journal(st, "c", NULL, NULL)) != CRUMB_OK)
		return rc;
	map_clear(st->map);
	st->modified = 1;
	return CRUMB_OK;
}

CRUMB_API int
crumb_state_edit(crumb_state *st, const char *key, crumb_edit_fn fn, void *ud)
{
	const cJSON *old;
	cJSON *v = NULL;
	int rc;

	if (st == NULL || key == NULL || fn == NULL)
		return CRUMB_E_INVAL;
	if ((rc = crumb_state_ready(st)) != CRUMB_OK)
		return rc;
	old = cJSON_GetObjectItemCaseSensitive(st->map, key);
	if (old != NULL && (v = cJSON_Duplicate(old, 1)) == NULL)
		return CRUMB_E_NOMEM;
	if ((rc = fn(&v, ud)) != 0) {
		cJSON_Delete(v);
		return rc;
	}
	/* insert and remove decide whether it is a change, journal it and
	 * check the cookie's size. */
	if (v != NULL)
		return crumb_state_insert(st, key, v);
	return old != NULL ? crumb_state_remove(st, key, NULL) : CRUMB_OK;
}

CRUMB_API int
crumb_state_len(crumb_state *st, size_t *n)
{
	int rc;

	if (st == NULL || n == NULL)
		return CRUMB_E_INVAL;
	*n = 0;
	if ((rc = crumb_state_ready(st)) != CRUMB_OK)
		return rc;
	*n = (size_t)cJSON_GetArraySize(st->map);
	return CRUMB_OK;
}

CRUMB_API int
crumb_state_foreach(crumb_state *st, crumb_entry_fn fn, void *ud)
{
	const cJSON *it;
	int rc;

	if (st == NULL || fn == NULL)
		return CRUMB_E_INVAL;
	if ((rc = crumb_state_ready(st)) != CRUMB_OK)
		return rc;
	st->lent = 1;
	cJSON_ArrayForEach(it, st->map) {
		if ((rc = fn(it->string, it, ud)) != 0)
			return rc;
	}
	return CRUMB_OK;
}
