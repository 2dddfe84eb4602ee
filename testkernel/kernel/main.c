/* The portable boot sequence: banner, command line and its parameters,
 * ukrandom, mounts (initrd listing), app, then exit the way a Unikraft kernel
 * does (see README.md). */
#include <testkernel.h>
#include <uk/image.h> /* TK_NAME/TK_PLAT/TK_ARCH: generated, only this file rebuilds on N= */
#include "arch.h"
#include "boot.h"

/* Defined by einitrd.S only when an embedded initrd is configured; weak so
 * that the kernel links (and sees NULL) without one. */
extern const unsigned char tk_einitrd_start[] __attribute__((weak));
extern const unsigned char tk_einitrd_end[] __attribute__((weak));

/* A kernel built without an app still boots. */
__attribute__((weak)) int app_main(const char *args)
{
	(void)args;
	tk_puts("app: (no app_main defined)\n");
	return 0;
}

void tk_fault(unsigned long vector, unsigned long pc)
{
	tk_puts("testkernel: crash\n");
	tk_printf("testkernel: fault vector %lu at 0x%lx\n", vector, pc);
	arch_exit(TK_EXIT_CRASH);
}

/* ukrandom (lib/ukrandom/random.c), an early init function: without a
 * hardware RNG the x86 init fails with -ENOTSUP and the boot with it. */
static void random_init(void)
{
#ifdef CONFIG_LIBUKRANDOM
	int rc = arch_random_init();

	if (rc) {
		uk_pr_hdr(UK_ERR, "libukrandom", "random.c", 65);
		tk_printf("Could not initialize the HWRNG (%d)\n", rc);
		if (rc < 0)
			uk_init_failed(rc);
	}
#endif
}

static int has_arg(const struct tk_cmdline *cl, const char *word)
{
	unsigned long l = tk_strlen(word);

	for (int i = 0; i < cl->argc; i++)
		if (tk_strlen(cl->argv[i]) == l && !tk_strncmp(cl->argv[i], word, l))
			return 1;
	return 0;
}

void kmain(unsigned long boot_arg0, unsigned long boot_arg1)
{
	static struct tk_cmdline cl;
	const void *mod = 0, *emb = 0;
	unsigned long modlen = 0, emblen = 0;

	arch_init(boot_arg0, boot_arg1);
	tk_puts("testkernel: " TK_NAME " " TK_PLAT "-" TK_ARCH "\n");
	tk_puts("version: " TK_VERSION "\n");
#ifdef TK_BUILD_TIME
	tk_puts("built: " TK_BUILD_TIME "\n");
#endif

	const char *cmdline = arch_cmdline();
	tk_printf("cmdline: %s\n", cmdline);
	tk_libparam(cmdline, &cl);
	if (cl.usage) { /* uklibparam's `help`: usage, then ukplat_halt() */
		tk_puts("param-usage: vfs.fstab env.vars\n");
		tk_puts("testkernel: halt\n");
		arch_exit(TK_EXIT_OK);
	}
	random_init();

	if (!arch_initrd(&mod, &modlen))
		mod = 0;
	/* Reported: the embedded initrd if there is one, else the boot-time one. */
	if (tk_einitrd_start) {
		emb = tk_einitrd_start;
		emblen = tk_einitrd_end - tk_einitrd_start;
		tk_printf("initrd-source: embedded %lu bytes\n", emblen);
	} else if (mod) {
		tk_printf("initrd-source: module %lu bytes\n", modlen);
	} else {
		tk_puts("initrd-source: none\n");
	}
	tk_automount(&cl, emb, emblen, mod, modlen);

	int ret = app_main(cl.args);

	tk_printf("testkernel: app returned %d\n", ret);
	if (has_arg(&cl, "crash"))
		arch_crash();
	if (has_arg(&cl, "hang"))
		arch_halt_forever();
	tk_puts("testkernel: halt\n");
	arch_exit(TK_EXIT_OK);
}
