/* arm64 entry for QEMU "virt". The bootable image is a raw arm64 Linux
 * "Image" (this header), not an ELF: only for Linux images does QEMU load
 * -initrd and hand over the DTB in x0 (its ELF path loads neither reliably).
 * Entered at EL1, MMU off: clear .bss, set stack and vectors, go to C. */
	.section .text.boot, "ax"
	.globl _libkvmplat_entry
_libkvmplat_entry:
	b	1f			/* code0 */
	.long	0			/* code1 */
	.quad	0x80000			/* text_offset: we are linked at RAM + 512 KiB */
	.quad	__image_size		/* image_size, .bss included */
	.quad	0x2			/* flags: little endian, 4K pages, 2 MiB-aligned base */
	.quad	0, 0, 0			/* reserved */
	.ascii	"ARM\x64"		/* magic */
	.long	0			/* reserved (PE header offset) */
1:
	mov	x19, x0
	ldr	x1, =__bss_start
	ldr	x2, =__bss_end
4:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	4b
2:	ldr	x1, =stack_top
	mov	sp, x1
	adr	x1, vectors
	msr	vbar_el1, x1
	isb
	mov	x0, x19
	mov	x1, xzr
	bl	kmain
3:	wfi
	b	3b

/* 16 vectors, 0x80 apart: any exception is a crash. x0 = vector index. */
	.balign	2048
vectors:
	.set	n, 0
	.rept	16
	.balign	0x80
	mov	x0, #n
	mrs	x1, elr_el1
	b	arm_trap
	.set	n, n + 1
	.endr

	.section .bss
	.balign	16
	.skip	65536
stack_top:

	.section .note.GNU-stack, "", %progbits
