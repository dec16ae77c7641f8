/*
 * What the guestbook accepts as text: valid UTF-8 of bounded length
 * without control characters, and for names, nothing a reader cannot
 * see.  A name is shown beside every entry its owner writes: a name
 * made of zero-width characters looks like no name at all, and a bidi
 * override (U+202E) turns the text after it around.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gb.h"

struct range {
	uint32_t lo, hi;
};

/* General category Cf (format), Unicode 15.1. */
static const struct range format_chars[] = {
	{ 0x00AD, 0x00AD }, { 0x0600, 0x0605 }, { 0x061C, 0x061C },
	{ 0x06DD, 0x06DD }, { 0x070F, 0x070F }, { 0x0890, 0x0891 },
	{ 0x08E2, 0x08E2 }, { 0x180E, 0x180E }, { 0x200B, 0x200F },
	{ 0x202A, 0x202E }, { 0x2060, 0x2064 }, { 0x2066, 0x206F },
	{ 0xFEFF, 0xFEFF }, { 0xFFF9, 0xFFFB }, { 0x110BD, 0x110BD },
	{ 0x110CD, 0x110CD }, { 0x13430, 0x1343F }, { 0x1BCA0, 0x1BCA3 },
	{ 0x1D173, 0x1D17A }, { 0xE0001, 0xE0001 }, { 0xE0020, 0xE007F },
};

/* Characters that draw nothing, apart from the format ones: spaces and
 * separators (Zs, Zl, Zp), the default-ignorable ones outside Cf
 * (combining grapheme joiner, Hangul fillers, variation selectors) and
 * the blank braille pattern. */
static const struct range blank_chars[] = {
	{ 0x0020, 0x0020 }, { 0x00A0, 0x00A0 }, { 0x034F, 0x034F },
	{ 0x115F, 0x1160 }, { 0x1680, 0x1680 }, { 0x17B4, 0x17B5 },
	{ 0x180B, 0x180D }, { 0x180F, 0x180F }, { 0x2000, 0x200A },
	{ 0x2028, 0x2029 }, { 0x202F, 0x202F }, { 0x205F, 0x205F },
	{ 0x2800, 0x2800 }, { 0x3000, 0x3000 }, { 0x3164, 0x3164 },
	{ 0xFE00, 0xFE0F }, { 0xFFA0, 0xFFA0 }, { 0xE0000, 0xE0FFF },
};

static int
in(const struct range *r, size_t n, uint32_t c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (c >= r[i].lo && c <= r[i].hi)
			return 1;
	return 0;
}

/* The code point at *p of valid UTF-8; advances *p past it. */
static uint32_t
next_char(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t c = s[0];
	size_t n = 1, i;

	if (c >= 0xF0) {
		c &= 0x07;
		n = 4;
	} else if (c >= 0xE0) {
		c &= 0x0F;
		n = 3;
	} else if (c >= 0xC0) {
		c &= 0x1F;
		n = 2;
	}
	for (i = 1; i < n; i++)
		c = c << 6 | (s[i] & 0x3F);
	*p = s + n;
	return c;
}

size_t
gb_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

int
gb_text_valid(const char *s, size_t max, int multiline)
{
	size_t n;
	int blank = 1;
	const unsigned char *p;

	if (s == NULL || !crumb_utf8_valid(s, strlen(s)))
		return 0;
	n = gb_utf8_chars(s);
	if (n < 1 || n > max)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			if (!multiline)
				return 0;
		} else if (*p < 0x20 || *p == 0x7f) {
			return 0;
		} else if (*p != ' ') {
			blank = 0;
		}
	}
	return !blank;
}

int
gb_name_check(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int visible = 0;
	uint32_t c;

	while (*p != '\0') {
		c = next_char(&p);
		if (in(format_chars, sizeof(format_chars) /
		    sizeof(format_chars[0]), c))
			return GB_NAME_FORMAT;
		if (!in(blank_chars, sizeof(blank_chars) /
		    sizeof(blank_chars[0]), c))
			visible = 1;
	}
	return visible ? GB_NAME_OK : GB_NAME_INVISIBLE;
}
