# graphids -- the one entry point.  `make help` lists the targets.
#
# Build outputs stay under build/:
#   build/lib/libgraphids.{a,so}   the C runtime (no Lua)
#   build/lua/graphids/core.so     the Lua module graphids.core
#   build/bin/graphids             the host program (CLI + REPL)
#   build/asan/                    the runtime and C tests built with ASan + UBSan

# A clean build is mostly nvcc compiling the CUDA plugin: build in parallel (one job per CPU)
# unless the caller chose a -j.
ifeq (,$(filter -j%,$(MAKEFLAGS)))
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

PREFIX  ?= /usr/local
comma   := ,
BUILD   ?= build
CC      ?= gcc
NVCC    ?= $(shell command -v nvcc 2>/dev/null)

LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
# OpenBLAS built on OpenMP, so BLAS and the runtime's own loops share one thread pool: with the
# pthread build, each pool's idle workers spin while the other works, and on few cores the two
# fight (an MLP training step ran 1.6x slower).  Falls back to the default libopenblas.
BLAS_OMP   := /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_LIBS  := $(if $(wildcard $(BLAS_OMP)/libopenblas.so.0),$(BLAS_OMP)/libopenblas.so.0 -Wl$(comma)-rpath$(comma)$(BLAS_OMP),-lopenblas)

WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wvla
CFLAGS  ?= -O3 -g
# -fno-trapping-math: nothing reads floating-point exception flags, and without it GCC will not
# turn a select between two computed values into vector code (where, tanh, sigmoid).
# -fno-math-errno: nothing reads errno after a math function, and a sqrt that may set it is a
# call GCC will not vectorise (the normal draws' Box-Muller, Adam's update); IEEE sqrt gives the
# same bits inline.
BASE    := -std=c11 -D_GNU_SOURCE -fPIC -fopenmp -fno-trapping-math -fno-math-errno $(WARN) \
           -Iruntime/include -MMD -MP
ASANF   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

