/*
 * Redis store (hiredis).  One connection per store handle, opened at
 * crumb_store_redis_open and kept for the life of the process.
 *
 * Layout: a session is the hash PREFIX "s:" HEX (fields state, user,
 * version, created, last_seen, expires, label); a user's sessions are
 * the sorted set PREFIX "u:" USER of HEX members scored by expires.
 * Every op that changes something is one Lua script (EVALSHA, the
 * scripts loaded once per connection and again after NOSCRIPT): one
 * round trip, atomic.  load is one HMGET.
 *
 * Expiry: the caller's now decides what is live (the scripts compare
 * the expires field with it).  Redis deletes a record by itself
 * (expires - now) seconds after the write that set its expiry: PEXPIRE
 * relative to the caller's clock rather than PEXPIREAT, so that Redis's
 * own clock never makes a record vanish that the caller still sees as
 * live.  A user's sorted set expires with its longest-lived member;
 * purge removes what is left of expired members.
 *
 * No call waits past the timeout: the socket has it as SO_RCVTIMEO and
 * SO_SNDTIMEO, and a call that timed out or lost its connection closes
 * it; the next call connects again.
 *
 * Built without hiredis, crumb_store_redis_open says so and fails.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

#ifndef CRUMB_HAVE_REDIS

CRUMB_API int
crumb_store_redis_open(const char *url, int timeout_ms, crumb_store **out,
    char *errbuf, size_t errlen)
{
	(void)url;
	(void)timeout_ms;
	if (out != NULL)
		*out = NULL;
	if (errbuf != NULL && errlen > 0)
		crumb_fmt(errbuf, errlen, "redis: crumb was built without "
		    "Redis support (configure --with-redis)");
	return out == NULL ? CRUMB_E_INVAL : CRUMB_E_CANTOPEN;
}

#else /* CRUMB_HAVE_REDIS */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <hiredis/hiredis.h>

#include "store-redis-lua.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_PREFIX "crumb:"
#define MAX_ARGS 16

enum {
	S_CREATE, S_UPDATE, S_TOUCH, S_REMOVE, S_CHANGE_ID, S_SET_LABEL,
	S_PURGE, S_USER_REMOVE, S_USER_LIST, S_IMPORT, S_TALLY, S_PAGE,
	S_COUNT
};

/* Results: 0 done, 1 conflict, 2 not found (absent or expired). */
static const char *const script[S_COUNT] = {
	/* KEYS: skey.  ARGV: prefix hex state user now expires ttl */
	[S_CREATE] = CRUMB_LUA_INDEX
	    "local p, k, now = ARGV[1], KEYS[1], tonumber(ARGV[5]) "
	    "local r = redis.call('HMGET', k, 'expires', 'user') "
	    "if r[1] then "
	    "if tonumber(r[1]) > now then return 1 end "
	    "if r[2] then redis.call('ZREM', p..'u:'..r[2], ARGV[2]) end "
	    "redis.call('DEL', k) end "
	    "redis.call('HSET', k, 'state', ARGV[3], 'version', '1', "
	    "'created', ARGV[5], 'last_seen', ARGV[5], 'expires', ARGV[6]) "
	    "if ARGV[4] ~= '' then redis.call('HSET', k, 'user', ARGV[4]) "
	    "index_add(p..'u:'..ARGV[4], ARGV[6], ARGV[2], ARGV[7]) end "
	    "redis.call('PEXPIRE', k, ARGV[7]) "
	    "return 0",
	/* KEYS: skey, new skey (or skey).  ARGV: prefix hex newhex
	 * version version+1 state user now expires ttl */
	[S_UPDATE] = CRUMB_LUA_INDEX CRUMB_LUA_UPDATE,
	/* KEYS: skey.  ARGV: prefix hex now expires ttl */
	[S_TOUCH] = CRUMB_LUA_INDEX
	    "local k = KEYS[1] "
	    "local r = redis.call('HMGET', k, 'expires', 'user') "
	    "if not r[1] or tonumber(r[1]) <= tonumber(ARGV[3]) then "
	    "return 2 end "
	    "redis.call('HSET', k, 'last_seen', ARGV[3], 'expires', ARGV[4]) "
	    "redis.call('PEXPIRE', k, ARGV[5]) "
	    "if r[2] then index_add(ARGV[1]..'u:'..r[2], ARGV[4], ARGV[2], "
	    "ARGV[5]) end "
	    "return 0",
	/* KEYS: skey.  ARGV: prefix hex */
	[S_REMOVE] =
	    "local u = redis.call('HGET', KEYS[1], 'user') "
	    "if u then redis.call('ZREM', ARGV[1]..'u:'..u, ARGV[2]) end "
	    "redis.call('DEL', KEYS[1]) "
	    "return 0",
	/* KEYS: skey, new skey.  ARGV: prefix hex newhex now */
	[S_CHANGE_ID] =
	    "local p, k, d, now = ARGV[1], KEYS[1], KEYS[2], "
	    "tonumber(ARGV[4]) "
	    "local r = redis.call('HMGET', k, 'expires', 'user') "
	    "if not r[1] or tonumber(r[1]) <= now then return 2 end "
	    "local o = redis.call('HMGET', d, 'expires', 'user') "
	    "if o[1] and tonumber(o[1]) > now then return 1 end "
	    "if o[1] then "
	    "if o[2] then redis.call('ZREM', p..'u:'..o[2], ARGV[3]) end "
	    "redis.call('DEL', d) end "
	    "redis.call('RENAME', k, d) "
	    "redis.call('HSET', d, 'last_seen', ARGV[4]) "
	    "if r[2] then local uk = p..'u:'..r[2] "
	    "redis.call('ZREM', uk, ARGV[2]) "
	    "redis.call('ZADD', uk, r[1], ARGV[3]) end "
	    "return 0",
	/* KEYS: skey.  ARGV: label ('' for none) */
	[S_SET_LABEL] =
	    "if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end "
	    "if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'label') "
	    "else redis.call('HSET', KEYS[1], 'label', ARGV[1]) end "
	    "return 0",
	/* KEYS: candidate skeys.  ARGV: prefix now limit.  The number
	 * deleted. */
	[S_PURGE] =
	    "local p, now, lim, n = ARGV[1], tonumber(ARGV[2]), "
	    "tonumber(ARGV[3]), 0 "
	    "for _, k in ipairs(KEYS) do "
	    "if n >= lim then break end "
	    "local r = redis.call('HMGET', k, 'expires', 'user') "
	    "if r[1] and tonumber(r[1]) <= now then "
	    "if r[2] then redis.call('ZREM', p..'u:'..r[2], "
	    "string.sub(k, #p + 3)) end "
	    "redis.call('DEL', k) n = n + 1 end end "
	    "return n",
	/* ARGV: prefix user.  The number deleted. */
	[S_USER_REMOVE] =
	    "local p, uk, n = ARGV[1], ARGV[1]..'u:'..ARGV[2], 0 "
	    "for _, m in ipairs(redis.call('ZRANGE', uk, 0, -1)) do "
	    "local k = p..'s:'..m "
	    "if redis.call('HGET', k, 'user') == ARGV[2] then "
	    "redis.call('DEL', k) n = n + 1 end end "
	    "redis.call('DEL', uk) "
	    "return n",
	/* ARGV: prefix user now.  hex created last_seen expires label,
	 * five a record. */
	[S_USER_LIST] =
	    "local p, out = ARGV[1], {} "
	    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', "
	    "p..'u:'..ARGV[2], '('..ARGV[3], '+inf')) do "
	    "local r = redis.call('HMGET', p..'s:'..m, 'user', 'created', "
	    "'last_seen', 'expires', 'label') "
	    "if r[1] == ARGV[2] and tonumber(r[4]) > tonumber(ARGV[3]) then "
	    "out[#out + 1] = m out[#out + 1] = r[2] out[#out + 1] = r[3] "
	    "out[#out + 1] = r[4] out[#out + 1] = r[5] or '' end end "
	    "return out",
	/* KEYS: skey.  ARGV: prefix hex state user version created
	 * last_seen expires label now ttl.  1 written, 0 left alone. */
	[S_IMPORT] = CRUMB_LUA_INDEX
	    "local p, k, now = ARGV[1], KEYS[1], tonumber(ARGV[10]) "
	    "local r = redis.call('HMGET', k, 'expires', 'user', 'version') "
	    "if r[1] and tonumber(r[1]) > now and "
	    "tonumber(r[3]) >= tonumber(ARGV[5]) then return 0 end "
	    "if r[1] then "
	    "if r[2] then redis.call('ZREM', p..'u:'..r[2], ARGV[2]) end "
	    "redis.call('DEL', k) end "
	    "redis.call('HSET', k, 'state', ARGV[3], 'version', ARGV[5], "
	    "'created', ARGV[6], 'last_seen', ARGV[7], 'expires', ARGV[8]) "
	    "if ARGV[9] ~= '' then redis.call('HSET', k, 'label', ARGV[9]) end "
	    "if ARGV[4] ~= '' then redis.call('HSET', k, 'user', ARGV[4]) "
	    "index_add(p..'u:'..ARGV[4], ARGV[8], ARGV[2], ARGV[11]) end "
	    "redis.call('PEXPIRE', k, ARGV[11]) "
	    "return 1",
	/* KEYS: one SCAN step's keys.  ARGV: now, 's' (sessions) or 'u'
	 * (user indexes).  records live bytes {users}: the step's counts,
	 * the distinct users of its live records (the caller merges
	 * them); for 'u' only bytes, the MEMORY USAGE of the keys. */
	[S_TALLY] =
	    "local now, all, live, bytes, seen, us = tonumber(ARGV[1]), "
	    "0, 0, 0, {}, {} "
	    "for _, k in ipairs(KEYS) do "
	    "if ARGV[2] == 'u' then "
	    "bytes = bytes + (redis.call('MEMORY', 'USAGE', k) or 0) else "
	    "local f = redis.call('HMGET', k, 'expires', 'user') "
	    "if f[1] then all = all + 1 "
	    "bytes = bytes + (redis.call('MEMORY', 'USAGE', k) or 0) "
	    "if tonumber(f[1]) > now then live = live + 1 "
	    "if f[2] and not seen[f[2]] then seen[f[2]] = true "
	    "us[#us + 1] = f[2] end end end end end "
	    "return {all, live, bytes, us}",
	/* KEYS: session keys.  ARGV: now.  For each key its fields
	 * (state user version created last_seen expires label), or 0
	 * when it is gone or expired. */
	[S_PAGE] =
	    "local now, out = tonumber(ARGV[1]), {} "
	    "for i, k in ipairs(KEYS) do "
	    "local f = redis.call('HMGET', k, 'state', 'user', 'version', "
	    "'created', 'last_seen', 'expires', 'label') "
	    "if f[1] and f[6] and tonumber(f[6]) > now then out[i] = f "
	    "else out[i] = 0 end end "
	    "return out",
};

