/*
 * Key files: reading one (crumb_config_load_key_file), writing a new
 * one (crumb_key_generate_file), and a watched key directory
 * (crumb_config_watch_keys): DIR/key seals, DIR/key.old is the retired
 * key, DIR/key.next the key of the next rotation.  A worker looks at
 * the three files at most once a second, and at once when a cookie
 * names a key it does not hold, and loads them again when they changed;
 * crumb.h has the rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crumb-private.h"

#define CHECK_INTERVAL_MS 1000

/* The watched files, in the order a reload reads them: see reload(). */
enum { SLOT_NEXT, SLOT_CURRENT, SLOT_RETIRED, N_SLOTS };
static const char *const slot_file[N_SLOTS] = { "key.next", "key", "key.old" };

/* What stat() said about a file: a change of any of it is a change. */
typedef struct stamp {
	int state;               /* 1 there, 0 absent, -1 stat failed */
	int err;                 /* errno when state is -1 */
	dev_t dev;
	ino_t ino;
	off_t size;
	mode_t mode;
	uid_t uid;
	struct timespec mtim, ctim;
} stamp;

struct crumb_keywatch {
	char *path[N_SLOTS];
	stamp seen[N_SLOTS];     /* the files as last read (or tried) */
	stamp reported[N_SLOTS]; /* as they were at the last report */
	int failed;              /* the last reload failed */
	int has_reported;
	int64_t checked_ms;      /* monotonic time of the last look */
};

/* Record why path failed as a key file; always CRUMB_E_KEYFILE. */
static int
key_file_error(crumb_config *cfg, const char *path, const char *why)
{
	crumb_fmt(cfg->errmsg, sizeof(cfg->errmsg), "%s: %s", path, why);
	return CRUMB_E_KEYFILE;
}

static void
stamp_of(stamp *sp, const struct stat *st)
{
	memset(sp, 0, sizeof(*sp));
	sp->state = 1;
	sp->dev = st->st_dev;
	sp->ino = st->st_ino;
	sp->size = st->st_size;
	sp->mode = st->st_mode;
	sp->uid = st->st_uid;
	sp->mtim = st->st_mtim;
	sp->ctim = st->st_ctim;
}

static int
stamp_equal(const stamp *a, const stamp *b)
{
	return a->state == b->state && a->err == b->err &&
	    a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mode == b->mode && a->uid == b->uid &&
	    a->mtim.tv_sec == b->mtim.tv_sec &&
	    a->mtim.tv_nsec == b->mtim.tv_nsec &&
	    a->ctim.tv_sec == b->ctim.tv_sec &&
	    a->ctim.tv_nsec == b->ctim.tv_nsec;
}

static int
stamps_equal(const stamp *a, const stamp *b)
{
	int i;

	for (i = 0; i < N_SLOTS; i++)
		if (!stamp_equal(&a[i], &b[i]))
			return 0;
	return 1;
}

/* Read up to len - 1 bytes of the key file at path into text (NUL-
 * terminated), and what fstat() said of it into st.  A file that group
 * or others may read is refused before it is read: its key must be
 * taken for known.  *err gets open()'s errno when it failed, else 0. */
static int
read_key_file(crumb_config *cfg, const char *path, char *text, size_t len,
    struct stat *st, int *err)
{
	char why[64];
	size_t n = 0;
	ssize_t got;
	int fd;

