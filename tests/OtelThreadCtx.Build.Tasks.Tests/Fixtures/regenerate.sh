#!/usr/bin/env bash
# Regenerates the captured tool outputs these unit tests parse, from real builds with clang-19/lld-19.
# Usage: bash regenerate.sh   (needs clang-19, lld-19, llvm-19, binutils, gcc)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
native="$here/../../../native"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cflags=(-std=c11 -O2 -fPIC -fvisibility=hidden -Wall -Wextra -Werror -ffunction-sections -fdata-sections -I"$native/include" -I"$native/src")
ldflags=(-shared -fuse-ld=lld -Wl,--version-script="$native/otel_thread_ctx.map" -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -Wl,--gc-sections)
cd "$work"
# default: plain objects, TLSDESC from -mtls-dialect=gnu2
clang-19 "${cflags[@]}" -mtls-dialect=gnu2 -c "$native/src/tls_shim.c" -o shim.o
clang-19 "${cflags[@]}" -c "$native/src/otel_thread_ctx.c" -o ffi.o
clang-19 "${ldflags[@]}" -o default.so shim.o ffi.o
# inline: ThinLTO with TLSDESC code generation at link time
clang-19 "${cflags[@]}" -flto=thin -c "$native/src/tls_shim.c" -o shim.bc
clang-19 "${cflags[@]}" -flto=thin -c "$native/src/otel_thread_ctx.c" -o ffi.bc
clang-19 "${ldflags[@]}" -flto=thin -Wl,-mllvm,-enable-tlsdesc -o inline.so shim.bc ffi.bc
# inline without -enable-tlsdesc: traditional dialect (DTPMOD64/DTPOFF64, __tls_get_addr)
clang-19 "${ldflags[@]}" -flto=thin -o inline-no-tlsdesc.so shim.bc ffi.bc
# inline without --gc-sections: the shim stays as a local symbol
clang-19 "${ldflags[@]/-Wl,--gc-sections/}" -flto=thin -Wl,-mllvm,-enable-tlsdesc -o inline-shim-kept.so shim.bc ffi.bc
# no version script entry for the TLS variable, lazy binding, executable stack
printf '{ global: otel_thread_ctx_attach; local: *; };\n' > hidden.map
clang-19 -shared -fuse-ld=lld -Wl,--version-script=hidden.map -Wl,-z,execstack -Wl,-z,lazy -Wl,-z,norelro -o not-exported.so shim.o ffi.o
# musl (Debian's musl-dev, musl-dev:arm64): clang --target=<arch>-linux-musl against musl's headers and libc.so only, as the
# SDK's musl build does; and the same library also linked against a glibc library (an extra DT_NEEDED libm.so.6)
musl=(-nostdlibinc -isystem /usr/include/x86_64-linux-musl)
clang-19 --target=x86_64-linux-musl "${musl[@]}" "${cflags[@]}" -mtls-dialect=gnu2 -c "$native/src/tls_shim.c" -o musl-shim.o
clang-19 --target=x86_64-linux-musl "${musl[@]}" "${cflags[@]}" -mtls-dialect=gnu2 -c "$native/src/otel_thread_ctx.c" -o musl-ffi.o
clang-19 --target=x86_64-linux-musl "${ldflags[@]}" -o musl-default.so musl-shim.o musl-ffi.o -nostdlib -L/usr/lib/x86_64-linux-musl -lc
clang-19 --target=x86_64-linux-musl "${ldflags[@]}" -o musl-glibc-needed.so musl-shim.o musl-ffi.o -nostdlib -L/usr/lib/x86_64-linux-musl -lc \
  -Wl,--no-as-needed /lib/x86_64-linux-gnu/libm.so.6
for lib in default inline inline-no-tlsdesc inline-shim-kept not-exported musl-default musl-glibc-needed; do
  for flavor in gnu llvm; do
    if [ "$flavor" = gnu ]; then nm=nm; readelf=readelf; else nm=llvm-nm-19; readelf=llvm-readelf-19; fi
    out="$here/$flavor/$lib"
    mkdir -p "$out"
    LC_ALL=C $nm "$lib.so" > "$out/nm.txt" 2>/dev/null || true
    LC_ALL=C $nm -D "$lib.so" > "$out/nm-D.txt"
    LC_ALL=C $readelf -W --dyn-syms "$lib.so" > "$out/dyn-syms.txt"
    LC_ALL=C $readelf -W -r "$lib.so" > "$out/relocs.txt"
    LC_ALL=C $readelf -W -l "$lib.so" > "$out/program-headers.txt"
    LC_ALL=C $readelf -W -d "$lib.so" > "$out/dynamic.txt"
  done
done
mkdir -p "$here/banners"
clang-19 --version > "$here/banners/clang-19-debian.txt"
ld.lld-19 --version > "$here/banners/lld-19-debian.txt"
gcc --version > "$here/banners/gcc-12-debian.txt"
nm --version > "$here/banners/nm-gnu.txt"
readelf --version > "$here/banners/readelf-gnu.txt"
llvm-nm-19 --version > "$here/banners/llvm-nm-19-debian.txt"
llvm-readelf-19 --version > "$here/banners/llvm-readelf-19-debian.txt"
ld --version > "$here/banners/ld-bfd-gnu.txt"
rust_lld="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/ld.lld"
if [ -x "$rust_lld" ]; then "$rust_lld" --version > "$here/banners/rust-lld.txt"; fi
