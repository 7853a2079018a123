#!/usr/bin/env bash
# The whole test suite: unit tests, real native builds (both modes, every failure code), and the managed
# wrapper against the default library and then against the inline library.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
dotnet build OtelThreadCtx.Build.sln -c Release -nodeReuse:false
dotnet test OtelThreadCtx.Build.sln -c Release --no-build
dotnet build tests/OtelThreadCtx.Tests -c Release -p:OtelThreadCtxInline=true -nodeReuse:false
dotnet test tests/OtelThreadCtx.Tests -c Release --no-build -p:OtelThreadCtxInline=true
# Benchmarks in short mode: proves both harnesses still run (never asserts a timing).
./eng/benchmark.sh --short > /dev/null
echo "benchmarks (short mode) ran: artifacts/benchmarks/benchmarks-short.md"
