#ifndef VFIOCTL_CPCI_GUARD_H
#define VFIOCTL_CPCI_GUARD_H

#include <stddef.h>
#include <pci/pci.h>

/*
 * libpci calls pci_access.error() on fatal problems and expects it never to return
 * (pciutils' own tools exit). A library cannot exit, so every libpci call that may
 * reach error() goes through one of these guards: the error handler longjmps back into
 * the guard's C frame, the message is copied to `message`, and the guard returns -1.
 * No Swift frame is ever between setjmp and longjmp.
 */

/** Allocates a pci_access with vfioctl's error/warning/debug handlers installed. */
struct pci_access *cpci_guard_alloc(void);

/** pci_init() under the guard. Returns 0, or -1 with the libpci message. */
int cpci_guard_init(struct pci_access *access, char *message, size_t message_size);

/** pci_scan_bus() under the guard. Returns 0, or -1 with the libpci message. */
int cpci_guard_scan_bus(struct pci_access *access, char *message, size_t message_size);

/** pci_read_block() under the guard. Returns 1 when all `length` bytes were read, 0 when not,
 *  -1 on a libpci error (message filled in). */
int cpci_guard_read_block(struct pci_dev *device, int offset, unsigned char *buffer, int length,
                          char *message, size_t message_size);

/** pci_lookup_name(PCI_LOOKUP_VENDOR | PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS) under the
 *  guard (the libpci function is variadic, so Swift cannot call it). NULL when unknown. */
const char *cpci_guard_device_name(struct pci_access *access, char *buffer, int buffer_size,
                                   int vendor_id, int device_id);

/** The last warning libpci printed through our handler on this thread, or "" (e.g. a config
 *  file that cannot be opened). */
const char *cpci_guard_last_warning(void);

#endif
