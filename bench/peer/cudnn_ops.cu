/* cudnn_ops.cu -- cuDNN's softmax and activation forwards on the inputs bench/gpu/gpu_bench.lua
 * times for graphids (1 GiB of f32, softmax over rows of 1024 and of 4), for tools/gpu-check.sh:
 * the issue allowed these ops through cuDNN "where it is faster than a plain kernel", and this
 * is the measurement that says where (docs/cuda.md).  A peer, like bench/peer/torch_gpu.py, not
 * part of the runtime, which never links cuDNN.
 *
 * Rows "cudnn_<name> <GB/s> GB/s" named as gpu_bench.lua's gpu_<name> rows (bytes read plus
 * written), each the median of 10 runs timed with CUDA events after one warm-up; the first row
 * is the cuDNN version loaded.  Exit status 1 with a message on any CUDA or cuDNN error.
 *
 * Built by tools/gpu-carry.sh: nvcc bench/peer/cudnn_ops.cu -lcudnn (libcudnn.so.9 is looked up
 * at run time; tools/gpu-check.sh puts the one PyTorch's wheels bring on LD_LIBRARY_PATH).
 * cudnnActivationForward is deprecated in cuDNN 9 (the graph API's pointwise operations replace
 * it); it still runs, which is all a measurement needs.
 */
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#pragma nv_diag_suppress 1444 /* the deprecated activation API, on purpose */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static bool failed(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return false;
    std::fprintf(stderr, "cudnn_ops: %s: %s\n", what, cudaGetErrorString(e));
    return true;
}
static bool failed(cudnnStatus_t e, const char *what) {
    if (e == CUDNN_STATUS_SUCCESS) return false;
    std::fprintf(stderr, "cudnn_ops: %s: %s\n", what, cudnnGetErrorString(e));
    return true;
}
#define CHECK(call)                                                                                \
    do {                                                                                           \
        if (failed((call), #call)) return 1;                                                       \
    } while (0)

/* x[i] = a uniform value in [-4, 4) from a hash of i (the same data on every run). */
__global__ void fill(float *x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull;
        h ^= h >> 31;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        x[i] = (float)((h >> 40) * 0x1.0p-24) * 8.0f - 4.0f;
    }
}

/* The median time of fn in ms (10 runs after a warm-up); negative after an error. */
template <typename F> static float median_ms(F fn) {
    cudaEvent_t a, b;
    if (failed(cudaEventCreate(&a), "cudaEventCreate") ||
        failed(cudaEventCreate(&b), "cudaEventCreate"))
        return -1;
    if (!fn()) return -1;
    std::vector<float> ms;
    for (int r = 0; r < 10; r++) {
        cudaEventRecord(a);
        if (!fn()) return -1;
        cudaEventRecord(b);
        if (failed(cudaEventSynchronize(b), "cudaEventSynchronize")) return -1;
        float t = 0;
        cudaEventElapsedTime(&t, a, b);
        ms.push_back(t);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(ms.begin(), ms.end());
    return (ms[4] + ms[5]) / 2;
}

static void row(const char *name, float ms) {
    std::printf("cudnn_%s %.1f GB/s\n", name, 2.0 * (1 << 30) / (ms * 1e-3) * 1e-9);
}

int main() {
    std::printf("cudnn_version %zu\n", cudnnGetVersion());
    const int64_t n = (int64_t)1 << 28; /* 1 GiB of f32 */
    float *x = nullptr, *y = nullptr;
    CHECK(cudaMalloc(&x, n * sizeof(float)));
    CHECK(cudaMalloc(&y, n * sizeof(float)));
    fill<<<4096, 256>>>(x, n);
    CHECK(cudaGetLastError());
    cudnnHandle_t h;
    CHECK(cudnnCreate(&h));
    cudnnTensorDescriptor_t d;
    CHECK(cudnnCreateTensorDescriptor(&d));
    const float one = 1, zero = 0;

    /* softmax over each row of C: N = n / C instances of [C, 1, 1] */
    const int cols[2] = {1024, 4};
    const char *names[2] = {"softmax_rows1024_gbs", "softmax_rows4_gbs"};
    for (int k = 0; k < 2; k++) {
        CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)(n / cols[k]),
                                         cols[k], 1, 1));
        float ms = median_ms([&] {
            return !failed(cudnnSoftmaxForward(h, CUDNN_SOFTMAX_ACCURATE,
                                               CUDNN_SOFTMAX_MODE_INSTANCE, &one, d, x, &zero, d,
                                               y),
                           "cudnnSoftmaxForward");
        });
        if (ms < 0) return 1;
        row(names[k], ms);
    }

    /* activations over the whole GiB, as [262144, 1024, 1, 1] */
    CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)(n / 1024), 1024,
                                     1, 1));
    cudnnActivationDescriptor_t act;
    CHECK(cudnnCreateActivationDescriptor(&act));
    const cudnnActivationMode_t modes[4] = {CUDNN_ACTIVATION_RELU, CUDNN_ACTIVATION_SIGMOID,
                                            CUDNN_ACTIVATION_TANH, CUDNN_ACTIVATION_ELU};
    const char *acts[4] = {"relu_1gib_gbs", "sigmoid_1gib_gbs", "tanh_1gib_gbs", "elu_1gib_gbs"};
    for (int k = 0; k < 4; k++) {
        CHECK(cudnnSetActivationDescriptor(act, modes[k], CUDNN_PROPAGATE_NAN, 1.0));
        float ms = median_ms([&] {
            return !failed(cudnnActivationForward(h, act, &one, d, x, &zero, d, y),
                           "cudnnActivationForward");
        });
        if (ms < 0) return 1;
        row(acts[k], ms);
    }
    cudnnDestroyActivationDescriptor(act);
    cudnnDestroyTensorDescriptor(d);
    cudnnDestroy(h);
    cudaFree(x);
    cudaFree(y);
    return 0;
}
