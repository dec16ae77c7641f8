/* Per-process configuration: cookie attributes, TTLs, keys, clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crumb-private.h"

#define HOST_PREFIX "__Host-"

CRUMB_API int
crumb_config_new(crumb_config **out)
{
	crumb_config *cfg;

	if (out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	if (crumb_crypto_init() != CRUMB_OK)
		return CRUMB_E_CRYPTO;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return CRUMB_E_NOMEM;
	cfg->path = crumb_strdup("/");
	cfg->cookie_name = crumb_strdup("id");
	cfg->full_name = crumb_strdup(HOST_PREFIX "id");
	if (cfg->path == NULL || cfg->cookie_name == NULL || cfg->full_name == NULL) {
		crumb_config_free(cfg);
		return CRUMB_E_NOMEM;
	}
	cfg->secure = 1;
	cfg->host_prefix = -1;
	cfg->http_only = 1;
	cfg->persistent = 1;
	cfg->same_site = CRUMB_SAMESITE_LAX;
	cfg->ttl = 86400;
	cfg->ttl_policy = CRUMB_TTL_ON_REQUEST;
	cfg->ttl_threshold = 3600;
	cfg->absolute = 30 * 86400;
	*out = cfg;
	return CRUMB_OK;
}

CRUMB_API void
crumb_config_free(crumb_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	crumb_key_release(&cfg->current);
	for (i = 0; i < cfg->n_old; i++)
		crumb_key_release(&cfg->old[i]);
	crumb_key_release(&cfg->retired);
	crumb_key_release(&cfg->next);
	crumb_keywatch_free(cfg->watch);
	free(cfg->cookie_name);
	free(cfg->full_name);
	free(cfg->path);
	free(cfg->domain);
	crumb_scache_free(cfg->scache);
	free(cfg);
}

CRUMB_API int
crumb_config_set_store(crumb_config *cfg, crumb_store *store)
{
	if (cfg == NULL)
		return CRUMB_E_INVAL;
	cfg->store = store;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_key(crumb_config *cfg, const unsigned char *key, size_t len)
{
	crumb_key k = { 0 };
	int rc;

	if (cfg == NULL || key == NULL)
		return CRUMB_E_INVAL;
	/* The watched directory owns the current key. */
	if (cfg->watch != NULL)
		return CRUMB_E_STATE;
	if ((rc = crumb_key_init(&k, key, len)) != CRUMB_OK)
		return rc;
	crumb_key_release(&cfg->current);
	cfg->current = k;
	cfg->has_current = 1;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_add_old_key(crumb_config *cfg, const unsigned char *key,
    size_t len)
{
	int rc;

	if (cfg == NULL || key == NULL)
		return CRUMB_E_INVAL;
	if (cfg->n_old == CRUMB_MAX_OLD_KEYS)
		return CRUMB_E_TOO_LARGE;
	if ((rc = crumb_key_init(&cfg->old[cfg->n_old], key, len)) != CRUMB_OK)
		return rc;
	cfg->n_old++;
	return CRUMB_OK;
}

/* full_name: the name with the prefix, ready for when it applies. */
static int
update_name(crumb_config *cfg)
{
	size_t n = strlen(cfg->cookie_name) + sizeof(HOST_PREFIX);
	char *full = malloc(n);

	if (full == NULL)
		return CRUMB_E_NOMEM;
	snprintf(full, n, "%s%s", HOST_PREFIX, cfg->cookie_name);
	free(cfg->full_name);
	cfg->full_name = full;
	return CRUMB_OK;
}

