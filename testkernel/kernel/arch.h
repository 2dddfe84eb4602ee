/* What each architecture (arch/<arch>/) provides to the portable kernel. */
#ifndef TK_ARCH_H
#define TK_ARCH_H

/* Exit values written to isa-debug-exit; QEMU exits with (v << 1) | 1. */
#define TK_EXIT_OK    0x29 /* -> 83, Unikraft's clean halt */
#define TK_EXIT_CRASH 0x2a /* -> 85, Unikraft's crash / failed init */

void arch_init(unsigned long boot_arg0, unsigned long boot_arg1);
void arch_putc(char c);
const char *arch_cmdline(void);                  /* never NULL */
int arch_initrd(const void **base, unsigned long *len); /* 1 if a boot-time initrd exists */
/* Unikraft's ukarch_random_init(): 0 with a hardware RNG; x86_64: -95
 * (-ENOTSUP) without CPUID RDRAND/RDSEED; arm64: 1 without FEAT_RNG (RNDR). */
int arch_random_init(void);
void arch_exit(int code) __attribute__((noreturn));
void arch_crash(void) __attribute__((noreturn));  /* executes an invalid instruction */
void arch_halt_forever(void) __attribute__((noreturn));

/* Called by the arch's fault handler. */
void tk_fault(unsigned long vector, unsigned long pc) __attribute__((noreturn));

#endif
