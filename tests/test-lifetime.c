/* Lifetimes: the absolute lifetime also counts from the store's record
 * (a cookie sealed with a fresh start does not revive an old record),
 * and TTLs stay within CRUMB_TTL_MAX everywhere: setters, sealed
 * cookies (forged here with the key, as a key holder could), extreme
 * clocks, Max-Age.  Run under UBSan, the extreme values must not reach
 * signed overflow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>

#include "check.h"
#include "helpers.h"

#define KEYBYTE 0x6E
#define DAY 86400

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i;
	unsigned bits = 0, have = 0;

	for (i = 0; i < n; i++) {
		bits = bits << 8 | in[i];
		for (have += 8; have >= 6; have -= 6)
			*out++ = b64[(bits >> (have - 6)) & 63];
	}
	if (have > 0)
		*out++ = b64[(bits << (6 - have)) & 63];
	*out = '\0';
}

static size_t
b64_decode(const char *in, uint8_t *out)
{
	unsigned bits = 0, have = 0;
	size_t n = 0;

	for (; *in != '\0'; in++) {
		const char *p = strchr(b64, *in);

		REQUIRE(p != NULL);
		bits = bits << 6 | (unsigned)(p - b64);
		if ((have += 6) >= 8) {
			out[n++] = (uint8_t)(bits >> (have - 8));
			have -= 8;
		}
	}
	return n;
}

static void
put64(uint8_t *p, int64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
		p[i] = (uint8_t)(v & 0xff);
}

static int64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static gcry_cipher_hd_t
cipher(uint8_t keyid[4])
{
	static const char label[] = "crumb key id v1";
	unsigned char key[CRUMB_KEY_LEN], buf[sizeof(label) + CRUMB_KEY_LEN];
	unsigned char digest[32];
	gcry_cipher_hd_t hd;

	tkey(key, KEYBYTE);
	memcpy(buf, label, sizeof(label));
	memcpy(buf + sizeof(label), key, sizeof(key));
	gcry_md_hash_buffer(GCRY_MD_SHA256, digest, buf, sizeof(buf));
	memcpy(keyid, digest, 4);
	REQUIRE(gcry_cipher_open(&hd, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM,
	    0) == 0);
	REQUIRE(gcry_cipher_setkey(hd, key, sizeof(key)) == 0);
	return hd;
}

/* The session cookie "id=..." with these fields, sealed with the test
 * key (ttl 0: none).  New; free(). */
static char *
forge(const uint8_t *id, int64_t created, int64_t expires, int64_t ttl)
{
	uint8_t plain[64], raw[128], aad[8];
	size_t n = 0, rawlen;
	gcry_cipher_hd_t hd = cipher(raw + 1);
	char *out = malloc(4 + 2 * sizeof(raw));

	REQUIRE(out != NULL);
	plain[n++] = (uint8_t)((id != NULL ? 0x01 : 0) | (ttl > 0 ? 0x02 : 0));
	if (id != NULL) {
		memcpy(plain + n, id, 32);
		n += 32;
	}
	put64(plain + n, created);
	put64(plain + n + 8, expires);
	n += 16;
	if (ttl > 0) {
		put64(plain + n, ttl);
		n += 8;
	}
	raw[0] = 1;
	memset(raw + 5, 0x42, 12);
	memcpy(aad, raw, 5);
	memcpy(aad + 5, "id", 2);
	REQUIRE(gcry_cipher_setiv(hd, raw + 5, 12) == 0);
	REQUIRE(gcry_cipher_authenticate(hd, aad, 7) == 0);
	REQUIRE(gcry_cipher_final(hd) == 0);
	REQUIRE(gcry_cipher_encrypt(hd, raw + 17, n, plain, n) == 0);
	REQUIRE(gcry_cipher_gettag(hd, raw + 17 + n, 16) == 0);
	rawlen = 17 + n + 16;
	gcry_cipher_close(hd);
	memcpy(out, "id=", 3);
	b64_encode(raw, rawlen, out + 3);
	return out;
}

/* Open a real "id=..." pair: its session ID and created time. */
static void
open_pair(const char *pair, uint8_t *id, int64_t *created)
{
	uint8_t raw[4096], keyid[4];
	gcry_cipher_hd_t hd = cipher(keyid);
	size_t n = b64_decode(tpair_value(pair), raw), clen = n - 17 - 16;

	REQUIRE(n > 17 + 16 + 17 && memcmp(raw + 1, keyid, 4) == 0);
	REQUIRE(gcry_cipher_setiv(hd, raw + 5, 12) == 0);
	{
		uint8_t aad[7];

		memcpy(aad, raw, 5);
		memcpy(aad + 5, "id", 2);
		REQUIRE(gcry_cipher_authenticate(hd, aad, 7) == 0);
	}
	REQUIRE(gcry_cipher_final(hd) == 0);
	REQUIRE(gcry_cipher_decrypt(hd, raw + 17, clen, NULL, 0) == 0);
	REQUIRE(gcry_cipher_checktag(hd, raw + 17 + clen, 16) == 0);
	gcry_cipher_close(hd);
	REQUIRE(raw[17] & 0x01);
	memcpy(id, raw + 18, 32);
	*created = get64(raw + 50);
}

