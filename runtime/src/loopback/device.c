/* device.c -- the loopback device's count, info report, synchronize, memory and reset.  There is
 * one device, cuda:0, whose memory is the host's. */
#include <stdio.h>

#include "loopback_impl.h"

int lb_device_count(void) {
    return 1;
}

gids_status lb_check_device(const char *op, int device) {
    return gids_check_device_in(op, device, 1, ": the loopback device");
}

gids_status lb_info(char *buf, size_t n) {
    GIDS_TRY(gids_check_info_buffer(buf, n));
    snprintf(buf, n,
             "loopback (CPU) device: graphids_loopback.so stands in for the CUDA plugin; device "
             "ops run the runtime's CPU ops on host memory\n"
             "devices: 1\n"
             "cuda:0: loopback (CPU), %.1f GiB of host memory (GIDS_LOOPBACK_MEMORY_MIB)\n",
             (double)lb_total_bytes() / (1024.0 * 1024.0 * 1024.0));
    return GIDS_OK;
}

gids_status lb_synchronize(int device) {
    GIDS_TRY(lb_check_device("gpu synchronize", device)); /* every op has finished already */
    lb_waited();
    return GIDS_OK;
}

/* The loopback device's products are the CPU's: it tunes nothing, so its list is empty (a
 * spec sees the call's shape without a GPU). */
gids_status lb_gemm_tuned(gids_gemm_tuned *out, int cap, int *n) {
    (void)out;
    (void)cap;
    *n = 0;
    return GIDS_OK;
}

gids_status lb_memory(int device, gids_gpu_memory *out) {
    GIDS_TRY(gids_check_given("gpu memory", out != NULL, "out"));
    GIDS_TRY(lb_check_device("gpu memory", device));
    lb_alloc_stats st;
    lb_alloc_stats_get(&st);
    out->allocated = st.allocated;
    out->reserved = st.reserved;
    out->peak = st.peak;
    out->free = lb_free_bytes();
    out->total = lb_total_bytes();
    return GIDS_OK;
}

/* As the CUDA plugin's reset: cached blocks go back, the peaks (the allocator's and the
 * runtime's counter) come down to what is live.  device -1: every device. */
gids_status lb_reset(int device) {
    if (device != -1) GIDS_TRY(lb_check_device("gpu reset", device));
    lb_ranges_drop(); /* first: they hold tensors whose blocks go back with the cache */
    lb_alloc_reset();
    gids_memory_reset_peak(LB_DEVICE);
    return GIDS_OK;
}
