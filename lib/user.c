/*
 * Sessions of a user: list them, sign them all out.
 */

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
