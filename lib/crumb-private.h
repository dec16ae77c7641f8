/*
 * Internals shared by the library's files.  Not installed.
 */
#ifndef CRUMB_PRIVATE_H
#define CRUMB_PRIVATE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <gcrypt.h>

#include "crumb.h"

#define CRUMB_API __attribute__((visibility("default")))

#define CRUMB_ID_LEN 32          /* random bytes in a session ID */
#define CRUMB_KEYID_LEN 4        /* key identifier in the cookie */
#define CRUMB_NONCE_LEN 12       /* AES-GCM nonce */
#define CRUMB_TAG_LEN 16         /* AES-GCM tag */
#define CRUMB_ENVELOPE_VERSION 1
#define CRUMB_HEADER_LEN (1 + CRUMB_KEYID_LEN)
#define CRUMB_COOKIE_HEADER_MAX (64 * 1024) /* longer Cookie headers are ignored */
#define CRUMB_CSRF_LEN 32        /* secret behind the CSRF tokens */
#define CRUMB_ERRMSG_LEN 256
/* Latest time the library works with (9999-12-31T23:59:59Z): clocks,
 * cookies and records are kept within 0..CRUMB_TIME_MAX, so that adding
 * a TTL (at most CRUMB_TTL_MAX) never overflows. */
#define CRUMB_TIME_MAX INT64_C(253402300799)

/* ---- util.c ---- */
void crumb_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
char *crumb_strdup(const char *s);
int crumb_hexval(int c);                    /* 0..15, or -1 */
/* Decode %XX escapes of in[0..n) into a new string (free()); NULL on a
 * bad escape or an escaped NUL (*bad set) or no memory (*bad clear). */
char *crumb_pct_decode(const char *in, size_t n, int *bad);
void crumb_hex_encode(const uint8_t *in, size_t n, char *out); /* 2n+1 */
int crumb_is_tchar(int c);                  /* RFC 7230 tchar (0..255) */
int crumb_is_token(const char *s);          /* RFC 7230 token */
int crumb_is_cookie_value(const char *s);   /* RFC 6265 cookie-octets */

