#define _GNU_SOURCE
#include "csystemcalls.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int csys_open_in_root(int root_fd, const char *path, int flags, unsigned int mode) {
    struct open_how how = {
        .flags = (uint64_t)(unsigned int)flags,
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    /* EAGAIN: a rename raced the lookup (openat2(2)); retry a bounded number of times. */
    int tries = 0;
    do {
        fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    } while (fd < 0 && (errno == EAGAIN || errno == EINTR) && ++tries < 16);
    return (int)fd;
}

int csys_o_path(void) { return O_PATH; }
