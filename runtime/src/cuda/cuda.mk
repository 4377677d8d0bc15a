# cuda.mk -- builds the CUDA plugin $(BUILD)/lib/graphids_cuda.so (called by the top Makefile's
# `cuda` target: $(MAKE) -f runtime/src/cuda/cuda.mk BUILD=$(BUILD) NVCC=$(NVCC)).
#
# The plugin is dlopened by the runtime and resolves gids_* from the process, so those symbols
# stay undefined here: never link libgraphids into it.  Machine code for sm_80 (A100) and sm_90
# (H100/H200), plus compute_90 PTX that newer GPUs compile at load time; nvcc compiles the three
# targets of a file in parallel (--threads 0): they are most of a clean build.

BUILD     ?= build
NVCC      ?= nvcc
CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(NVCC)))
CUDA_LIB  ?= $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib $(CUDA_HOME)/targets/x86_64-linux/lib))

CUDA_ARCH  ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90
NVCCFLAGS  ?= -O3 -g -lineinfo --threads 0
CUDA_WARN  := -Xcompiler -Wall,-Wextra,-Wno-unused-parameter
CUDA_BASE  := -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC,-fvisibility=hidden $(CUDA_WARN) \
              -Iruntime/include -MMD -MP

CUDA_SRC   := $(sort $(wildcard runtime/src/cuda/*.cu))
CUDA_CSRC  := $(sort $(wildcard runtime/src/cuda/*.c))
CUDA_OBJ   := $(CUDA_SRC:%.cu=$(BUILD)/obj/%.o) $(CUDA_CSRC:%.c=$(BUILD)/obj/%.o)
PLUGIN     := $(BUILD)/lib/graphids_cuda.so

# Shared cudart and cuBLAS, found next to nvcc at run time too (rpath); the runtime's own
# symbols are left undefined on purpose (no -z defs).
CUDA_LINK  := $(if $(CUDA_LIB),-L$(CUDA_LIB) -Xlinker -rpath=$(CUDA_LIB)) -cudart shared -lcublas -lcublasLt

.PHONY: plugin
plugin: $(PLUGIN)

$(PLUGIN): $(CUDA_OBJ)
	@mkdir -p $(@D)
	$(NVCC) -shared $(CUDA_ARCH) -o $@ $(CUDA_OBJ) $(CUDA_LINK)

$(BUILD)/obj/runtime/src/cuda/%.o: runtime/src/cuda/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(CUDA_BASE) $(NVCCFLAGS) -c $< -o $@

$(BUILD)/obj/runtime/src/cuda/%.o: runtime/src/cuda/%.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -O3 -g -Iruntime/include \
	    $(if $(CUDA_HOME),-I$(CUDA_HOME)/include) -MMD -MP -c $< -o $@

-include $(CUDA_OBJ:.o=.d)
