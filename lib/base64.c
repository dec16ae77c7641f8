/* base64url without padding (RFC 4648 section 5): the cookie value's
 * encoding, safe in cookie-octets. */
#include <string.h>

#include "crumb-private.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
crumb_b64_enclen(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

void
crumb_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = alphabet[v >> 18 & 63];
		*out++ = alphabet[v >> 12 & 63];
		*out++ = alphabet[v >> 6 & 63];
		*out++ = alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*out++ = alphabet[v >> 18 & 63];
		*out++ = alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = alphabet[v >> 18 & 63];
		*out++ = alphabet[v >> 12 & 63];
		*out++ = alphabet[v >> 6 & 63];
	}
	*out = '\0';
}

/* Reverse alphabet: 0..63, or 64 for a byte outside it. */
static const uint8_t rev[256] = {
#define X64 64,64,64,64,64,64,64,64,64,64,64,64,64,64,64,64
	X64, X64,
	64,64,64,64,64,64,64,64,64,64,64,64,64,62,64,64,     /* '-' */
	52,53,54,55,56,57,58,59,60,61,64,64,64,64,64,64,     /* 0-9 */
	64, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,10,11,12,13,14,     /* A-O */
	15,16,17,18,19,20,21,22,23,24,25,64,64,64,64,63,     /* P-Z _ */
	64,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,     /* a-o */
	41,42,43,44,45,46,47,48,49,50,51,64,64,64,64,64,     /* p-z */
	X64, X64, X64, X64, X64, X64, X64, X64,
#undef X64
};

size_t
crumb_b64_decode(const char *in, size_t n, uint8_t *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i, o = 0, full = n / 4 * 4;
	unsigned bad = 0;
	uint32_t v;

	if (n % 4 == 1)
		return (size_t)-1;
	/* Four characters -> three bytes; a bad character sets bit 6. */
	for (i = 0; i < full; i += 4) {
		uint32_t a = rev[p[i]], b = rev[p[i + 1]], c = rev[p[i + 2]],
		    d = rev[p[i + 3]];
		bad |= a | b | c | d;
		v = a << 18 | b << 12 | c << 6 | d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	if (n - full == 2) {
		uint32_t a = rev[p[i]], b = rev[p[i + 1]];
		bad |= a | b | ((b & 15) ? 64 : 0);   /* leftover bits must be zero */
		out[o++] = (uint8_t)(a << 2 | b >> 4);
	} else if (n - full == 3) {
		uint32_t a = rev[p[i]], b = rev[p[i + 1]], c = rev[p[i + 2]];
		bad |= a | b | c | ((c & 3) ? 64 : 0);
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		out[o++] = (uint8_t)((b & 15) << 4 | c >> 2);
	}
	return bad & ~63u ? (size_t)-1 : o;
}