typedef struct rstore {
	redisContext *c;        /* NULL between a failure and a reconnect */
	char *host;             /* TCP, or NULL */
	int port;
	char *sock;             /* unix socket path, or NULL */
	char *user;             /* AUTH user (ACL), or NULL */
	char *password;         /* or NULL; never in a message */
	int db;
	char *prefix;
	size_t prefix_len;
	int timeout_ms;
	char sha[S_COUNT][41];  /* the scripts as loaded on c */
	redisReply *row;        /* the last record handed out (borrowed) */
	/* The walk in progress (scan): every session's hash, sorted, as
	 * SCAN listed them when it began; the next page starts at
	 * walk[walk_pos], after walk_last.  NULL between walks. */
	uint8_t (*walk)[CRUMB_HASH_LEN];
	size_t walk_n, walk_pos;
	uint8_t walk_last[CRUMB_HASH_LEN];
	char msg[CRUMB_ERRMSG_LEN];
} rstore;

/* Arguments of one command. */
typedef struct args {
	const char *v[MAX_ARGS];
	size_t len[MAX_ARGS];
	char num[MAX_ARGS][24];
	int n;
} args;

static void
a_bytes(args *a, const void *v, size_t len)
{
	a->v[a->n] = v;
	a->len[a->n++] = len;
}

