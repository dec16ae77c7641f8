/* Session cookie attributes (HttpOnly, Secure, SameSite, Path, Domain,
 * the __Host- prefix and when it applies by itself, SameSite=None only
 * with Secure) and other cookies queued with crumb_cookie_set /
 * crumb_cookie_remove. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "helpers.h"

static crumb_store *store;

/* The Set-Cookie line of a new session with one stored value. */
static char *
session_line(crumb_config *cfg, const char *name, char **pair)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *h = NULL, *line;

	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, name, &h, pair));
	line = h ? tcookie_line(h, name) : NULL;
	free(h);
	return line;
}

static void
test_defaults(void)
{
	crumb_config *cfg = tcfg_new(store, NULL, 0x51);
	char *line = session_line(cfg, "id", NULL);
	char v[64];

	TEST("defaults");
	REQUIRE(line != NULL);
	CHECK(tcookie_attr(line, "HttpOnly", NULL, 0));
	CHECK(tcookie_attr(line, "Secure", NULL, 0));
	CHECK(tcookie_attr(line, "SameSite", v, sizeof(v)));
	CHECK(strcasecmp(v, "Lax") == 0);
	CHECK(tcookie_attr(line, "Path", v, sizeof(v)));
	CHECK_STR(v, "/");
	CHECK(!tcookie_attr(line, "Domain", NULL, 0));
	CHECK(tcookie_attr(line, "Max-Age", v, sizeof(v)));
	CHECK_STR(v, "86400");
	free(line);
	crumb_config_free(cfg);
}

