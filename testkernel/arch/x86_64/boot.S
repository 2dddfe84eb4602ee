/* Multiboot (v1) entry, like Unikraft's x86_64 KVM platform: QEMU's loader
 * enters in 32-bit protected mode with paging off, so build identity-mapped
 * page tables (first 1 GiB, 2 MiB pages), enable long mode, and jump to C. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, provide memory info */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.section .text.boot, "ax"
	.code32
	.globl _multiboot_entry
_multiboot_entry:
	cli
	mov	%eax, %esi		/* multiboot magic (kept across the bss clear) */
	mov	%ebx, %edx		/* multiboot info pointer */
	/* Clear .bss ourselves: it holds the page tables and the stack. */
	mov	$__bss_start, %edi
	mov	$__bss_end, %ecx
	sub	%edi, %ecx
	shr	$2, %ecx
	xor	%eax, %eax
	rep stosl
	mov	%esi, boot_magic
	mov	%edx, boot_info

	/* PD: 512 x 2 MiB pages (present | writable | page size). */
	mov	$pd, %edi
	mov	$0x83, %eax
	mov	$512, %ecx
1:	mov	%eax, (%edi)
	add	$0x200000, %eax
	add	$8, %edi
	loop	1b
	movl	$pd + 3, pdpt
	movl	$pdpt + 3, pml4

	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$0xC0000080, %ecx	/* EFER */
	rdmsr
	or	$0x100, %eax		/* LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG | PE */
	mov	%eax, %cr0
	lgdt	gdt_ptr
	ljmp	$0x08, $long_entry

	.code64
long_entry:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	xor	%ax, %ax
	mov	%ax, %fs
	mov	%ax, %gs
	lea	stack_top(%rip), %rsp
	mov	boot_magic(%rip), %edi
	mov	boot_info(%rip), %esi
	call	kmain
2:	cli
	hlt
	jmp	2b

/* 32 exception stubs, 32 bytes apart (arch.c points IDT entry n at
 * trap_base + 32*n). Each calls trap_common, which recovers the vector from
 * its return address and hands tk_fault the interrupted stack. */
	.balign	32
	.globl	trap_base
trap_base:
	.rept	32
	.balign	32
	call	trap_common
	.endr
trap_common:
	pop	%rdi
	sub	$trap_base + 5, %rdi
	shr	$5, %rdi		/* vector */
	mov	%rsp, %rsi		/* frame: [error code,] rip, cs, ... */
	and	$-16, %rsp
	call	x86_trap

	.section .rodata
	.balign 8
gdt:
	.quad	0
	.quad	0x00AF9A000000FFFF	/* 0x08: 64-bit code */
	.quad	0x00CF92000000FFFF	/* 0x10: data */
gdt_ptr:
	.word	gdt_ptr - gdt - 1
	.long	gdt

	.section .bss
	.balign 4096
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4096
	.balign 16
	.skip 65536
stack_top:
	.balign 4
boot_magic:	.skip 4
boot_info:	.skip 4

	.section .note.GNU-stack, "", %progbits