static void
a_str(args *a, const char *s)
{
	a_bytes(a, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void
a_int(args *a, int64_t v)
{
	int n = snprintf(a->num[a->n], sizeof(a->num[0]), "%" PRId64, v);

	a_bytes(a, a->num[a->n], (size_t)n);
}

/* ---- messages: keep the detail, never the password ---- */

static void
scrub(rstore *rs)
{
	size_t n = rs->password != NULL ? strlen(rs->password) : 0;
	char *p;

	while (n > 0 && (p = strstr(rs->msg, rs->password)) != NULL)
		memset(p, '*', n);
}

static void
set_msg(rstore *rs, const char *what, const char *detail)
{
	size_t i;

	crumb_fmt(rs->msg, sizeof(rs->msg), "redis: %s%s%s", what,
	    *what != '\0' && detail != NULL && *detail != '\0' ? ": " : "",
	    detail != NULL ? detail : "");
	for (i = 0; rs->msg[i] != '\0'; i++)
		if (rs->msg[i] == '\n' || rs->msg[i] == '\r')
			rs->msg[i] = ' ';
	scrub(rs);
}

static void
drop(rstore *rs)
{
	if (rs->c != NULL)
		redisFree(rs->c);
	rs->c = NULL;
}

/* The context failed (no reply): a timeout is BUSY, anything else a
 * lost connection.  Either way the connection is closed. */
static int
conn_fail(rstore *rs, const char *what)
{
	int timed_out = rs->c != NULL && rs->c->err == REDIS_ERR_IO &&
	    (strcmp(rs->c->errstr, strerror(EAGAIN)) == 0 ||
	    strcmp(rs->c->errstr, strerror(EWOULDBLOCK)) == 0);
	int rc;

	if (timed_out) {
		crumb_fmt(rs->msg, sizeof(rs->msg), "redis: no answer from "
		    "the server within %d ms; connection closed",
		    rs->timeout_ms);
		rc = CRUMB_E_BUSY;
	} else {
		set_msg(rs, what, rs->c != NULL ? rs->c->errstr :
		    "out of memory");
		rc = rs->c != NULL && rs->c->err == REDIS_ERR_OOM ?
		    CRUMB_E_NOMEM : CRUMB_E_CANTOPEN;
	}
	drop(rs);
	return rc;
}

/* An error reply. */
static int
reply_fail(rstore *rs, const redisReply *r)
{
	const char *s = r->str != NULL ? r->str : "";

	set_msg(rs, "", s);
	if (strncmp(s, "OOM", 3) == 0)
		return CRUMB_E_FULL;
	if (strncmp(s, "READONLY", 8) == 0)
		return CRUMB_E_READONLY;
	if (strncmp(s, "BUSY", 4) == 0)
		return CRUMB_E_BUSY;
	if (strncmp(s, "LOADING", 7) == 0 || strncmp(s, "NOAUTH", 6) == 0 ||
	    strncmp(s, "WRONGPASS", 9) == 0 ||
	    strncmp(s, "MASTERDOWN", 10) == 0)
		return CRUMB_E_CANTOPEN;
	return CRUMB_E_STORE;
}

/* ---- the connection ---- */

static struct timeval
tv_of(int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/*
 * hiredis writes with write(): a server that closed the connection
 * would raise SIGPIPE and kill a CGI program that does not ignore it.
 * The commands of the operations are therefore sent by call() itself,
 * with send(MSG_NOSIGNAL), and only their answers read by hiredis.  The
 * one exchange left to hiredis's write(), the pipeline that loads the
 * scripts on a new connection, has SIGPIPE blocked around it, and one
 * it raised is taken back (libpq does the same where it cannot use
 * MSG_NOSIGNAL): four system calls, too many for every command.
 */
typedef struct nopipe {
	sigset_t set, old;
	int was_pending;
} nopipe;

static void
nopipe_begin(nopipe *np)
{
	sigset_t pending;

	sigemptyset(&np->set);
	sigaddset(&np->set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &np->set, &np->old);
	np->was_pending = sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE) == 1;
}

static void
nopipe_end(nopipe *np)
{
	sigset_t pending;

	if (!np->was_pending && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE) == 1) {
		struct timespec zero = { 0, 0 };

		(void)sigtimedwait(&np->set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &np->old, NULL);
}

/* hiredis's context failed with errno: its err and errstr as hiredis
 * itself sets them, for conn_fail. */
static void
ctx_errno(redisContext *c, int err)
{
	c->err = REDIS_ERR_IO;
	crumb_fmt(c->errstr, sizeof(c->errstr), "%s", strerror(err));
}

/* One command, one round trip: formatted by hiredis, sent here with
 * MSG_NOSIGNAL (no SIGPIPE, and no signal mask to change around it),
 * the answer read by hiredis (its output buffer is empty, so it only
 * reads).  The socket's SO_SNDTIMEO and SO_RCVTIMEO bound both.  NULL
 * when the context failed (rs->c->err). */
static redisReply *
call(rstore *rs, int n, const char **v, const size_t *len)
{
	char *buf;
	void *r = NULL;
	int blen = redisFormatCommandArgv(&buf, n, v, len), off = 0;

	if (blen < 0) {
		rs->c->err = REDIS_ERR_OOM;
		crumb_fmt(rs->c->errstr, sizeof(rs->c->errstr), "out of memory");
		return NULL;
	}
	while (off < blen) {
		ssize_t w = send(rs->c->fd, buf + off, (size_t)(blen - off),
		    MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ctx_errno(rs->c, w < 0 ? errno : EPIPE);
			redisFreeCommand(buf);
			return NULL;
		}
		off += (int)w;
	}
	redisFreeCommand(buf);
	if (redisGetReply(rs->c, &r) != REDIS_OK)
		return NULL;
	return r;
}

/* One command on the live connection; *out is the reply (not an
 * error reply). */
static int
cmd(rstore *rs, const args *a, redisReply **out)
{
	redisReply *r;
	int rc;

	*out = NULL;
	/* hiredis only reads the array (its prototype lacks the const). */
	r = call(rs, a->n, (const char **)(uintptr_t)a->v, a->len);
	if (r == NULL)
		return conn_fail(rs, "connection lost");
	if (r->type == REDIS_REPLY_ERROR) {
		rc = reply_fail(rs, r);
		freeReplyObject(r);
		return rc;
	}
	*out = r;
	return CRUMB_OK;
}

static int
load_script(rstore *rs, int i)
{
	args a = { .n = 0 };
	redisReply *r;
	int rc;

	a_str(&a, "SCRIPT");
	a_str(&a, "LOAD");
	a_str(&a, script[i]);
	if ((rc = cmd(rs, &a, &r)) != CRUMB_OK)
		return rc;
	if (r->type != REDIS_REPLY_STRING || r->len != 40) {
		freeReplyObject(r);
		set_msg(rs, "unexpected answer to SCRIPT LOAD", NULL);
		return CRUMB_E_STORE;
	}
	memcpy(rs->sha[i], r->str, 40);
	rs->sha[i][40] = '\0';
	freeReplyObject(r);
	return CRUMB_OK;
}

/* Every script in one pipeline: one round trip. */
static int
load_all(rstore *rs)
{
	nopipe np;
	int i, rc = CRUMB_OK;

	for (i = 0; i < S_COUNT; i++) {
		const char *v[3] = { "SCRIPT", "LOAD", script[i] };
		size_t len[3] = { 6, 4, strlen(script[i]) };

		if (redisAppendCommandArgv(rs->c, 3, v, len) != REDIS_OK)
			return conn_fail(rs, "cannot load the scripts");
	}
	nopipe_begin(&np);
	for (i = 0; i < S_COUNT && rc == CRUMB_OK; i++) {
		void *p = NULL;
		redisReply *r;

		if (redisGetReply(rs->c, &p) != REDIS_OK || p == NULL) {
			rc = conn_fail(rs, "connection lost");
			break;
		}
		r = p;
		if (r->type == REDIS_REPLY_ERROR) {
			rc = reply_fail(rs, r);
		} else if (r->type != REDIS_REPLY_STRING || r->len != 40) {
			set_msg(rs, "unexpected answer to SCRIPT LOAD", NULL);
			rc = CRUMB_E_STORE;
		} else {
			memcpy(rs->sha[i], r->str, 40);
			rs->sha[i][40] = '\0';
		}
		freeReplyObject(r);
	}
	nopipe_end(&np);
	return rc;
}

/* A fresh connection: logged in, database selected, scripts loaded. */
static int
reconnect(rstore *rs)
{
	struct timeval tv = tv_of(rs->timeout_ms);
	args a = { .n = 0 };
	redisReply *r;
	int rc;

	drop(rs);
	rs->c = rs->sock != NULL ? redisConnectUnixWithTimeout(rs->sock, tv) :
	    redisConnectWithTimeout(rs->host, rs->port, tv);
	if (rs->c == NULL) {
		set_msg(rs, "out of memory", NULL);
		return CRUMB_E_NOMEM;
	}
	if (rs->c->err != 0) {
		set_msg(rs, "cannot connect", rs->c->errstr);
		drop(rs);
		return CRUMB_E_CANTOPEN;
	}
	if (redisSetTimeout(rs->c, tv) != REDIS_OK)
		return conn_fail(rs, "cannot set the timeout");
	if (rs->password != NULL) {
		a_str(&a, "AUTH");
		if (rs->user != NULL)
			a_str(&a, rs->user);
		a_str(&a, rs->password);
		if ((rc = cmd(rs, &a, &r)) != CRUMB_OK) {
			char m[sizeof(rs->msg)];

			crumb_fmt(m, sizeof(m), "%s", rs->msg);
			set_msg(rs, "login refused", m + 7);
			drop(rs);
			return CRUMB_E_CANTOPEN;
		}
		freeReplyObject(r);
	}
	if (rs->db != 0) {
		a.n = 0;
		a_str(&a, "SELECT");
		a_int(&a, rs->db);
		if ((rc = cmd(rs, &a, &r)) != CRUMB_OK) {
			drop(rs);
			return rc == CRUMB_E_STORE ? CRUMB_E_INVAL : rc;
		}
		freeReplyObject(r);
	}
	if ((rc = load_all(rs)) != CRUMB_OK)
		drop(rs);
	return rc;
}

/* Before every call: Redis sends nothing unasked, so a readable idle
 * socket means the server closed it (a restart, CLIENT KILL); it is
 * replaced here without a failed call.  Never waits. */
static int
ready(rstore *rs)
{
	if (rs->row != NULL) {
		freeReplyObject(rs->row);
		rs->row = NULL;
	}
	if (rs->c != NULL) {
		struct pollfd pfd = { rs->c->fd, POLLIN, 0 };

		if (rs->c->err != 0 || poll(&pfd, 1, 0) != 0)
			drop(rs);
	}
	if (rs->c != NULL)
		return CRUMB_OK;
	return reconnect(rs);
}

/* EVALSHA script i with keys and a's arguments: one round trip (two
 * when the server forgot the script, e.g. after SCRIPT FLUSH). */
static int
eval(rstore *rs, int i, int nkeys, const char *const *keys,
    const size_t *klen, const args *a, redisReply **out)
{
	const char **v;
	size_t *len;
	char nk[16];
	int n = 3 + nkeys + a->n, j, rc, tries;

	*out = NULL;
	if ((rc = ready(rs)) != CRUMB_OK)
		return rc;
	v = malloc((size_t)n * sizeof(*v));
	len = malloc((size_t)n * sizeof(*len));
	if (v == NULL || len == NULL) {
		free(v);
		free(len);
		return CRUMB_E_NOMEM;
	}
	snprintf(nk, sizeof(nk), "%d", nkeys);
	v[0] = "EVALSHA";
	len[0] = 7;
	v[2] = nk;
	len[2] = strlen(nk);
	for (j = 0; j < nkeys; j++) {
		v[3 + j] = keys[j];
		len[3 + j] = klen[j];
	}
	for (j = 0; j < a->n; j++) {
		v[3 + nkeys + j] = a->v[j];
		len[3 + nkeys + j] = a->len[j];
	}
	for (tries = 0; ; tries++) {
		redisReply *r;

		v[1] = rs->sha[i];
		len[1] = 40;
		r = call(rs, n, v, len);
		if (r == NULL) {
			rc = conn_fail(rs, "connection lost");
			break;
		}
		if (r->type == REDIS_REPLY_ERROR && tries == 0 &&
		    strncmp(r->str, "NOSCRIPT", 8) == 0) {
			freeReplyObject(r);
			if ((rc = load_script(rs, i)) != CRUMB_OK)
				break;
			continue;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			rc = reply_fail(rs, r);
			freeReplyObject(r);
			break;
		}
		*out = r;
		rc = CRUMB_OK;
		break;
	}
	free(v);
	free(len);
	return rc;
}

/* A session's key: prefix "s:" hex, into buf (prefix_len + 67). */
static size_t
skey(const rstore *rs, const uint8_t *hash, char *buf)
{
	memcpy(buf, rs->prefix, rs->prefix_len);
	memcpy(buf + rs->prefix_len, "s:", 2);
	crumb_hex_encode(hash, CRUMB_HASH_LEN, buf + rs->prefix_len + 2);
	return rs->prefix_len + 2 + 2 * CRUMB_HASH_LEN;
}

/* A script whose answer is 0 (done), 1 (conflict) or 2 (not found). */
static int
eval_status(rstore *rs, int i, int nkeys, const char *const *keys,
    const size_t *klen, const args *a)
{
	redisReply *r;
	int rc = eval(rs, i, nkeys, keys, klen, a, &r);

	if (rc != CRUMB_OK)
		return rc;
	if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 ||
	    r->integer > 2) {
		set_msg(rs, "unexpected answer from a script", NULL);
		rc = CRUMB_E_STORE;
	} else {
		rc = r->integer == 0 ? CRUMB_OK : r->integer == 1 ?
		    CRUMB_E_CONFLICT : CRUMB_E_NOT_FOUND;
	}
	freeReplyObject(r);
	return rc;
}

/* Milliseconds Redis keeps a record written at now to expire at
 * expires (at least 1: 0 or less would delete it at once). */
static int64_t
ttl_ms(int64_t now, int64_t expires)
{
	return expires > now ? (expires - now) * 1000 : 1;
}

static int64_t
num(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->str == NULL)
		return 0;
	return strtoll(r->str, NULL, 10);
}

