/* crumbctl key: new and rotate.  Placeholder until the key commands
 * land; the real file replaces this one. */
#include "ctl.h"

int
ctl_key(const ctl_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	fputs("crumbctl key: not built yet\n", stderr);
	return 1;
}
