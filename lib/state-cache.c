/*
 * Parsed server states kept across requests.
 *
 * A FastCGI worker reads the same unchanged record again and again (a
 * visitor's page views that only look at the session), and parsing its
 * JSON was a quarter of what a read costs beyond the SQL and the cookie's
 * cryptography (callgrind: 3,600 instructions a read for 100 bytes of
 * state).  So the config keeps the tree it parsed for a record, keyed by
 * the record's hash AND its exact stored text: a hit needs the text the
 * store returned now to equal the cached one byte for byte, so a record
 * changed by any process (or deleted and recreated) is simply a miss.
 *
 * A hit hands out the tree itself, shared and never modified: the
 * session copies it on its first change (crumb_state_own) and keeps its
 * reference until it is freed, so values it handed out stay valid.
 *
 * Bounds: SLOTS slots, two ways to a set chosen by the hash's first
 * bytes (IDs are random, so are their hashes; with one way, a fifth of
 * a thousand live sessions shared a slot with another and missed every
 * time), texts of at most MAX_TEXT bytes, and at most BUDGET bytes of
 * text in all (the trees take a few times that).
 * The table is made on a config's second parse, so a plain CGI program,
 * which parses once, never pays for it.  A record this config rewrites,
 * renames or deletes is forgotten at once, so that the sessions a worker
 * is done with do not sit in the table until a collision evicts them.
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

#define SLOTS 4096
#define MAX_TEXT 1024
#define BUDGET (512 * 1024)

struct slot {
	uint8_t hash[CRUMB_HASH_LEN];
	char *text;
	size_t len;
	crumb_shared *sh;
	unsigned long used;  /* tick of the last hit: the older way goes */
};

struct crumb_scache {
	struct slot *slots;
	size_t bytes;        /* text held */
	unsigned parses;     /* before the table exists */
	unsigned long tick;
};

/* The two ways of hash's set. */
static struct slot *
set_of(crumb_scache *c, const uint8_t *hash)
{
	return &c->slots[2 * ((hash[0] | (unsigned)hash[1] << 8) % (SLOTS / 2))];
}

static struct slot *
find(crumb_scache *c, const uint8_t *hash)
{
	struct slot *w = set_of(c, hash);
	int i;

	for (i = 0; i < 2; i++)
		if (w[i].sh != NULL &&
		    memcmp(w[i].hash, hash, CRUMB_HASH_LEN) == 0)
			return &w[i];
	return NULL;
}

void
crumb_shared_release(crumb_shared *sh)
{
	if (sh != NULL && --sh->refs == 0) {
		cJSON_Delete(sh->map);
		free(sh);
	}
}

static void
slot_clear(crumb_scache *c, struct slot *sl)
{
	if (sl->sh == NULL)
		return;
	crumb_shared_release(sl->sh);
	c->bytes -= sl->len;
	free(sl->text);
	sl->sh = NULL;
	sl->text = NULL;
	sl->len = 0;
}

void
crumb_scache_free(crumb_scache *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->slots != NULL)
		for (i = 0; i < SLOTS; i++)
			slot_clear(c, &c->slots[i]);
	free(c->slots);
	free(c);
}

void
crumb_scache_forget(crumb_config *cfg, const uint8_t *hash)
{
	crumb_scache *c = cfg->scache;
	struct slot *sl;

	if (c == NULL || c->slots == NULL)
		return;
	if ((sl = find(c, hash)) != NULL)
		slot_clear(c, sl);
}

/* Remember map as the tree of (hash, text); returns the caller's
 * reference, or NULL when it is not kept (the map stays the caller's). */
static crumb_shared *
remember(crumb_scache *c, struct slot *sl, const uint8_t *hash,
    const char *text, size_t len, cJSON *map)
{
	crumb_shared *sh;
	char *copy;

	if (len > MAX_TEXT ||
	    c->bytes - (sl->sh != NULL ? sl->len : 0) + len > BUDGET)
		return NULL;
	if ((sh = malloc(sizeof(*sh))) == NULL)
		return NULL;
	if ((copy = malloc(len + 1)) == NULL) {
		free(sh);
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	slot_clear(c, sl);
	sh->map = map;
	sh->refs = 2;           /* the slot's and the caller's */
	memcpy(sl->hash, hash, CRUMB_HASH_LEN);
	sl->text = copy;
	sl->len = len;
	sl->sh = sh;
	sl->used = ++c->tick;
	c->bytes += len;
	return sh;
}

int
crumb_scache_parse(crumb_config *cfg, const uint8_t *hash, const char *text,
    size_t len, cJSON **map, crumb_shared **shared)
{
	crumb_scache *c = cfg->scache;
	struct slot *sl = NULL;
	cJSON *m;

	*map = NULL;
	*shared = NULL;
	if (c == NULL && (c = cfg->scache = calloc(1, sizeof(*c))) == NULL)
		return CRUMB_E_NOMEM;
	if (c->slots == NULL && c->parses++ > 0)
		c->slots = calloc(SLOTS, sizeof(*c->slots)); /* NULL: uncached */
	if (c->slots != NULL) {
		struct slot *w = set_of(c, hash);

		if ((sl = find(c, hash)) != NULL && sl->len == len &&
		    memcmp(sl->text, text, len) == 0) {
			sl->used = ++c->tick;
			sl->sh->refs++;
			*map = sl->sh->map;
			*shared = sl->sh;
			return CRUMB_OK;
		}
		/* The record's own slot when it has one (its text changed),
		 * else an empty way, else the one used longer ago. */
		if (sl == NULL)
			sl = w[0].sh == NULL ? &w[0] : w[1].sh == NULL ? &w[1] :
			    w[0].used <= w[1].used ? &w[0] : &w[1];
	}
	m = cJSON_ParseWithLengthOpts(text, len, NULL, 0);
	if (!cJSON_IsObject(m)) {
		cJSON_Delete(m);
		return CRUMB_E_CORRUPT;
	}
	*map = m;
	if (sl != NULL)
		*shared = remember(c, sl, hash, text, len, m);
	return CRUMB_OK;
}
