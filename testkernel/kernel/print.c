/* Minimal console output and string helpers (no libc in a unikernel). */
#include <stdarg.h>
#include <testkernel.h>
#include "arch.h"

void tk_putc(char c)
{
	if (c == '\n')
		arch_putc('\r'); /* Unikraft's console emits CRLF; kiln parses that */
	arch_putc(c);
}

void tk_puts(const char *s)
{
	while (*s)
		tk_putc(*s++);
}

unsigned long tk_strlen(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

int tk_strncmp(const char *a, const char *b, unsigned long n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			break;
	}
	return 0;
}

int tk_has_word(const char *s, const char *word)
{
	unsigned long wl = tk_strlen(word);

	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		const char *start = s;

		while (*s && *s != ' ' && *s != '\t')
			s++;
		if ((unsigned long)(s - start) == wl && !tk_strncmp(start, word, wl))
			return 1;
	}
	return 0;
}

static void put_num(unsigned long v, unsigned base, int neg)
{
	char buf[24];
	int i = 0;

	do {
		buf[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tk_putc('-');
	while (i)
		tk_putc(buf[--i]);
}

void tk_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			tk_putc(*fmt);
			continue;
		}
		int lng = 0;

		if (*++fmt == 'l') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			tk_puts(s ? s : "(null)");
			break;
		}
		case 'c':
			tk_putc((char)va_arg(ap, int));
			break;
		case 'd': {
			long v = lng ? va_arg(ap, long) : va_arg(ap, int);
			put_num(v < 0 ? -(unsigned long)v : (unsigned long)v, 10, v < 0);
			break;
		}
		case 'u': case 'x': case 'o': {
			unsigned long v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			put_num(v, *fmt == 'u' ? 10 : *fmt == 'x' ? 16 : 8, 0);
			break;
		}
		case '%':
			tk_putc('%');
			break;
		default: /* unknown conversion: show it rather than guess */
			tk_putc('%');
			if (!*fmt)
				goto out;
			tk_putc(*fmt);
		}
	}
out:
	va_end(ap);
}
