/*
 * crumbctl key new [--force] PATH: a new random key file (what
 * crumb-keygen writes, through the library's crumb_key_generate_file),
 * put in place by one rename, so that a worker never reads half a file.
 * crumbctl key rotate [--next] DIR: in a key directory
 * (crumb_config_watch_keys: key, key.old, key.next) the current key
 * becomes the retired one, then key.next, or (not with --next) a new
 * random key, becomes the current one.
 *
 * Every file goes into place by link() or rename(), each atomic, in an
 * order where a worker that reads the directory at any moment finds
 * both the key before and the key after the rotation (lib/keyfile.c
 * reads key.next, key, key.old in that order):
 *   1. the new key is written to a temporary file and fsync()ed
 *      (or is key.next already);
 *   2. key is hard-linked to a temporary name, renamed over key.old:
 *      key and key.old now both hold the current key;
 *   3. the new key is renamed over key (key.next is gone with it);
 *   4. the directory is fsync()ed.
 * No key is ever printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crumb.h"
#include "ctl.h"

static const char usage_key[] =
    "usage: crumbctl key new [--force] PATH\n"
    "       crumbctl key rotate [--next] DIR\n"
    "  new PATH    write a new random key (64 hex digits, mode 0600) to\n"
    "              PATH; PATH must not exist, unless --force (then it is\n"
    "              replaced in one rename)\n"
    "  rotate DIR  in the key directory DIR (key, key.old, key.next):\n"
    "              key becomes key.old, then key.next (when there; on\n"
    "              several hosts copy the same key.next to each first)\n"
    "              or a new random key becomes key.  Workers that watch\n"
    "              DIR (crumb_config_watch_keys) take it within a second.\n"
    "              --next: only promote key.next; without one, fail\n"
    "              (on several hosts, a new key of one host's own would\n"
    "              open on no other)\n"
    "Run as root, the new files get the owner and group of their\n"
    "directory.  No key is ever printed.\n"
    "Exit status: 0 done, 1 failed (reason on stderr), 2 usage.\n";

/* dir/name, or the name alone when dir is NULL; new, free(). */
static char *
join(const char *dir, const char *name)
{
	size_t n = (dir != NULL ? strlen(dir) + 1 : 0) + strlen(name) + 1;
	char *p = malloc(n);

	if (p == NULL) {
		fputs("crumbctl key: out of memory\n", stderr);
		return NULL;
	}
	snprintf(p, n, "%s%s%s", dir != NULL ? dir : "", dir != NULL ? "/" : "",
	    name);
	return p;
}

/* The directory part of path ("." for a bare name); new, free(). */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (slash == NULL)
		return join(NULL, ".");
	if (slash == path)
		return join(NULL, "/");
	if ((d = join(NULL, path)) != NULL)
		d[slash - path] = '\0';
	return d;
}

/* A fresh name in dir for a file being prepared: dir/.crumb-WHAT-PID-N.
 * Files are created with O_EXCL | O_NOFOLLOW: a name taken is skipped. */
static char *
temp_name(const char *dir, const char *what, unsigned n)
{
	char name[96];

	snprintf(name, sizeof(name), ".crumb-%s-%ld-%u", what, (long)getpid(),
	    n);
	return join(dir, name);
}

/* Run as root: give path the owner and group of its directory dst, so
 * that the workers (the directory's user) can read it. */
static int
give_to_dir_owner(const char *path, const struct stat *dst)
{
	if (geteuid() != 0 || dst->st_uid == 0)
		return 0;
	if (lchown(path, dst->st_uid, dst->st_gid) != 0) {
		fprintf(stderr, "crumbctl key: %s: cannot give it to the "
		    "directory's owner (uid %lu): %s\n", path,
		    (unsigned long)dst->st_uid, strerror(errno));
		return -1;
	}
	return 0;
}

/* A new random key in a fresh temporary file in dir; new, free(), or
 * NULL (said why). */
static char *
new_key_file(const char *dir)
{
	unsigned n;

	for (n = 0; n < 100; n++) {
		char *tmp = temp_name(dir, "key", n);
		int rc;

		if (tmp == NULL)
			return NULL;
		if ((rc = crumb_key_generate_file(tmp)) == CRUMB_OK)
			return tmp;
		if (rc != CRUMB_E_STATE) {
			fprintf(stderr, "crumbctl key: %s: %s\n", tmp,
			    rc == CRUMB_E_KEYFILE ? strerror(errno) :
			    crumb_strerror(rc));
			free(tmp);
			return NULL;
		}
		free(tmp);
	}
	fprintf(stderr, "crumbctl key: %s: no free temporary name\n", dir);
	return NULL;
}

/* Flush the directory's entries (the renames) to disk. */
static int
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static void
print_result(const ctl_opts *o, const char *what, const char *path,
    const char *note)
{
	if (o->json)
		printf("{\"command\":\"key %s\",\"path\":\"%s\",\"note\":\"%s\"}\n",
		    what, path, note);
	else if (!o->quiet)
		printf("%s: %s\n", path, note);
}

