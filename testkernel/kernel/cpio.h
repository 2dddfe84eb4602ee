#ifndef TK_CPIO_H
#define TK_CPIO_H
/* Prints the archive's entries, extracted at `dst` (directories are noted
 * with tk_vfs_note_dir); 0 if it is well formed, -1 otherwise. */
int tk_cpio_list(const void *base, unsigned long len, const char *dst);
void tk_vfs_note_dir(const char *dst, const char *name); /* vfs.c */
#endif
