/* Shared test helpers; see helpers.h. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "crumb-private.h"

static void
die(const char *what)
{
	fprintf(stderr, "test setup failed: %s\n", what);
	exit(1);
}

int64_t
tclock_now(void *ud)
{
	return ((struct tclock *)ud)->now;
}

void
tkey(unsigned char key[CRUMB_KEY_LEN], unsigned char keybyte)
{
	memset(key, keybyte, CRUMB_KEY_LEN);
}

crumb_config *
tcfg_new(crumb_store *store, struct tclock *clk, unsigned char keybyte)
{
	crumb_config *cfg = NULL;
	unsigned char key[CRUMB_KEY_LEN];

	tkey(key, keybyte);
	if (crumb_config_new(&cfg) != CRUMB_OK || cfg == NULL)
		die("crumb_config_new");
	if (crumb_config_set_key(cfg, key, sizeof(key)) != CRUMB_OK)
		die("crumb_config_set_key");
	/* The tests read the session cookie as "id"; the automatic
	 * "__Host-" prefix has its own tests (test-cookie-attrs). */
	if (crumb_config_set_host_prefix(cfg, 0) != CRUMB_OK)
		die("crumb_config_set_host_prefix");
	if (store != NULL && crumb_config_set_store(cfg, store) != CRUMB_OK)
		die("crumb_config_set_store");
	if (clk != NULL &&
	    crumb_config_set_clock(cfg, tclock_now, clk) != CRUMB_OK)
		die("crumb_config_set_clock");
	return cfg;
}

crumb_session *
tbegin(crumb_config *cfg, const char *cookie_header)
{
	crumb_session *s = NULL;
	int rc;

	rc = crumb_session_begin(cfg, cookie_header, &s);
	if (rc != CRUMB_OK || s == NULL) {
		fprintf(stderr, "crumb_session_begin: %s\n",
		    crumb_strerror(rc));
		die("crumb_session_begin");
	}
	return s;
}

double
tread_number(crumb_config *cfg, const char *cookie_header, const char *key)
{
	crumb_session *s = tbegin(cfg, cookie_header);
	double d = -1;

	if (crumb_state_get_number(crumb_session_server(s), key, &d) !=
	    CRUMB_OK)
		d = -1;
	crumb_session_free(s);
	return d;
}

int
tend(crumb_session *s, const char *name, char **headers, char **pair)
{
	char *h = NULL;
	int rc;

	rc = crumb_session_finish_str(s, &h);
	if (rc != CRUMB_OK && *crumb_session_errmsg(s) != '\0')
		fprintf(stderr, "finish: %s: %s\n", crumb_strerror(rc),
		    crumb_session_errmsg(s));
	if (pair != NULL)
		*pair = h != NULL ? tcookie_pair(h, name) : NULL;
	if (headers != NULL) {
		*headers = h != NULL ? strdup(h) : NULL;
		if (h != NULL && *headers == NULL)
			die("strdup");
	}
	crumb_free(h);
	crumb_session_free(s);
	return rc;
}

char *
tlogin(crumb_config *cfg, const char *user, const char *label)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *pair = NULL;

	if (crumb_state_insert_string(crumb_session_server(s), "u", user) !=
	    CRUMB_OK || crumb_session_set_user(s, user) != CRUMB_OK ||
	    (label != NULL && crumb_session_set_label(s, label) != CRUMB_OK))
		die("tlogin");
	if (tend(s, "id", NULL, &pair) != CRUMB_OK || pair == NULL)
		die("tlogin: finish");
	return pair;
}

int
talive(crumb_config *cfg, const char *cookie_header)
{
	crumb_session *s = tbegin(cfg, cookie_header);
	const char *v;
	int r = crumb_state_get_string(crumb_session_server(s), "u", &v) ==
	    CRUMB_OK;

	crumb_session_free(s);
	return r;
}

/* Start of the value of the first "Set-Cookie: name=" line, or NULL. */
static const char *
find_line(const char *headers, const char *name)
{
	static const char tag[] = "Set-Cookie: ";
	size_t nlen = strlen(name);
	const char *p = headers;

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, tag, sizeof(tag) - 1) == 0 &&
		    strncmp(p + sizeof(tag) - 1, name, nlen) == 0 &&
		    p[sizeof(tag) - 1 + nlen] == '=')
			return p + sizeof(tag) - 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

