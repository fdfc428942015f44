#ifndef VFIOCTL_CSYSTEMCALLS_H
#define VFIOCTL_CSYSTEMCALLS_H

#include <stdint.h>

/*
 * System calls glibc 2.36 (Debian 12) has no wrapper for, and whose flags are macros.
 * Each returns what the system call returns (-1 with errno set on failure).
 */

/** openat2(2) (Linux 5.6) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `path` is resolved as
 *  if `root_fd` were the file system's root, so `..` and absolute symlinks cannot leave it.
 *  Fails with ENOSYS on kernels before 5.6 (the caller then walks the path itself). */
int csys_open_in_root(int root_fd, const char *path, int flags, unsigned int mode);

/** O_PATH (a macro Swift's Glibc overlay does not export on every version). */
int csys_o_path(void);

#endif
