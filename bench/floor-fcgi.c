/*
 * floor-fcgi: the end-to-end floor for GET /counter.  A FastCGI program
 * that does, by hand, only the work no session library can avoid for an
 * atomic increment with a kept cookie: open the cookie (base64url,
 * AES-256-GCM with the guestbook's key, SHA-256 of the ID), then in one
 * BEGIN IMMEDIATE transaction read the record and write it back with the
 * count one higher, on the guestbook's own session store, with the
 * library's settings.  No JSON library, no session object, no checks a
 * real program would need.  bench/e2e.sh runs it beside the guestbook
 * and hello so that /counter can be compared with what the database
 * and the cryptography alone cost.
 *
 * Environment: CRUMB_STATE_DIR (key and sessions.db, as the guestbook).
 */
#include <fcgi_stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gcrypt.h>
#include <sqlite3.h>

#include "floor.h"

#define HDR 5                 /* version, key id */
#define NONCE 12
#define TAG 16

static sqlite3 *db;
static sqlite3_stmt *q_begin, *q_sel, *q_upd, *q_commit, *q_rollback;
static gcry_cipher_hd_t hd;
static struct floor_wal wal = { 0, 0, 5000 };

static int
setup(const char *dir)
{
	char path[1024], hex[80];
	unsigned char key[32];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s/key", dir);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(hex, sizeof(hex), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	for (i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		key[i] = (unsigned char)v;
	}
	gcry_check_version(NULL);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	if (gcry_cipher_open(&hd, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0) ||
	    gcry_cipher_setkey(hd, key, sizeof(key)))
		return -1;
	snprintf(path, sizeof(path), "%s/sessions.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(db, 5000);
	sqlite3_wal_hook(db, floor_wal_hook, &wal);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; "
	    "PRAGMA journal_size_limit=16777216; PRAGMA synchronous=NORMAL; "
	    "PRAGMA cache_size=-8192", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &q_begin, NULL) ||
	    sqlite3_prepare_v2(db, "SELECT state, version FROM crumb_sessions "
	    "WHERE id = ?1 AND expires > ?2", -1, &q_sel, NULL) ||
	    sqlite3_prepare_v2(db, "UPDATE crumb_sessions SET state = ?2, "
	    "version = version + 1, last_seen = ?3 WHERE id = ?1 AND "
	    "version = ?4", -1, &q_upd, NULL) ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &q_commit, NULL) ||
	    sqlite3_prepare_v2(db, "ROLLBACK", -1, &q_rollback, NULL))
		return -1;
	return 0;
}

/* The stored ID's hash from "id=VALUE" in the Cookie header. */
static int
open_cookie(const char *header, unsigned char *hash)
{
	unsigned char raw[6200], aad[HDR + 2];
	const char *v = header != NULL ? strstr(header, "id=") : NULL;
	size_t vlen, rawlen, clen;

	if (v == NULL)
		return -1;
	v += 3;
	vlen = strcspn(v, "; ");
	if (vlen > 8192 || (rawlen = floor_b64dec(v, vlen, raw)) <
	    HDR + NONCE + TAG + 1 + 32)
		return -1;
	clen = rawlen - HDR - NONCE - TAG;
	memcpy(aad, raw, HDR);
	memcpy(aad + HDR, "id", 2);
	if (gcry_cipher_reset(hd) || gcry_cipher_setiv(hd, raw + HDR, NONCE) ||
	    gcry_cipher_authenticate(hd, aad, sizeof(aad)) ||
	    gcry_cipher_final(hd) ||
	    gcry_cipher_decrypt(hd, raw + HDR + NONCE, clen, NULL, 0) ||
	    gcry_cipher_checktag(hd, raw + HDR + NONCE + clen, TAG))
		return -1;
	/* Plaintext: flags, then the 32-byte ID. */
	gcry_md_hash_buffer(GCRY_MD_SHA256, hash, raw + HDR + NONCE + 1, 32);
	return 0;
}

/* Read, count up, write back: one transaction.  Returns the count. */
static long long
count_up(const unsigned char *hash)
{
	const char *state, *p;
	char out[64];
	long long n = -1, version = 0;
	int64_t now = (int64_t)time(NULL);

	if (sqlite3_step(q_begin) != SQLITE_DONE) {
		sqlite3_reset(q_begin);
		return -1;
	}
	sqlite3_reset(q_begin);
	sqlite3_bind_blob(q_sel, 1, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(q_sel, 2, now);
	if (sqlite3_step(q_sel) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(q_sel, 0);
		version = sqlite3_column_int64(q_sel, 1);
		p = state != NULL ? strstr(state, "\"count\":") : NULL;
		n = p != NULL ? strtoll(p + 8, NULL, 10) : 0;
	}
	sqlite3_reset(q_sel);
	if (n >= 0) {
		snprintf(out, sizeof(out), "{\"count\":%lld}", ++n);
		sqlite3_bind_blob(q_upd, 1, hash, 32, SQLITE_STATIC);
		sqlite3_bind_text(q_upd, 2, out, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q_upd, 3, now);
		sqlite3_bind_int64(q_upd, 4, version);
		if (sqlite3_step(q_upd) != SQLITE_DONE)
			n = -1;
		sqlite3_reset(q_upd);
	}
	sqlite3_step(n >= 0 ? q_commit : q_rollback);
	sqlite3_reset(n >= 0 ? q_commit : q_rollback);
	return n;
}

static const char usage[] =
    "usage: floor-fcgi\n"
    "A FastCGI responder for /counter written without crumb, the floor\n"
    "bench/e2e.sh measures the library against.  Takes no options; its\n"
    "state directory comes from CRUMB_STATE_DIR.\n";

int
main(int argc, char **argv)
{
	const char *dir = getenv("CRUMB_STATE_DIR");

	/* write(): fcgi_stdio's stdout and stderr print nothing until
	 * FCGI_Accept() has been called. */
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		return write(1, usage, strlen(usage)) < 0;
	if (argc > 1) {
		static const char what[] = "floor-fcgi: unknown option\n";
		ssize_t n = write(2, what, strlen(what));

		n = write(2, usage, strlen(usage));
		(void)n;
		return 2;
	}

	if (dir == NULL || setup(dir) != 0) {
		fprintf(stderr, "floor-fcgi: cannot set up (CRUMB_STATE_DIR)\n");
		return 1;
	}
	while (FCGI_Accept() >= 0) {
		unsigned char hash[32];
		long long n = open_cookie(getenv("HTTP_COOKIE"), hash) == 0 ?
		    count_up(hash) : -1;

		if (n < 0) {
			fputs("Status: 503 Service Unavailable\r\n\r\n", stdout);
			continue;
		}
		{
			char body[64];
			int len = snprintf(body, sizeof(body),
			    "{\"count\":%lld}\n", n);

			printf("Status: 200 OK\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: %d\r\nCache-Control: no-store\r\n"
			    "X-Content-Type-Options: nosniff\r\n\r\n%s",
			    len, body);
		}
	}
	return 0;
}