	*err = 0;
	/* O_NONBLOCK: a FIFO must not hang the program before fstat()
	 * turns it down. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0) {
		*err = errno;
		return key_file_error(cfg, path, strerror(errno));
	}
	if (fstat(fd, st) != 0) {
		close(fd);
		return key_file_error(cfg, path, strerror(errno));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return key_file_error(cfg, path, "not a regular file");
	}
	if ((st->st_mode & 0066) != 0) {
		close(fd);
		crumb_fmt(why, sizeof(why), "mode %04o: group or others may "
		    "read or write it", (unsigned)(st->st_mode & 07777));
		return key_file_error(cfg, path, why);
	}
	while (n < len - 1 && (got = read(fd, text + n, len - 1 - n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;

			close(fd);
			memset(text, 0, len);
			return key_file_error(cfg, path, strerror(e));
		}
		n += (size_t)got;
	}
	close(fd);
	text[n] = '\0';
	return CRUMB_OK;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 64 hex digits with only whitespace around them, into key. */
static int
parse_key(const char *p, unsigned char key[CRUMB_KEY_LEN])
{
	size_t i;

	while (is_space(*p))
		p++;
	for (i = 0; i < CRUMB_KEY_LEN; i++) {
		int hi = crumb_hexval(p[2 * i]),
		    lo = hi < 0 ? -1 : crumb_hexval(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	for (p += 2 * CRUMB_KEY_LEN; *p != '\0'; p++)
		if (!is_space(*p))
			return -1;
	return 0;
}

/* The key in the file at path, into key (32 bytes); st as
 * read_key_file.  With optional, a missing file is CRUMB_OK with
 * *present 0. */
static int
read_key(crumb_config *cfg, const char *path, int optional,
    unsigned char key[CRUMB_KEY_LEN], struct stat *st, int *present)
{
	char text[256];
	int rc, err;

	*present = 0;
	rc = read_key_file(cfg, path, text, sizeof(text), st, &err);
	if (rc != CRUMB_OK && optional && err == ENOENT) {
		cfg->errmsg[0] = '\0';
		return CRUMB_OK;
	}
	if (rc == CRUMB_OK && parse_key(text, key) != 0)
		rc = key_file_error(cfg, path, "not 64 hex digits");
	memset(text, 0, sizeof(text));
	*present = rc == CRUMB_OK;
	return rc;
}

CRUMB_API int
crumb_config_load_key_file(crumb_config *cfg, const char *path, int old)
{
	unsigned char key[CRUMB_KEY_LEN];
	struct stat st;
	int rc, present;

	if (cfg == NULL)
		return CRUMB_E_INVAL;
	cfg->errmsg[0] = '\0';
	if (path == NULL)
		return CRUMB_E_INVAL;
	if ((rc = read_key(cfg, path, 0, key, &st, &present)) == CRUMB_OK)
		rc = old ? crumb_config_add_old_key(cfg, key, sizeof(key)) :
		    crumb_config_set_key(cfg, key, sizeof(key));
	memset(key, 0, sizeof(key));
	return rc;
}

CRUMB_API const char *
crumb_config_errmsg(const crumb_config *cfg)
{
	return cfg != NULL ? cfg->errmsg : "";
}

CRUMB_API int
crumb_key_generate_file(const char *path)
{
	unsigned char key[CRUMB_KEY_LEN];
	char hex[2 * CRUMB_KEY_LEN + 2];
	int fd, rc = CRUMB_OK;

	if (path == NULL)
		return CRUMB_E_INVAL;
	if (crumb_crypto_init() != CRUMB_OK)
		return CRUMB_E_CRYPTO;
	gcry_randomize(key, sizeof(key), GCRY_VERY_STRONG_RANDOM);
	crumb_hex_encode(key, sizeof(key), hex);
	hex[2 * CRUMB_KEY_LEN] = '\n';
	memset(key, 0, sizeof(key));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		memset(hex, 0, sizeof(hex));
		return errno == EEXIST ? CRUMB_E_STATE : CRUMB_E_KEYFILE;
	}
	errno = ENOSPC;     /* what a short write, which sets none, means */
	/* fsync: a key file renamed into place after a crash must not be
	 * empty. */
	if (write(fd, hex, 2 * CRUMB_KEY_LEN + 1) != 2 * CRUMB_KEY_LEN + 1 ||
	    fsync(fd) != 0)
		rc = CRUMB_E_KEYFILE;
	if (close(fd) != 0)
		rc = CRUMB_E_KEYFILE;
	memset(hex, 0, sizeof(hex));
	if (rc != CRUMB_OK) {
		int err = errno;

		unlink(path);
		errno = err;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* The watched directory.                                             */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
crumb_keywatch_free(crumb_keywatch *w)
{
	int i;

	if (w == NULL)
		return;
	for (i = 0; i < N_SLOTS; i++)
		free(w->path[i]);
	free(w);
}

/* stat() each watched file into now. */
static void
look(const crumb_keywatch *w, stamp *now)
{
	struct stat st;
	int i;

	for (i = 0; i < N_SLOTS; i++) {
		memset(&now[i], 0, sizeof(now[i]));
		if (stat(w->path[i], &st) == 0)
			stamp_of(&now[i], &st);
		else if (errno != ENOENT) {
			now[i].state = -1;
			now[i].err = errno;
		}
	}
}

/* Read the three files and, only when every one that is there is a
 * usable key (and key is there), make them cfg's keys; else cfg keeps
 * the keys it has.  key.next is read first and key.old last:
 * `crumbctl key rotate` first links key to key.old, then renames the
 * new key (key.next, when there is one) to key, so that whatever moment
 * each read falls on, the keys read hold both the current key of
 * before and the one of after the rotation.  w->seen gets what was
 * read. */
static int
reload(crumb_config *cfg, crumb_keywatch *w)
{
	unsigned char raw[N_SLOTS][CRUMB_KEY_LEN];
	crumb_key k[N_SLOTS];
	struct stat st[N_SLOTS];
	int i, rc = CRUMB_OK, present[N_SLOTS] = { 0 };

	memset(k, 0, sizeof(k));
	for (i = 0; i < N_SLOTS && rc == CRUMB_OK; i++)
		rc = read_key(cfg, w->path[i], i != SLOT_CURRENT, raw[i],
		    &st[i], &present[i]);
	for (i = 0; i < N_SLOTS && rc == CRUMB_OK; i++)
		if (present[i])
			rc = crumb_key_init(&k[i], raw[i], CRUMB_KEY_LEN);
	memset(raw, 0, sizeof(raw));
	if (rc != CRUMB_OK) {
		for (i = 0; i < N_SLOTS; i++)
			crumb_key_release(&k[i]);
		return rc;
	}
	crumb_key_release(&cfg->current);
	crumb_key_release(&cfg->retired);
	crumb_key_release(&cfg->next);
	cfg->current = k[SLOT_CURRENT];
	cfg->has_current = 1;
	cfg->retired = k[SLOT_RETIRED];
	cfg->has_retired = present[SLOT_RETIRED];
	cfg->next = k[SLOT_NEXT];
	cfg->has_next = present[SLOT_NEXT];
	for (i = 0; i < N_SLOTS; i++) {
		memset(&w->seen[i], 0, sizeof(w->seen[i]));
		if (present[i])
			stamp_of(&w->seen[i], &st[i]);
	}
	cfg->errmsg[0] = '\0';
	return CRUMB_OK;
}

enum { POLL, FORCE, EXPLICIT };

/* Look at the files and reload them when they changed; after a failed
 * reload, try again at every look but a forced one, until it works.
 * *reloaded: the keys were loaded again. */
static int
check(crumb_config *cfg, int how, int *reloaded)
{
	crumb_keywatch *w = cfg->watch;
	stamp now[N_SLOTS];
	int rc;

	*reloaded = 0;
	w->checked_ms = mono_ms();
	look(w, now);
	if (stamps_equal(now, w->seen) && (!w->failed || how == FORCE))
		return CRUMB_OK;
	if ((rc = reload(cfg, w)) == CRUMB_OK) {
		w->failed = 0;
		w->has_reported = 0;
		*reloaded = 1;
		return CRUMB_OK;
	}
	memcpy(w->seen, now, sizeof(now));
	w->failed = 1;
	/* Once for each state of the files: the program's log must not
	 * fill up with a line per request. */
	if (!w->has_reported || !stamps_equal(now, w->reported)) {
		if (how != EXPLICIT)
			fprintf(stderr, "crumb: key files not reloaded, the "
			    "keys loaded before stay in use: %s\n",
			    *cfg->errmsg != '\0' ? cfg->errmsg :
			    crumb_strerror(rc));
		memcpy(w->reported, now, sizeof(now));
		w->has_reported = 1;
	}
	return rc;
}

int
crumb_keys_poll(crumb_config *cfg, int force)
{
	int reloaded;

	if (cfg->watch == NULL || (!force &&
	    mono_ms() - cfg->watch->checked_ms < CHECK_INTERVAL_MS))
		return 0;
	(void)check(cfg, force ? FORCE : POLL, &reloaded);
	return reloaded;
}

/* dir/name; new, free(). */
static char *
join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

CRUMB_API int
crumb_config_watch_keys(crumb_config *cfg, const char *dir)
{
	crumb_keywatch *w;
	struct stat st;
	char why[64];
	int i, rc;

	if (cfg == NULL)
		return CRUMB_E_INVAL;
	cfg->errmsg[0] = '\0';
	if (dir == NULL || *dir == '\0')
		return CRUMB_E_INVAL;
	if (stat(dir, &st) != 0)
		return key_file_error(cfg, dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return key_file_error(cfg, dir, "not a directory");
	/* Whoever may add files to it may plant a key.next. */
	if ((st.st_mode & 0002) != 0) {
		crumb_fmt(why, sizeof(why), "mode %04o: others may write in "
		    "it", (unsigned)(st.st_mode & 07777));
		return key_file_error(cfg, dir, why);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CRUMB_E_NOMEM;
	for (i = 0; i < N_SLOTS; i++) {
		if ((w->path[i] = join(dir, slot_file[i])) == NULL) {
			crumb_keywatch_free(w);
			return CRUMB_E_NOMEM;
		}
	}
	if ((rc = reload(cfg, w)) != CRUMB_OK) {
		crumb_keywatch_free(w);
		return rc;
	}
	w->checked_ms = mono_ms();
	crumb_keywatch_free(cfg->watch);
	cfg->watch = w;
	return CRUMB_OK;
}

CRUMB_API int
crumb_config_check_keys(crumb_config *cfg)
{
	int reloaded;

	if (cfg == NULL)
		return CRUMB_E_INVAL;
	if (cfg->watch == NULL)
		return CRUMB_E_STATE;
	return check(cfg, EXPLICIT, &reloaded);
}
