/*
 * hello: the smallest FastCGI program, with no session at all.  It is
 * the baseline for benchmarks: what Apache + mod_proxy_fcgi +
 * spawn-fcgi cost before crumb does any work.  Like the guestbook it
 * also runs unchanged as a plain CGI program.
 *
 * /hello/page answers a constant page of HELLO_PAGE_BYTES bytes (read at
 * start): the baseline for a page of the guestbook's size, so that a
 * comparison measures the work behind a page, not the bytes it carries.
 */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
make_page(size_t n)
{
	static const char head[] = "<!DOCTYPE html>\n<p>";
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memset(p, 'x', n);
	memcpy(p, head, n < sizeof(head) - 1 ? n : sizeof(head) - 1);
	if (n > 0)
		p[n - 1] = '\n';
	p[n] = '\0';
	return p;
}

int
main(void)
{
	const char *bytes = getenv("HELLO_PAGE_BYTES");
	char *page = make_page(bytes != NULL ? strtoul(bytes, NULL, 10) : 0);

	while (FCGI_Accept() >= 0) {
		const char *uri = getenv("REQUEST_URI");

		if (page != NULL && uri != NULL &&
		    strncmp(uri, "/hello/page", 11) == 0) {
			printf("Status: 200 OK\r\n"
			    "Content-Type: text/html; charset=utf-8\r\n"
			    "Cache-Control: no-store\r\n"
			    "\r\n");
			fputs(page, stdout);
			continue;
		}
		fputs("Status: 200 OK\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Cache-Control: no-store\r\n"
		    "\r\n"
		    "hello\n", stdout);
	}
	free(page);
	return 0;
}
