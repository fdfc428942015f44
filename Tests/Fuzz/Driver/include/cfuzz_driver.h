#ifndef CFUZZ_DRIVER_H
#define CFUZZ_DRIVER_H

/* The fuzz executable's entry point under the name SwiftPM links as `main` for the
 * vfioctl-fuzz target (`--defsym main=vfioctl_fuzz_main`): it hands over to libFuzzer. */
int vfioctl_fuzz_main(int argc, char **argv);

#endif