static int
replace(char **slot, const char *value)
{
	char *copy = NULL;

	if (value != NULL && (copy = crumb_strdup(value)) == NULL)
		return CRUMB_E_NOMEM;
	free(*slot);
	*slot = copy;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_cookie_name(crumb_config *cfg, const char *name)
{
	char *old;
	int rc;

	if (cfg == NULL || !crumb_is_token(name) || strlen(name) > 128)
		return CRUMB_E_INVAL;
	old = cfg->cookie_name;
	if ((cfg->cookie_name = crumb_strdup(name)) == NULL) {
		cfg->cookie_name = old;
		return CRUMB_E_NOMEM;
	}
	if ((rc = update_name(cfg)) != CRUMB_OK) {
		free(cfg->cookie_name);
		cfg->cookie_name = old;
		return rc;
	}
	free(old);
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_cookie_path(crumb_config *cfg, const char *path)
{
	if (cfg == NULL || path == NULL || path[0] != '/' ||
	    !crumb_is_cookie_value(path))
		return CRUMB_E_INVAL;
	return replace(&cfg->path, path);
}

CRUMB_API int
crumb_config_set_cookie_domain(crumb_config *cfg, const char *domain)
{
	if (cfg == NULL || (domain != NULL && (*domain == '\0' ||
	    !crumb_is_cookie_value(domain))))
		return CRUMB_E_INVAL;
	return replace(&cfg->domain, domain);
}

CRUMB_API int
crumb_config_set_secure(crumb_config *cfg, int on)
{
	/* Browsers drop a SameSite=None cookie that is not Secure. */
	if (cfg == NULL || (on == 0 && cfg->same_site == CRUMB_SAMESITE_NONE))
		return CRUMB_E_INVAL;
	cfg->secure = on != 0;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_http_only(crumb_config *cfg, int on)
{
	if (cfg == NULL)
		return CRUMB_E_INVAL;
	cfg->http_only = on != 0;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_same_site(crumb_config *cfg, crumb_same_site ss)
{
	if (cfg == NULL || ss < CRUMB_SAMESITE_LAX || ss > CRUMB_SAMESITE_UNSET ||
	    (ss == CRUMB_SAMESITE_NONE && !cfg->secure))
		return CRUMB_E_INVAL;
	cfg->same_site = ss;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_host_prefix(crumb_config *cfg, int on)
{
	if (cfg == NULL)
		return CRUMB_E_INVAL;
	cfg->host_prefix = on < 0 ? -1 : on > 0;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_persistent(crumb_config *cfg, int on)
{
	if (cfg == NULL)
		return CRUMB_E_INVAL;
	cfg->persistent = on != 0;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_ttl(crumb_config *cfg, int64_t seconds)
{
	if (cfg == NULL || seconds <= 0 || seconds > CRUMB_TTL_MAX)
		return CRUMB_E_INVAL;
	cfg->ttl = seconds;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_ttl_extension(crumb_config *cfg, crumb_ttl_policy p,
    int64_t threshold)
{
	if (cfg == NULL || threshold < 0 || threshold > CRUMB_TTL_MAX ||
	    (p != CRUMB_TTL_ON_REQUEST && p != CRUMB_TTL_ON_CHANGE))
		return CRUMB_E_INVAL;
	cfg->ttl_policy = p;
	cfg->ttl_threshold = threshold;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_absolute_lifetime(crumb_config *cfg, int64_t seconds)
{
	if (cfg == NULL || seconds < 0 || seconds > CRUMB_TTL_MAX)
		return CRUMB_E_INVAL;
	cfg->absolute = seconds;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_set_clock(crumb_config *cfg, crumb_clock_fn fn, void *ud)
{
	if (cfg == NULL)
		return CRUMB_E_INVAL;
	cfg->clock = fn;
	cfg->clock_ud = ud;
	return CRUMB_OK;
}

int64_t
crumb_now(const crumb_config *cfg)
{
	int64_t now = cfg->clock != NULL ? cfg->clock(cfg->clock_ud) :
	    (int64_t)time(NULL);

	return now < 0 ? 0 : now > CRUMB_TIME_MAX ? CRUMB_TIME_MAX : now;
}

/* Is the session cookie named "__Host-..."?  Automatically whenever the
 * browser would accept the prefix anyway (Secure, no Domain, Path=/): a
 * sibling subdomain can then not plant a cookie of that name, so the
 * first cookie of the name is ours. */
static int
host_prefixed(const crumb_config *cfg)
{
	if (cfg->host_prefix >= 0)
		return cfg->host_prefix;
	return cfg->secure && cfg->domain == NULL && strcmp(cfg->path, "/") == 0;
}

const char *
crumb_cookie_name(const crumb_config *cfg)
{
	return host_prefixed(cfg) ? cfg->full_name : cfg->cookie_name;
}

const char *
crumb_cookie_path(const crumb_config *cfg)
{
	return host_prefixed(cfg) ? "/" : cfg->path;
}

const char *
crumb_cookie_domain(const crumb_config *cfg)
{
	return host_prefixed(cfg) ? NULL : cfg->domain;
}

unsigned
crumb_cookie_flags(const crumb_config *cfg)
{
	unsigned f = 0;

	if (cfg->secure || host_prefixed(cfg))
		f |= CRUMB_COOKIE_SECURE;
	if (cfg->http_only)
		f |= CRUMB_COOKIE_HTTP_ONLY;
	switch (cfg->same_site) {
	case CRUMB_SAMESITE_LAX: f |= CRUMB_COOKIE_SAMESITE_LAX; break;
	case CRUMB_SAMESITE_STRICT: f |= CRUMB_COOKIE_SAMESITE_STRICT; break;
	case CRUMB_SAMESITE_NONE: f |= CRUMB_COOKIE_SAMESITE_NONE; break;
	default: break;
	}
	return f;
}
