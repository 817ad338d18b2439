# rfseg - build
#
#   make            library (build/librfseg.a, build/librfseg.so) and CLI (build/rfseg)
#   make test       every test in tests/ (C unit/parity tests, then the Python differential tests)
#   make cuda       the same with the CUDA backend (needs nvcc; CUDA=1 does the same)
#   make bench      CPU benchmark of a full-size random-weight model
#   make fuzz       libFuzzer targets (clang)
#   make asan       library, CLI and tests under ASan+UBSan in build-asan/
#   make install    PREFIX=/usr/local: binary, library, header, pkg-config file, man page
#   make examples   the programs in examples/ (built by `make` too)
#
# Required: libzip, libpng, libjpeg(-turbo), libcjson (model packages, requests).
# Optional, detected with pkg-config: libcurl + libcrypto (model download), FFmpeg (video),
# libavdevice (cameras), libwebp, libtiff, libmicrohttpd (server), hiredis (Redis worker),
# nvcc (CUDA).
# Each optional feature can be forced off: make NO_CURL=1 NO_FFMPEG=1 NO_AVDEVICE=1 NO_WEBP=1
# NO_TIFF=1 NO_HTTP=1 NO_HIREDIS=1.

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
PYTHON  ?= /usr/bin/python3
ARCH    := $(shell $(CC) -dumpmachine)
OPT     ?= -O3 -march=x86-64-v2

# -ffp-contract=off: no fused multiply-add contraction. The presets reproduce reference
# float32 arithmetic bit for bit (box math, normalisation); a contracted a*b+c rounds once
# instead of twice and would change results on FMA machines. -fno-trapping-math changes no
# result (rfseg never enables floating-point traps); it lets branch-free loops vectorise.
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Wno-unused-parameter \
               -Wshadow -Wvla -fPIC -fopenmp -ffp-contract=off -fno-trapping-math -Iinclude -Isrc
CFLAGS  ?= $(OPT)
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS) $(FEATURE_DEFS) $(DEP_CFLAGS)
LDLIBS_BASE := -fopenmp -lm -lpthread
LDFLAGS_BASE := -Wl,--as-needed

pkg_ok = $(shell pkg-config --exists $(1) 2>/dev/null && echo yes)

REQ_PKGS := libzip libpng libjpeg libcjson
DEP_CFLAGS := $(shell pkg-config --cflags $(REQ_PKGS))
DEP_LIBS   := $(shell pkg-config --libs $(REQ_PKGS))
FEATURE_DEFS :=
# the server's and the worker's libraries: linked into the CLI and the tests, not librfseg
APP_LIBS :=

# model download: libcurl, and libcrypto for the MD5 check of what was downloaded
ifeq ($(NO_CURL)$(call pkg_ok,libcurl libcrypto),yes)
  FEATURE_DEFS += -DRFS_HAVE_CURL=1
  DEP_CFLAGS += $(shell pkg-config --cflags libcurl libcrypto)
  DEP_LIBS   += $(shell pkg-config --libs libcurl libcrypto)
endif
FFMPEG_PKGS := libavformat libavcodec libswscale libavutil
ifeq ($(NO_FFMPEG)$(call pkg_ok,$(FFMPEG_PKGS)),yes)
  FEATURE_DEFS += -DRFS_HAVE_FFMPEG=1
  DEP_CFLAGS += $(shell pkg-config --cflags $(FFMPEG_PKGS))
  DEP_LIBS   += $(shell pkg-config --libs $(FFMPEG_PKGS))
endif
ifeq ($(NO_FFMPEG)$(NO_AVDEVICE)$(call pkg_ok,$(FFMPEG_PKGS) libavdevice),yes)
  FEATURE_DEFS += -DRFS_HAVE_AVDEVICE=1
  DEP_CFLAGS += $(shell pkg-config --cflags libavdevice)
  DEP_LIBS   += $(shell pkg-config --libs libavdevice)
endif
ifeq ($(NO_WEBP)$(call pkg_ok,libwebp),yes)
  FEATURE_DEFS += -DRFS_HAVE_WEBP=1
  DEP_CFLAGS += $(shell pkg-config --cflags libwebp)
  DEP_LIBS   += $(shell pkg-config --libs libwebp)
