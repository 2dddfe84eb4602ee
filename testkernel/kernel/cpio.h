#ifndef TK_CPIO_H
#define TK_CPIO_H
/* Prints the archive's entries; 0 if it is well formed, -1 otherwise. */
int tk_cpio_list(const void *base, unsigned long len);
#endif
