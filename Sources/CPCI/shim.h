#ifndef VFIOCTL_CPCI_SHIM_H
#define VFIOCTL_CPCI_SHIM_H
/* libpci (pciutils). Debian installs the header under the multiarch include dir. */
#include <pci/pci.h>
#endif
