/*
 * hello: the smallest FastCGI program, with no session at all.  It is
 * the baseline for benchmarks: what Apache + mod_proxy_fcgi +
 * spawn-fcgi cost before crumb does any work.  Like the guestbook it
 * also runs unchanged as a plain CGI program.
 */
#include <fcgi_stdio.h>

int
main(void)
{
	while (FCGI_Accept() >= 0) {
		fputs("Status: 200 OK\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Cache-Control: no-store\r\n"
		    "\r\n"
		    "hello\n", stdout);
	}
	return 0;
}
