#!/usr/bin/env bash
# The main job: build and pack OtelThreadCtx (and OtelThreadCtx.OpenTelemetry, OtelThreadCtx.Tool, OtelThreadCtx.Sdk), then build samples/Quickstart against the package with
# -p:OtelThreadCtxInline=true (the library rebuilt from the package's sources, inlined and verified) and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
./eng/install-toolchain.sh
dotnet build OtelThreadCtx.Build.sln -c Release -nodeReuse:false
rm -rf artifacts/packages artifacts/sample-packages
dotnet pack src/OtelThreadCtx/OtelThreadCtx.csproj -c Release --no-build -o artifacts/packages -nodeReuse:false
dotnet pack src/OtelThreadCtx.OpenTelemetry/OtelThreadCtx.OpenTelemetry.csproj -c Release --no-build -o artifacts/packages -nodeReuse:false
# The reader tool (otel-thread-ctx): dotnet tool install -g OtelThreadCtx.Tool --add-source artifacts/packages.
dotnet pack src/OtelThreadCtx.Tool/OtelThreadCtx.Tool.csproj -c Release --no-build -o artifacts/packages -nodeReuse:false
# The project SDK too, for samples/RustLayer (and your own native layers).
dotnet pack sdk/OtelThreadCtx.Sdk.csproj -c Release --no-build -o artifacts/packages -nodeReuse:false
dotnet build samples/Quickstart/Quickstart.csproj -c Release -p:OtelThreadCtxInline=true -nodeReuse:false
dotnet run --project samples/Quickstart/Quickstart.csproj -c Release --no-build

# See it as a profiler would: the reader tool, installed from the packed package, inspects the running quickstart
# (process context, then every thread's record) from outside.
rm -rf artifacts/tools
dotnet tool install OtelThreadCtx.Tool --tool-path artifacts/tools --add-source artifacts/packages
coproc QUICKSTART { dotnet run --project samples/Quickstart/Quickstart.csproj -c Release --no-build -- --hold; }
quickstart_out=${QUICKSTART[0]} quickstart_in=${QUICKSTART[1]} quickstart_pid=$QUICKSTART_PID
line=""
while read -r line <&"$quickstart_out"; do
  echo "$line"
  case "$line" in holding:*) break ;; esac
done
pid=$(echo "$line" | sed -E 's/.*pid ([0-9]+).*/\1/')
status=0
artifacts/tools/otel-thread-ctx inspect "$pid" || status=$?
eval "exec ${quickstart_in}>&-"   # end of stdin: the quickstart lets its Activity go and exits
wait "$quickstart_pid" || true
exit "$status"