RUNTIME_SRC := $(sort $(wildcard runtime/src/core/*.c runtime/src/cpu/*.c runtime/src/io/*.c \
                 runtime/src/data/*.c runtime/src/autograd/*.c runtime/src/net/*.c))
BIND_SRC    := $(sort $(wildcard lua/src/*.c))
HOST_SRC    := $(sort $(wildcard lua/host/*.c))
CTEST_SRC   := $(sort $(wildcard spec/c/test_*.c))
CUDA_SRC    := $(sort $(wildcard runtime/src/cuda/*.cu))

RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(BUILD)/obj/%.o)
BIND_OBJ    := $(BIND_SRC:%.c=$(BUILD)/obj/%.o)
HOST_OBJ    := $(HOST_SRC:%.c=$(BUILD)/obj/%.o)
ASAN_OBJ    := $(RUNTIME_SRC:%.c=$(BUILD)/asan/obj/%.o)
CTEST_BIN   := $(CTEST_SRC:spec/c/%.c=$(BUILD)/asan/%)

LIB_A   := $(BUILD)/lib/libgraphids.a
LIB_SO  := $(BUILD)/lib/libgraphids.so
CORE_SO := $(BUILD)/lua/graphids/core.so
HOST    := $(BUILD)/bin/graphids
ASAN_A  := $(BUILD)/asan/libgraphids.a
LINK    := $(BLAS_LIBS) -lcurl -lgomp -lm -lpthread -ldl
# The runtime's OpenMP regions start through runtime/src/core/team.c, which gives a region one
# thread while its second would only be waited for (a loaded machine); OpenBLAS's are untouched.
# Applied where the runtime's own objects are linked: the static library's prelink (whose
# result then calls libgomp itself), libgraphids.so and the ASan tests.
TEAM_LD_WRAP := --wrap=GOMP_parallel --wrap=GOMP_parallel_loop_nonmonotonic_dynamic
TEAM_WRAP    := $(addprefix -Wl$(comma),$(TEAM_LD_WRAP))

.PHONY: all build deps test test-c run bench install uninstall clean fmt lint cuda help check-gpu
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory build

build: $(LIB_A) $(LIB_SO) $(CORE_SO) $(HOST) cuda

help:
	@echo "make            build everything under $(BUILD)/ (installs missing packages first)"
	@echo "make test       C tests (ASan+UBSan) and busted specs; ends with 'N passed, N failed'"
	@echo "make run        the main job on the built-in defaults"
	@echo "make bench      benchmarks (bench/), with ratios against the peer and hardware limits"
	@echo "make install PREFIX=DIR   standard Lua 5.4 layout under DIR"
	@echo "make fmt / make lint      format / check C and Lua sources"

deps:
	@tools/deps.sh

# ---------------------------------------------------------------- runtime
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASE) $(CFLAGS) -c $< -o $@

# The static library is one prelinked object whose only global names are the C API's (gids_*):
# an internal name (can_*, win_*, st_header_*, ...) cannot collide with a program that links it,
# as runtime/exports.map keeps them out of the shared objects.
# (A program linking it gets the whole runtime, so it links the runtime's libraries too:
# pkg-config --static --libs graphids.)
OBJCOPY ?= objcopy
LIB_O := $(BUILD)/obj/graphids_runtime.o
$(LIB_A): $(RUNTIME_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(LD) -r $(TEAM_LD_WRAP) -o $(LIB_O) $^
	$(OBJCOPY) --wildcard --keep-global-symbol='gids_*' $(LIB_O)
	$(AR) rcs $@ $(LIB_O)

# Exports: runtime/exports.map (the C API and the Lua entry point only).
EXPORTS := -Wl,--version-script=runtime/exports.map

$(LIB_SO): $(RUNTIME_OBJ) runtime/exports.map
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $(RUNTIME_OBJ) -Wl,-soname,libgraphids.so $(EXPORTS) $(TEAM_WRAP) $(LINK)

# ---------------------------------------------------------------- Lua module and host
$(BUILD)/obj/lua/%.o: lua/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE) $(CFLAGS) $(LUA_CFLAGS) -c $< -o $@

# A build directory outside the tree still finds the stdlib it was built from; only the binary
# in that build directory does (an installed or copied one must not use a checkout's stdlib).
$(BUILD)/obj/lua/host/host.o: BASE += -DGIDS_SOURCE_STDLIB='"$(abspath stdlib)"' \
                                      -DGIDS_BUILD_BIN='"$(abspath $(dir $(HOST)))"'

# -z nodelete: Lua unloads C modules when its state closes, but OpenMP and OpenBLAS worker threads
# outlive that; unloading the code they came from crashes the process at exit.
$(CORE_SO): $(BIND_OBJ) $(LIB_A) runtime/exports.map
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $(BIND_OBJ) $(LIB_A) $(LINK) $(EXPORTS) -Wl,-z,nodelete

$(HOST): $(HOST_OBJ) $(BIND_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(HOST_OBJ) $(BIND_OBJ) $(LIB_A) $(LUA_LIBS) -lreadline $(LINK) -Wl,-E $(EXPORTS)

# ---------------------------------------------------------------- CUDA plugin (optional)
cuda:
ifeq ($(NVCC),)
	@echo "cuda: nvcc not found; the CUDA plugin is not built (CPU-only build)"
else ifeq ($(CUDA_SRC),)
	@echo "cuda: nvcc found at $(NVCC); no plugin sources yet (runtime/src/cuda/), nothing to build"
else
	@$(MAKE) --no-print-directory -f runtime/src/cuda/cuda.mk BUILD=$(BUILD) NVCC=$(NVCC)
endif

# ---------------------------------------------------------------- loopback plugin (every machine)
# graphids_loopback.so stands in for the CUDA plugin on the CPU (runtime/src/loopback/):
# GIDS_CUDA_PLUGIN=$(BUILD)/lib/graphids_loopback.so runs every device path without a GPU
# (spec/gpu/loopback.sh).  Like the CUDA plugin it resolves gids_* from the process: never link
# libgraphids into it.
LOOPBACK_SRC := $(sort $(wildcard runtime/src/loopback/*.c))
LOOPBACK_OBJ := $(LOOPBACK_SRC:%.c=$(BUILD)/obj/%.o)
LOOPBACK_SO  := $(BUILD)/lib/graphids_loopback.so
$(LOOPBACK_OBJ): BASE += -fvisibility=hidden

$(LOOPBACK_SO): $(LOOPBACK_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ -lpthread

build: $(LOOPBACK_SO)

# Their specs load it, so the runtime is linked whole and exported (-Wl,-E) for the plugin.
LOOPBACK_CTESTS := $(addprefix $(BUILD)/asan/,test_loopback test_stream test_autocast)
$(LOOPBACK_CTESTS): $(BUILD)/asan/%: spec/c/%.c spec/c/check.h spec/c/loopback_load.h $(ASAN_A) $(LOOPBACK_SO)
	@mkdir -p $(@D)
	$(CC) $(BASE) $(ASANF) -Ispec/c -DLOOPBACK_SO='"$(abspath $(LOOPBACK_SO))"' \
	  -DSOURCE_ROOT='"$(abspath .)"' $< \
	  -Wl,--whole-archive $(ASAN_A) -Wl,--no-whole-archive -o $@ $(TEAM_WRAP) $(LINK) -Wl,-E

# ---------------------------------------------------------------- NVML stand-in (every machine)
# fake_nvml.so answers as the driver's libnvidia-ml.so.1 does, from fixed figures
# (spec/c/fake_nvml.c): GIDS_NVML_LIBRARY=$(BUILD)/lib/fake_nvml.so runs the GPU system
# metrics without a GPU.  Its C spec opens it by path.
FAKE_NVML_SO := $(BUILD)/lib/fake_nvml.so
$(FAKE_NVML_SO): spec/c/fake_nvml.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O1 -fPIC -shared $(WARN) -o $@ $<

build: $(FAKE_NVML_SO)

$(BUILD)/asan/test_nvml: spec/c/test_nvml.c spec/c/check.h $(ASAN_A) $(FAKE_NVML_SO)
	@mkdir -p $(@D)
	$(CC) $(BASE) $(ASANF) -Ispec/c -DFAKE_NVML_SO='"$(abspath $(FAKE_NVML_SO))"' $< $(ASAN_A) \
	  -o $@ $(TEAM_WRAP) $(LINK)

# ---------------------------------------------------------------- tests
$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASE) $(ASANF) -c $< -o $@

$(ASAN_A): $(ASAN_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/asan/test_%: spec/c/test_%.c spec/c/check.h $(ASAN_A)
	@mkdir -p $(@D)
	$(CC) $(BASE) $(ASANF) -Ispec/c $< $(ASAN_A) -o $@ $(TEAM_WRAP) $(LINK)

test-c: $(CTEST_BIN)

test: deps
	@$(MAKE) --no-print-directory build test-c
	@BUILD=$(BUILD) tools/run-tests.sh

# The main job: the whole pipeline (VGAE, GAT teacher, distilled student, fusion states, fusion)
# on the built-in simulator's data, on the CPU; it prints a results table and where the
# artifacts are (under ./lake).  A second run skips the stages that are complete.
run: all
	@$(HOST) pipeline recipes/pipelines/graphids.lua

bench: all
	@$(MAKE) --no-print-directory -C . $(BUILD)/bench/ops_bench $(BUILD)/bench/parse_bench
	@BUILD=$(BUILD) tools/run-bench.sh

# The C benchmarks link the whole runtime, so its libraries too ($(LINK): the OpenMP OpenBLAS
# by its path, which a machine without the -dev package's libopenblas.so link still has).
$(BUILD)/bench/%: bench/*/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE) -O3 -march=native $< $(LIB_A) -o $@ $(LINK)

# The GPU checks, for a machine with an NVIDIA GPU (see tools/gpu-check.sh).
check-gpu:
	@tools/gpu-check.sh

# ---------------------------------------------------------------- install
LUADIR  = $(DESTDIR)$(PREFIX)/share/lua/5.4
CMODDIR = $(DESTDIR)$(PREFIX)/lib/lua/5.4

install: all
	@DESTDIR="$(DESTDIR)" BLAS_LIBS="$(BLAS_LIBS)" tools/install.sh "$(PREFIX)" "$(BUILD)"

# Everything tools/install.sh writes.
uninstall:
	rm -rf $(LUADIR)/graphids $(CMODDIR)/graphids $(DESTDIR)$(PREFIX)/include/gids \
	  $(DESTDIR)$(PREFIX)/bin/graphids $(DESTDIR)$(PREFIX)/lib/libgraphids.* \
	  $(DESTDIR)$(PREFIX)/lib/graphids_cuda.so $(DESTDIR)$(PREFIX)/share/graphids \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/graphids.pc

# ---------------------------------------------------------------- hygiene
C_FILES = $(shell git ls-files '*.c' '*.h' '*.cu' '*.cpp' 2>/dev/null)

fmt:
	@tools/deps.sh --lint
	clang-format -i $(C_FILES)

lint:
	@tools/deps.sh --lint
	clang-format --dry-run --Werror $(C_FILES)
	@# invalidPointerCast: kernels read typed elements through the iterator's byte pointers.
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem --suppress=invalidPointerCast -Iruntime/include runtime/src lua
	luacheck --quiet stdlib recipes spec bench tools

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