static const char *
str_or_null(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

/* ---- the operations ---- */

/* What the scripts on one session start with: its key into k (the
 * length returned), and ARGV's first two, the prefix and the hash in
 * hex (written into hex, which a then points at). */
static size_t
session_args(const rstore *rs, const uint8_t *hash, char *k, char *hex,
    args *a)
{
	crumb_hex_encode(hash, CRUMB_HASH_LEN, hex);
	a_str(a, rs->prefix);
	a_str(a, hex);
	return skey(rs, hash, k);
}

static int
rd_create(void *ctx, const uint8_t *hash, const char *state, size_t len,
    const char *user, int64_t now, int64_t expires)
{
	rstore *rs = ctx;
	char k[512], hex[2 * CRUMB_HASH_LEN + 1];
	const char *keys[1] = { k };
	size_t kl[1];
	args a = { .n = 0 };

	kl[0] = session_args(rs, hash, k, hex, &a);
	a_bytes(&a, state, len);
	a_str(&a, user);
	a_int(&a, now);
	a_int(&a, expires);
	a_int(&a, ttl_ms(now, expires));
	return eval_status(rs, S_CREATE, 1, keys, kl, &a);
}

static int
rd_load(void *ctx, const uint8_t *hash, int64_t now, crumb_record *out)
{
	static const char *const field[7] = { "state", "user", "version",
	    "created", "last_seen", "expires", "label" };
	rstore *rs = ctx;
	char k[512];
	args a = { .n = 0 };
	redisReply *r, **e;
	int rc, i;

	if ((rc = ready(rs)) != CRUMB_OK)
		return rc;
	a_str(&a, "HMGET");
	a_bytes(&a, k, skey(rs, hash, k));
	for (i = 0; i < 7; i++)
		a_str(&a, field[i]);
	if ((rc = cmd(rs, &a, &r)) != CRUMB_OK)
		return rc;
	e = r->element;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 7) {
		freeReplyObject(r);
		set_msg(rs, "unexpected answer to HMGET", NULL);
		return CRUMB_E_STORE;
	}
	if (e[0]->type != REDIS_REPLY_STRING || num(e[5]) <= now) {
		freeReplyObject(r);
		return CRUMB_E_NOT_FOUND;
	}
	rs->row = r;
	out->state = e[0]->str;
	out->state_len = e[0]->len;
	out->user = str_or_null(e[1]);
	out->version = num(e[2]);
	out->created = num(e[3]);
	out->last_seen = num(e[4]);
	out->expires = num(e[5]);
	out->label = str_or_null(e[6]);
	return CRUMB_OK;
}

static int
rd_update(void *ctx, const uint8_t *hash, const uint8_t *new_hash,
    int64_t version, const char *state, size_t len, const char *user,
    int64_t now, int64_t expires)
{
	rstore *rs = ctx;
	char k[512], k2[512], hex[2 * CRUMB_HASH_LEN + 1];
	char hex2[2 * CRUMB_HASH_LEN + 1] = "";
	const char *keys[2] = { k, k2 };
	size_t kl[2];
	args a = { .n = 0 };

	kl[0] = session_args(rs, hash, k, hex, &a);
	kl[1] = skey(rs, new_hash != NULL ? new_hash : hash, k2);
	if (new_hash != NULL)
		crumb_hex_encode(new_hash, CRUMB_HASH_LEN, hex2);
	a_str(&a, hex2);
	a_int(&a, version);
	a_int(&a, version + 1);
	a_bytes(&a, state, len);
	a_str(&a, user);
	a_int(&a, now);
	a_int(&a, expires);
	a_int(&a, expires != 0 ? ttl_ms(now, expires) : 0);
	return eval_status(rs, S_UPDATE, 2, keys, kl, &a);
}

static int
rd_touch(void *ctx, const uint8_t *hash, int64_t now, int64_t expires)
{
	rstore *rs = ctx;
	char k[512], hex[2 * CRUMB_HASH_LEN + 1];
	const char *keys[1] = { k };
	size_t kl[1];
	args a = { .n = 0 };

	kl[0] = session_args(rs, hash, k, hex, &a);
	a_int(&a, now);
	a_int(&a, expires);
	a_int(&a, ttl_ms(now, expires));
	return eval_status(rs, S_TOUCH, 1, keys, kl, &a);
}

static int
rd_remove(void *ctx, const uint8_t *hash)
{
	rstore *rs = ctx;
	char k[512], hex[2 * CRUMB_HASH_LEN + 1];
	const char *keys[1] = { k };
	size_t kl[1];
	args a = { .n = 0 };

	kl[0] = session_args(rs, hash, k, hex, &a);
	return eval_status(rs, S_REMOVE, 1, keys, kl, &a);
}