static void
test_record_created(void)
{
	crumb_store *store;
	struct tclock old_clk = { T_START }, clk = { T_START };
	crumb_config *old_cfg, *cfg;
	crumb_session *s;
	char *pair = NULL, *forged, *h = NULL;
	uint8_t id[32];
	int64_t created;
	double d;
	const char *u;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	/* A record made long ago under a config without an absolute
	 * lifetime, still alive in the store. */
	old_cfg = tcfg_new(store, &old_clk, KEYBYTE);
	CHECK_OK(crumb_config_set_absolute_lifetime(old_cfg, 0));
	CHECK_OK(crumb_config_set_ttl(old_cfg, CRUMB_TTL_MAX));
	s = tbegin(old_cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_session_set_user(s, "old-user"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	open_pair(pair, id, &created);
	CHECK(created == T_START);

	cfg = tcfg_new(store, &clk, KEYBYTE);
	CHECK_OK(crumb_config_set_absolute_lifetime(cfg, 30 * DAY));

	TEST("absolute lifetime: an old record is not revived by a fresh cookie");
	clk.now = T_START + 100 * DAY;
	forged = forge(id, clk.now, clk.now + DAY, 0);
	s = tbegin(cfg, forged);
	CHECK(!crumb_session_is_new(s));      /* the cookie itself is fine */
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "n", &d),
	    CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK(u == NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "m", 2));
	CHECK_OK(tend(s, "id", &h, NULL));
	free(h);
	/* The old record is gone: even its own old config finds nothing. */
	old_clk.now = clk.now;
	CHECK(tread_number(old_cfg, pair, "n") == -1);
	free(forged);

	TEST("absolute lifetime: the record's start caps the new expiry");
	free(pair);
	pair = NULL;
	old_clk.now = T_START;
	s = tbegin(old_cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	open_pair(pair, id, &created);
	clk.now = T_START + 30 * DAY - 100;
	forged = forge(id, clk.now, clk.now + DAY, 0);
	s = tbegin(cfg, forged);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(d == 1);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 2));
	CHECK_OK(tend(s, "id", &h, NULL));
	REQUIRE(h != NULL);
	/* Max-Age runs to the record's start + 30 days, not a day on. */
	CHECK(tmax_age(h) == 100);
	{
		char *np = tcookie_pair(h, "id");

		REQUIRE(np != NULL);
		open_pair(np, id, &created);
		CHECK(created == T_START);
		/* and 100 s later the session is over */
		clk.now += 100;
		CHECK(tread_number(cfg, np, "n") == -1);
		free(np);
	}
	free(h);
	free(forged);
	free(pair);
	crumb_config_free(old_cfg);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

static struct tclock xclk = { T_START };

static void
test_ttl_bounds(void)
{
	crumb_store *store;
	crumb_config *cfg;
	crumb_session *s;
	char *h = NULL, *forged;
	uint8_t id[32];

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	cfg = tcfg_new(store, &xclk, KEYBYTE);

	TEST("setters take 0..CRUMB_TTL_MAX only");
	CHECK_RC(crumb_config_set_ttl(cfg, INT64_MAX), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_ttl(cfg, CRUMB_TTL_MAX + 1LL), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_ttl(cfg, -1), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST,
	    INT64_MAX), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST, -1),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_absolute_lifetime(cfg, INT64_MAX),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_absolute_lifetime(cfg, -1), CRUMB_E_INVAL);
	CHECK_OK(crumb_config_set_ttl(cfg, CRUMB_TTL_MAX));
	CHECK_OK(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST,
	    CRUMB_TTL_MAX));
	CHECK_OK(crumb_config_set_absolute_lifetime(cfg, CRUMB_TTL_MAX));
	s = tbegin(cfg, NULL);
	CHECK_RC(crumb_session_set_expiry(s, INT64_MAX, 1), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_set_expiry(s, CRUMB_TTL_MAX + 1LL, 1),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_session_set_expiry(s, -1, 1), CRUMB_E_INVAL);
	CHECK_OK(crumb_session_set_expiry(s, CRUMB_TTL_MAX, 1));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmax_age(h) == CRUMB_TTL_MAX);
	free(h);
	h = NULL;

	TEST("a sealed cookie with a TTL over CRUMB_TTL_MAX is not ours");
	memset(id, 0x11, sizeof(id));
	forged = forge(id, xclk.now, xclk.now + 10, INT64_MAX / 2);
	s = tbegin(cfg, forged);
	CHECK(crumb_session_is_new(s));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmax_age(h) >= 0 && tmax_age(h) <= CRUMB_TTL_MAX);
	free(h);
	h = NULL;
	free(forged);
	forged = forge(id, xclk.now, xclk.now + 10, CRUMB_TTL_MAX + 1LL);
	s = tbegin(cfg, forged);
	CHECK(crumb_session_is_new(s));
	crumb_session_free(s);
	free(forged);
	forged = forge(id, xclk.now, xclk.now + 10, CRUMB_TTL_MAX);
	s = tbegin(cfg, forged);
	CHECK(!crumb_session_is_new(s));
	crumb_session_free(s);
	free(forged);

	TEST("a sealed cookie with created or expires out of range is not ours");
	forged = forge(id, xclk.now, INT64_MAX, 0);
	s = tbegin(cfg, forged);
	CHECK(crumb_session_is_new(s));
	crumb_session_free(s);
	free(forged);
	forged = forge(id, INT64_MAX - 5, xclk.now + 10, 0);
	s = tbegin(cfg, forged);
	CHECK(crumb_session_is_new(s));
	crumb_session_free(s);
	free(forged);

	TEST("extreme clocks: no overflow, Max-Age within CRUMB_TTL_MAX");
	xclk.now = INT64_MAX;
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmax_age(h) >= 0 && tmax_age(h) <= CRUMB_TTL_MAX);
	free(h);
	h = NULL;
	xclk.now = INT64_MIN;
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmax_age(h) >= 0 && tmax_age(h) <= CRUMB_TTL_MAX);
	free(h);
	xclk.now = T_START;

	crumb_config_free(cfg);
	crumb_store_free(store);
}

int
main(void)
{
	test_record_created();
	test_ttl_bounds();
	return CHECK_DONE();
}
