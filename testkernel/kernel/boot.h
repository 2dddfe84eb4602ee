/* What the portable boot steps (kernel/) share: the parsed command line,
 * Unikraft-style console messages and the failed-init exit. */
#ifndef TK_BOOT_H
#define TK_BOOT_H

#define TK_MAX_WORDS  256 /* command-line words (Unikraft: LIBUKBOOT_MAXNBARGS) */
#define TK_MAX_FSTAB  16  /* vfs.fstab entries (Unikraft: LIBVFSCORE_AUTOMOUNT_UP_SIZE) */
#define TK_MAX_ENV    64  /* env.vars entries */

/* The command line after Unikraft's split (ukargparse) and uklibparam. */
struct tk_cmdline {
	const char *fstab[TK_MAX_FSTAB];
	int nfstab;
	const char *env[TK_MAX_ENV];
	int nenv;
	int usage;            /* `help` among the kernel parameters */
	char **argv;          /* the application's arguments (argv[1..] in Unikraft) */
	int argc;
	const char *args;     /* the same, joined with single spaces */
};

/* Splits `cmdline` as Unikraft does, prints the fstab:/env:/param-ignored:/args:
 * lines and fills `cl`. */
void tk_libparam(const char *cmdline, struct tk_cmdline *cl);

/* Mounts like vfscore's automount (compiled-in entries, then vfs.fstab);
 * exits like a failed init on error. */
void tk_automount(const struct tk_cmdline *cl, const void *einitrd, unsigned long einitrd_len,
		  const void *initrd0, unsigned long initrd0_len);

/* Unikraft's console message header, as printed with the default
 * CONFIG_LIBUKDEBUG_PRINT_TIME/_SRCNAME: "[    0.000000] ERR:  [lib] <src @ line> ". */
#define UK_CRIT 0
#define UK_ERR  1
void uk_pr_hdr(int level, const char *lib, const char *src, unsigned line);
/* ukboot's reaction to an init function returning rc < 0: the error line, then crash. */
void uk_init_failed(int rc) __attribute__((noreturn));

#endif