static int
rd_change_id(void *ctx, const uint8_t *old_hash, const uint8_t *new_hash,
    int64_t now)
{
	rstore *rs = ctx;
	char k[512], k2[512], hex[2 * CRUMB_HASH_LEN + 1];
	char hex2[2 * CRUMB_HASH_LEN + 1];
	const char *keys[2] = { k, k2 };
	size_t kl[2];
	args a = { .n = 0 };

	kl[0] = skey(rs, old_hash, k);
	kl[1] = skey(rs, new_hash, k2);
	crumb_hex_encode(old_hash, CRUMB_HASH_LEN, hex);
	crumb_hex_encode(new_hash, CRUMB_HASH_LEN, hex2);
	a_str(&a, rs->prefix);
	a_str(&a, hex);
	a_str(&a, hex2);
	a_int(&a, now);
	return eval_status(rs, S_CHANGE_ID, 2, keys, kl, &a);
}

static int
rd_set_label(void *ctx, const uint8_t *hash, const char *label)
{
	rstore *rs = ctx;
	char k[512];
	const char *keys[1] = { k };
	size_t kl[1];
	args a = { .n = 0 };

	kl[0] = skey(rs, hash, k);
	a_str(&a, label);
	return eval_status(rs, S_SET_LABEL, 1, keys, kl, &a);
}

/* prefix, its glob characters escaped, and tail: a SCAN MATCH pattern.
 * New (free()), or NULL. */
static char *
pattern(const rstore *rs, const char *tail)
{
	char *p = malloc(2 * rs->prefix_len + strlen(tail) + 1), *o = p;
	size_t i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < rs->prefix_len; i++) {
		if (strchr("*?[]\\", rs->prefix[i]) != NULL)
			*o++ = '\\';
		*o++ = rs->prefix[i];
	}
	strcpy(o, tail);
	return p;
}

/* Remove the members scored <= now from every user index: what is left
 * of sessions Redis expired by itself. */