static void
test_configured(void)
{
	crumb_config *cfg = tcfg_new(store, NULL, 0x52);
	char *line, *pair = NULL;
	char v[64];
	crumb_session *s;

	TEST("configured name, Path, Domain, flags off, SameSite=Strict");
	CHECK_OK(crumb_config_set_cookie_name(cfg, "sess"));
	CHECK_OK(crumb_config_set_cookie_path(cfg, "/app"));
	CHECK_OK(crumb_config_set_cookie_domain(cfg, "example.com"));
	CHECK_OK(crumb_config_set_secure(cfg, 0));
	CHECK_OK(crumb_config_set_http_only(cfg, 0));
	CHECK_OK(crumb_config_set_same_site(cfg, CRUMB_SAMESITE_STRICT));
	line = session_line(cfg, "sess", &pair);
	REQUIRE(line != NULL && pair != NULL);
	CHECK(!tcookie_attr(line, "HttpOnly", NULL, 0));
	CHECK(!tcookie_attr(line, "Secure", NULL, 0));
	CHECK(tcookie_attr(line, "SameSite", v, sizeof(v)));
	CHECK(strcasecmp(v, "Strict") == 0);
	CHECK(tcookie_attr(line, "Path", v, sizeof(v)));
	CHECK_STR(v, "/app");
	CHECK(tcookie_attr(line, "Domain", v, sizeof(v)));
	CHECK_STR(v, "example.com");
	free(line);

	/* The configured name is the one read back. */
	s = tbegin(cfg, pair);
	CHECK(!crumb_session_is_new(s));
	crumb_session_free(s);
	{
		char *renamed = malloc(strlen(pair) + 8);

		REQUIRE(renamed != NULL);
		sprintf(renamed, "id=%s", tpair_value(pair));
		s = tbegin(cfg, renamed);
		CHECK(crumb_session_is_new(s));
		crumb_session_free(s);
		free(renamed);
	}
	free(pair);

	TEST("SameSite=None and unset");
	CHECK_OK(crumb_config_set_secure(cfg, 1));
	CHECK_OK(crumb_config_set_same_site(cfg, CRUMB_SAMESITE_NONE));
	line = session_line(cfg, "sess", NULL);
	REQUIRE(line != NULL);
	CHECK(tcookie_attr(line, "SameSite", v, sizeof(v)));
	CHECK(strcasecmp(v, "None") == 0);
	CHECK(tcookie_attr(line, "Secure", NULL, 0));
	free(line);
	CHECK_OK(crumb_config_set_same_site(cfg, CRUMB_SAMESITE_UNSET));
	line = session_line(cfg, "sess", NULL);
	REQUIRE(line != NULL);
	CHECK(!tcookie_attr(line, "SameSite", NULL, 0));
	free(line);

	TEST("domain reset to NULL");
	CHECK_OK(crumb_config_set_cookie_domain(cfg, NULL));
	line = session_line(cfg, "sess", NULL);
	REQUIRE(line != NULL);
	CHECK(!tcookie_attr(line, "Domain", NULL, 0));
	free(line);

	TEST("bad configuration values");
	CHECK_RC(crumb_config_set_cookie_name(cfg, ""), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_cookie_name(cfg, "a b"), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_cookie_name(cfg, "a;b"), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_cookie_name(cfg, "a=b"), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_cookie_name(cfg, NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_cookie_path(cfg, "/a;b"), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_cookie_path(cfg, "/a\r\nX: y"),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_cookie_domain(cfg, "a;b.com"),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_same_site(cfg, (crumb_same_site)42),
	    CRUMB_E_INVAL);
	/* The name is unchanged by the failed calls. */
	line = session_line(cfg, "sess", NULL);
	CHECK(line != NULL);
	free(line);
	crumb_config_free(cfg);
}

/* What a browser asks of a "__Host-" cookie: Secure, Path=/, no Domain. */
static void
check_host_line(const char *line)
{
	char v[64];

	CHECK(strncmp(line, "__Host-id=", 10) == 0);
	CHECK(tcookie_attr(line, "Secure", NULL, 0));
	CHECK(tcookie_attr(line, "Path", v, sizeof(v)));
	CHECK_STR(v, "/");
	CHECK(!tcookie_attr(line, "Domain", NULL, 0));
}

static void
test_host_prefix(void)
{
	crumb_config *cfg = tcfg_new(store, NULL, 0x53);
	char *line, *pair = NULL;
	char v[64];
	crumb_session *s;

	TEST("__Host- prefix forces Secure, Path=/ and no Domain");
	CHECK_OK(crumb_config_set_secure(cfg, 0));
	CHECK_OK(crumb_config_set_cookie_path(cfg, "/app"));
	CHECK_OK(crumb_config_set_cookie_domain(cfg, "example.com"));
	CHECK_OK(crumb_config_set_host_prefix(cfg, 1));
	line = session_line(cfg, "__Host-id", &pair);
	REQUIRE(line != NULL && pair != NULL);
	check_host_line(line);
	free(line);
	s = tbegin(cfg, pair);
	CHECK(!crumb_session_is_new(s));
	crumb_session_free(s);

	TEST("__Host- expiring cookie keeps Secure and Path=/");
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_invalidate(s));
	{
		char *h = NULL;

		CHECK_OK(tend(s, "__Host-id", &h, NULL));
		line = h ? tcookie_line(h, "__Host-id") : NULL;
		CHECK(line != NULL);
		if (line != NULL) {
			CHECK(tcookie_attr(line, "Max-Age", v, sizeof(v)));
			CHECK_STR(v, "0");
			CHECK(tcookie_attr(line, "Secure", NULL, 0));
			CHECK(tcookie_attr(line, "Path", v, sizeof(v)));
			CHECK_STR(v, "/");
			CHECK(!tcookie_attr(line, "Domain", NULL, 0));
		}
		free(line);
		free(h);
	}
	free(pair);

	TEST("__Host- prefix off again");
	CHECK_OK(crumb_config_set_host_prefix(cfg, 0));
	line = session_line(cfg, "id", NULL);
	CHECK(line != NULL);
	free(line);
	crumb_config_free(cfg);
}

/* A config as crumb_config_new makes it (tcfg_new turns the prefix off). */
static crumb_config *
default_cfg(unsigned char keybyte)
{
	crumb_config *cfg = NULL;
	unsigned char key[CRUMB_KEY_LEN];

	tkey(key, keybyte);
	REQUIRE(crumb_config_new(&cfg) == CRUMB_OK && cfg != NULL);
	REQUIRE(crumb_config_set_key(cfg, key, sizeof(key)) == CRUMB_OK);
	REQUIRE(crumb_config_set_store(cfg, store) == CRUMB_OK);
	return cfg;
}

/* The session cookie's line starts with want= (and no other name). */
static void
expect_name(crumb_config *cfg, const char *want, int line_no)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *h = NULL, *line;

	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, want, &h, NULL));
	line = h ? tcookie_line(h, want) : NULL;
	check_count++;
	if (line == NULL || tcount_set_cookie(h) != 1) {
		check_failures++;
		fprintf(stderr, "%s:%d: no session cookie named %s in [%s]\n",
		    __FILE__, line_no, want, h ? h : "(null)");
	}
	free(line);
	free(h);
}
#define EXPECT_NAME(cfg, want) expect_name((cfg), (want), __LINE__)

