#include "cpci_guard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread jmp_buf *active_jump;
static __thread char error_text[512];
static __thread char warning_text[512];

static void __attribute__((noreturn)) guard_error(char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(error_text, sizeof error_text, format, args);
    va_end(args);
    if (active_jump)
        longjmp(*active_jump, 1);
    /* An error outside a guard is a vfioctl bug: fail loudly rather than run on. */
    fprintf(stderr, "vfioctl: libpci error outside a guarded call: %s\n", error_text);
    abort();
}

static void guard_warning(char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(warning_text, sizeof warning_text, format, args);
    va_end(args);
}

static void guard_debug(char *format, ...)
{
    (void)format;
}

struct pci_access *cpci_guard_alloc(void)
{
    struct pci_access *access = pci_alloc();
    if (!access)
        return NULL;
    access->error = guard_error;
    access->warning = guard_warning;
    access->debug = guard_debug;
    return access;
}

static void copy_error(char *message, size_t message_size)
{
    if (message && message_size) {
        strncpy(message, error_text, message_size - 1);
        message[message_size - 1] = 0;
    }
}

/* Runs one libpci call that may reach error(); 0 on return, -1 when error() longjmp'ed. */
static int guarded_call(void (*call)(struct pci_access *), struct pci_access *access, char *message,
                        size_t message_size)
{
    jmp_buf jump;
    jmp_buf *saved = active_jump;
    if (setjmp(jump)) {
        active_jump = saved;
        copy_error(message, message_size);
        return -1;
    }
    active_jump = &jump;
    call(access);
    active_jump = saved;
    return 0;
}

int cpci_guard_init(struct pci_access *access, char *message, size_t message_size)
{
    return guarded_call(pci_init, access, message, message_size);
}

int cpci_guard_scan_bus(struct pci_access *access, char *message, size_t message_size)
{
    return guarded_call(pci_scan_bus, access, message, message_size);
}

int cpci_guard_read_block(struct pci_dev *device, int offset, unsigned char *buffer, int length,
                          char *message, size_t message_size)
{
    jmp_buf jump;
    jmp_buf *saved = active_jump;
    volatile int result = 0;
    if (setjmp(jump)) {
        active_jump = saved;
        copy_error(message, message_size);
        return -1;
    }
    active_jump = &jump;
    result = pci_read_block(device, offset, buffer, length);
    active_jump = saved;
    return result;
}

const char *cpci_guard_device_name(struct pci_access *access, char *buffer, int buffer_size,
                                   int vendor_id, int device_id)
{
    jmp_buf jump;
    jmp_buf *saved = active_jump;
    const char *volatile name = NULL;
    if (setjmp(jump)) {
        active_jump = saved;
        return NULL;
    }
    active_jump = &jump;
    name = pci_lookup_name(access, buffer, buffer_size,
                           PCI_LOOKUP_VENDOR | PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS,
                           vendor_id, device_id);
    active_jump = saved;
    return name;
}

const char *cpci_guard_last_warning(void)
{
    return warning_text;
}