endif
ifeq ($(NO_TIFF)$(call pkg_ok,libtiff-4),yes)
  FEATURE_DEFS += -DRFS_HAVE_TIFF=1
  DEP_CFLAGS += $(shell pkg-config --cflags libtiff-4)
  DEP_LIBS   += $(shell pkg-config --libs libtiff-4)
endif
ifeq ($(NO_HTTP)$(call pkg_ok,libmicrohttpd),yes)
  FEATURE_DEFS += -DRFS_HAVE_HTTP=1
  DEP_CFLAGS += $(shell pkg-config --cflags libmicrohttpd)
  APP_LIBS   += $(shell pkg-config --libs libmicrohttpd)
endif
ifeq ($(NO_HIREDIS)$(call pkg_ok,hiredis),yes)
  FEATURE_DEFS += -DRFS_HAVE_HIREDIS=1
  DEP_CFLAGS += $(shell pkg-config --cflags hiredis)
  APP_LIBS   += $(shell pkg-config --libs hiredis)
endif

# CUDA: `make cuda` (or CUDA=1) compiles src/cuda/*.cu with nvcc and links cuBLASLt.
NVCC      ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# Machine code for every NVIDIA generation from Turing, and PTX for newer GPUs. A cubin
# runs on its compute capability and on later minor versions of the same major one, so
# sm_75 covers the T4, sm_80 the A100, sm_86 the A10, A40, RTX 30, Jetson Orin (8.7) and
# L4 / RTX 40 (8.9), sm_90a the H100 and H200; compute_90 PTX is compiled by the driver
# for anything newer. The kernels pick their code path at run time (rfs_cuda_arch).
CUDA_ARCH ?= -gencode arch=compute_75,code=sm_75 -gencode arch=compute_80,code=sm_80 \
             -gencode arch=compute_86,code=sm_86 -gencode arch=compute_90a,code=sm_90a \
             -gencode arch=compute_90,code=compute_90
NVFLAGS   ?= -O3 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC,-Wall -Iinclude -Isrc \
             --expt-relaxed-constexpr -lineinfo
