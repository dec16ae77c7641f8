/*
 * Tiny test harness: CHECK macros that print file:line and the failed
 * expression, count failures, and make main return 1 if any failed.
 * Each test program is one translation unit that includes this once.
 */
#ifndef CRUMB_TEST_CHECK_H
#define CRUMB_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crumb.h"

static int check_count;
static int check_failures;

#define CHECK(cond) do {						\
	check_count++;							\
	if (!(cond)) {							\
		check_failures++;					\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

/* A call's crumb_err must be exactly want. */
#define CHECK_RC(expr, want) do {					\
	int check_rc_ = (expr), check_want_ = (want);			\
	check_count++;							\
	if (check_rc_ != check_want_) {					\
		check_failures++;					\
		fprintf(stderr, "%s:%d: %s returned %d (%s), "		\
		    "want %d (%s)\n", __FILE__, __LINE__, #expr,	\
		    check_rc_, crumb_strerror(check_rc_), check_want_,	\
		    crumb_strerror(check_want_));			\
	}								\
} while (0)

#define CHECK_OK(expr) CHECK_RC(expr, CRUMB_OK)

/* Both strings non-NULL and equal. */
#define CHECK_STR(got, want) do {					\
	const char *check_g_ = (got), *check_w_ = (want);		\
	check_count++;							\
	if (check_g_ == NULL || check_w_ == NULL ||			\
	    strcmp(check_g_, check_w_) != 0) {				\
		check_failures++;					\
		fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n",	\
		    __FILE__, __LINE__, #got,				\
		    check_g_ ? check_g_ : "(null)",			\
		    check_w_ ? check_w_ : "(null)");			\
	}								\
} while (0)

/* A prerequisite: without it the rest of the program cannot run. */
#define REQUIRE(cond) do {						\
	check_count++;							\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: REQUIRE failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		exit(1);						\
	}								\
} while (0)

#define TEST(name) printf("-- %s\n", (name))

/* return CHECK_DONE(); at the end of main. */
#define CHECK_DONE() (printf("%s: %d checks, %d failed\n", __FILE__,	\
	check_count, check_failures), check_failures ? 1 : 0)

#endif /* CRUMB_TEST_CHECK_H */
