/* vfscore's automount (lib/vfscore/automount.c in Unikraft RELEASE-0.17.0),
 * reduced to what decides whether a boot succeeds: the compiled-in entries
 * (CONFIG_LIBVFSCORE_AUTOMOUNT_CI_*), then each vfs.fstab entry
 * `<dev>:<path>:<driver>[:<flags>[:<opts>[:<ukopts>]]]` in order. An extracted
 * initrd is listed (cpio.c); other drivers (9pfs, ...) are not really mounted,
 * but their mount point must exist, as a directory of an extracted initrd or
 * one made by the `mkmp` ukopt, or the mount fails like vfscore's does. */
#include <testkernel.h>
#include "arch.h"
#include "boot.h"
#include "cpio.h"

#define EINVAL 22

/* The directories that exist: "/" plus what extraction and mkmp created. */
#define MAX_DIRS 512
static char pool[16384];
static unsigned long pool_used;
static const char *dirs[MAX_DIRS];
static int ndirs;

/* Copies `path` (len bytes) normalised: one '/' between parts, none at the end. */
static unsigned long norm_path(char *out, unsigned long cap, const char *path, unsigned long len)
{
	unsigned long o = 0;

	for (unsigned long i = 0; i < len && o + 1 < cap; i++)
		if (path[i] != '/' || (o && out[o - 1] != '/') || !o)
			out[o++] = path[i];
	while (o > 1 && out[o - 1] == '/')
		o--;
	out[o] = '\0';
	return o;
}

static int is_dir(const char *path)
{
	char p[256];
	unsigned long l = norm_path(p, sizeof(p), path, tk_strlen(path));

	if (l == 1 && p[0] == '/')
		return 1;
	for (int i = 0; i < ndirs; i++)
		if (tk_strlen(dirs[i]) == l && !tk_strncmp(dirs[i], p, l))
			return 1;
	return 0;
}

static void add_dir(const char *path, unsigned long len)
{
	char p[256];
	unsigned long l = norm_path(p, sizeof(p), path, len);

	if (is_dir(p) || ndirs == MAX_DIRS || pool_used + l + 1 > sizeof(pool))
		return;
	char *d = pool + pool_used;

	for (unsigned long i = 0; i <= l; i++)
		d[i] = p[i];
	pool_used += l + 1;
	dirs[ndirs++] = d;
}

/* Called by tk_cpio_list for each directory entry of an archive extracted at dst. */
void tk_vfs_note_dir(const char *dst, const char *name)
{
	char p[256];
	unsigned long o = 0;

	if (name[0] == '.' && name[1] == '\0')
		return;
	for (const char *s = dst; *s && o < sizeof(p) - 2; s++)
		p[o++] = *s;
	p[o++] = '/';
	for (const char *s = name; *s && o < sizeof(p) - 1; s++)
		p[o++] = *s;
	add_dir(p, o);
}

static int extracted;

static void extract(const void *rd, unsigned long len, const char *dst)
{
	tk_printf("initrd: mounted at %s\n", dst);
	/* A broken archive fails boot like Unikraft's vfscore automount does. */
	if (tk_cpio_list(rd, len, dst)) {
		tk_puts("testkernel: initrd mount failed\n");
		arch_exit(TK_EXIT_CRASH);
	}
	extracted = 1;
}

/* uk_nextarg(): the next field up to `sep`, or 0 at the end. */
static char *next_field(char **pos, char sep)
{
	char *f = *pos;

	if (!f)
		return 0;
	for (char *s = f;; s++) {
		if (*s == sep) {
			*s = '\0';
			*pos = s + 1;
			return f;
		}
		if (!*s) {
			*pos = 0;
			return f;
		}
	}
}

#define UKOPT_MKMP        1
#define UKOPT_IFINITRD0   2
#define UKOPT_IFNOINITRD0 4

static int parse_ukopts(char *s)
{
	int r = 0;
	char *o;

	while ((o = next_field(&s, ','))) {
		unsigned long l = tk_strlen(o);

		if (l == 4 && !tk_strncmp(o, "mkmp", 4))
			r |= UKOPT_MKMP;
		else if (l == 9 && !tk_strncmp(o, "ifinitrd0", 9))
			r |= UKOPT_IFINITRD0;
		else if (l == 11 && !tk_strncmp(o, "ifnoinitrd0", 11))
			r |= UKOPT_IFNOINITRD0;
		/* unknown ones: a warning in Unikraft, hidden by default */
	}
	return r;
}

static int streq(const char *a, const char *b)
{
	unsigned long l = tk_strlen(b);

	return tk_strlen(a) == l && !tk_strncmp(a, b, l);
}

