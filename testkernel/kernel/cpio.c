/* Lists a newc (SVR4) cpio archive the way Unikraft's initrd extraction
 * would consume it, and rejects what makes Unikraft's boot fail: a bad magic,
 * a missing TRAILER!!! or a child listed before its parent directory. */
#include <testkernel.h>
#include "cpio.h"

#define HDR 110
#define S_IFMT  0170000
#define S_IFDIR 0040000
#define S_IFREG 0100000
#define DATA_MAX 256 /* larger files are listed, not dumped */

static unsigned long hex8(const unsigned char *p)
{
	unsigned long v = 0;

	for (int i = 0; i < 8; i++) {
		unsigned char c = p[i];
		v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

static unsigned long align4(unsigned long x) { return (x + 3) & ~3UL; }

/* "./a/b" and "a/b" name the same entry. */
static const char *norm(const char *n)
{
	while (n[0] == '.' && n[1] == '/')
		n += 2;
	return n;
}

struct ent {
	unsigned long mode, size, namesz;
	const char *name;
	const unsigned char *data;
	unsigned long next; /* offset of the following header */
};

/* Returns 0 at a good header, -1 on a bad or truncated one. */
static int parse(const unsigned char *a, unsigned long len, unsigned long off, struct ent *e)
{
	if (off + HDR > len || tk_strncmp((const char *)a + off, "07070", 5) ||
	    (a[off + 5] != '1' && a[off + 5] != '2'))
		return -1;
	e->mode = hex8(a + off + 14);
	e->size = hex8(a + off + 54);
	e->namesz = hex8(a + off + 94);
	e->name = (const char *)a + off + HDR;
	e->data = a + align4(off + HDR + e->namesz);
	e->next = align4((unsigned long)(e->data - a) + e->size);
	if (e->namesz == 0 || (unsigned long)(e->data - a) + e->size > len ||
	    e->name[e->namesz - 1] != '\0')
		return -1;
	return 0;
}

/* Is there a directory entry named `dir` (length dl) before offset `end`? */
static int seen_dir(const unsigned char *a, unsigned long len, unsigned long end,
		    const char *dir, unsigned long dl)
{
	struct ent e;

	for (unsigned long off = 0; off < end && !parse(a, len, off, &e); off = e.next) {
		const char *n = norm(e.name);
		if ((e.mode & S_IFMT) == S_IFDIR && tk_strlen(n) == dl && !tk_strncmp(n, dir, dl))
			return 1;
	}
	return 0;
}

static void dump(const struct ent *e)
{
	tk_printf("initrd-data: %s: ", e->name);
	for (unsigned long i = 0; i < e->size; i++) {
		unsigned char c = e->data[i];
		if (c == '\\')
			tk_puts("\\\\");
		else if (c == '\n')
			tk_puts("\\n");
		else if (c == '\r')
			tk_puts("\\r");
		else if (c == '\t')
			tk_puts("\\t");
		else if (c < 0x20 || c >= 0x7f)
			tk_printf("\\x%c%c", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
		else
			tk_putc(c);
	}
	tk_putc('\n');
}

int tk_cpio_list(const void *base, unsigned long len, const char *dst)
{
	const unsigned char *a = base;
	struct ent e;

	for (unsigned long off = 0;; off = e.next) {
		if (parse(a, len, off, &e)) {
			tk_printf("initrd-error: bad or truncated header at offset %lu%s\n", off,
				  off >= len ? " (no TRAILER!!!)" : "");
			return -1;
		}
		if (!tk_strncmp(e.name, "TRAILER!!!", 11))
			return 0;
		tk_printf("initrd: %lo %lu %s\n", e.mode, e.size, e.name);
		const char *n = norm(e.name);
		unsigned long slash = 0;
		for (unsigned long i = 0; n[i]; i++)
			if (n[i] == '/')
				slash = i;
		if (slash && !seen_dir(a, len, off, n, slash)) {
			tk_printf("initrd-error: %s comes before its parent directory\n", e.name);
			return -1;
		}
		if ((e.mode & S_IFMT) == S_IFDIR)
			tk_vfs_note_dir(dst, n);
		if ((e.mode & S_IFMT) == S_IFREG && e.size <= DATA_MAX)
			dump(&e);
	}
}
