#ifndef VFIOCTL_CKMOD_SHIM_H
#define VFIOCTL_CKMOD_SHIM_H
#include <libkmod.h>
#endif