char *
tcookie_line(const char *headers, const char *name)
{
	const char *p = find_line(headers, name);
	size_t n;
	char *out;

	if (p == NULL)
		return NULL;
	n = strcspn(p, "\r\n");
	if ((out = strndup(p, n)) == NULL)
		die("strndup");
	return out;
}

char *
tcookie_pair(const char *headers, const char *name)
{
	const char *p = find_line(headers, name);
	size_t n;
	char *out;

	if (p == NULL)
		return NULL;
	n = strcspn(p, ";\r\n");
	while (n > 0 && p[n - 1] == ' ')
		n--;
	if ((out = strndup(p, n)) == NULL)
		die("strndup");
	return out;
}

const char *
tpair_value(const char *pair)
{
	const char *eq = strchr(pair, '=');

	return eq != NULL ? eq + 1 : pair + strlen(pair);
}

int
tcookie_attr(const char *line, const char *attr, char *val, size_t vlen)
{
	const char *p = strchr(line, ';');
	size_t alen = strlen(attr);

	while (p != NULL) {
		const char *end;
		size_t n;

		p++;
		while (*p == ' ')
			p++;
		end = strchr(p, ';');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n >= alen && strncasecmp(p, attr, alen) == 0 &&
		    (n == alen || p[alen] == '=')) {
			if (val != NULL && vlen > 0) {
				size_t vn = n > alen ? n - alen - 1 : 0;

				if (vn >= vlen)
					vn = vlen - 1;
				memcpy(val, p + alen + (n > alen), vn);
				val[vn] = '\0';
			}
			return 1;
		}
		p = end;
	}
	return 0;
}

int64_t
tmax_age(const char *headers)
{
	char *line = tcookie_line(headers, "id");
	char v[32];
	int64_t r = -1;

	if (line != NULL && tcookie_attr(line, "Max-Age", v, sizeof(v)))
		r = strtoll(v, NULL, 10);
	free(line);
	return r;
}

int
tcount_set_cookie(const char *headers)
{
	const char *p = headers;
	int n = 0;

	while (p != NULL && (p = strstr(p, "Set-Cookie:")) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* ---- counting map store ---- */

struct trec {
	uint8_t hash[CRUMB_HASH_LEN];
	char *state;
	size_t len;
	char *user;
	int64_t version, created, last_seen, expires;
};

struct tmap {
	struct trec *recs;
	size_t n, cap;
	struct tcounts counts;
	int fail;
};

static struct trec *
tmap_find(struct tmap *m, const uint8_t *hash)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (memcmp(m->recs[i].hash, hash, CRUMB_HASH_LEN) == 0)
			return &m->recs[i];
	return NULL;
}

static struct trec *
tmap_live(struct tmap *m, const uint8_t *hash, int64_t now)
{
	struct trec *r = tmap_find(m, hash);

	return r != NULL && r->expires > now ? r : NULL;
}

static void
tmap_drop(struct tmap *m, struct trec *r)
{
	free(r->state);
	free(r->user);
	*r = m->recs[--m->n];
}

static int
set_text(char **dst, const char *src, size_t len)
{
	char *p = NULL;

	if (src != NULL) {
		if ((p = malloc(len + 1)) == NULL)
			return CRUMB_E_NOMEM;
		memcpy(p, src, len);
		p[len] = '\0';
	}
	free(*dst);
	*dst = p;
	return CRUMB_OK;
}

static int
m_create(void *ctx, const uint8_t *hash, const char *state, size_t len,
    const char *user, int64_t now, int64_t expires)
{
	struct tmap *m = ctx;
	struct trec *r;

	m->counts.create++;
	if (m->fail)
		return m->fail;
	if ((r = tmap_find(m, hash)) != NULL)
		tmap_drop(m, r);
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 8;
		struct trec *nr = realloc(m->recs, cap * sizeof(*nr));

		if (nr == NULL)
			return CRUMB_E_NOMEM;
		m->recs = nr;
		m->cap = cap;
	}
	r = &m->recs[m->n];
	memset(r, 0, sizeof(*r));
	memcpy(r->hash, hash, CRUMB_HASH_LEN);
	if (set_text(&r->state, state, len) != CRUMB_OK ||
	    (user != NULL && set_text(&r->user, user, strlen(user)) != 0)) {
		free(r->state);
		return CRUMB_E_NOMEM;
	}
	r->len = len;
	r->version = 1;
	r->created = r->last_seen = now;
	r->expires = expires;
	m->n++;
	return CRUMB_OK;
}

