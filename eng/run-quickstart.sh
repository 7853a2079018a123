#!/usr/bin/env bash
# The main job: build the inline, verified native library (and everything else) and run the sample with it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
./eng/install-toolchain.sh
dotnet build OtelThreadCtx.Build.sln -c Release -p:OtelThreadCtxInline=true -nodeReuse:false
dotnet run --project samples/Quickstart -c Release --no-build
