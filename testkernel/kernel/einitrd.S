/* The embedded initrd. Only assembled when one is configured; the Makefile
 * passes the archive's path as TK_EINITRD_PATH and lists it as a prerequisite
 * of this object alone, so a new cpio costs one assemble + relink. */
	.section .rodata.einitrd, "a"
	.balign 16
	.globl tk_einitrd_start, tk_einitrd_end
tk_einitrd_start:
	.incbin TK_EINITRD_PATH
tk_einitrd_end:
	.section .note.GNU-stack, "", %progbits
