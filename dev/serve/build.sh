#!/usr/bin/env bash
# Builds $BUILD/dev/rfseg-serve (dev/serve/main.c + tools/cmd_serve.c + tools/cli_common.c,
# linked with $BUILD/librfseg.a): `rfseg serve` before the CLI dispatches to it.
#   dev/serve/build.sh                     from build/ (runs make lib first)
#   BUILD=build-asan dev/serve/build.sh    from build-asan/ (run `make asan` first)
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
extra=
if [ "$BUILD" = build-asan ]; then
    extra="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined"
    [ -f build-asan/librfseg.a ] || { echo "run make asan first" >&2; exit 2; }
else
    make -s "$BUILD/librfseg.a" BUILD="$BUILD"
fi
flags=$(make -s -f - print <<'MK'
include Makefile
print:
	@echo $(ALL_CFLAGS)
	@echo $(DEP_LIBS) $(LDLIBS_BASE)
MK
)
cflags=$(echo "$flags" | sed -n 1p)
libs=$(echo "$flags" | sed -n 2p)
mkdir -p "$BUILD/dev"
cc $cflags $extra -Itools -o "$BUILD/dev/rfseg-serve" dev/serve/main.c tools/cmd_serve.c \
   tools/cli_common.c "$BUILD/librfseg.a" $libs $extra
echo "$BUILD/dev/rfseg-serve"
