#include "cvfio.h"

#include <linux/vfio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

int cvfio_get_api_version(int container) { return ioctl(container, VFIO_GET_API_VERSION); }

int cvfio_api_version(void) { return VFIO_API_VERSION; }

int cvfio_check_type1v2(int container) { return ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU); }

int cvfio_group_viable(int group, int *viable)
{
    struct vfio_group_status status;
    memset(&status, 0, sizeof status);
    status.argsz = sizeof status;
    int result = ioctl(group, VFIO_GROUP_GET_STATUS, &status);
    if (result == 0)
        *viable = (status.flags & VFIO_GROUP_FLAGS_VIABLE) ? 1 : 0;
    return result;
}

int cvfio_group_set_container(int group, int container) { return ioctl(group, VFIO_GROUP_SET_CONTAINER, &container); }

int cvfio_set_type1v2(int container) { return ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU); }

int cvfio_iova_page_sizes(int container, uint64_t *page_sizes)
{
    struct vfio_iommu_type1_info info;
    memset(&info, 0, sizeof info);
    info.argsz = sizeof info;
    int result = ioctl(container, VFIO_IOMMU_GET_INFO, &info);
    if (result == 0)
        *page_sizes = (info.flags & VFIO_IOMMU_INFO_PGSIZES) ? info.iova_pgsizes : 0;
    return result;
}

int cvfio_map_dma(int container, void *vaddr, uint64_t iova, uint64_t size)
{
    struct vfio_iommu_type1_dma_map map;
    memset(&map, 0, sizeof map);
    map.argsz = sizeof map;
    map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    map.vaddr = (uint64_t)(uintptr_t)vaddr;
    map.iova = iova;
    map.size = size;
    return ioctl(container, VFIO_IOMMU_MAP_DMA, &map);
}

int cvfio_unmap_dma(int container, uint64_t iova, uint64_t size)
{
    struct vfio_iommu_type1_dma_unmap unmap;
    memset(&unmap, 0, sizeof unmap);
    unmap.argsz = sizeof unmap;
    unmap.iova = iova;
    unmap.size = size;
    return ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap);
}

int cvfio_mmap_flags(int page_shift)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
    if (page_shift > 12)
        flags |= MAP_HUGETLB | (page_shift << MAP_HUGE_SHIFT);
    return flags;
}