static int
m_load(void *ctx, const uint8_t *hash, int64_t now, crumb_record *out)
{
	struct tmap *m = ctx;
	struct trec *r;

	m->counts.load++;
	if (m->fail)
		return m->fail;
	if ((r = tmap_live(m, hash, now)) == NULL)
		return CRUMB_E_NOT_FOUND;
	out->state = r->state;
	out->state_len = r->len;
	out->user = r->user;
	out->version = r->version;
	out->created = r->created;
	out->last_seen = r->last_seen;
	out->expires = r->expires;
	return CRUMB_OK;
}

static int
m_update(void *ctx, const uint8_t *hash, const uint8_t *new_hash,
    int64_t version, const char *state, size_t len, const char *user,
    int64_t now, int64_t expires)
{
	struct tmap *m = ctx;
	struct trec *r, *other;

	m->counts.update++;
	if (m->fail)
		return m->fail;
	if ((r = tmap_live(m, hash, now)) == NULL)
		return CRUMB_E_NOT_FOUND;
	if (r->version != version)
		return CRUMB_E_CONFLICT;
	if (set_text(&r->state, state, len) != CRUMB_OK ||
	    set_text(&r->user, user, user ? strlen(user) : 0) != CRUMB_OK)
		return CRUMB_E_NOMEM;
	r->len = len;
	r->version++;
	r->last_seen = now;
	if (expires != 0)
		r->expires = expires;
	if (new_hash != NULL) {
		memcpy(r->hash, new_hash, CRUMB_HASH_LEN);
		for (other = m->recs; other < m->recs + m->n; other++)
			if (other != r && memcmp(other->hash, new_hash,
			    CRUMB_HASH_LEN) == 0) {
				tmap_drop(m, other);
				break;
			}
	}
	return CRUMB_OK;
}

static int
m_touch(void *ctx, const uint8_t *hash, int64_t now, int64_t expires)
{
	struct tmap *m = ctx;
	struct trec *r;

	m->counts.touch++;
	if (m->fail)
		return m->fail;
	if ((r = tmap_live(m, hash, now)) == NULL)
		return CRUMB_E_NOT_FOUND;
	r->last_seen = now;
	r->expires = expires;
	return CRUMB_OK;
}

static int
m_remove(void *ctx, const uint8_t *hash)
{
	struct tmap *m = ctx;
	struct trec *r;

	m->counts.remove++;
	if (m->fail)
		return m->fail;
	if ((r = tmap_find(m, hash)) != NULL)
		tmap_drop(m, r);
	return CRUMB_OK;
}

static int
m_change_id(void *ctx, const uint8_t *old_hash, const uint8_t *new_hash,
    int64_t now)
{
	struct tmap *m = ctx;
	struct trec *r;

	m->counts.change_id++;
	if (m->fail)
		return m->fail;
	if ((r = tmap_live(m, old_hash, now)) == NULL)
		return CRUMB_E_NOT_FOUND;
	memcpy(r->hash, new_hash, CRUMB_HASH_LEN);
	r->last_seen = now;
	return CRUMB_OK;
}

static int
m_purge(void *ctx, int64_t now, unsigned batch, uint64_t *deleted)
{
	struct tmap *m = ctx;
	size_t i = 0;

	m->counts.purge++;
	*deleted = 0;
	if (m->fail)
		return m->fail;
	while (i < m->n && *deleted < batch) {
		if (m->recs[i].expires <= now) {
			tmap_drop(m, &m->recs[i]);
			(*deleted)++;
		} else
			i++;
	}
	return CRUMB_OK;
}

static int
m_user_remove(void *ctx, const char *user, uint64_t *deleted)
{
	struct tmap *m = ctx;
	size_t i = 0;

	m->counts.user_remove++;
	*deleted = 0;
	if (m->fail)
		return m->fail;
	while (i < m->n) {
		if (m->recs[i].user != NULL &&
		    strcmp(m->recs[i].user, user) == 0) {
			tmap_drop(m, &m->recs[i]);
			(*deleted)++;
		} else
			i++;
	}
	return CRUMB_OK;
}

static int
m_user_list(void *ctx, const char *user, int64_t now, crumb_info_fn fn,
    void *ud)
{
	struct tmap *m = ctx;
	size_t i, j;

	m->counts.user_list++;
	if (m->fail)
		return m->fail;
	for (i = 0; i < m->n; i++) {
		struct trec *r = &m->recs[i];
		crumb_session_info info;

		if (r->user == NULL || strcmp(r->user, user) != 0 ||
		    r->expires <= now)
			continue;
		memset(&info, 0, sizeof(info));
		for (j = 0; j < CRUMB_HASH_LEN; j++)
			snprintf(info.id_hash + 2 * j, 3, "%02x", r->hash[j]);
		info.created = r->created;
		info.last_seen = r->last_seen;
		info.expires = r->expires;
		if (fn(&info, ud) != 0)
			break;
	}
	return CRUMB_OK;
}

