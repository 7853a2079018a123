#!/usr/bin/env bash
# Benchmarks, default vs inline, native (Google Benchmark) and C# (BenchmarkDotNet), in one command.
#   ./eng/benchmark.sh           full run, writes docs/benchmarks.md
#   ./eng/benchmark.sh --short   seconds: proves the harnesses run (CI), writes artifacts/benchmarks/benchmarks-short.md
#   OTC_BENCH_FILTER='*in_place*' ./eng/benchmark.sh   only the matching C# benchmarks (BenchmarkDotNet --filter)
#   OTC_BENCH_PEER_LIBRARIES=/tmp/peer/libs ./eng/benchmark.sh   adds the peer's single/swap rows (libdatadog's
#     ddog-default.so / ddog-inline.so, built outside the repository by /work/shared/peers/libdatadog-build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
short=""; [ "${1:-}" = "--short" ] && short="--short"
out=artifacts/benchmarks
mkdir -p "$out"
native=artifacts/native/Release

# Both libraries, verified.
dotnet build native/OtelThreadCtx.Native.csproj -c Release -nodeReuse:false -v:q
dotnet build native/OtelThreadCtx.Native.csproj -c Release -p:OtelThreadCtxInline=true -nodeReuse:false -v:q

# The Rust layer (samples/RustLayer) in both modes, built by the SDK from the repository, for the layers table.
rust_args=()
if command -v cargo > /dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ]; then
  dotnet build tests/OtelThreadCtx.RustLayer -c Release -nodeReuse:false -v:q
  dotnet build tests/OtelThreadCtx.RustLayer -c Release -p:OtelThreadCtxInline=true -nodeReuse:false -v:q
  rust_args=(--rust-libraries "$native/rust")
else
  echo "no cargo: the Rust layer rows are left out" >&2
fi
peer_args=()
[ -n "${OTC_BENCH_PEER_LIBRARIES:-}" ] && peer_args=(--peer-libraries "$OTC_BENCH_PEER_LIBRARIES")

# Native harness: one binary, run against each library.
g++ -std=c++17 -O2 -Wall -Werror -Inative/include tests/OtelThreadCtx.Benchmarks/native/bench_thread_ctx.cc \
  -L"$native/default/linux-x64" -lotel_thread_ctx -lbenchmark -lpthread -o "$out/bench_thread_ctx"
min_time=1; [ -n "$short" ] && min_time=0.01
for mode in default inline; do
  LD_LIBRARY_PATH="$native/$mode/linux-x64" "$out/bench_thread_ctx" --benchmark_min_time="$min_time" \
    --benchmark_repetitions=$([ -n "$short" ] && echo 1 || echo 3) --benchmark_report_aggregates_only=true \
    --benchmark_format=json --benchmark_out="$out/native-$mode.json" --benchmark_out_format=json > /dev/null
  # Keep the median of the repetitions (or the single run) under the plain scenario name.
  python3 - "$out/native-$mode.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p))
rows = [b for b in d["benchmarks"] if b.get("aggregate_name") in (None, "median")]
for b in rows: b["name"] = b.get("run_name", b["name"]).split("_median")[0]
d["benchmarks"] = rows; json.dump(d, open(p, "w"), indent=1)
PY
done

target=docs/benchmarks.md; [ -n "$short" ] && target="$out/benchmarks-short.md"; [ -n "${OTC_BENCH_FILTER:-}" ] && [ -z "$short" ] && target="$out/benchmarks-filtered.md"
export OTC_BENCH_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
dotnet run --project tests/OtelThreadCtx.Benchmarks -c Release -- \
  --libraries "$native" --native-default "$out/native-default.json" --native-inline "$out/native-inline.json" \
  --output "$target" $short "${rust_args[@]}" "${peer_args[@]}" --filter "${OTC_BENCH_FILTER:-*}" --artifacts "$out/bdn" > "$out/bdn.log" 2>&1 || { tail -50 "$out/bdn.log"; exit 1; }

# ASP.NET Core: requests/s and server CPU per request with and without AddThreadContext(), two server processes, one run.
dotnet build tests/OtelThreadCtx.AspNetCoreLoad -c Release -nodeReuse:false -v:q
load_args="--requests 20000 --rounds 20"; [ -n "$short" ] && load_args="--requests 500 --rounds 1"
dotnet tests/OtelThreadCtx.AspNetCoreLoad/bin/Release/net10.0/OtelThreadCtx.AspNetCoreLoad.dll compare $load_args --output "$out/aspnetcore.md" > /dev/null
{ echo; cat "$out/aspnetcore.md"; } >> "$target"

# NativeAOT with the native layer linked in (docs/nativeaot-static.md) next to the JIT: one harness of the same scenarios
# (tests/OtelThreadCtx.AotBenchmarks), run under the JIT with the inline library, then published NativeAOT default and
# inline (--short: default only, few operations). .NET API and C API rows come from the same process.
aot="$out/aot"; aot_short=(); aot_modes="default inline"
[ -n "$short" ] && { aot_short=(--short); aot_modes="default"; }
dotnet build tests/OtelThreadCtx.AotBenchmarks -c Release -p:OtelThreadCtxInline=true -nodeReuse:false -v:q
for mode in $aot_modes; do
  dotnet publish tests/OtelThreadCtx.AotBenchmarks -c Release -r linux-x64 -o "$aot/$mode" -p:OtelThreadCtxInline=$([ "$mode" = inline ] && echo true || echo false) -nodeReuse:false -v:q
done
{
  echo
  echo "## NativeAOT, the native layer linked in (tests/OtelThreadCtx.AotBenchmarks, median of 7 interleaved rounds)"
  echo
  echo "A scenario's rows run interleaved, round by round; \".NET / this row\" is the median of the per-round ratios."
  echo
  echo "| scenario | build | ns/op | B/op | .NET / this row |"
  echo "| --- | --- | ---: | ---: | ---: |"
  OTEL_THREAD_CTX_NATIVE_LIBRARY="$PWD/$native/inline/linux-x64/libotel_thread_ctx.so" \
    dotnet tests/OtelThreadCtx.AotBenchmarks/bin/Release/net10.0/OtelThreadCtx.AotBenchmarks.dll "JIT, inline library" "${aot_short[@]}"
  for mode in $aot_modes; do "$aot/$mode/OtelThreadCtx.AotBenchmarks" "NativeAOT static, $mode" "${aot_short[@]}"; done
} >> "$target"
cat "$target"
