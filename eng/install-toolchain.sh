#!/usr/bin/env bash
# Installs what the native build and its tests need on Debian/Ubuntu: clang, lld and LLVM tools 19
# (LLD >= 18.1 for TLSDESC under ThinLTO on x86-64) and binutils (nm, readelf, objdump).
set -euo pipefail
# The Rust layer (samples/RustLayer, its tests and benchmark rows) needs cargo and rustc; this machine class ships
# Rust 1.95 through rustup (~/.cargo/bin). Debian's own rustc (1.63, LLVM 14) is too old for cross-language LTO with
# clang-19, so it is not installed from here: say what is missing instead.
if command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ]; then
  echo "rust present: $(PATH="$PATH:$HOME/.cargo/bin" rustc -V) ($(PATH="$PATH:$HOME/.cargo/bin" rustc -vV | grep LLVM))"
else
  echo "no cargo/rustc: the Rust layer tests will fail with OTC1010; install Rust with rustup (https://rustup.rs)" >&2
fi
need=()
[ -f /usr/include/benchmark/benchmark.h ] || need+=(libbenchmark-dev)
# linux-arm64: the cross libc the prebuilt arm64 library links against, and qemu to run arm64 tests.
[ -f /usr/aarch64-linux-gnu/include/stdlib.h ] || need+=(libc6-dev-arm64-cross)
[ -d /usr/lib/gcc-cross/aarch64-linux-gnu ] || need+=(libgcc-12-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
# linux-musl-x64/-arm64: musl's headers and libc.so the musl libraries link against (and /lib/ld-musl-*.so.1, musl-gcc and
# aarch64-linux-musl-gcc that the musl C tests and otel-thread-ctx's musl reader test run under and build with). The arm64
# musl comes through Debian multiarch. gdb: the tool tests and the musl tests cross-check records with it.
[ -f /usr/lib/x86_64-linux-musl/libc.so ] && command -v musl-gcc >/dev/null 2>&1 || need+=(musl-dev musl-tools)
[ -f /usr/lib/aarch64-linux-musl/libc.so ] && [ -f /usr/include/aarch64-linux-musl/stdlib.h ] || need+=(musl-dev:arm64)
command -v gdb >/dev/null 2>&1 || need+=(gdb)
# NativeAOT (the no-op tests publish the API probe that way) links zlib.
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
for tool in clang-19 ld.lld-19 llvm-nm-19 llvm-readelf-19 nm readelf objdump g++ python3; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "toolchain present: $(clang-19 --version | head -1); $(ld.lld-19 --version)"
  exit 0
fi
echo "installing (missing: ${need[*]})"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
dpkg --print-foreign-architectures | grep -qx arm64 || "${sudo_cmd[@]}" dpkg --add-architecture arm64
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y --no-install-recommends clang-19 lld-19 llvm-19 binutils g++ libbenchmark-dev python3 \
  libc6-dev-arm64-cross libgcc-12-dev-arm64-cross libstdc++6-arm64-cross qemu-user-static zlib1g-dev \
  musl musl-dev musl-tools musl:arm64 musl-dev:arm64 gdb
