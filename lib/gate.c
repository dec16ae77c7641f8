/*
 * The writers' gate of the SQLite store: a process-shared, robust mutex
 * in a small file beside the database (PATH-gate), held around every
 * write transaction.
 *
 * SQLite lets one writer in at a time and leaves the others to poll:
 * every try costs several fcntl() calls on the -shm file, then a sleep.
 * Under steady writes from four FastCGI workers that polling was a
 * third of a request's system calls (strace of GET /counter: 15 fcntl
 * and 1.7 sleeps a request, against 6 and none for a lone writer).
 * Writers that queue here instead sleep in the kernel (a futex) until
 * the one leaving wakes the next; with nobody waiting, entering and
 * leaving are an atomic instruction each and no system call.
 *
 * The gate only orders crumb's own writers; SQLite's locks still do
 * the guarding.  A writer that does not know the gate (the sqlite3
 * shell), or a gate that cannot be opened or has gone bad, costs speed,
 * never correctness: the store then falls back on SQLite's locking and
 * its busy handler.  A process killed inside the gate is noticed by the
 * next one in (EOWNERDEAD), whose SQLite connection ignores the dead
 * one's uncommitted frames as always.
 */
#define _GNU_SOURCE     /* pthread_mutex_clocklock */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crumb-private.h"

/* glibc has waited on the monotonic clock since 2.30. */
#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
#define HAVE_CLOCKLOCK 1
#endif

/* "crG1", then the mutex's size: a process built for another layout of
 * pthread_mutex_t must not touch this one. */
#define GATE_MAGIC 0x63724731u

struct gate_file {
	uint32_t magic;
	uint32_t mutex_size;
	pthread_mutex_t mu;
};

struct crumb_gate {
	struct gate_file *f;
	int held;
	int broken;      /* ENOTRECOVERABLE or worse: SQLite alone from now */
};

static int
init_mutex(pthread_mutex_t *mu)
{
	pthread_mutexattr_t a;
	int rc;

	if (pthread_mutexattr_init(&a) != 0)
		return -1;
	/* Error-checking: a thread that holds the gate through one handle
	 * and asks again through another fails at once (EDEADLK) instead
	 * of waiting out the timeout for itself. */
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) ||
	    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK) ||
	    pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
	return rc ? -1 : 0;
}

/* Map the gate file of fd, initialising it when new.  The caller holds
 * an exclusive flock() on fd, so two first openers cannot both do so. */
static struct gate_file *
map_locked(int fd)
{
	struct gate_file *f;
	struct stat st;

	if (fstat(fd, &st) != 0)
		return NULL;
	if ((size_t)st.st_size < sizeof(*f) &&
	    ftruncate(fd, (off_t)sizeof(*f)) != 0)
		return NULL;
	f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED)
		return NULL;
	if (f->magic == 0 && f->mutex_size == 0) {
		if (init_mutex(&f->mu) == 0) {
			f->mutex_size = (uint32_t)sizeof(f->mu);
			f->magic = GATE_MAGIC;
		}
	}
	if (f->magic != GATE_MAGIC || f->mutex_size != sizeof(f->mu)) {
		munmap(f, sizeof(*f));
		return NULL;
	}
	return f;
}

/*
 * Open the gate file at path for the database described by db, or -1.
 * Root creates files for a database someone else owns, so they become
 * the owner's: but only a file this call has just created is handed
 * over.  One that was there already is used only when it can be
 * nobody else's file in disguise: a regular file with a single link,
 * owned by the database's owner or by us.  A hard link planted there
 * would otherwise be chowned, truncated and written through.
 */