static int
clean_indexes(rstore *rs, const char *pat, int64_t now)
{
	char cursor[32] = "0";
	int rc;

	do {
		args a = { .n = 0 };
		redisReply *r;
		size_t i;

		a_str(&a, "SCAN");
		a_str(&a, cursor);
		a_str(&a, "MATCH");
		a_str(&a, pat);
		a_str(&a, "COUNT");
		a_str(&a, "1000");
		if ((rc = cmd(rs, &a, &r)) != CRUMB_OK)
			return rc;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			set_msg(rs, "unexpected answer to SCAN", NULL);
			return CRUMB_E_STORE;
		}
		crumb_fmt(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (i = 0; i < r->element[1]->elements; i++) {
			redisReply *z, *k = r->element[1]->element[i];

			a.n = 0;
			a_str(&a, "ZREMRANGEBYSCORE");
			a_bytes(&a, k->str, k->len);
			a_str(&a, "-inf");
			a_int(&a, now);
			if ((rc = cmd(rs, &a, &z)) != CRUMB_OK) {
				freeReplyObject(r);
				return rc;
			}
			freeReplyObject(z);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return CRUMB_OK;
}

/*
 * Purge walks the sessions with SCAN (many short steps, the server never
 * blocked for long) and deletes the expired ones it meets, a script per
 * step, until batch are deleted.  A walk that reaches the end with fewer
 * then cleans the user indexes.  Expired records only exist when the
 * callers' clock runs ahead of Redis's: Redis deletes the others itself.
 */
static int
rd_purge(void *ctx, int64_t now, unsigned batch, uint64_t *deleted)
{
	rstore *rs = ctx;
	char cursor[32] = "0", *spat, *upat;
	int rc;

	*deleted = 0;
	if ((rc = ready(rs)) != CRUMB_OK)
		return rc;
	spat = pattern(rs, "s:*");
	upat = pattern(rs, "u:*");
	if (spat == NULL || upat == NULL) {
		free(spat);
		free(upat);
		return CRUMB_E_NOMEM;
	}
	do {
		args a = { .n = 0 };
		redisReply *r, *d, *ks;
		const char **keys = NULL;
		size_t *kl = NULL, i;

		a_str(&a, "SCAN");
		a_str(&a, cursor);
		a_str(&a, "MATCH");
		a_str(&a, spat);
		a_str(&a, "COUNT");
		a_str(&a, "500");
		if ((rc = cmd(rs, &a, &r)) != CRUMB_OK)
			break;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			set_msg(rs, "unexpected answer to SCAN", NULL);
			rc = CRUMB_E_STORE;
			break;
		}
		crumb_fmt(cursor, sizeof(cursor), "%s", r->element[0]->str);
		ks = r->element[1];
		if (ks->elements == 0) {
			freeReplyObject(r);
			continue;
		}
		keys = malloc(ks->elements * sizeof(*keys));
		kl = malloc(ks->elements * sizeof(*kl));
		if (keys == NULL || kl == NULL) {
			free(keys);
			free(kl);
			freeReplyObject(r);
			rc = CRUMB_E_NOMEM;
			break;
		}
		for (i = 0; i < ks->elements; i++) {
			keys[i] = ks->element[i]->str;
			kl[i] = ks->element[i]->len;
		}
		a.n = 0;
		a_str(&a, rs->prefix);
		a_int(&a, now);
		a_int(&a, (int64_t)(batch - *deleted));
		rc = eval(rs, S_PURGE, (int)ks->elements, keys, kl, &a, &d);
		free(keys);
		free(kl);
		freeReplyObject(r);
		if (rc != CRUMB_OK)
			break;
		if (d->type == REDIS_REPLY_INTEGER && d->integer > 0)
			*deleted += (uint64_t)d->integer;
		freeReplyObject(d);
	} while (*deleted < batch && strcmp(cursor, "0") != 0);
	if (rc == CRUMB_OK && *deleted < batch)
		rc = clean_indexes(rs, upat, now);
	free(spat);
	free(upat);
	return rc;
}

static int
rd_user_remove(void *ctx, const char *user, uint64_t *deleted)
{
	rstore *rs = ctx;
	args a = { .n = 0 };
	redisReply *r;
	int rc;

	*deleted = 0;
	a_str(&a, rs->prefix);
	a_str(&a, user);
	if ((rc = eval(rs, S_USER_REMOVE, 0, NULL, NULL, &a, &r)) != CRUMB_OK)
		return rc;
	if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
		*deleted = (uint64_t)r->integer;
	freeReplyObject(r);
	return CRUMB_OK;
}

static int
by_last_seen(const void *a, const void *b)
{
	const crumb_session_info *x = a, *y = b;

	return x->last_seen < y->last_seen ? 1 :
	    x->last_seen > y->last_seen ? -1 : strcmp(x->id_hash, y->id_hash);
}

static int
rd_user_list(void *ctx, const char *user, int64_t now, crumb_info_fn fn,
    void *ud)
{
	rstore *rs = ctx;
	args a = { .n = 0 };
	crumb_session_info *info;
	redisReply *r;
	size_t i, n;
	int rc;

	a_str(&a, rs->prefix);
	a_str(&a, user);
	a_int(&a, now);
	if ((rc = eval(rs, S_USER_LIST, 0, NULL, NULL, &a, &r)) != CRUMB_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 5 != 0) {
		freeReplyObject(r);
		set_msg(rs, "unexpected answer to the user list", NULL);
		return CRUMB_E_STORE;
	}
	n = r->elements / 5;
	if ((info = calloc(n > 0 ? n : 1, sizeof(*info))) == NULL) {
		freeReplyObject(r);
		return CRUMB_E_NOMEM;
	}
	for (i = 0; i < n; i++) {
		redisReply **e = r->element + 5 * i;

		if (e[0]->type == REDIS_REPLY_STRING &&
		    e[0]->len == 2 * CRUMB_HASH_LEN)
			memcpy(info[i].id_hash, e[0]->str, e[0]->len);
		info[i].created = num(e[1]);
		info[i].last_seen = num(e[2]);
		info[i].expires = num(e[3]);
		(void)crumb_label_clean(str_or_null(e[4]), info[i].label);
	}
	freeReplyObject(r);
	qsort(info, n, sizeof(*info), by_last_seen);
	for (i = 0; i < n; i++)
		if (fn(&info[i], ud) != 0)
			break;
	free(info);
	return CRUMB_OK;
}

/* ---- administration (crumbctl) ---- */

/*
 * stats and scan walk the keyspace from here, with SCAN: each step one
 * round trip that holds the server for COUNT keys at most, and what is
 * read of the keys a step found is one bounded script.  No script ever
 * walks the keyspace itself: the server, shared with every request,
 * is never held for longer than one step.
 */
#define STEP_COUNT "1000"
#define PAGE_KEYS 1000          /* keys read by one page script at most */

/* One SCAN step from cursor (updated; "0" when the walk is done) over
 * the keys matching pat.  *out is the reply, its element[1] the keys. */
static int
scan_step(rstore *rs, char *cursor, size_t clen, const char *pat,
    redisReply **out)
{
	args a = { .n = 0 };
	redisReply *r;
	int rc;

	*out = NULL;
	if ((rc = ready(rs)) != CRUMB_OK)
		return rc;
	a_str(&a, "SCAN");
	a_str(&a, cursor);
	a_str(&a, "MATCH");
	a_str(&a, pat);
	a_str(&a, "COUNT");
	a_str(&a, STEP_COUNT);
	if ((rc = cmd(rs, &a, &r)) != CRUMB_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		set_msg(rs, "unexpected answer to SCAN", NULL);
		return CRUMB_E_STORE;
	}
	crumb_fmt(cursor, clen, "%s", r->element[0]->str);
	*out = r;
	return CRUMB_OK;
}

/* EVALSHA script i with the n keys of ks (string replies) as KEYS. */
static int
eval_keys(rstore *rs, int i, redisReply **ks, size_t n, const args *a,
    redisReply **out)
{
	const char **keys = malloc((n > 0 ? n : 1) * sizeof(*keys));
	size_t *kl = malloc((n > 0 ? n : 1) * sizeof(*kl)), j;
	int rc;

	*out = NULL;
	if (keys == NULL || kl == NULL) {
		free(keys);
		free(kl);
		return CRUMB_E_NOMEM;
	}
	for (j = 0; j < n; j++) {
		keys[j] = ks[j]->str;
		kl[j] = ks[j]->len;
	}
	rc = eval(rs, i, (int)n, keys, kl, a, out);
	free(keys);
	free(kl);
	return rc;
}

/* The distinct users of stats: an open-addressing set of copies. */
typedef struct uset {
	char **slot;
	size_t cap, n;          /* cap a power of 2, or 0 */
} uset;

static uint64_t
fnv1a(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static void
uset_put(uset *u, char *s)
{
	size_t i = (size_t)fnv1a(s, strlen(s)) & (u->cap - 1);

	while (u->slot[i] != NULL)
		i = (i + 1) & (u->cap - 1);
	u->slot[i] = s;
}

static int
uset_add(uset *u, const char *s, size_t len)
{
	size_t i;
	char *c;

	if (memchr(s, '\0', len) != NULL)
		len = strlen(s);
	if (2 * (u->n + 1) > u->cap) {
		uset g = { NULL, u->cap > 0 ? 2 * u->cap : 1024, u->n };

		if ((g.slot = calloc(g.cap, sizeof(*g.slot))) == NULL)
			return CRUMB_E_NOMEM;
		for (i = 0; i < u->cap; i++)
			if (u->slot[i] != NULL)
				uset_put(&g, u->slot[i]);
		free(u->slot);
		*u = g;
	}
	for (i = (size_t)fnv1a(s, len) & (u->cap - 1); u->slot[i] != NULL;
	    i = (i + 1) & (u->cap - 1))
		if (strncmp(u->slot[i], s, len) == 0 &&
		    u->slot[i][len] == '\0')
			return CRUMB_OK;
	if ((c = strndup(s, len)) == NULL)
		return CRUMB_E_NOMEM;
	u->slot[i] = c;
	u->n++;
	return CRUMB_OK;
}

static void
uset_free(uset *u)
{
	size_t i;

	for (i = 0; i < u->cap; i++)
		free(u->slot[i]);
	free(u->slot);
}

/* Walk the keys matching pat, adding each step's counts to out (and
 * its live users to us: sessions) or its keys' bytes (us NULL: user
 * indexes). */
static int
tally(rstore *rs, const char *pat, int64_t now, crumb_store_counts *out,
    uset *us)
{
	char cursor[32] = "0";
	int rc;

	do {
		args a = { .n = 0 };
		redisReply *r, *t, **e;
		size_t i;

		if ((rc = scan_step(rs, cursor, sizeof(cursor), pat, &r)) !=
		    CRUMB_OK)
			return rc;
		if (r->element[1]->elements == 0) {
			freeReplyObject(r);
			continue;
		}
		a_int(&a, now);
		a_str(&a, us != NULL ? "s" : "u");
		rc = eval_keys(rs, S_TALLY, r->element[1]->element,
		    r->element[1]->elements, &a, &t);
		freeReplyObject(r);
		if (rc != CRUMB_OK)
			return rc;
		e = t->element;
		if (t->type != REDIS_REPLY_ARRAY || t->elements != 4 ||
		    e[0]->type != REDIS_REPLY_INTEGER ||
		    e[1]->type != REDIS_REPLY_INTEGER ||
		    e[2]->type != REDIS_REPLY_INTEGER ||
		    e[3]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(t);
			set_msg(rs, "unexpected answer to the counts", NULL);
			return CRUMB_E_STORE;
		}
		out->records += (uint64_t)e[0]->integer;
		out->live += (uint64_t)e[1]->integer;
		out->bytes += e[2]->integer;
		for (i = 0; us != NULL && i < e[3]->elements && rc == CRUMB_OK;
		    i++)
			if (e[3]->element[i]->type == REDIS_REPLY_STRING)
				rc = uset_add(us, e[3]->element[i]->str,
				    e[3]->element[i]->len);
		freeReplyObject(t);
		if (rc != CRUMB_OK)
			return rc;
	} while (strcmp(cursor, "0") != 0);
	return CRUMB_OK;
}

/*
 * Counted step by step (see above), not in one snapshot: a record
 * created, changed or removed during the walk may be counted as it was
 * or as it is, or not at all.  Each record is counted once as live or
 * expired, so that live + expired == records.  The distinct users are
 * gathered here, a copy of each.
 */
static int
rd_stats(void *ctx, int64_t now, crumb_store_counts *out)
{
	rstore *rs = ctx;
	char *spat = pattern(rs, "s:*"), *upat = pattern(rs, "u:*");
	uset us = { NULL, 0, 0 };
	int rc = CRUMB_E_NOMEM;

	memset(out, 0, sizeof(*out));
	if (spat != NULL && upat != NULL &&
	    (rc = tally(rs, spat, now, out, &us)) == CRUMB_OK)
		rc = tally(rs, upat, now, out, NULL);
	out->expired = out->records - out->live;
	out->users = us.n;
	uset_free(&us);
	free(spat);
	free(upat);
	return rc;
}

static void
walk_end(rstore *rs)
{
	free(rs->walk);
	rs->walk = NULL;
	rs->walk_n = rs->walk_pos = 0;
}

static int
by_hash(const void *a, const void *b)
{
	return memcmp(a, b, CRUMB_HASH_LEN);
}

/* A session key's hash into h: 0 when k is not one. */
static int
key_hash(const rstore *rs, const redisReply *k, uint8_t *h)
{
	const char *x;
	size_t i;

	if (k->type != REDIS_REPLY_STRING ||
	    k->len != rs->prefix_len + 2 + 2 * CRUMB_HASH_LEN)
		return 0;
	x = k->str + rs->prefix_len + 2;
	for (i = 0; i < CRUMB_HASH_LEN; i++) {
		int hi = crumb_hexval((unsigned char)x[2 * i]);
		int lo = crumb_hexval((unsigned char)x[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		h[i] = (uint8_t)(hi << 4 | lo);
	}
	return 1;
}

/* A new walk: every session's hash, listed by SCAN steps, sorted,
 * each once (SCAN may list a key twice). */
static int
walk_begin(rstore *rs)
{
	char cursor[32] = "0", *pat = pattern(rs, "s:*");
	size_t cap = 0, i, n;
	int rc = CRUMB_OK;

	walk_end(rs);
	if (pat == NULL)
		return CRUMB_E_NOMEM;
	do {
		redisReply *r, *ks;

		if ((rc = scan_step(rs, cursor, sizeof(cursor), pat, &r)) !=
		    CRUMB_OK)
			break;
		ks = r->element[1];
		if (rs->walk_n + ks->elements > cap) {
			size_t c = cap > 0 ? cap : 1024;
			void *p;

			while (c < rs->walk_n + ks->elements)
				c *= 2;
			if ((p = realloc(rs->walk, c * CRUMB_HASH_LEN)) ==
			    NULL) {
				freeReplyObject(r);
				rc = CRUMB_E_NOMEM;
				break;
			}
			rs->walk = p;
			cap = c;
		}
		for (i = 0; i < ks->elements; i++)
			if (key_hash(rs, ks->element[i], rs->walk[rs->walk_n]))
				rs->walk_n++;
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	free(pat);
	if (rc != CRUMB_OK) {
		walk_end(rs);
		return rc;
	}
	if (rs->walk_n > 1)
		qsort(rs->walk, rs->walk_n, CRUMB_HASH_LEN, by_hash);
	for (i = n = 0; i < rs->walk_n; i++)
		if (n == 0 || memcmp(rs->walk[n - 1], rs->walk[i],
		    CRUMB_HASH_LEN) != 0)
			memmove(rs->walk[n++], rs->walk[i], CRUMB_HASH_LEN);
	rs->walk_n = n;
	return CRUMB_OK;
}

/* The first position in the walk whose hash is greater than after. */
static size_t
walk_after(const rstore *rs, const uint8_t *after)
{
	size_t lo = 0, hi = rs->walk_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(rs->walk[mid], after, CRUMB_HASH_LEN) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A walk begins (after NULL) with the list of every session's hash,
 * kept sorted in the handle (CRUMB_HASH_LEN bytes a session: hashes
 * only, never records) until the walk ends: a page of fewer than max,
 * fn stopping it, an error, or close.  Each page reads the records of
 * the next hashes, PAGE_KEYS at most per script, skipping those gone
 * or expired meanwhile; records created after the list was made are
 * not seen, which the contract allows.  A page whose after is not
 * where the walk stands lists the hashes again.
 */
static int
rd_scan(void *ctx, const uint8_t *after, int64_t now, unsigned max,
    crumb_scan_fn fn, void *ud, unsigned *seen)
{
	rstore *rs = ctx;
	int rc = CRUMB_OK;

	*seen = 0;
	if (after == NULL || rs->walk == NULL ||
	    memcmp(after, rs->walk_last, CRUMB_HASH_LEN) != 0) {
		if ((rc = walk_begin(rs)) != CRUMB_OK)
			return rc;
		rs->walk_pos = after != NULL ? walk_after(rs, after) : 0;
	}
	while (*seen < max && rs->walk_pos < rs->walk_n) {
		size_t n = rs->walk_n - rs->walk_pos, i;
		size_t stride = rs->prefix_len + 3 + 2 * CRUMB_HASH_LEN;
		char *k;
		const char **kv;
		size_t *kl;
		redisReply *r;
		args a = { .n = 0 };

		/* what the page lacks and some more, for the records
		 * expired or gone (those not handed out are read again
		 * by the next page) */
		if (n > max - *seen + (max - *seen) / 8 + 8)
			n = max - *seen + (max - *seen) / 8 + 8;
		if (n > PAGE_KEYS)
			n = PAGE_KEYS;
		k = malloc(n * stride);
		kv = malloc(n * sizeof(*kv));
		kl = malloc(n * sizeof(*kl));
		if (k != NULL && kv != NULL && kl != NULL) {
			for (i = 0; i < n; i++) {
				kv[i] = k + i * stride;
				kl[i] = skey(rs, rs->walk[rs->walk_pos + i],
				    k + i * stride);
			}
			a_int(&a, now);
			rc = eval(rs, S_PAGE, (int)n, kv, kl, &a, &r);
		} else {
			rc = CRUMB_E_NOMEM;
		}
		free(k);
		free(kv);
		free(kl);
		if (rc != CRUMB_OK)
			break;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
			freeReplyObject(r);
			set_msg(rs, "unexpected answer to the scan", NULL);
			rc = CRUMB_E_STORE;
			break;
		}
		for (i = 0; i < n && *seen < max; i++) {
			const uint8_t *h = rs->walk[rs->walk_pos++];
			redisReply **e = r->element[i]->element;
			crumb_record rec;

			if (r->element[i]->type != REDIS_REPLY_ARRAY ||
			    r->element[i]->elements != 7 ||
			    e[0]->type != REDIS_REPLY_STRING)
				continue;
			rec.state = e[0]->str;
			rec.state_len = e[0]->len;
			rec.user = str_or_null(e[1]);
			rec.version = num(e[2]);
			rec.created = num(e[3]);
			rec.last_seen = num(e[4]);
			rec.expires = num(e[5]);
			rec.label = str_or_null(e[6]);
			(*seen)++;
			memcpy(rs->walk_last, h, CRUMB_HASH_LEN);
			if (fn(h, &rec, ud) != 0) {
				freeReplyObject(r);
				walk_end(rs);
				return CRUMB_OK;
			}
		}
		freeReplyObject(r);
	}
	if (rc != CRUMB_OK || *seen < max)
		walk_end(rs);
	return rc;
}

static int
rd_import(void *ctx, const uint8_t *hash, const crumb_record *rec,
    int64_t now, int *written)
{
	rstore *rs = ctx;
	char k[512], hex[2 * CRUMB_HASH_LEN + 1];
	const char *keys[1] = { k };
	size_t kl[1];
	args a = { .n = 0 };
	redisReply *r;
	int rc;

	*written = 0;
	kl[0] = session_args(rs, hash, k, hex, &a);
	a_bytes(&a, rec->state, rec->state_len);
	a_str(&a, rec->user);
	a_int(&a, rec->version);
	a_int(&a, rec->created);
	a_int(&a, rec->last_seen);
	a_int(&a, rec->expires);
	a_str(&a, rec->label);
	a_int(&a, now);
	a_int(&a, ttl_ms(now, rec->expires));
	if ((rc = eval(rs, S_IMPORT, 1, keys, kl, &a, &r)) != CRUMB_OK)
		return rc;
	*written = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	return CRUMB_OK;
}

static const char *
rd_errmsg(void *ctx)
{
	return ((rstore *)ctx)->msg;
}

static void
rd_close(void *ctx)
{
	rstore *rs = ctx;

	if (rs == NULL)
		return;
	if (rs->row != NULL)
		freeReplyObject(rs->row);
	free(rs->walk);
	drop(rs);
	free(rs->host);
	free(rs->sock);
	free(rs->user);
	if (rs->password != NULL)
		explicit_bzero(rs->password, strlen(rs->password));
	free(rs->password);
	free(rs->prefix);
	free(rs);
}

static const crumb_store_ops redis_ops = {
	rd_create, rd_load, rd_update, rd_touch, rd_remove, rd_change_id,
	rd_purge, rd_user_remove, rd_user_list, rd_errmsg, rd_close, NULL,
	NULL, rd_set_label, rd_stats, rd_scan, rd_import,
};

/* ---- the URL ---- */

static int
bad_url(rstore *rs, const char *why)
{
	crumb_fmt(rs->msg, sizeof(rs->msg), "redis URL: %s", why);
	return CRUMB_E_INVAL;
}

/* A decimal in s[0..n) within 0..max; -1 when not. */
static long
number(const char *s, size_t n, long max)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

static int
query(rstore *rs, const char *q, int unix_form)
{
	while (q != NULL && *q != '\0') {
		size_t n = strcspn(q, "&"), kn;
		const char *eq = memchr(q, '=', n), *v;
		long x;
		int bad;

		kn = eq != NULL ? (size_t)(eq - q) : n;
		v = eq != NULL ? eq + 1 : q + n;
		if (n == 0) {
			q++;
			continue;
		}
		if (kn == 6 && strncmp(q, "prefix", 6) == 0) {
			free(rs->prefix);
			rs->prefix = crumb_pct_decode(v, (size_t)(q + n - v),
			    &bad);
			if (rs->prefix == NULL)
				return bad ? bad_url(rs, "bad %-escape in "
				    "prefix") : CRUMB_E_NOMEM;
			if (strlen(rs->prefix) > 256)
				return bad_url(rs, "prefix longer than 256 "
				    "bytes");
		} else if (kn == 7 && strncmp(q, "timeout", 7) == 0) {
			if ((x = number(v, (size_t)(q + n - v), 3600000)) <= 0)
				return bad_url(rs, "timeout must be "
				    "1..3600000 (milliseconds)");
			rs->timeout_ms = (int)x;
		} else if (kn == 8 && strncmp(q, "password", 8) == 0 &&
		    unix_form) {
			free(rs->password);
			rs->password = crumb_pct_decode(v,
			    (size_t)(q + n - v), &bad);
			if (rs->password == NULL)
				return bad ? bad_url(rs, "bad %-escape in the "
				    "password") : CRUMB_E_NOMEM;
		} else if (kn == 2 && strncmp(q, "db", 2) == 0 && unix_form) {
			if ((x = number(v, (size_t)(q + n - v), 100000)) < 0)
				return bad_url(rs, "db must be a number");
			rs->db = (int)x;
		} else {
			int plain = kn > 0 && kn <= 32 &&
			    strspn(q, "abcdefghijklmnopqrstuvwxyz_") >= kn;

			crumb_fmt(rs->msg, sizeof(rs->msg), "redis URL: "
			    "unknown parameter%s%.*s%s (known: %s)",
			    plain ? " \"" : "", plain ? (int)kn : 0, q,
			    plain ? "\"" : "", unix_form ?
			    "db, password, prefix, timeout" :
			    "prefix, timeout");
			return CRUMB_E_INVAL;
		}
		q += n;
	}
	return CRUMB_OK;
}

/* redis://[[user]:password@]host[:port][/db][?query] */
static int
parse_tcp(rstore *rs, const char *s)
{
	const char *end = s + strcspn(s, "/?#"), *at = NULL, *c, *h, *q;
	int bad;
	long x;

	for (c = s; c < end; c++)
		if (*c == '@')
			at = c;
	h = s;
	if (at != NULL) {
		const char *colon = memchr(s, ':', (size_t)(at - s));

		if (colon == NULL)
			return bad_url(rs, "userinfo without a password "
			    "(write :password@)");
		if (colon > s && (rs->user = crumb_pct_decode(s,
		    (size_t)(colon - s), &bad)) == NULL)
			return bad ? bad_url(rs, "bad %-escape in the user") :
			    CRUMB_E_NOMEM;
		if ((rs->password = crumb_pct_decode(colon + 1,
		    (size_t)(at - colon - 1), &bad)) == NULL)
			return bad ? bad_url(rs, "bad %-escape in the "
			    "password") : CRUMB_E_NOMEM;
		h = at + 1;
	}
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (rb == NULL)
			return bad_url(rs, "unclosed [ in the host");
		if ((rs->host = strndup(h + 1, (size_t)(rb - h - 1))) == NULL)
			return CRUMB_E_NOMEM;
		c = rb + 1;
	} else {
		c = memchr(h, ':', (size_t)(end - h));
		if (c == NULL)
			c = end;
		if ((rs->host = crumb_pct_decode(h, (size_t)(c - h),
		    &bad)) == NULL)
			return bad ? bad_url(rs, "bad %-escape in the host") :
			    CRUMB_E_NOMEM;
	}
	if (rs->host[0] == '\0')
		return bad_url(rs, "no host");
	rs->port = 6379;
	if (c < end && *c == ':') {
		if ((x = number(c + 1, (size_t)(end - c - 1), 65535)) <= 0)
			return bad_url(rs, "port must be 1..65535");
		rs->port = (int)x;
	} else if (c != end) {
		return bad_url(rs, "junk after the host");
	}
	q = end;
	if (*q == '/') {
		size_t n = strcspn(q + 1, "?#");

		if (n > 0) {
			if ((x = number(q + 1, n, 100000)) < 0)
				return bad_url(rs, "the path must be a "
				    "database number");
			rs->db = (int)x;
		}
		q += 1 + n;
	}
	if (*q == '#')
		return bad_url(rs, "no fragment allowed");
	return query(rs, *q == '?' ? q + 1 : NULL, 0);
}

/* redis+unix:///path[?query] */
static int
parse_unix(rstore *rs, const char *s)
{
	const char *q;
	int bad;

	if (strncmp(s, "//", 2) == 0) {
		if (s[2] != '/')
			return bad_url(rs, "a unix socket URL names no host "
			    "(redis+unix:///path/to/socket)");
		s += 2;
	}
	q = s + strcspn(s, "?");
	if (q == s || *s != '/')
		return bad_url(rs, "no absolute socket path");
	if ((rs->sock = crumb_pct_decode(s, (size_t)(q - s),
	    &bad)) == NULL)
		return bad ? bad_url(rs, "bad %-escape in the path") :
		    CRUMB_E_NOMEM;
	return query(rs, *q == '?' ? q + 1 : NULL, 1);
}

static int
parse_url(rstore *rs, const char *url)
{
	if (strncasecmp(url, "redis://", 8) == 0)
		return parse_tcp(rs, url + 8);
	if (strncasecmp(url, "redis+unix:", 11) == 0)
		return parse_unix(rs, url + 11);
	return bad_url(rs, "must start with redis:// or redis+unix:");
}

CRUMB_API int
crumb_store_redis_open(const char *url, int timeout_ms, crumb_store **out,
    char *errbuf, size_t errlen)
{
	rstore *rs;
	int rc;

	if (out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	if (url == NULL || timeout_ms < 0)
		return CRUMB_E_INVAL;
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return CRUMB_E_NOMEM;
	rs->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
	if ((rs->prefix = strdup(DEFAULT_PREFIX)) == NULL) {
		rd_close(rs);
		return CRUMB_E_NOMEM;
	}
	if ((rc = parse_url(rs, url)) == CRUMB_OK) {
		rs->prefix_len = strlen(rs->prefix);
		rc = reconnect(rs);
	}
	if (rc == CRUMB_OK)
		rc = crumb_store_new(&redis_ops, rs, out);
	if (rc != CRUMB_OK) {
		if (errbuf != NULL && errlen > 0)
			crumb_fmt(errbuf, errlen, "%s", rs->msg[0] != '\0' ?
			    rs->msg : crumb_strerror(rc));
		rd_close(rs);
		return rc;
	}
	rs->msg[0] = '\0';
	return CRUMB_OK;
}

#endif /* CRUMB_HAVE_REDIS */