/* The session cookie is plain "id" and carries attr=want. */
static void
expect_plain(crumb_config *cfg, const char *attr, const char *want)
{
	char *line = session_line(cfg, "id", NULL), v[64];

	REQUIRE(line != NULL);
	CHECK(tcookie_attr(line, attr, v, sizeof(v)));
	CHECK_STR(v, want);
	free(line);
}

static void
test_host_prefix_auto(void)
{
	crumb_config *cfg = default_cfg(0x55);
	char *line;

	TEST("__Host- prefix by default: Secure, no Domain, Path=/");
	line = session_line(cfg, "__Host-id", NULL);
	REQUIRE(line != NULL);
	check_host_line(line);
	free(line);
	CHECK_OK(crumb_config_set_cookie_name(cfg, "sess"));
	EXPECT_NAME(cfg, "__Host-sess");
	CHECK_OK(crumb_config_set_cookie_name(cfg, "id"));
	EXPECT_NAME(cfg, "__Host-id");

	TEST("no prefix without Secure");
	CHECK_OK(crumb_config_set_secure(cfg, 0));
	EXPECT_NAME(cfg, "id");
	CHECK_OK(crumb_config_set_secure(cfg, 1));
	EXPECT_NAME(cfg, "__Host-id");

	TEST("no prefix with a Domain");
	CHECK_OK(crumb_config_set_cookie_domain(cfg, "example.com"));
	expect_plain(cfg, "Domain", "example.com");
	CHECK_OK(crumb_config_set_cookie_domain(cfg, NULL));
	EXPECT_NAME(cfg, "__Host-id");

	TEST("no prefix with another Path");
	CHECK_OK(crumb_config_set_cookie_path(cfg, "/app"));
	expect_plain(cfg, "Path", "/app");
	CHECK_OK(crumb_config_set_cookie_path(cfg, "/"));
	EXPECT_NAME(cfg, "__Host-id");

	TEST("prefix explicitly off, then automatic again");
	CHECK_OK(crumb_config_set_host_prefix(cfg, 0));
	EXPECT_NAME(cfg, "id");
	CHECK_OK(crumb_config_set_host_prefix(cfg, -1));
	EXPECT_NAME(cfg, "__Host-id");
	crumb_config_free(cfg);
}

/* A sibling subdomain plants "id=" (Domain=the parent), valid because it
 * came from this very application: with the prefix in effect it is not
 * the session cookie, whichever comes first. */
static void
test_planted(void)
{
	crumb_config *cfg = default_cfg(0x56), *plain = default_cfg(0x56);
	crumb_session *s;
	char *victim = NULL, *planted = NULL, *hdr;
	const char *who = NULL;

	TEST("a planted plain id= cookie is ignored under __Host-");
	CHECK_OK(crumb_config_set_host_prefix(plain, 0));
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "who",
	    "victim"));
	CHECK_OK(tend(s, "__Host-id", NULL, &victim));
	s = tbegin(plain, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "who",
	    "attacker"));
	CHECK_OK(tend(s, "id", NULL, &planted));
	REQUIRE(victim != NULL && planted != NULL);
	REQUIRE((hdr = malloc(strlen(victim) + strlen(planted) + 8)) != NULL);

	sprintf(hdr, "%s; %s", planted, victim);
	s = tbegin(cfg, hdr);
	CHECK_OK(crumb_state_get_string(crumb_session_server(s), "who", &who));
	CHECK_STR(who, "victim");
	crumb_session_free(s);

	s = tbegin(cfg, planted);
	CHECK(crumb_session_is_new(s));
	CHECK_RC(crumb_state_get_string(crumb_session_server(s), "who", &who),
	    CRUMB_E_NOT_FOUND);
	crumb_session_free(s);

	free(hdr);
	free(victim);
	free(planted);
	crumb_config_free(plain);
	crumb_config_free(cfg);
}