static int
open_file(const char *path, const struct stat *db)
{
	/* Whoever may write the database may queue: its mode, as SQLite
	 * gives the -wal and -shm files, whatever the umask. */
	mode_t mode = db->st_mode & 0666;
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd >= 0) {
		if (fchmod(fd, mode) != 0 ||
		    (geteuid() == 0 && fchown(fd, db->st_uid, db->st_gid) != 0)) {
			close(fd);
			unlink(path);
			return -1;
		}
		return fd;
	}
	if (errno != EEXIST)
		return -1;
	/* O_NONBLOCK: a FIFO or device planted there must not hang us
	 * before fstat() turns it down. */
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_uid != db->st_uid && st.st_uid != geteuid())) {
		close(fd);
		return -1;
	}
	return fd;
}

crumb_gate *
crumb_gate_open(const char *db_path)
{
	crumb_gate *g;
	struct gate_file *f;
	struct stat db;
	size_t n;
	char *path;
	int fd;

	/* An in-memory or temporary database has no file, and no other
	 * process to queue with. */
	if (db_path == NULL || *db_path == '\0' || stat(db_path, &db) != 0)
		return NULL;
	n = strlen(db_path);
	if ((path = malloc(n + sizeof("-gate"))) == NULL)
		return NULL;
	memcpy(path, db_path, n);
	memcpy(path + n, "-gate", sizeof("-gate"));
	fd = open_file(path, &db);
	free(path);
	if (fd < 0)
		return NULL;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return NULL;
		}
	f = map_locked(fd);
	/* Unlocked by hand: the mapping keeps the open file, and with it
	 * the flock, alive past close(). */
	flock(fd, LOCK_UN);
	close(fd);
	if (f == NULL)
		return NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		munmap(f, sizeof(*f));
		return NULL;
	}
	g->f = f;
	return g;
}

int
crumb_gate_enter(crumb_gate *g, int wait_ms)
{
	struct timespec until;
	int rc;

	if (g == NULL || g->broken)
		return CRUMB_OK;
	rc = pthread_mutex_trylock(&g->f->mu);
	if (rc == EBUSY && wait_ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
#ifdef HAVE_CLOCKLOCK
		rc = pthread_mutex_clocklock(&g->f->mu, CLOCK_MONOTONIC, &until);
#else
		{
			/* timedlock counts on the wall clock */
			struct timespec now, real;

			clock_gettime(CLOCK_MONOTONIC, &now);
			clock_gettime(CLOCK_REALTIME, &real);
			real.tv_sec += until.tv_sec - now.tv_sec;
			real.tv_nsec += until.tv_nsec - now.tv_nsec;
			while (real.tv_nsec < 0) {
				real.tv_sec--;
				real.tv_nsec += 1000000000L;
			}
			while (real.tv_nsec >= 1000000000L) {
				real.tv_sec++;
				real.tv_nsec -= 1000000000L;
			}
			rc = pthread_mutex_timedlock(&g->f->mu, &real);
		}
#endif
	}
	switch (rc) {
	case 0:
		break;
	case EOWNERDEAD:
		/* Its holder died inside; what it left half done in SQLite
		 * is rolled back by SQLite.  The gate itself holds nothing
		 * else, so it is sound again at once. */
		if (pthread_mutex_consistent(&g->f->mu) != 0) {
			pthread_mutex_unlock(&g->f->mu);
			g->broken = 1;
			return CRUMB_OK;
		}
		break;
	case EBUSY: case ETIMEDOUT:
		return CRUMB_E_BUSY;
	case EDEADLK:
		/* this thread is inside already, through another handle */
		return CRUMB_E_BUSY;
	default:
		g->broken = 1;
		return CRUMB_OK;
	}
	g->held = 1;
	return CRUMB_OK;
}

void
crumb_gate_leave(crumb_gate *g)
{
	if (g != NULL && g->held) {
		g->held = 0;
		pthread_mutex_unlock(&g->f->mu);
	}
}

void
crumb_gate_close(crumb_gate *g)
{
	if (g == NULL)
		return;
	crumb_gate_leave(g);
	munmap(g->f, sizeof(*g->f));
	free(g);
}
