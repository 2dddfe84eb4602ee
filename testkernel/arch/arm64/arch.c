/* arm64 on QEMU virt: PL011 UART (polled), command line and initrd from the
 * DTB's /chosen node, exit through PSCI SYSTEM_OFF (QEMU exits 0) or, with
 * CONFIG_TESTKERNEL_SEMIHOSTING=y and QEMU's -semihosting, through semihosting
 * SYS_EXIT with the x86 codes 83/85 so kiln can tell a crash apart. */
#include <testkernel.h>
#include "../../kernel/arch.h"

#define UART 0x09000000UL
#define UART_FR 0x18
#define FR_TXFF (1 << 5)
#define PSCI_SYSTEM_OFF 0x84000008UL

static const char *cmdline = "";
static volatile int in_semihosting;
static unsigned long rd_start, rd_end;

static inline void mmio_w32(unsigned long a, unsigned v) { *(volatile unsigned *)a = v; }
static inline unsigned mmio_r32(unsigned long a) { return *(volatile unsigned *)a; }

/* The DTB is big-endian; the MMU is off, so read bytewise (no unaligned access). */
static unsigned long be(const unsigned char *p, int n)
{
	unsigned long v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* Walks the flattened device tree for /chosen's bootargs and initrd range. */
static void fdt_chosen(const unsigned char *fdt)
{
	const unsigned char *p = fdt + be(fdt + 8, 4);
	const char *strings = (const char *)fdt + be(fdt + 12, 4);
	int depth = 0, in_chosen = 0;

	for (;;) {
		unsigned long tok = be(p, 4);

		p += 4;
		if (tok == 1) { /* BEGIN_NODE */
			const char *name = (const char *)p;

			depth++;
			in_chosen = depth == 2 && streq(name, "chosen");
			p += (tk_strlen(name) + 4) & ~3UL;
		} else if (tok == 2) { /* END_NODE */
			depth--;
			in_chosen = 0;
		} else if (tok == 3) { /* PROP */
			unsigned long len = be(p, 4);
			const char *pname = strings + be(p + 4, 4);
			const unsigned char *val = p + 8;

			if (in_chosen && streq(pname, "bootargs"))
				cmdline = (const char *)val;
			else if (in_chosen && streq(pname, "linux,initrd-start"))
				rd_start = be(val, len);
			else if (in_chosen && streq(pname, "linux,initrd-end"))
				rd_end = be(val, len);
			p += 8 + ((len + 3) & ~3UL);
		} else if (tok != 4) { /* not NOP: END or garbage */
			return;
		}
	}
}

void arch_init(unsigned long x0, unsigned long unused)
{
	(void)unused;
	const unsigned char *fdt = (const unsigned char *)x0;

	if (x0 && be(fdt, 4) == 0xd00dfeed)
		fdt_chosen(fdt);
}

void arch_putc(char c)
{
	while (mmio_r32(UART + UART_FR) & FR_TXFF)
		;
	mmio_w32(UART, (unsigned char)c);
}

const char *arch_cmdline(void) { return cmdline; }

int arch_initrd(const void **base, unsigned long *len)
{
	if (!rd_start || rd_end <= rd_start)
		return 0;
	*base = (const void *)rd_start;
	*len = rd_end - rd_start;
	return 1;
}

int arch_random_init(void)
{
	unsigned long isar0;

	__asm__ volatile("mrs %0, ID_AA64ISAR0_EL1" : "=r"(isar0));
	return !((isar0 >> 60) & 0xf); /* RNDR */
}

static void __attribute__((noreturn)) psci_off(void)
{
	register unsigned long f __asm__("x0") = PSCI_SYSTEM_OFF;

	__asm__ volatile("hvc #0" : "+r"(f) : : "memory");
	for (;;)
		__asm__ volatile("wfi");
}

/* Every exception lands here (boot.S). A trap on the semihosting call means
 * QEMU runs without -semihosting: fall back to PSCI instead of recursing. */
void arm_trap(unsigned long vector, unsigned long pc)
{
	if (in_semihosting)
		psci_off();
	tk_fault(vector, pc);
}

void arch_exit(int code)
{
#ifdef CONFIG_TESTKERNEL_SEMIHOSTING
	/* SYS_EXIT (0x18), AArch64 form: x1 -> { ADP_Stopped_ApplicationExit, status } */
	static unsigned long blk[2];

	blk[0] = 0x20026;
	blk[1] = (unsigned long)code << 1 | 1;
	register unsigned long x0 __asm__("x0") = 0x18;
	register unsigned long x1 __asm__("x1") = (unsigned long)blk;
	in_semihosting = 1;
	__asm__ volatile("hlt #0xf000" : : "r"(x0), "r"(x1) : "memory");
#else
	(void)code;
#endif
	psci_off();
}

void arch_crash(void)
{
	__asm__ volatile("udf #0");
	__builtin_unreachable();
}

void arch_halt_forever(void)
{
	for (;;)
		__asm__ volatile("wfi");
}
