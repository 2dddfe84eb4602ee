/* The portable boot sequence: banner, command line, initrd listing, app,
 * then exit the way a Unikraft kernel does (see README.md). */
#include <testkernel.h>
#include <uk/image.h> /* TK_NAME/TK_PLAT/TK_ARCH: generated, only this file rebuilds on N= */
#include "arch.h"
#include "cpio.h"

/* Defined by einitrd.S only when an embedded initrd is configured; weak so
 * that the kernel links (and sees NULL) without one. */
extern const unsigned char tk_einitrd_start[] __attribute__((weak));
extern const unsigned char tk_einitrd_end[] __attribute__((weak));

/* A kernel built without an app still boots. */
__attribute__((weak)) int app_main(const char *cmdline)
{
	(void)cmdline;
	tk_puts("app: (no app_main defined)\n");
	return 0;
}

void tk_fault(unsigned long vector, unsigned long pc)
{
	tk_puts("testkernel: crash\n");
	tk_printf("testkernel: fault vector %lu at 0x%lx\n", vector, pc);
	arch_exit(TK_EXIT_CRASH);
}

void kmain(unsigned long boot_arg0, unsigned long boot_arg1)
{
	const void *rd = 0;
	unsigned long rdlen = 0;

	arch_init(boot_arg0, boot_arg1);
	tk_puts("testkernel: " TK_NAME " " TK_PLAT "-" TK_ARCH "\n");
	tk_puts("version: " TK_VERSION "\n");

	const char *cmdline = arch_cmdline();
	tk_printf("cmdline: %s\n", cmdline);

	if (tk_einitrd_start) {
		rd = tk_einitrd_start;
		rdlen = tk_einitrd_end - tk_einitrd_start;
		tk_printf("initrd-source: embedded %lu bytes\n", rdlen);
	} else if (arch_initrd(&rd, &rdlen)) {
		tk_printf("initrd-source: module %lu bytes\n", rdlen);
	} else {
		tk_puts("initrd-source: none\n");
	}
	/* A broken archive fails boot like Unikraft's vfscore automount does. */
	if (rd && tk_cpio_list(rd, rdlen)) {
		tk_puts("testkernel: initrd mount failed\n");
		arch_exit(TK_EXIT_CRASH);
	}

	int ret = app_main(cmdline);

	tk_printf("testkernel: app returned %d\n", ret);
	if (tk_has_word(cmdline, "crash"))
		arch_crash();
	if (tk_has_word(cmdline, "hang"))
		arch_halt_forever();
	tk_puts("testkernel: halt\n");
	arch_exit(TK_EXIT_OK);
}
