#include "cfuzz_driver.h"

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's driver (compiler-rt, since LLVM 12) and the test function Tests/Fuzz/Targets
 * defines with @_cdecl. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*test)(const uint8_t *data, size_t size));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int vfioctl_fuzz_main(int argc, char **argv)
{
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
