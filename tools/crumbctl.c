/* crumbctl [--store URL] [--json] [--quiet] COMMAND ...: the operator's
 * command.  This file parses the common options and hands the rest to
 * the command's function (ctl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"

static const char usage[] =
    "usage: crumbctl [--store URL] [--json] [--quiet] COMMAND [ARGS]\n"
    "Commands:\n"
    "  stats               count the sessions stored, live, expired, users\n"
    "  purge [--batch N]   delete the expired sessions (quiet off a terminal)\n"
    "  list USER           the live sessions of USER, by stored hash\n"
    "  revoke USER         sign USER out everywhere\n"
    "  revoke --session HASH  delete the one session with that stored hash\n"
    "  migrate --from URL --to URL\n"
    "                      copy every live session to another store\n"
    "  key new [--force] PATH\n"
    "                      write a new random key file (mode 0600)\n"
    "  key rotate [--next] DIR\n"
    "                      key.next or a new key becomes DIR/key, the\n"
    "                      previous one DIR/key.old (the retired key)\n"
    "Common options (also accepted after the command):\n"
    "  --store URL  the session store (default: $CRUMB_STORE)\n"
    "  --json       print data as JSON\n"
    "  --quiet      no progress lines and no summary\n"
    "  --version    print the version and exit\n"
    "'crumbctl COMMAND --help' describes a command.\n"
    "Exit status: 0 done, 1 failed (reason on stderr), 2 usage.\n";

typedef int (*ctl_fn)(const ctl_opts *, int, char **);

static const struct {
	const char *name;
	ctl_fn fn;
} commands[] = {
	{ "stats", ctl_stats },
	{ "purge", ctl_purge },
	{ "list", ctl_list },
	{ "revoke", ctl_revoke },
	{ "migrate", ctl_migrate },
	{ "key", ctl_key },
};

int
main(int argc, char **argv)
{
	ctl_opts o;
	size_t k;
	int i;

	memset(&o, 0, sizeof(o));
	o.store = getenv("CRUMB_STORE");
	if (o.store != NULL && *o.store == '\0')
		o.store = NULL;
	o.tty = isatty(2);
	o.out_tty = isatty(1);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("crumbctl %s\n", PACKAGE_VERSION);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			o.json = 1;
		} else if (strcmp(a, "--quiet") == 0) {
			o.quiet = 1;
		} else if (strcmp(a, "--store") == 0 && i + 1 < argc) {
			o.store = argv[++i];
		} else if (strncmp(a, "--store=", 8) == 0) {
			o.store = a + 8;
		} else {
			fprintf(stderr, "crumbctl: unknown option %s\n%s", a,
			    usage);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "crumbctl: no command\n%s", usage);
		return 2;
	}
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].fn(&o, argc - i, argv + i);
	fprintf(stderr, "crumbctl: unknown command %s\n%s", argv[i], usage);
	return 2;
}