static const char *
m_errmsg(void *ctx)
{
	struct tmap *m = ctx;

	return m->fail ? "simulated store failure" : "";
}

static void
m_close(void *ctx)
{
	struct tmap *m = ctx;

	while (m->n > 0)
		tmap_drop(m, &m->recs[0]);
	free(m->recs);
	free(m);
}

static const crumb_store_ops tmap_ops = {
	m_create, m_load, m_update, m_touch, m_remove, m_change_id,
	m_purge, m_user_remove, m_user_list, m_errmsg, m_close, NULL, NULL,
	NULL,   /* keeps no labels */
	NULL, NULL, NULL        /* no stats, scan or import: UNSUPPORTED */
};

struct tmap *
tmap_store_new(crumb_store **out)
{
	struct tmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		die("calloc");
	*out = NULL;
	if (crumb_store_new(&tmap_ops, m, out) != CRUMB_OK || *out == NULL)
		die("crumb_store_new");
	return m;
}

struct tcounts *
tmap_counts(struct tmap *m)
{
	return &m->counts;
}

unsigned
tmap_total(const struct tmap *m)
{
	const struct tcounts *c = &m->counts;

	return c->create + c->load + c->update + c->touch + c->remove +
	    c->change_id + c->purge + c->user_remove + c->user_list;
}

void
tmap_reset(struct tmap *m)
{
	memset(&m->counts, 0, sizeof(m->counts));
}

void
tmap_fail(struct tmap *m, int err)
{
	m->fail = err;
}

size_t
tmap_records(const struct tmap *m)
{
	return m->n;
}

/* ---- temporary directories ---- */

char *
tdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if ((dir = malloc(strlen(base) + 32)) == NULL)
		die("malloc");
	sprintf(dir, "%s/crumb-test-XXXXXX", base);
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	return dir;
}

char *
tpath(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);

	if (p == NULL)
		die("malloc");
	sprintf(p, "%s/%s", dir, name);
	return p;
}

void
tdir_remove(char *dir)
{
	DIR *d;
	struct dirent *e;

	if (dir == NULL)
		return;
	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char *p;

			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			p = tpath(dir, e->d_name);
			if (unlink(p) != 0)
				rmdir(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}

const crumb_store_ops *
tstore_ops(crumb_store *st, void **ctx)
{
	*ctx = st->ctx;
	return st->ops;
}

static void
tserver_start(const char *script, const char *dir, const char *sub)
{
	char cmd[1024], line[1024];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "bash '%s' start '%s/%s'", script, dir,
	    sub);
	if ((f = popen(cmd, "r")) == NULL)
		die(cmd);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *eq = strchr(line, '='), *v, *e;

		if (eq == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		if (*v == '\'')
			v++;
		if ((e = strrchr(v, '\'')) != NULL)
			*e = '\0';
		setenv(line, v, 1);
	}
	if (pclose(f) != 0)
		die(cmd);
}

/* The server tserver_own started, or own_dir NULL. */
static char *own_dir;
static const char *own_script, *own_sub;

void
tserver_own_stop(void)
{
	char cmd[1024];

	if (own_dir == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "bash '%s' stop '%s/%s'", own_script,
	    own_dir, own_sub);
	if (system(cmd) != 0)
		fprintf(stderr, "stopping the test server failed\n");
	rmdir(own_dir);
	free(own_dir);
	own_dir = NULL;
}

static void
own_on_signal(int sig)
{
	tserver_own_stop();
	signal(sig, SIG_DFL);
	raise(sig);
}

void
tserver_own(const char *script, const char *sub)
{
	own_dir = tdir_new();
	if (chmod(own_dir, 0711) != 0)
		die("chmod");
	own_script = script;
	own_sub = sub;
	atexit(tserver_own_stop);
	signal(SIGINT, own_on_signal);
	signal(SIGTERM, own_on_signal);
	tserver_start(script, own_dir, sub);
}

int
tserver(const char *script, const char *what, const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "bash '%s' %s '%s'", script, what, dir);
	return system(cmd);
}

const char *
tenv(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "%s is not set\n", name);
		exit(1);
	}
	return v;
}