/* Non-zero when s needs escaping in the JSON output: keep it simple by
 * refusing such paths for --json (a path with a quote is unusual). */
static int
json_unsafe(const ctl_opts *o, const char *s)
{
	if (!o->json)
		return 0;
	for (; *s != '\0'; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) {
			fputs("crumbctl key: --json: the path has a quote, a "
			    "backslash or a control character\n", stderr);
			return 1;
		}
	return 0;
}

static int
key_new(const ctl_opts *o, const char *path, int force)
{
	struct stat dst, st;
	char *dir, *tmp = NULL;
	int status = 1;

	if (json_unsafe(o, path))
		return 1;
	if ((dir = dir_of(path)) == NULL)
		return 1;
	if (stat(dir, &dst) != 0) {
		fprintf(stderr, "crumbctl key: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(dst.st_mode)) {
		fprintf(stderr, "crumbctl key: %s: not a directory\n", dir);
		goto out;
	}
	if (lstat(path, &st) == 0) {
		if (!force) {
			fprintf(stderr, "crumbctl key: %s: file exists "
			    "(--force replaces it)\n", path);
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "crumbctl key: %s: is a directory\n",
			    path);
			goto out;
		}
	}
	if ((tmp = new_key_file(dir)) == NULL)
		goto out;
	if (give_to_dir_owner(tmp, &dst) != 0)
		goto out;
	/* link() never replaces a file: an existing PATH fails. */
	if (force ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
		fprintf(stderr, "crumbctl key: %s: %s\n", path,
		    errno == EEXIST ? "file exists (--force replaces it)" :
		    strerror(errno));
		goto out;
	}
	if (sync_dir(dir) != 0) {
		fprintf(stderr, "crumbctl key: %s: cannot flush the directory: "
		    "%s\n", dir, strerror(errno));
		goto out;
	}
	print_result(o, "new", path, force ? "new key written (replaced)" :
	    "new key written");
	status = 0;
out:
	if (tmp != NULL && (status != 0 || !force))
		unlink(tmp);
	free(tmp);
	free(dir);
	return status;
}

/* path must be a regular file (not a link: rotation replaces files)
 * holding a usable key.  0 when it is; 1 when it is missing and may be;
 * -1 (said why) otherwise. */
static int
check_key_file(const char *path, int optional)
{
	crumb_config *cfg = NULL;
	struct stat st;
	int rc;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT && optional)
			return 1;
		fprintf(stderr, "crumbctl key: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		fprintf(stderr, "crumbctl key: %s: a symbolic link (rotate "
		    "works on the files themselves)\n", path);
		return -1;
	}
	if ((rc = crumb_config_new(&cfg)) != CRUMB_OK) {
		fprintf(stderr, "crumbctl key: %s\n", crumb_strerror(rc));
		return -1;
	}
	rc = crumb_config_load_key_file(cfg, path, 0);
	if (rc != CRUMB_OK)
		fprintf(stderr, "crumbctl key: %s\n",
		    *crumb_config_errmsg(cfg) != '\0' ?
		    crumb_config_errmsg(cfg) : crumb_strerror(rc));
	crumb_config_free(cfg);
	return rc == CRUMB_OK ? 0 : -1;
}

/* A copy of the key file key in a fresh temporary file in dir, fsync()ed
 * and given to the directory's owner; new, free(), or NULL (said why). */
