/* crumb-keygen PATH: write a new random session key (hex, mode 0600). */
#include <stdio.h>

#include "crumb.h"

int
main(int argc, char **argv)
{
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: crumb-keygen PATH\n");
		return 2;
	}
	if ((rc = crumb_key_generate_file(argv[1])) != CRUMB_OK) {
		fprintf(stderr, "crumb-keygen: %s: %s\n", argv[1],
		    rc == CRUMB_E_STATE ? "file exists" : crumb_strerror(rc));
		return 1;
	}
	return 0;
}
