#ifndef VFIOCTL_CVFIO_H
#define VFIOCTL_CVFIO_H

#include <stdint.h>

/*
 * Thin wrappers around the VFIO type1 ioctls of <linux/vfio.h> (Debian linux-libc-dev).
 * The ioctl request numbers are macros Swift cannot import. Each returns the ioctl's
 * result (-1 with errno set on failure).
 */

/** VFIO_GET_API_VERSION on /dev/vfio/vfio; VFIO_API_VERSION is 0. */
int cvfio_get_api_version(int container);
/** The VFIO_API_VERSION this was compiled against. */
int cvfio_api_version(void);
/** VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU): 1 when supported. */
int cvfio_check_type1v2(int container);
/** VFIO_GROUP_GET_STATUS: sets *viable to 1 when every group member is VFIO-bound. */
int cvfio_group_viable(int group, int *viable);
/** VFIO_GROUP_SET_CONTAINER. */
int cvfio_group_set_container(int group, int container);
/** VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU). */
int cvfio_set_type1v2(int container);
/** VFIO_IOMMU_GET_INFO: the supported IOVA page sizes bitmap (iova_pgsizes). */
int cvfio_iova_page_sizes(int container, uint64_t *page_sizes);
/** VFIO_IOMMU_MAP_DMA, read and write. */
int cvfio_map_dma(int container, void *vaddr, uint64_t iova, uint64_t size);
/** VFIO_IOMMU_UNMAP_DMA. */
int cvfio_unmap_dma(int container, uint64_t iova, uint64_t size);
/** mmap flags for an anonymous buffer backed by pages of 1 << page_shift bytes
 *  (12: normal pages; 21 or 30: hugetlb with MAP_HUGE_2MB / MAP_HUGE_1GB). */
int cvfio_mmap_flags(int page_shift);

#endif