/* Browsers drop a SameSite=None cookie without Secure: refused. */
static void
test_same_site_none(void)
{
	crumb_config *cfg = default_cfg(0x57);
	crumb_session *s;
	char *line, v[64];

	TEST("SameSite=None needs Secure");
	CHECK_OK(crumb_config_set_secure(cfg, 0));
	CHECK_RC(crumb_config_set_same_site(cfg, CRUMB_SAMESITE_NONE),
	    CRUMB_E_INVAL);
	CHECK_OK(crumb_config_set_secure(cfg, 1));
	CHECK_OK(crumb_config_set_same_site(cfg, CRUMB_SAMESITE_NONE));
	CHECK_RC(crumb_config_set_secure(cfg, 0), CRUMB_E_INVAL);
	line = session_line(cfg, "__Host-id", NULL);
	REQUIRE(line != NULL);
	CHECK(tcookie_attr(line, "Secure", NULL, 0));
	CHECK(tcookie_attr(line, "SameSite", v, sizeof(v)));
	CHECK(strcasecmp(v, "None") == 0);
	free(line);
	/* Another SameSite lets Secure go. */
	CHECK_OK(crumb_config_set_same_site(cfg, CRUMB_SAMESITE_LAX));
	CHECK_OK(crumb_config_set_secure(cfg, 0));

	TEST("crumb_cookie_set: SameSite=None needs Secure");
	s = tbegin(cfg, NULL);
	CHECK_RC(crumb_cookie_set(s, "a", "1", -1, NULL, NULL,
	    CRUMB_COOKIE_SAMESITE_NONE), CRUMB_E_INVAL);
	CHECK_RC(crumb_cookie_set(s, "a", "1", -1, NULL, NULL,
	    CRUMB_COOKIE_SAMESITE_NONE | CRUMB_COOKIE_HTTP_ONLY),
	    CRUMB_E_INVAL);
	CHECK_OK(crumb_cookie_set(s, "b", "1", -1, NULL, NULL,
	    CRUMB_COOKIE_SAMESITE_NONE | CRUMB_COOKIE_SECURE));
	{
		char *h = NULL;

		CHECK_OK(tend(s, "id", &h, NULL));
		CHECK(h != NULL && tcount_set_cookie(h) == 1);
		line = h ? tcookie_line(h, "a") : NULL;
		CHECK(line == NULL);
		free(line);
		free(h);
	}
	crumb_config_free(cfg);
}