static char *
copy_key(const char *dir, const char *key, const struct stat *dst)
{
	char buf[4096], *tmp = NULL;
	ssize_t n;
	unsigned i;
	int in = -1, out = -1;

	for (i = 0; i < 100 && out < 0; i++) {
		free(tmp);
		if ((tmp = temp_name(dir, "copy", i)) == NULL)
			return NULL;
		out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (out < 0 && errno != EEXIST)
			break;
	}
	if (out < 0) {
		fprintf(stderr, "crumbctl key: %s: %s\n", tmp, strerror(errno));
		free(tmp);
		return NULL;
	}
	/* A key file is 65 bytes; check_key_file read it whole already. */
	if ((in = open(key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    (n = read(in, buf, sizeof(buf))) < 0 ||
	    write(out, buf, (size_t)n) != n || fsync(out) != 0) {
		fprintf(stderr, "crumbctl key: %s: cannot copy %s: %s\n", tmp,
		    key, strerror(errno));
		n = -1;
	} else if (give_to_dir_owner(tmp, dst) != 0)
		n = -1;
	memset(buf, 0, sizeof(buf));
	if (in >= 0)
		close(in);
	if (close(out) != 0)
		n = -1;
	if (n < 0) {
		unlink(tmp);
		free(tmp);
		return NULL;
	}
	return tmp;
}

/* dir/key.old := dir/key, in one rename: of a hard link of key (the
 * same file) or, where hard links are refused, of a copy. */
static int
retire(const char *dir, const char *key, const char *old,
    const struct stat *dst)
{
	char *tmp = NULL;
	unsigned i;

	for (i = 0; i < 100 && tmp == NULL; i++) {
		int err;

		if ((tmp = temp_name(dir, "old", i)) == NULL)
			return -1;
		if (link(key, tmp) == 0)
			break;
		err = errno;
		free(tmp);
		tmp = NULL;
		if (err != EEXIST && (tmp = copy_key(dir, key, dst)) == NULL)
			return -1;
	}
	if (tmp == NULL) {
		fprintf(stderr, "crumbctl key: %s: no free temporary name\n",
		    dir);
		return -1;
	}
	if (rename(tmp, old) != 0) {
		fprintf(stderr, "crumbctl key: %s: %s\n", old, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

static int
key_rotate(const ctl_opts *o, const char *dir, int only_next)
{
	char *key = join(dir, "key"), *old = join(dir, "key.old"),
	    *next = join(dir, "key.next"), *fresh = NULL;
	const char *src;
	struct stat dst;
	int dfd = -1, status = 1, have_next;

	if (key == NULL || old == NULL || next == NULL || json_unsafe(o, dir))
		goto out;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(dfd, &dst) != 0) {
		fprintf(stderr, "crumbctl key: %s: %s\n", dir,
		    errno == ENOTDIR ? "not a directory" : strerror(errno));
		goto out;
	}
	/* One rotation at a time in a directory. */
	if (flock(dfd, LOCK_EX) != 0) {
		fprintf(stderr, "crumbctl key: %s: cannot lock: %s\n", dir,
		    strerror(errno));
		goto out;
	}
	if (check_key_file(key, 0) != 0 ||
	    (have_next = check_key_file(next, 1)) < 0)
		goto out;
	have_next = !have_next;
	if (!have_next && only_next) {
		fprintf(stderr, "crumbctl key: %s: no key.next (--next)\n", dir);
		goto out;
	}
	if (have_next)
		src = next;
	else if ((src = fresh = new_key_file(dir)) == NULL)
		goto out;
	if (give_to_dir_owner(src, &dst) != 0 ||
	    retire(dir, key, old, &dst) != 0)
		goto out;
	if (rename(src, key) != 0) {
		fprintf(stderr, "crumbctl key: %s: %s (%s still holds the "
		    "current key)\n", key, strerror(errno), old);
		goto out;
	}
	free(fresh);
	fresh = NULL;
	if (fsync(dfd) != 0) {
		fprintf(stderr, "crumbctl key: %s: cannot flush the directory: "
		    "%s\n", dir, strerror(errno));
		goto out;
	}
	print_result(o, "rotate", dir, have_next ?
	    "key.next is the current key, the previous one key.old" :
	    "a new key is the current key, the previous one key.old");
	status = 0;
out:
	if (fresh != NULL)
		unlink(fresh);
	free(fresh);
	if (dfd >= 0)
		close(dfd);     /* and the lock with it */
	free(key);
	free(old);
	free(next);
	return status;
}

static int
usage_error(const char *why)
{
	fprintf(stderr, "crumbctl key: %s\n%s", why, usage_key);
	return 2;
}

static int
is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

int
ctl_key(const ctl_opts *o, int argc, char **argv)
{
	const char *sub, *arg = NULL;
	int i, force = 0, only_next = 0, opts = 1;

	if (argc < 2)
		return usage_error("new or rotate?");
	sub = argv[1];
	if (is_help(sub)) {
		fputs(usage_key, stdout);
		return 0;
	}
	if (strcmp(sub, "new") != 0 && strcmp(sub, "rotate") != 0)
		return usage_error("new or rotate?");
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (opts && strcmp(a, "--") == 0) {
			opts = 0;
		} else if (opts && is_help(a)) {
			fputs(usage_key, stdout);
			return 0;
		} else if (opts && strcmp(a, "--force") == 0 &&
		    strcmp(sub, "new") == 0) {
			force = 1;
		} else if (opts && strcmp(a, "--next") == 0 &&
		    strcmp(sub, "rotate") == 0) {
			only_next = 1;
		} else if (opts && a[0] == '-' && a[1] != '\0') {
			/* Never a file name: "key new --frce" must not write
			 * a key to a file called "--frce". */
			fprintf(stderr, "crumbctl key %s: unknown option %s\n%s",
			    sub, a, usage_key);
			return 2;
		} else if (arg != NULL) {
			return usage_error(strcmp(sub, "new") == 0 ?
			    "one PATH only" : "one DIR only");
		} else if (*a == '\0') {
			return usage_error("an empty name");
		} else {
			arg = a;
		}
	}
	if (arg == NULL)
		return usage_error(strcmp(sub, "new") == 0 ? "no PATH" :
		    "no DIR");
	return strcmp(sub, "new") == 0 ? key_new(o, arg, force) :
	    key_rotate(o, arg, only_next);
}
