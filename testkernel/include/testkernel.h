/* The testkernel's tiny API, for the app (A=) and libraries (L=).
 * Every object is compiled with `-include uk/config.h`, so CONFIG_* macros are
 * always visible: no need to include it explicitly. */
#ifndef TESTKERNEL_H
#define TESTKERNEL_H

/* The app's entry point. args are the application's arguments: the words
 * after the command line's `--` (all words if there is none, as in Unikraft),
 * quotes removed, joined with single spaces.
 * Its return value is only reported, never turned into the exit code:
 * Unikraft does not pass main()'s status through either. */
int app_main(const char *args);

void tk_putc(char c);
void tk_puts(const char *s); /* no newline added */
/* printf subset: %s %c %d %u %x %o %lu %lx %lo %%; '\n' is sent as CRLF. */
void tk_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

unsigned long tk_strlen(const char *s);
int tk_strncmp(const char *a, const char *b, unsigned long n);
/* Non-zero if `word` appears as a whole blank-separated word in s. */
int tk_has_word(const char *s, const char *word);

#endif