static void
test_queued(void)
{
	crumb_config *cfg = tcfg_new(store, NULL, 0x54);
	crumb_session *s;
	char *h = NULL, *line;
	char v[64];
	size_t i;
	int nq;

	TEST("queued cookies");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_cookie_set(s, "theme", "dark", 3600, "/", NULL,
	    CRUMB_COOKIE_SECURE | CRUMB_COOKIE_HTTP_ONLY |
	    CRUMB_COOKIE_SAMESITE_STRICT));
	CHECK_OK(crumb_cookie_set(s, "tmp", "1", -1, "/x", "example.org",
	    CRUMB_COOKIE_SAMESITE_LAX));
	CHECK_OK(crumb_cookie_set(s, "bare", "", -1, NULL, NULL, 0));
	CHECK_OK(crumb_cookie_set(s, "q", "v!#$%&'()*+-./:<=>?@[]^_`{|}~",
	    10, NULL, NULL, CRUMB_COOKIE_SAMESITE_NONE | CRUMB_COOKIE_SECURE));
	{
		/* RFC 6265 also allows a DQUOTEd value; the header asks for
		 * cookie-octets.  Either way: emitted as is, or refused. */
		int rc = crumb_cookie_set(s, "qq", "\"quoted\"", -1, NULL,
		    NULL, 0);

		CHECK(rc == CRUMB_OK || rc == CRUMB_E_INVAL);
		nq = rc == CRUMB_OK;
	}
	CHECK_OK(crumb_cookie_remove(s, "old", "/", NULL));
	CHECK_OK(tend(s, "id", &h, NULL));
	REQUIRE(h != NULL);
	/* Queued cookies alone: no session cookie for a new visitor. */
	CHECK(tcount_set_cookie(h) == 5 + nq);
	line = tcookie_line(h, "id");
	CHECK(line == NULL);
	free(line);

	line = tcookie_line(h, "theme");
	REQUIRE(line != NULL);
	CHECK(strncmp(line, "theme=dark", 10) == 0);
	CHECK(tcookie_attr(line, "Max-Age", v, sizeof(v)));
	CHECK_STR(v, "3600");
	CHECK(tcookie_attr(line, "Path", v, sizeof(v)));
	CHECK_STR(v, "/");
	CHECK(tcookie_attr(line, "Secure", NULL, 0));
	CHECK(tcookie_attr(line, "HttpOnly", NULL, 0));
	CHECK(tcookie_attr(line, "SameSite", v, sizeof(v)));
	CHECK(strcasecmp(v, "Strict") == 0);
	CHECK(!tcookie_attr(line, "Domain", NULL, 0));
	free(line);

	line = tcookie_line(h, "tmp");
	REQUIRE(line != NULL);
	CHECK(!tcookie_attr(line, "Max-Age", NULL, 0));
	CHECK(!tcookie_attr(line, "Expires", NULL, 0));
	CHECK(!tcookie_attr(line, "Secure", NULL, 0));
	CHECK(!tcookie_attr(line, "HttpOnly", NULL, 0));
	CHECK(tcookie_attr(line, "Domain", v, sizeof(v)));
	CHECK_STR(v, "example.org");
	CHECK(tcookie_attr(line, "Path", v, sizeof(v)));
	CHECK_STR(v, "/x");
	CHECK(tcookie_attr(line, "SameSite", v, sizeof(v)));
	CHECK(strcasecmp(v, "Lax") == 0);
	free(line);

	line = tcookie_line(h, "bare");
	REQUIRE(line != NULL);
	CHECK(strncmp(line, "bare=", 5) == 0);
	CHECK(!tcookie_attr(line, "Path", NULL, 0));
	CHECK(!tcookie_attr(line, "SameSite", NULL, 0));
	free(line);

	line = tcookie_line(h, "q");
	REQUIRE(line != NULL);
	CHECK(strncmp(line, "q=v!#$%&'()*+-./:<=>?@[]^_`{|}~;", 32) == 0);
	CHECK(tcookie_attr(line, "SameSite", v, sizeof(v)));
	CHECK(strcasecmp(v, "None") == 0);
	free(line);

	line = tcookie_line(h, "old");
	REQUIRE(line != NULL);
	CHECK(tcookie_attr(line, "Max-Age", v, sizeof(v)));
	CHECK_STR(v, "0");
	free(line);
	free(h);

	TEST("queued cookies next to the session cookie");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_cookie_set(s, "a", "1", -1, NULL, NULL, 0));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && tcount_set_cookie(h) == 2);
	line = h ? tcookie_line(h, "a") : NULL;
	CHECK(line != NULL);
	free(line);
	line = h ? tcookie_line(h, "id") : NULL;
	CHECK(line != NULL);
	free(line);
	free(h);

	TEST("invalid cookie names and values");
	{
		static const char *bad_names[] = {
			"", "a b", "a;b", "a=b", "a,b", "a\"b", "a\tb",
			"a(b", "a)b", "a/b", "a@b", "a:b", "a?b", "a{b",
			"a[b", "a\\b", "\x7f", "a\x01", "\xc3\xa9",
		};
		static const char *bad_values[] = {
			"a b", "a;b", "a,b", "a\\b", "a\"b", "\"unclosed",
			"a\tb", "a\x01", "a\x7f", "\xc3\xa9", "a\r\nX: y",
		};
		int bad = 0;

		s = tbegin(cfg, NULL);
		for (i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++)
			if (crumb_cookie_set(s, bad_names[i], "v", -1, NULL,
			    NULL, 0) != CRUMB_E_INVAL) {
				fprintf(stderr, "name %zu accepted\n", i);
				bad++;
			}
		for (i = 0; i < sizeof(bad_values) / sizeof(*bad_values);
		    i++)
			if (crumb_cookie_set(s, "n", bad_values[i], -1, NULL,
			    NULL, 0) != CRUMB_E_INVAL) {
				fprintf(stderr, "value %zu accepted\n", i);
				bad++;
			}
		CHECK(bad == 0);
		CHECK_RC(crumb_cookie_set(s, NULL, "v", -1, NULL, NULL, 0),
		    CRUMB_E_INVAL);
		CHECK_RC(crumb_cookie_set(s, "n", NULL, -1, NULL, NULL, 0),
		    CRUMB_E_INVAL);
		CHECK_RC(crumb_cookie_set(s, "n", "v", -1, "/a;b", NULL, 0),
		    CRUMB_E_INVAL);
		CHECK_RC(crumb_cookie_set(s, "n", "v", -1, NULL, "x;y", 0),
		    CRUMB_E_INVAL);
		CHECK_RC(crumb_cookie_set(s, "n", "v", -1, "/\r\n", NULL, 0),
		    CRUMB_E_INVAL);
		CHECK_RC(crumb_cookie_remove(s, "a b", NULL, NULL),
		    CRUMB_E_INVAL);
		CHECK_RC(crumb_cookie_remove(s, NULL, NULL, NULL),
		    CRUMB_E_INVAL);
		/* Rejected cookies are not emitted. */
		h = NULL;
		CHECK_OK(tend(s, "id", &h, NULL));
		CHECK(h != NULL && tcount_set_cookie(h) == 0);
		free(h);
	}
	crumb_config_free(cfg);
}

int
main(void)
{
	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	test_defaults();
	test_configured();
	test_host_prefix();
	test_host_prefix_auto();
	test_planted();
	test_same_site_none();
	test_queued();
	crumb_store_free(store);
	return CHECK_DONE();
}
