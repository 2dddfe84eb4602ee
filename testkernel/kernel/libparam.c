/* The kernel command line as Unikraft RELEASE-0.17.0 reads it:
 * 1. ukargparse splits it into words: blanks separate, '...' and "..." group
 *    (the quotes are removed), a backslash escapes (uk_argnparse);
 * 2. ukboot scans the words for the stop sequence `--` with uklibparam. Only
 *    if one is found after at least one word (and outside a `[ ... ]` list) are
 *    the words before it parsed as `lib.param=value` / `lib.param=[ v1 v2 ]`
 *    and the words after it given to the application. Otherwise nothing is
 *    parsed and every word, `--` included, goes to the application.
 * Unknown parameters are ignored (uklibparam only warns, hidden by default);
 * this kernel says so with `param-ignored: <name>`. */
#include <testkernel.h>
#include "boot.h"

#define BUFSZ 8192

static char wordbuf[BUFSZ];
static char *words[TK_MAX_WORDS];
static char argsbuf[BUFSZ];

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v';
}

struct splitter {
	char *out, *end;
	int n, in_word;
};

/* Starts a word at the current position; 0 if the buffer or table is full. */
static int start(struct splitter *s)
{
	if (!s->in_word) {
		if (s->out >= s->end || s->n == TK_MAX_WORDS)
			return 0;
		words[s->n++] = s->out;
		s->in_word = 1;
	}
	return 1;
}

static void put(struct splitter *s, char c)
{
	if (start(s) && s->out < s->end)
		*s->out++ = c;
}

static void end_word(struct splitter *s)
{
	if (s->in_word) {
		*s->out++ = '\0'; /* out <= end: room is left for this */
		s->in_word = 0;
	}
}

/* uk_argnparse's rules; returns the number of words. */
static int split(const char *p)
{
	struct splitter s = { wordbuf, wordbuf + BUFSZ - 2, 0, 0 };
	char quote = 0;
	int esc = 0;

	for (; *p; p++) {
		char c = *p;

		if (esc) { /* only outside '...' */
			esc = 0;
			if (c == '\\' || !quote || c == '"') {
				put(&s, c); /* \\ -> \, \x -> x outside quotes, \" -> " */
			} else {
				put(&s, '\\'); /* kept inside "..." */
				put(&s, c);
			}
		} else if (is_blank(c) && !quote) {
			end_word(&s);
		} else if (c == '\'' || c == '"') {
			if (!quote)
				quote = c; /* a quote alone starts no word: "" is nothing */
			else if (quote == c)
				quote = 0;
			else
				put(&s, c);
		} else if (c == '\\' && quote != '\'') {
			start(&s); /* the word starts here, even if \ is all it holds */
			esc = 1;
		} else {
			put(&s, c);
		}
	}
	if (esc)
		put(&s, '\\');
	end_word(&s);
	return s.n;
}

enum { PAS_PARAM, PAS_LIST };
enum { P_NONE, P_FSTAB, P_ENV };

struct parser {
	struct tk_cmdline *cl;
	int state, target, emit;
};

static int streqn(const char *a, unsigned long n, const char *b)
{
	return tk_strlen(b) == n && !tk_strncmp(a, b, n);
}

static void ignored(const char *name, unsigned long len)
{
	tk_puts("param-ignored: ");
	for (unsigned long i = 0; i < len; i++)
		tk_putc(name[i]);
	tk_putc('\n');
}

static void add(struct parser *p, char *v, unsigned long len)
{
	struct tk_cmdline *cl = p->cl;

	v[len] = '\0';
	if (p->target == P_FSTAB && cl->nfstab < TK_MAX_FSTAB) {
		cl->fstab[cl->nfstab++] = v;
		tk_printf("fstab: %s\n", v);
	} else if (p->target == P_ENV && cl->nenv < TK_MAX_ENV) {
		cl->env[cl->nenv++] = v;
		tk_printf("env: %s\n", v);
	}
}

static const char *find(const char *s, char c)
{
	for (; *s; s++)
		if (*s == c)
			return s;
	return 0;
}

/* uklibparam's parse_arg(); returns 1 at the stop sequence. */
static int parse_word(struct parser *p, char *w)
{
	char *v;

	if (p->state == PAS_PARAM) {
		if (streqn(w, tk_strlen(w), "--"))
			return 1;
		if (streqn(w, tk_strlen(w), "help")) {
			if (p->emit)
				p->cl->usage = 1;
			return 0;
		}
		const char *dot = find(w, '.');
		char *eq = (char *)(dot ? find(dot + 1, '=') : find(w, '='));
		unsigned long nlen = eq ? (unsigned long)(eq - w) : tk_strlen(w);

		if (!dot) { /* not lib.param: uklibparam skips it (and stays out of lists) */
			if (p->emit)
				ignored(w, nlen);
			return 0;
		}
		p->target = streqn(w, nlen, "vfs.fstab") ? P_FSTAB :
			    streqn(w, nlen, "env.vars") ? P_ENV : P_NONE;
		if (p->emit && (p->target == P_NONE || !eq))
			ignored(w, nlen);
		if (!p->emit || !eq)
			p->target = P_NONE;
		if (eq && eq[1] == '[') {
			p->state = PAS_LIST;
			v = eq + 2;
			if (!*v)
				return 0;
		} else {
			if (p->target != P_NONE)
				add(p, eq + 1, tk_strlen(eq + 1));
			return 0;
		}
	} else {
		v = w;
	}
	/* a list value; a trailing ']' ends the list */
	unsigned long len = tk_strlen(v);

	if (len && v[len - 1] == ']') {
		p->state = PAS_PARAM;
		len--;
		if (!len)
			return 0;
	}
	if (p->target != P_NONE)
		add(p, v, len);
	return 0;
}

/* uk_libparam_parse(): the index of the stop sequence, or n. */
static int run(struct parser *p, int n)
{
	int i;

	p->state = PAS_PARAM;
	p->target = P_NONE;
	for (i = 0; i < n; i++)
		if (parse_word(p, words[i]))
			break;
	return i;
}

void tk_libparam(const char *cmdline, struct tk_cmdline *cl)
{
	int n = split(cmdline);
	struct parser p = { cl, PAS_PARAM, P_NONE, 0 };
	int first = 0;
	int stop = run(&p, n); /* scan only */

	if (stop > 0 && stop < n) { /* ukboot: rc > 0 && rc < argc - 1 */
		p.emit = 1;
		run(&p, stop);
		first = stop + 1;
	}
	cl->argv = &words[first];
	cl->argc = n - first;

	char *o = argsbuf;

	for (int i = first; i < n; i++) {
		for (const char *s = words[i]; *s && o < argsbuf + BUFSZ - 2; s++)
			*o++ = *s;
		if (i + 1 < n && o < argsbuf + BUFSZ - 2)
			*o++ = ' ';
	}
	*o = '\0';
	cl->args = argsbuf;
	tk_printf("args:%s%s\n", *argsbuf ? " " : "", argsbuf);
}
