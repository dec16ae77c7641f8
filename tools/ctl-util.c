/* What crumbctl's commands share: parsing a command's words, opening
 * the store without creating one by mistake, messages, times, JSON. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl.h"

static void
vsay(const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "crumbctl %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int
ctl_usage(const char *cmd, const char *usage, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(cmd, fmt, ap);
	va_end(ap);
	fputs(usage, stderr);
	return 2;
}

int
ctl_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(cmd, fmt, ap);
	va_end(ap);
	return 1;
}

/* "--name VALUE" / "--name=VALUE" at argv[*i]: 1 and *val set, 0 when
 * the word is not that option, -1 when VALUE is missing. */
static int
valued(const char *name, int argc, char **argv, int *i, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0)
		return 0;
	if (a[2 + n] == '=') {
		*val = a + 3 + n;
		return 1;
	}
	if (a[2 + n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

int
ctl_args_parse(ctl_args *a, const ctl_opts *o, int argc, char **argv,
    const char *const *names, int n, const char *usage)
{
	const char *cmd = argv[0];
	int i, k, r, opts = 1;

	memset(a, 0, sizeof(*a));
	a->o = *o;
	if ((a->operand = calloc((size_t)argc, sizeof(*a->operand))) == NULL)
		return ctl_fail(cmd, "out of memory");
	for (i = 1; i < argc; i++) {
		const char *w = argv[i], *v = NULL;

		if (!opts || w[0] != '-' || w[1] == '\0') {
			a->operand[a->n_operand++] = argv[i];
			continue;
		}
		if (strcmp(w, "--") == 0) {
			opts = 0;
			continue;
		}
		if (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0) {
			a->help = 1;
			continue;
		}
		if (strcmp(w, "--json") == 0) {
			a->o.json = 1;
			continue;
		}
		if (strcmp(w, "--quiet") == 0 || strcmp(w, "-q") == 0) {
			a->o.quiet = 1;
			continue;
		}
		if ((r = valued("store", argc, argv, &i, &v)) != 0) {
			if (r < 0)
				goto missing;
			a->o.store = v;
			continue;
		}
		for (k = 0; k < n && k < 4; k++) {
			if ((r = valued(names[k], argc, argv, &i, &v)) < 0)
				goto missing;
			if (r > 0) {
				a->opt_val[k] = v;
				break;
			}
		}
		if (k < n && k < 4)
			continue;
		ctl_args_free(a);
		return ctl_usage(cmd, usage, "unknown option %s", w);
missing:
		ctl_args_free(a);
		return ctl_usage(cmd, usage, "%s needs a value", w);
	}
	return 0;
}

void
ctl_args_free(ctl_args *a)
{
	free(a->operand);
	a->operand = NULL;
	a->n_operand = 0;
}

int
ctl_start(ctl_args *a, const ctl_opts *o, int argc, char **argv,
    const char *const *names, int n, const char *usage, int lo, int hi,
    int need_store)
{
	const char *cmd = argv[0];
	int rc;

	if ((rc = ctl_args_parse(a, o, argc, argv, names, n, usage)) != 0)
		return rc;
	if (a->help)
		rc = fputs(usage, stdout) < 0 ? 1 : 0;
	else if (a->n_operand > hi)
		rc = ctl_usage(cmd, usage, "unexpected %s", a->operand[hi]);
	else if (a->n_operand < lo)
		rc = ctl_usage(cmd, usage, "missing operand");
	else if (need_store && a->o.store == NULL)
		rc = ctl_usage(cmd, usage, "no store: give --store URL or set "
		    "CRUMB_STORE");
	else
		return -1;
	ctl_args_free(a);
	return rc;
}

/* ---- stores ---- */

enum kind { K_FILE, K_MEMORY, K_SERVER, K_OTHER };

/* What crumb_store_open will make of url (crumb.h), and for a SQLite
 * store the file's path (new; free()). */
static enum kind
classify(const char *url, char **path)
{
	const char *p, *colon, *slash, *eq;
	size_t n, i, o;
	char *out;

	*path = NULL;
	if (strncasecmp(url, "memory:", 7) == 0)
		return K_MEMORY;
	if (strncasecmp(url, "postgres", 8) == 0)
		return K_SERVER;
	if (strncasecmp(url, "sqlite:", 7) == 0) {
		p = url + 7;
		if (strncmp(p, "//", 2) == 0)
			p += 2;         /* sqlite:///abs: an empty authority */
		n = strcspn(p, "?");
		if ((out = malloc(n + 1)) == NULL)
			return K_OTHER;
		for (i = o = 0; i < n; i++) {
			if (p[i] == '%' && i + 2 < n &&
			    isxdigit((unsigned char)p[i + 1]) &&
			    isxdigit((unsigned char)p[i + 2])) {
				char hex[3] = { p[i + 1], p[i + 2], '\0' };

				out[o++] = (char)strtol(hex, NULL, 16);
				i += 2;
			} else {
				out[o++] = p[i];
			}
		}
		out[o] = '\0';
		*path = out;
		return K_FILE;
	}
	/* libpq's "key=value" text: a keyword, then '=' */
	eq = strchr(url, '=');
	if (eq != NULL) {
		for (p = url; p < eq && (islower((unsigned char)*p) ||
		    *p == '_'); p++)
			;
		if (p == eq && eq > url)
			return K_SERVER;
	}
	colon = strchr(url, ':');
	slash = strchr(url, '/');
	if (colon != NULL && colon > url && (slash == NULL || colon < slash))
		return K_OTHER;         /* a scheme: crumb_store_open judges */
	*path = strdup(url);
	return *path != NULL ? K_FILE : K_OTHER;
}

const char *
ctl_store_name(const char *url)
{
	char *path = NULL;
	enum kind k = classify(url, &path);

	free(path);
	switch (k) {
	case K_MEMORY:
		return "memory:";
	case K_SERVER:
		return "the PostgreSQL store";
	case K_FILE:
		return url;     /* a file's URL holds no password */
	default:
		return "the store";
	}
}

const char *
ctl_why(crumb_store *st, int rc)
{
	const char *m = st != NULL ? crumb_store_errmsg(st) : "";

	return m != NULL && *m != '\0' ? m : crumb_strerror(rc);
}

int
ctl_open(const char *cmd, const char *url, int may_create, crumb_store **out)
{
	char why[512], *path = NULL;
	const char *name = ctl_store_name(url);
	struct stat st;
	enum kind k;
	int rc;

	*out = NULL;
	k = classify(url, &path);
	if (k == K_FILE && path != NULL && !may_create &&
	    stat(path, &st) != 0) {
		int err = errno;

		rc = ctl_fail(cmd, "%s: %s", path, strerror(err));
		free(path);
		return rc;
	}
	free(path);
	if ((rc = crumb_store_open(url, out, why, sizeof(why))) != CRUMB_OK)
		return ctl_fail(cmd, "%s: %s", name,
		    *why != '\0' ? why : crumb_strerror(rc));
	return 0;
}

/* ---- numbers, times, JSON ---- */

unsigned
ctl_parse_count(const char *s)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT_MAX)
		return 0;
	return (unsigned)v;
}

void
ctl_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

double
ctl_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
ctl_print_json(const char *cmd, cJSON *j)
{
	char *text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
	int rc = 0;

	if (text == NULL)
		rc = ctl_fail(cmd, "out of memory");
	else if (printf("%s\n", text) < 0)
		rc = ctl_fail(cmd, "cannot write the output");
	cJSON_free(text);
	cJSON_Delete(j);
	return rc;
}
