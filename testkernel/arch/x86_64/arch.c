/* x86_64 under QEMU: COM1 (polled), multiboot v1 info, an IDT that turns
 * any CPU exception into tk_fault, and isa-debug-exit for the exit status. */
#include <testkernel.h>
#include "../../kernel/arch.h"

#define COM1 0x3f8
#define DEBUG_EXIT 0x501 /* -device isa-debug-exit,iobase=0x501,iosize=2 */
#define MB_BOOT_MAGIC 0x2BADB002

struct mb_info {
	unsigned flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
};
struct mb_mod {
	unsigned start, end, string, reserved;
};

static const struct mb_info *mbi;

static inline void outb(unsigned short port, unsigned char v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline unsigned char inb(unsigned short port)
{
	unsigned char v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

struct idt_gate {
	unsigned short off0, sel;
	unsigned char ist, type;
	unsigned short off1;
	unsigned off2, zero;
} __attribute__((packed));

static struct idt_gate idt[32] __attribute__((aligned(16)));
extern char trap_base[];

static void idt_init(void)
{
	struct {
		unsigned short limit;
		unsigned long base;
	} __attribute__((packed)) ptr = { sizeof(idt) - 1, (unsigned long)idt };

	for (int i = 0; i < 32; i++) {
		unsigned long a = (unsigned long)trap_base + 32 * i;

		idt[i] = (struct idt_gate){ a & 0xffff, 0x08, 0, 0x8e, (a >> 16) & 0xffff, a >> 32, 0 };
	}
	__asm__ volatile("lidt %0" : : "m"(ptr));
}

/* frame points at the CPU-pushed [error code,] rip, cs, rflags, ... */
void x86_trap(unsigned long vec, unsigned long *frame)
{
	int has_err = vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 ||
		      vec == 29 || vec == 30;

	tk_fault(vec, frame[has_err]);
}

void arch_init(unsigned long magic, unsigned long info)
{
	outb(COM1 + 1, 0x00); /* no interrupts: we poll */
	outb(COM1 + 3, 0x80); /* DLAB, then divisor 1 = 115200 baud */
	outb(COM1 + 0, 0x01);
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	idt_init();
	mbi = magic == MB_BOOT_MAGIC ? (const struct mb_info *)info : 0;
}

void arch_putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20)) /* transmitter holding register empty */
		;
	outb(COM1, c);
}

/* QEMU's multiboot loader passes "<kernel path> <-append text>"; like
 * Unikraft (argv[0]) we drop that first word. */
const char *arch_cmdline(void)
{
	if (!mbi || !(mbi->flags & (1 << 2)) || !mbi->cmdline)
		return "";
	const char *s = (const char *)(unsigned long)mbi->cmdline;

	while (*s && *s != ' ')
		s++;
	return *s ? s + 1 : s;
}

/* QEMU passes -initrd as multiboot module 0. */
int arch_initrd(const void **base, unsigned long *len)
{
	if (!mbi || !(mbi->flags & (1 << 3)) || !mbi->mods_count)
		return 0;
	const struct mb_mod *m = (const struct mb_mod *)(unsigned long)mbi->mods_addr;

	*base = (const void *)(unsigned long)m->start;
	*len = m->end - m->start;
	return 1;
}

static void cpuid(unsigned leaf, unsigned sub, unsigned *a, unsigned *b, unsigned *c, unsigned *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

int arch_random_init(void)
{
	unsigned a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 30))) /* RDRAND */
		return -95;
	cpuid(7, 0, &a, &b, &c, &d);
	if (!(b & (1u << 18))) /* RDSEED: QEMU 7.2's TCG has none */
		return -95;
	return 0;
}

void arch_exit(int code)
{
	outb(DEBUG_EXIT, code);
	/* No isa-debug-exit device: stop here (QEMU keeps running). */
	for (;;)
		__asm__ volatile("cli; hlt");
}

void arch_crash(void)
{
	__asm__ volatile("ud2");
	__builtin_unreachable();
}

void arch_halt_forever(void)
{
	/* Interrupts stay off, so hlt never wakes: a silent, idle hang. */
	for (;;)
		__asm__ volatile("cli; hlt");
}
