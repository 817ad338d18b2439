# rfseg - build
#
#   make            library (build/librfseg.a, build/librfseg.so) and CLI (build/rfseg)
#   make test       every test in tests/ (C unit/parity tests, then the Python differential tests)
#   make cuda       the same with the CUDA backend (needs nvcc; CUDA=1 does the same)
#   make bench      CPU benchmark of a full-size random-weight model
#   make fuzz       libFuzzer targets (clang)
#   make asan       library, CLI and tests under ASan+UBSan in build-asan/
#   make install    PREFIX=/usr/local: binary, library, header, pkg-config file
#
# Required: libzip, libpng, libjpeg(-turbo), libcjson (model packages, requests).
# Optional, detected with pkg-config: libcurl (model download), FFmpeg (video),
# libmicrohttpd (server), nvcc (CUDA).
# Each optional feature can be forced off: make NO_CURL=1 NO_FFMPEG=1 NO_HTTP=1.

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

ifeq ($(NO_CURL)$(call pkg_ok,libcurl),yes)
  FEATURE_DEFS += -DRFS_HAVE_CURL=1
  DEP_CFLAGS += $(shell pkg-config --cflags libcurl)
  DEP_LIBS   += $(shell pkg-config --libs libcurl)
endif
FFMPEG_PKGS := libavformat libavcodec libswscale libavutil
ifeq ($(NO_FFMPEG)$(call pkg_ok,$(FFMPEG_PKGS)),yes)
  FEATURE_DEFS += -DRFS_HAVE_FFMPEG=1
  DEP_CFLAGS += $(shell pkg-config --cflags $(FFMPEG_PKGS))
  DEP_LIBS   += $(shell pkg-config --libs $(FFMPEG_PKGS))
endif
ifeq ($(NO_HTTP)$(call pkg_ok,libmicrohttpd),yes)
  FEATURE_DEFS += -DRFS_HAVE_HTTP=1
  DEP_CFLAGS += $(shell pkg-config --cflags libmicrohttpd)
  DEP_LIBS   += $(shell pkg-config --libs libmicrohttpd)
endif

# CUDA: `make cuda` (or CUDA=1) compiles src/cuda/*.cu with nvcc and links cuBLASLt.
NVCC      ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_80,code=sm_80
NVFLAGS   ?= -O3 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC,-Wall -Iinclude -Isrc \
             --expt-relaxed-constexpr -lineinfo
ifeq ($(CUDA),1)
  FEATURE_DEFS += -DRFS_HAVE_CUDA=1
  DEP_LIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
  CU_SRC := $(wildcard src/cuda/*.cu)
endif

LIB_SRC  := $(wildcard src/util/*.c src/io/*.c src/model/*.c src/cpu/*.c src/pipeline/*.c src/serve/*.c src/cuda/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)

.PHONY: all lib test cuda bench fuzz asan install clean features
all: $(BUILD)/rfseg $(BUILD)/librfseg.so tests-bin

lib: $(BUILD)/librfseg.a

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itools -MMD -MP -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) $(FEATURE_DEFS) -MMD -MP -c $< -o $@

$(BUILD)/librfseg.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/librfseg.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(DEP_LIBS) $(LDLIBS_BASE)

CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c))
$(BUILD)/rfseg: $(CLI_OBJ) $(BUILD)/librfseg.a
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(DEP_LIBS) $(LDLIBS_BASE)

$(BUILD)/tests/%: tests/%.c $(BUILD)/librfseg.a tests/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BASE) -Itests -o $@ $< $(BUILD)/librfseg.a $(DEP_LIBS) $(LDLIBS_BASE)

$(BUILD)/tests/%: tests/tools/%.c $(BUILD)/librfseg.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BASE) -Itests -o $@ $< $(BUILD)/librfseg.a $(DEP_LIBS) $(LDLIBS_BASE)

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
build-fuzz/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p build-fuzz
	clang $(CFLAGS_BASE) -Wno-pass-failed $(FEATURE_DEFS) $(DEP_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(LIB_SRC) $(DEP_LIBS) $(LDLIBS_BASE)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/rfseg $(DESTDIR)$(PREFIX)/bin/rfseg
	install -m 644 $(BUILD)/librfseg.a $(DESTDIR)$(PREFIX)/lib/librfseg.a
	install -m 755 $(BUILD)/librfseg.so $(DESTDIR)$(PREFIX)/lib/librfseg.so
	install -m 644 include/rfseg.h $(DESTDIR)$(PREFIX)/include/rfseg.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/.*RFSEG_VERSION "\(.*\)"/\1/p' include/rfseg.h)|' \
	    -e 's|@LIBS@|$(DEP_LIBS) $(LDLIBS_BASE)|' rfseg.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/rfseg.pc

features:
	@echo "features: $(FEATURE_DEFS)"

clean:
	rm -rf build build-asan build-cuda build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
