/* crumb-keygen PATH: write a new random session key (hex, mode 0600). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crumb.h"

static const char usage[] =
    "usage: crumb-keygen PATH\n"
    "Writes a new random session key (64 hex digits) to PATH with mode\n"
    "0600; PATH must not exist yet.\n";

int
main(int argc, char **argv)
{
	const char *path = NULL;
	int i, rc, opts = 1;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && strcmp(a, "--") == 0) {
			opts = 0;
		} else if (opts && (strcmp(a, "--help") == 0 ||
		    strcmp(a, "-h") == 0)) {
			fputs(usage, stdout);
			return 0;
		} else if (opts && a[0] == '-' && a[1] != '\0') {
			/* Never a file name: "crumb-keygen --help" must not
			 * write a key to a file called "--help". */
			fprintf(stderr, "crumb-keygen: unknown option %s\n%s",
			    a, usage);
			return 2;
		} else if (path != NULL) {
			fprintf(stderr, "crumb-keygen: one PATH only\n%s",
			    usage);
			return 2;
		} else {
			path = a;
		}
	}
	if (path == NULL) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	if ((rc = crumb_key_generate_file(path)) != CRUMB_OK) {
		fprintf(stderr, "crumb-keygen: %s: %s\n", path,
		    rc == CRUMB_E_STATE ? "file exists" :
		    rc == CRUMB_E_KEYFILE ? strerror(errno) : crumb_strerror(rc));
		return 1;
	}
	return 0;
}