/* Growable string used to build header lines. */
typedef struct crumb_buf {
	char *data;
	size_t len, cap;
	int failed;          /* an allocation failed; data is unusable */
} crumb_buf;
void crumb_buf_add(crumb_buf *b, const char *s, size_t n);
void crumb_buf_puts(crumb_buf *b, const char *s);
void crumb_buf_printf(crumb_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void crumb_buf_release(crumb_buf *b);

/* ---- base64.c (RFC 4648 base64url, no padding) ---- */
size_t crumb_b64_enclen(size_t n);
void crumb_b64_encode(const uint8_t *in, size_t n, char *out); /* NUL-terminates */
/* Returns decoded length, or (size_t)-1 on a character outside the
 * alphabet or an impossible length.  out must hold n*3/4 bytes. */
size_t crumb_b64_decode(const char *in, size_t n, uint8_t *out);

/* ---- crypto.c ---- */
int crumb_crypto_init(void);
void crumb_random(void *buf, size_t n);      /* strong, for IDs */
void crumb_nonce(void *buf, size_t n);       /* unpredictable, for nonces */
void crumb_sha256(const void *in, size_t n, uint8_t out[32]);

typedef struct crumb_key {
	uint8_t id[CRUMB_KEYID_LEN];
	gcry_cipher_hd_t hd;     /* opened and keyed once per process */
} crumb_key;
int crumb_key_init(crumb_key *k, const unsigned char *key, size_t len);
void crumb_key_release(crumb_key *k);
/* AES-256-GCM.  out gets len bytes of ciphertext then the tag. */
int crumb_key_seal(crumb_key *k, const uint8_t *nonce, const uint8_t *aad,
    size_t aadlen, const uint8_t *in, size_t len, uint8_t *out);
/* in holds len bytes of ciphertext then the tag; 0 when authentic.
 * out may be in (decrypts in place). */
int crumb_key_open(crumb_key *k, const uint8_t *nonce, const uint8_t *aad,
    size_t aadlen, const uint8_t *in, size_t len, uint8_t *out);

/* ---- cookie.c ---- */
typedef struct crumb_pair {
	const char *name;
	const char *value;
} crumb_pair;

typedef struct crumb_jar {
	char *copy;              /* the header, cut in place */
	crumb_pair *pairs;       /* one allocation with copy */
	size_t n;
} crumb_jar;
int crumb_jar_parse(crumb_jar *jar, const char *header);
void crumb_jar_release(crumb_jar *jar);

/* A queued response cookie. */
typedef struct crumb_out_cookie {
	char *line;              /* full "Set-Cookie: ...\r\n" */
	char *name;
	struct crumb_out_cookie *next;
} crumb_out_cookie;

/* Appends "Set-Cookie: name=value; attributes\r\n" to b. */
void crumb_set_cookie_line(crumb_buf *b, const char *name, const char *value,
    int64_t max_age, int max_age_set, const char *path, const char *domain,
    unsigned flags);

/* ---- config.c ---- */
typedef struct crumb_scache crumb_scache;   /* state-cache.c */
typedef struct crumb_keywatch crumb_keywatch; /* keyfile.c */
#define CRUMB_MAX_OLD_KEYS 8

struct crumb_config {
	crumb_store *store;
	crumb_key current;
	int has_current;
	crumb_key old[CRUMB_MAX_OLD_KEYS];  /* crumb_config_add_old_key's */
	size_t n_old;
	/* The watched key directory's key.old (a retired key: its cookies
	 * are re-sealed) and key.next (accepted as it is, never sealing);
	 * current is its key. */
	crumb_key retired, next;
	int has_retired, has_next;
	crumb_keywatch *watch;   /* NULL: no directory watched */
	char *cookie_name;       /* as configured, without __Host- */
	char *full_name;         /* "__Host-" cookie_name */
	char *path;
	char *domain;
	int host_prefix;         /* -1 automatic, 0 off, 1 on */
	int secure, http_only, persistent;
	crumb_same_site same_site;
	int64_t ttl;
	crumb_ttl_policy ttl_policy;
	int64_t ttl_threshold;
	int64_t absolute;
	crumb_clock_fn clock;
	void *clock_ud;
	crumb_scache *scache;    /* parsed states (state-cache.c) */
	char errmsg[CRUMB_ERRMSG_LEN]; /* why the last key file failed */
};
int64_t crumb_now(const crumb_config *cfg);
const char *crumb_cookie_name(const crumb_config *cfg);
unsigned crumb_cookie_flags(const crumb_config *cfg);
const char *crumb_cookie_path(const crumb_config *cfg);
const char *crumb_cookie_domain(const crumb_config *cfg);

/* ---- keyfile.c: key files and the watched key directory ---- */
/* Look at the watched key files (nothing when cfg watches none) and
 * load them again when they changed since they were last read.  force
 * 0: at most once a second (a session begins); force 1: now (a cookie
 * came sealed with a key cfg does not hold), but only when a file
 * changed.  A failed reload keeps the keys and is reported once on
 * stderr.  Non-zero when the keys were reloaded. */
int crumb_keys_poll(crumb_config *cfg, int force);
void crumb_keywatch_free(crumb_keywatch *w);

/* ---- envelope.c: the session cookie's sealed value ---- */
typedef struct crumb_payload {
	uint8_t id[CRUMB_ID_LEN];
	int has_id;
	int64_t created;         /* session start (absolute lifetime) */
	int64_t expires;         /* end of the current TTL window */
	int64_t ttl;             /* per-session TTL override, 0 = config */
	int persistent;          /* -1 = config, 0/1 = override */
	uint8_t csrf[CRUMB_CSRF_LEN]; /* CSRF secret, when has_csrf */
	int has_csrf;
	cJSON *client;           /* client-side state, owned */
} crumb_payload;
/* Seal into a new base64url string (crumb_free).  CRUMB_E_TOO_LARGE
 * when the encoded value exceeds max_len. */
int crumb_envelope_seal(crumb_config *cfg, const crumb_payload *p,
    size_t max_len, char **out);
/* Open a cookie value; CRUMB_OK with *old_key set when it was sealed
 * under a retired key.  Any failure means "no session";
 * CRUMB_E_NOT_FOUND says that the value names a key cfg does not hold
 * (another deployment's, or one another worker loaded already). */
int crumb_envelope_open(crumb_config *cfg, const char *value,
    crumb_payload *p, int *old_key);
/* Length the sealed value of a given plaintext size would have. */
size_t crumb_envelope_len(size_t plain_len);

/* ---- state-cache.c: parsed server states kept across requests ---- */
typedef struct crumb_shared {
	cJSON *map;              /* never changed while shared */
	unsigned refs;
} crumb_shared;
void crumb_shared_release(crumb_shared *sh);
/* The tree of the record hash whose stored text is text: the cached one
 * (*shared gets a new reference, *map is borrowed from it) or parsed now
 * (then remembered when it fits, as a hit would be, or *shared is NULL
 * and *map the caller's own).  CRUMB_E_CORRUPT: not a JSON object. */
int crumb_scache_parse(crumb_config *cfg, const uint8_t *hash,
    const char *text, size_t len, cJSON **map, crumb_shared **shared);
/* Drop the entry of a record rewritten, renamed or deleted. */
void crumb_scache_forget(crumb_config *cfg, const uint8_t *hash);
void crumb_scache_free(crumb_scache *c);

/* ---- state.c ---- */
struct crumb_state {
	crumb_session *s;
	int server;              /* 1: server-side (lazy load) */
	cJSON *map;              /* object; NULL until loaded */
	/* The cached tree map came from: map is shared->map until the
	 * first change copies it (crumb_state_own); the reference is kept
	 * until reset, so values handed out of it stay valid. */
	crumb_shared *shared;
	int modified;
	int lent;                /* values were handed out of map */
	/* Journal of changes since the last save, replayed on top of a
	 * fresher copy when a concurrent update wins the race. */
	cJSON *journal;          /* array of [op, key, value] */
};
int crumb_state_ready(crumb_state *st);   /* loads / checks invalidation */
void crumb_state_reset(crumb_state *st);
int crumb_state_own(crumb_state *st);     /* a map of its own to change */
void crumb_state_set_map(crumb_state *st, cJSON *map, crumb_shared *sh);
/* Apply the journal to map (used after a reload); CRUMB_OK or NOMEM. */
int crumb_state_replay(cJSON *map, const cJSON *journal);

/* ---- gate.c: the SQLite store's queue of writers ---- */
typedef struct crumb_gate crumb_gate;
/* The gate of the database at db_path (PATH-gate beside it), or NULL
 * when there is none to have (no file, no rights, another ABI): the
 * store then relies on SQLite's locking alone.  Free with
 * crumb_gate_close. */
crumb_gate *crumb_gate_open(const char *db_path);
/* Wait up to wait_ms for the gate: CRUMB_OK (also when g is NULL or
 * has gone bad) or CRUMB_E_BUSY. */
int crumb_gate_enter(crumb_gate *g, int wait_ms);
void crumb_gate_leave(crumb_gate *g);
void crumb_gate_close(crumb_gate *g);

/* ---- store.c ---- */
struct crumb_store {
	const crumb_store_ops *ops;
	void *ctx;
};
const char *crumb_store_msg(const crumb_store *st);

/* ---- csrf.c: the session's CSRF secret and the tokens made of it ---- */
typedef struct crumb_csrf_text crumb_csrf_text;
typedef struct crumb_csrf {
	uint8_t secret[CRUMB_CSRF_LEN];
	int has_secret;
	const char *current;     /* token of this secret handed out, or NULL */
	crumb_csrf_text *texts;  /* every token handed out, freed with it */
} crumb_csrf;
/* Take the secret a session cookie carried (p may have none). */
void crumb_csrf_adopt(crumb_csrf *c, const crumb_payload *p);
/* Put the secret, if any, into a payload about to be sealed. */
void crumb_csrf_put(const crumb_csrf *c, crumb_payload *p);
/* Forget the secret: tokens handed out so far stop matching, their
 * text stays readable until crumb_csrf_release. */
void crumb_csrf_retire(crumb_csrf *c);
void crumb_csrf_release(crumb_csrf *c);

/* ---- session.c ---- */
typedef struct crumb_kept crumb_kept;       /* record.c */
struct crumb_session {
	crumb_config *cfg;
	crumb_jar jar;
	int64_t now;
	int finished;
	int invalidated;
	int incoming;            /* a valid session cookie came in */
	int old_key;             /* it was sealed under a retired key */
	crumb_payload in;        /* what the cookie said */
	uint8_t id[CRUMB_ID_LEN];/* current ID (valid when has_id) */
	int has_id;
	uint8_t rec_id[CRUMB_ID_LEN]; /* ID the store knows the record by */
	int has_rec_id;
	uint8_t rec_hash[CRUMB_HASH_LEN]; /* its SHA-256, when rec_hash_ok */
	int rec_hash_ok;
	int renewed;             /* cycle_id called */
	int64_t created;         /* session start, for the absolute lifetime */
	/* server record */
	int loaded;              /* server map present */
	int exists;              /* record exists in the store under rec_id */
	int deleted;             /* delete() called */
	int pending_delete;      /* record to remove at the next persist */
	int locked;              /* inside atomic_locked: no replay needed */
	int lost;                /* record vanished under a concurrent update */
	int store_err;           /* first store failure: sticky */
	int wrote;               /* record written in this request */
	int extended;            /* ... and its expiry pushed back */
	int64_t version;
	int64_t rec_expires;
	char *user;
	int user_lent;           /* get_user handed it out */
	int user_changed;        /* set_user changed it (status) */
	int user_dirty;          /* ... and it is not written yet */
	/* expiry override */
	int64_t ttl;             /* 0 = config */
	int persistent;          /* -1 = config */
	int expiry_changed;
	int cookie_dirty;        /* something forces a new session cookie */
	crumb_csrf csrf;
	crumb_state server;
	crumb_state client;
	crumb_out_cookie *queued;
	/* Maps and users replaced while values were lent out of them,
	 * freed with the session; spare: nodes reserved for that. */
	crumb_kept *kept, *spare;
	unsigned n_spare;
	char errmsg[CRUMB_ERRMSG_LEN];
	/* label (user.c): what set_label asked for, and what the store
	 * holds for the record whose hash is label_of */
	char label[CRUMB_LABEL_MAX + 1];
	int label_set;
	char label_stored[CRUMB_LABEL_MAX + 1];
	uint8_t label_of[CRUMB_HASH_LEN];
	int label_known;
};
int crumb_session_fail(crumb_session *s, int err, const char *detail);
int crumb_session_usable(const crumb_session *s);
int64_t crumb_session_ttl(const crumb_session *s);
int crumb_session_persistent(const crumb_session *s);
int crumb_session_ensure_id(crumb_session *s);
/* Non-zero for a user crumb_session_set_user takes. */
int crumb_user_valid(const char *user);

/* ---- finish.c ---- */
int crumb_session_client_fits(crumb_session *s, const cJSON *client);

/* ---- record.c: the stored record and what it hands out ---- */
/* crumb_session_usable, then the sticky store failure, if any. */
int crumb_record_usable(const crumb_session *s);
/* Replace the server map and the user with the stored record. */
int crumb_record_load(crumb_session *s);
/* Write what changed; replay: reload and replay on a conflict. */
int crumb_record_persist(crumb_session *s, int replay);
int crumb_record_remove(crumb_session *s);
/* Rename a cycled ID and, with extend, push the expiry back, without
 * writing the state. */
int crumb_record_touch(crumb_session *s, int extend);
int crumb_record_ttl_due(const crumb_session *s);
/* now + TTL, capped at the end of the absolute lifetime. */
int64_t crumb_record_expiry(const crumb_session *s);
void crumb_record_set_id(crumb_session *s, const uint8_t *id);
const uint8_t *crumb_record_hash(crumb_session *s);
/* Keep map / shared / user (any may be NULL) until the session is
 * freed; a node reserved with crumb_record_reserve(s, n) is used. */
int crumb_record_reserve(crumb_session *s, unsigned n);
void crumb_record_keep(crumb_session *s, cJSON *map, crumb_shared *sh,
    char *user);
void crumb_record_release(crumb_session *s);

/* ---- user.c ---- */
/* 64 hex digits (either case) into CRUMB_HASH_LEN bytes; 0 when hex is
 * anything else. */
int crumb_hash_parse(const char *hex, uint8_t *out);
/* A label as listings show it (crumb_session_set_label's rules) into
 * out, CRUMB_LABEL_MAX + 1 bytes; CRUMB_E_INVAL (out "") when in is not
 * valid UTF-8.  NULL is "". */
int crumb_label_clean(const char *in, char *out);
/* The record just loaded carries label (NULL: none). */
void crumb_session_label_loaded(crumb_session *s, const char *label);
/* Store a label set in this request and not yet stored, once the
 * record is written (finish). */
int crumb_session_label_store(crumb_session *s);

#endif /* CRUMB_PRIVATE_H */
