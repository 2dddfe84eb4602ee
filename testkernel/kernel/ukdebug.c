/* Console messages in the format of Unikraft's ukdebug (default options:
 * timestamp and source location on, no colours; the testkernel has no clock,
 * so the time is always 0), and ukboot's failed-init exit. */
#include <testkernel.h>
#include "arch.h"
#include "boot.h"

void uk_pr_hdr(int level, const char *lib, const char *src, unsigned line)
{
	char num[5];
	int i = 4;

	num[i] = '\0';
	do {
		num[--i] = (char)('0' + line % 10);
		line /= 10;
	} while (line && i);
	while (i)
		num[--i] = ' '; /* "%4u" */
	tk_printf("[    0.000000] %s[%s] <%s @ %s> ", level == UK_CRIT ? "CRIT: " : "ERR:  ",
		  lib, src, num);
}

/* lib/ukboot/boot.c: `Init function at %p returned error %d`, then the
 * system halts with the crash target (85 with isa-debug-exit). The
 * testkernel has no init table, so the function address is 0. */
void uk_init_failed(int rc)
{
	uk_pr_hdr(UK_ERR, "libukboot", "boot.c", 427);
	tk_printf("Init function at 0x0 returned error %d\n", rc);
	arch_exit(TK_EXIT_CRASH);
}