/* vfscore_ukopt_mkmp(): creates each component of path; -EINVAL on . or .. */
static int mkmp(const char *path)
{
	unsigned long l = tk_strlen(path);
	int existed = is_dir(path);

	for (unsigned long i = 0; i < l; i++) {
		if (path[i] != '/')
			continue;
		const char *c = path + i + 1;

		if (c[0] == '.' && (c[1] == '/' || c[1] == '\0' ||
				    (c[1] == '.' && (c[2] == '/' || c[2] == '\0')))) {
			uk_pr_hdr(UK_ERR, "libvfscore", "automount.c", 603);
			tk_puts("'.' or '..' are not supported in mount paths.\n");
			return -EINVAL;
		}
		unsigned long j = i + 1;

		while (j < l && path[j] != '/')
			j++;
		if (j > i + 1)
			add_dir(path, j);
	}
	if (!existed && !streq(path, "/"))
		tk_printf("mount: created mount point %s\n", path);
	return 0;
}

static const void *rd0, *erd;
static unsigned long rd0_len, erd_len;

/* vfscore_parse_volume() + vfscore_mount_volume(); < 0 fails the boot. */
static int mount_volume(char *entry)
{
	char *pos = entry;
	char *dev = next_field(&pos, ':');
	char *path = next_field(&pos, ':');
	char *drv = next_field(&pos, ':');

	next_field(&pos, ':'); /* flags */
	next_field(&pos, ':'); /* opts: "extract" ignores them here */
	int ukopts = parse_ukopts(next_field(&pos, ':'));

	if (!dev)
		dev = "";
	if (!path || path[0] != '/') {
		uk_pr_hdr(UK_ERR, "libvfscore", "automount.c", 785);
		tk_printf("vfs.fstab: Mountpoint \"%s\" is not absolute\n", path);
		return -EINVAL;
	}
	while (path[1] == '/')
		path++;
	if (!drv || !*drv) {
		uk_pr_hdr(UK_ERR, "libvfscore", "automount.c", 655);
		tk_puts("fstab: Entry without filesystem driver\n");
		return -EINVAL;
	}
	if (((ukopts & UKOPT_IFINITRD0) && !rd0) || ((ukopts & UKOPT_IFNOINITRD0) && rd0))
		return 0; /* skipped */
	if (ukopts & UKOPT_MKMP) {
		int rc = mkmp(path);

		if (rc < 0)
			return rc;
	}
	if (streq(drv, "extract")) {
		if (streq(dev, "initrd0")) {
			if (!rd0) {
				uk_pr_hdr(UK_CRIT, "libvfscore", "automount.c", 508);
				tk_puts("Could not find an initrd!\n");
				return -1;
			}
			extract(rd0, rd0_len, path);
		} else if (streq(dev, "embedded") && erd) {
			extract(erd, erd_len, path);
		} else {
			uk_pr_hdr(UK_CRIT, "libvfscore", "automount.c", 525);
			tk_printf("\"%s\" is an invalid or unsupported initrd source!\n", dev);
			return -EINVAL;
		}
		return 1;
	}
	tk_printf("mount: %s at %s (%s)\n", dev, path, drv);
	/* mount(): the covered directory must exist (namei -> ENOENT); the
	 * libc-style mount() then returns -1, which is what the init returns. */
	if (!is_dir(path)) {
		tk_printf("mount: no mount point %s\n", path);
		return -1;
	}
	return 1;
}

void tk_automount(const struct tk_cmdline *cl, const void *einitrd, unsigned long einitrd_len,
		  const void *initrd0, unsigned long initrd0_len)
{
	int rc;

	erd = einitrd;
	erd_len = einitrd_len;
	rd0 = initrd0;
	rd0_len = initrd0_len;
	/* The compiled-in table: "embedded:/:extract" or "initrd0:/:extract"
	 * (above a ramfs at /). In Unikraft both need LIBVFSCORE_AUTOMOUNT_CI=y;
	 * here CI_EINITRD alone is enough, as it is for embedding (see README). */
#if defined(CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD)
	if (erd)
		extract(erd, erd_len, "/");
#elif defined(CONFIG_LIBVFSCORE_AUTOMOUNT_CI) && defined(CONFIG_LIBVFSCORE_AUTOMOUNT_CI_INITRD)
	if (!rd0) {
		uk_pr_hdr(UK_CRIT, "libvfscore", "automount.c", 508);
		tk_puts("Could not find an initrd!\n");
		uk_init_failed(-1);
	}
	extract(rd0, rd0_len, "/");
#endif
	for (int i = 0; i < cl->nfstab; i++) {
		static char copy[512];
		unsigned long l = tk_strlen(cl->fstab[i]);

		if (l >= sizeof(copy))
			l = sizeof(copy) - 1;
		for (unsigned long j = 0; j < l; j++)
			copy[j] = cl->fstab[i][j];
		copy[l] = '\0';
		rc = mount_volume(copy);
		if (rc < 0)
			uk_init_failed(rc);
	}
	if (!extracted && (erd || rd0))
		tk_puts("initrd: not mounted\n");
}
