/* plugin.cu -- the CUDA plugin's entry point and its error reporting.
 *
 * gids_cuda_plugin_init checks that a driver and a device are there, then registers the caching
 * allocator for GIDS_CUDA and the backend.  Errors name the failing call, its file:line and a
 * hint for what to do next.
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_impl.h"

bool gc_sync_each_op = false;
unsigned gc_grid_cap = 65535 * 8; /* until init reads the SM count */

static const char *cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorNoDevice:
        return "no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)";
    case cudaErrorInsufficientDriver:
        return "the NVIDIA driver is older than this build's CUDA runtime; update the driver";
    case cudaErrorMemoryAllocation:
        return "out of GPU memory: free tensors, call graphids.gpu.reset() or use smaller batches";
    case cudaErrorInvalidDevice: return "the device index does not exist (see graphids gpu info)";
    case cudaErrorNoKernelImageForDevice:
        return "this build has no code for the device's architecture (built for sm_80, sm_90)";
    default: break;
    }
    if (gc_sync_each_op) return "GRAPHIDS_CUDA_SYNC=1 is set, so the error comes from this call";
    return "the error may come from an earlier asynchronous op; rerun with GRAPHIDS_CUDA_SYNC=1 "
           "so errors land on the op that caused them";
}

gids_status gc_cuda_fail(const char *op, cudaError_t e, const char *call, const char *file,
                         int line) {
    cudaGetLastError(); /* clear a non-sticky error so the next call starts clean */
    gids_status code = e == cudaErrorMemoryAllocation ? GIDS_ENOMEM : GIDS_EDEVICE;
    const char *base = strrchr(file, '/');
    return gids_error_set(code, file, line, "%s: %s failed at %s:%d: %s (%s); hint: %s", op, call,
                          base ? base + 1 : file, line, cudaGetErrorName(e), cudaGetErrorString(e),
                          cuda_hint(e));
}

static const char *cublas_name(cublasStatus_t e) {
    switch (e) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

gids_status gc_cublas_fail(const char *op, cublasStatus_t e, const char *call, const char *file,
                           int line) {
    gids_status code = e == CUBLAS_STATUS_ALLOC_FAILED ? GIDS_ENOMEM : GIDS_EDEVICE;
    const char *hint = e == CUBLAS_STATUS_ALLOC_FAILED
                           ? "out of GPU memory for cuBLAS's workspace: call graphids.gpu.reset()"
                       : e == CUBLAS_STATUS_NOT_INITIALIZED
                           ? "cuBLAS could not start: check the driver and that libcublas matches "
                             "the CUDA runtime"
                           : "rerun with GRAPHIDS_CUDA_SYNC=1 so errors land on the op that "
                             "caused them";
    const char *base = strrchr(file, '/');
    return gids_error_set(code, file, line, "%s: %s failed at %s:%d: %s; hint: %s", op, call,
                          base ? base + 1 : file, line, cublas_name(e), hint);
}

extern "C" __attribute__((visibility("default"))) gids_status gids_cuda_plugin_init(void) {
    const char *sync = getenv("GRAPHIDS_CUDA_SYNC");
    gc_sync_each_op = sync != NULL && strcmp(sync, "1") == 0;
    const char *debug = getenv("GRAPHIDS_CUDA_SYNC_DEBUG");
    gc_warn_syncs = debug != NULL && strcmp(debug, "warn") == 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        int rt = 0, drv = 0;
        cudaRuntimeGetVersion(&rt);
        cudaDriverGetVersion(&drv);
        GIDS_FAIL(GIDS_EDEVICE,
                  "cuda: cudaGetDeviceCount failed: %s (%s); runtime %d.%d, driver %s; hint: %s",
                  cudaGetErrorName(e), cudaGetErrorString(e), rt / 1000, rt % 1000 / 10,
                  drv == 0 ? "not found" : "present",
                  drv == 0 ? "no NVIDIA driver was found (libcuda.so.1): this machine has no "
                             "usable GPU; the CPU path keeps working"
                           : cuda_hint(e));
    }
    GIDS_CHECK(n > 0, GIDS_EDEVICE,
               "cuda: the driver reports 0 CUDA devices; hint: check nvidia-smi and "
               "CUDA_VISIBLE_DEVICES");
    int sms = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess && sms > 0)
        gc_grid_cap = (unsigned)sms * 8;
    cudaGetLastError();
    gids_allocator_register(GIDS_CUDA, &gc_allocator);
    gids_backend_register(GIDS_CUDA, &gc_backend);
    return GIDS_OK;
}
