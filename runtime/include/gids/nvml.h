/* gids/nvml.h -- the machine's NVIDIA GPUs as their driver reports them: memory in use,
 * utilisation and power (what MLflow's system metrics log through pynvml).
 *
 *   int n;
 *   if (gids_nvml_device_count(&n) == GIDS_OK)
 *       for (int i = 0; i < n; i++) {
 *           gids_nvml_reading r;
 *           if (gids_nvml_read(i, &r) == GIDS_OK && r.has_utilization)
 *               printf("gpu %d busy %u%%\n", i, r.utilization);
 *       }
 *
 * NVML (libnvidia-ml.so.1) ships with the driver, not with the CUDA toolkit: it is opened with
 * dlopen at the first call and initialised once per process; graphids links nothing of it, so a
 * machine without a driver builds and runs the same.  GIDS_NVML_LIBRARY names another file to
 * open (the specs' stand-in).  Devices are NVML's, numbered as NVML numbers them: every GPU of
 * the machine, whatever CUDA_VISIBLE_DEVICES hides from CUDA.
 */
#ifndef GIDS_NVML_H
#define GIDS_NVML_H

#include <stdbool.h>
#include <stdint.h>

#include "gids/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One device's readings.  A reading the driver refuses (a board without power sensing, say) is
 * left out: its has_ flag is false and `missing` names it with NVML's reason, "; "-joined. */
typedef struct gids_nvml_reading {
    bool has_memory, has_utilization, has_power;
    uint64_t memory_used, memory_total; /* bytes (nvmlDeviceGetMemoryInfo) */
    unsigned utilization;               /* % of the last sample period a kernel ran */
    unsigned power_mw, power_limit_mw;  /* milliwatts: drawn now, and the enforced limit */
    char missing[256];
} gids_nvml_reading;

/* The number of devices.  EDEVICE when NVML cannot be opened or initialised (no driver: the
 * message says which), EINVAL when GIDS_NVML_LIBRARY names a file that does not load. */
gids_status gids_nvml_device_count(int *count);

/* Device index's readings into *out.  EINDEX for an index outside [0, count); the errors of
 * gids_nvml_device_count; EDEVICE when the device cannot be opened.  A reading that fails alone
 * is not an error (see gids_nvml_reading). */
gids_status gids_nvml_read(int index, gids_nvml_reading *out);

#ifdef __cplusplus
}
#endif
#endif
