#!/usr/bin/env bash
# The whole test suite: unit tests, real native builds (both modes, every failure code), packed packages
# restored by consumer projects, the managed wrapper against the default and then the inline library, the
# process context read from outside, the managed suite over the Rust layer, and the benchmarks in short mode.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

dotnet build OtelThreadCtx.Build.sln -c Release -nodeReuse:false
dotnet test OtelThreadCtx.Build.sln -c Release --no-build 2>&1 | tee -a "$log"
dotnet build tests/OtelThreadCtx.Tests -c Release -p:OtelThreadCtxInline=true -nodeReuse:false
dotnet test tests/OtelThreadCtx.Tests -c Release --no-build -p:OtelThreadCtxInline=true 2>&1 | tee -a "$log"

# The same managed suite once more, the wrapper loading the Rust layer (samples/RustLayer: the whole C API in Rust over
# the shim, built inline by the SDK) instead of the C layer.
dotnet build tests/OtelThreadCtx.RustLayer -c Release -p:OtelThreadCtxInline=true -nodeReuse:false
OTEL_THREAD_CTX_NATIVE_LIBRARY="$PWD/artifacts/native/Release/rust/inline/linux-x64/libotel_thread_ctx_rust.so" \
  dotnet test tests/OtelThreadCtx.Tests -c Release --no-build -p:OtelThreadCtxInline=true 2>&1 | tee -a "$log"

# Benchmarks in short mode: proves both harnesses still run (never asserts a timing).
./eng/benchmark.sh --short > /dev/null
echo "benchmarks (short mode) ran: artifacts/benchmarks/benchmarks-short.md"

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