ifeq ($(CUDA),1)
  FEATURE_DEFS += -DRFS_HAVE_CUDA=1
  DEP_LIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
  CU_SRC := $(wildcard src/cuda/*.cu)
endif

# The library: every exported symbol is declared in include/rfseg.h with RFS_API; the rest
# is hidden (-fvisibility=hidden), so librfseg.so offers the public API and nothing else.
# The static archive keeps every symbol for the tests, which also exercise internals.
LIB_SRC  := $(wildcard src/util/*.c src/io/*.c src/model/*.c src/cpu/*.c src/pipeline/*.c src/cuda/*.c src/track/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
LIB_DEFS := -DRFS_BUILDING_LIB -fvisibility=hidden
$(LIB_SRC:%.c=$(BUILD)/%.o): EXTRA_CFLAGS := $(LIB_DEFS)
SOVERSION := 0
LIBVERSION := $(shell sed -n 's/.*RFSEG_VERSION "\(.*\)"/\1/p' include/rfseg.h)
SONAME   := librfseg.so.$(SOVERSION)
# The HTTP server, the Redis worker and the tools use only the public API; the server and
# the worker are built into the CLI and the tests from their own archives.
SERVE_SRC := $(wildcard src/serve/*.c)
SERVE_OBJ := $(SERVE_SRC:%.c=$(BUILD)/%.o)
WORKER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/worker/*.c))
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)

.PHONY: all lib test cuda bench fuzz asan install clean features examples
all: $(BUILD)/rfseg $(BUILD)/librfseg.so tests-bin examples

lib: $(BUILD)/librfseg.a

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(EXTRA_CFLAGS) -Itools -MMD -MP -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -Xcompiler -fvisibility=hidden -DRFS_BUILDING_LIB $(FEATURE_DEFS) -MMD -MP -c $< -o $@

$(BUILD)/librfseg.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libserve.a: $(SERVE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libworker.a: $(WORKER_OBJ)
	@rm -f $@
	ar rcs $@ $^

# librfseg.so.0.x.y with the SONAME librfseg.so.0, and the two usual links to it
$(BUILD)/librfseg.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@.$(LIBVERSION) $^ $(DEP_LIBS) $(LDLIBS_BASE)
	ln -sf librfseg.so.$(LIBVERSION) $(BUILD)/$(SONAME)
	ln -sf librfseg.so.$(LIBVERSION) $@

CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c))
$(BUILD)/rfseg: $(CLI_OBJ) $(BUILD)/libworker.a $(BUILD)/libserve.a $(BUILD)/librfseg.a
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(APP_LIBS) $(DEP_LIBS) $(LDLIBS_BASE)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libworker.a $(BUILD)/libserve.a $(BUILD)/librfseg.a $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BASE) -Itests -o $@ $< $(BUILD)/libworker.a $(BUILD)/libserve.a $(BUILD)/librfseg.a $(APP_LIBS) $(DEP_LIBS) $(LDLIBS_BASE)

$(BUILD)/tests/%: tests/tools/%.c $(BUILD)/librfseg.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BASE) -Itests -o $@ $< $(BUILD)/librfseg.a $(DEP_LIBS) $(LDLIBS_BASE)

# The examples use the public header only and link the shared library, as a user's
# program would (the rpath finds it in the build tree).
$(BUILD)/examples/%: examples/%.c $(BUILD)/librfseg.so include/rfseg.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Werror -Iinclude -o $@ $< \
	    -L$(BUILD) -Wl,-rpath,$(abspath $(BUILD)) -lrfseg -lpthread -lm

examples: $(EXAMPLE_BIN)

tests-bin: $(TEST_BIN) $(TOOL_BIN)

# Every C test, then every Python differential test; a summary line at the end.
test: all
	@BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run.sh

cuda:
	$(MAKE) CUDA=1 BUILD=$(BUILD)-cuda all

bench: $(BUILD)/rfseg
	$(BUILD)/rfseg bench --device cpu --random-weights seg-nano --frames 20

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	        LDLIBS_BASE="-fopenmp -lm -lpthread -fsanitize=address,undefined" all

FUZZ_TARGETS := $(wildcard tests/fuzz/fuzz_*.c)
fuzz: $(FUZZ_TARGETS:tests/fuzz/%.c=build-fuzz/%)
build-fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(SERVE_SRC)
	@mkdir -p build-fuzz
	clang $(CFLAGS_BASE) -Wno-pass-failed $(FEATURE_DEFS) $(DEP_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(LIB_SRC) $(SERVE_SRC) $(APP_LIBS) $(DEP_LIBS) $(LDLIBS_BASE)

# The installed library carries its SONAME; rfseg.pc gives programs an rpath to $(PREFIX)/lib
# so they run without LD_LIBRARY_PATH wherever PREFIX is (ldconfig covers the usual
# prefixes anyway), and `pkg-config --static` the libraries a static link needs.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/rfseg $(DESTDIR)$(PREFIX)/bin/rfseg
	install -m 644 $(BUILD)/librfseg.a $(DESTDIR)$(PREFIX)/lib/librfseg.a
	install -m 755 $(BUILD)/librfseg.so.$(LIBVERSION) $(DESTDIR)$(PREFIX)/lib/librfseg.so.$(LIBVERSION)
	ln -sf librfseg.so.$(LIBVERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf librfseg.so.$(LIBVERSION) $(DESTDIR)$(PREFIX)/lib/librfseg.so
	install -m 644 include/rfseg.h $(DESTDIR)$(PREFIX)/include/rfseg.h
	if [ -f docs/rfseg.1 ]; then install -m 644 docs/rfseg.1 $(DESTDIR)$(PREFIX)/share/man/man1/rfseg.1; fi
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIBVERSION)|' \
	    -e 's|@LIBS@|$(DEP_LIBS) $(LDLIBS_BASE)|' rfseg.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/rfseg.pc

features:
	@echo "features: $(FEATURE_DEFS)"

clean:
	rm -rf build build-asan build-cuda build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
