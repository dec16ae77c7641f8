/* Error codes to text. */
#include "crumb-private.h"

static const char *const messages[] = {
	[CRUMB_OK] = "success",
	[CRUMB_E_NOMEM] = "out of memory",
	[CRUMB_E_INVAL] = "invalid argument",
	[CRUMB_E_STATE] = "call not allowed in this state",
	[CRUMB_E_NOT_FOUND] = "not found",
	[CRUMB_E_TYPE] = "value has another type",
	[CRUMB_E_INVALIDATED] = "session was invalidated",
	[CRUMB_E_TOO_LARGE] = "too large",
	[CRUMB_E_CRYPTO] = "cryptography failure",
	[CRUMB_E_STORE] = "session store failure",
	[CRUMB_E_BUSY] = "session store busy (lock timeout)",
	[CRUMB_E_READONLY] = "session store is read-only",
	[CRUMB_E_FULL] = "session store is full",
	[CRUMB_E_CORRUPT] = "session store is corrupt or not a database",
	[CRUMB_E_CANTOPEN] = "session store cannot be opened",
	[CRUMB_E_CONFLICT] = "concurrent update conflict",
	[CRUMB_E_PARSE] = "malformed input",
	[CRUMB_E_IO] = "reading the request body or writing the headers failed",
	[CRUMB_E_NOKEY] = "no session key configured",
	[CRUMB_E_KEYFILE] =
	    "key file missing, unreadable, malformed or open to other users",
	[CRUMB_E_UNSUPPORTED] = "the session store does not support this operation",
};

CRUMB_API const char *
crumb_strerror(int err)
{
	if (err < 0 || (size_t)err >= sizeof(messages) / sizeof(messages[0]) ||
	    messages[err] == NULL)
		return "unknown error";
	return messages[err];
}
