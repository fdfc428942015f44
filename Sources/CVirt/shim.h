#ifndef VFIOCTL_CVIRT_SHIM_H
#define VFIOCTL_CVIRT_SHIM_H
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif
