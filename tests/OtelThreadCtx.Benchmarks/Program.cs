using System.Globalization;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace OtelThreadCtx.Benchmarks;

/// <summary>Runs the C# benchmarks against the default and the inline library in one BenchmarkDotNet run (one job
/// each, so ratios are side by side), then writes the Markdown table with the native harness's numbers.
/// Usage: dotnet run -c Release -- --libraries DIR --native-default F.json --native-inline F.json --output F.md [--short]
/// [--rust-libraries DIR] [--peer-libraries DIR] (eng/benchmark.sh passes all of it; the peer's ddog-{default,inline}.so
/// only when OTC_BENCH_PEER_LIBRARIES names them).</summary>
public static class Program
{
    /// <summary>Scenario → the target for the .NET API with the inline library (issue #10), ns/op.</summary>
    private static readonly (string Name, double Target)[] Scenarios =
        [("multi/swap/4", 3.5), ("multi/swap/16", 3.5), ("attach_detach", 6), ("set/ids", 6), ("set/ids+attr", 8)];

    private const string CApiSuffix = " [C API]";
    private const string CountedSuffix = " [C API counted]";
    private const string RustSuffix = " [Rust layer]";
    private const string PeerSuffix = " [libdatadog]";

    public static int Main(string[] args)
    {
        string Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault()
                                   ?? throw new ArgumentException($"missing {name}; see eng/benchmark.sh");
        var shortRun = args.Contains("--short");
        var artifacts = Path.GetFullPath(Arg("--libraries"));
        var libraries = new Dictionary<string, string>
        {
            ["default"] = Path.Combine(artifacts, "default", "linux-x64", "libotel_thread_ctx.so"),
            ["inline"] = Path.Combine(artifacts, "inline", "linux-x64", "libotel_thread_ctx.so"),
        };

        // Launches per case (OTC_BENCH_LAUNCHES, default 1): dynamic PGO can differ between processes (docs/performance.md);
        // 200 ms iterations keep a full run of both libraries within minutes on two cores.
        var launches = int.TryParse(Environment.GetEnvironmentVariable("OTC_BENCH_LAUNCHES"), out var l) ? l : 1;
        var baseJob = shortRun ? Job.Dry : Job.Default.WithWarmupCount(3).WithIterationCount(8).WithLaunchCount(launches)
            .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(200));
        var config = ManualConfig.CreateMinimumViable().WithOptions(ConfigOptions.DisableOptimizationsValidator);
        // The Rust layer of each mode (samples/RustLayer built by the SDK), when eng/benchmark.sh built it.
        var rustRoot = args.SkipWhile(a => a != "--rust-libraries").Skip(1).FirstOrDefault();
        // The peer (libdatadog, built outside the repository) in each mode, when the run names it.
        var peerRoot = args.SkipWhile(a => a != "--peer-libraries").Skip(1).FirstOrDefault();
        foreach (var (mode, library) in libraries)
        {
            var job = baseJob.WithEnvironmentVariable("OTEL_THREAD_CTX_NATIVE_LIBRARY", library);
            if (rustRoot is not null)
            {
                job = job.WithEnvironmentVariable("OTC_BENCH_RUST_LIBRARY", Path.Combine(Path.GetFullPath(rustRoot), mode, "linux-x64", "libotel_thread_ctx_rust.so"));
            }

            if (peerRoot is not null)
            {
                job = job.WithEnvironmentVariable("OTC_BENCH_PEER_LIBRARY", Path.Combine(Path.GetFullPath(peerRoot), $"ddog-{mode}.so"));
            }

            config = config.AddJob(job.WithId(mode));
        }

        // Everything that is not ours goes to BenchmarkDotNet (--filter, --artifacts, …).
        var ours = new HashSet<string>(StringComparer.Ordinal) { "--libraries", "--native-default", "--native-inline", "--output", "--rust-libraries", "--peer-libraries" };
        var bdnArgs = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (ours.Contains(args[i]))
            {
                i++;
            }
            else if (args[i] != "--short")
            {
                bdnArgs.Add(args[i]);
            }
        }

        List<Type> benchmarks = [typeof(MultiSwapBenchmarks), typeof(AttachDetachBenchmarks), typeof(SingleSwapBenchmarks), typeof(SingleSwapPartsBenchmarks), typeof(SetBenchmarks), typeof(ActivitySwitchBenchmarks)];
        if (rustRoot is not null)
        {
            benchmarks.AddRange([typeof(RustLayerBenchmarks), typeof(RustLayerAttachDetachBenchmarks)]);
        }

        if (peerRoot is not null)
        {
            benchmarks.Add(typeof(PeerSingleSwapBenchmarks));
        }

        var summaries = BenchmarkRunner.Run([.. benchmarks], config, [.. bdnArgs]);
        var managed = Collect(summaries);
        var native = new Dictionary<string, Dictionary<string, double>>
        {
            ["default"] = ReadGoogleBenchmark(Arg("--native-default")),
            ["inline"] = ReadGoogleBenchmark(Arg("--native-inline")),
        };

        var markdown = Render(managed, native, artifacts, shortRun);
        File.WriteAllText(Arg("--output"), markdown);
        Console.WriteLine(markdown);
        return managed.Count == 0 ? 1 : 0;
    }

    /// <summary>(scenario, job) → mean ns/op and bytes allocated per operation; activity/switch keeps publisher off/on apart.</summary>
    private static Dictionary<(string Scenario, string Job), (double Mean, long Allocated)> Collect(IEnumerable<Summary> summaries)
    {
        var results = new Dictionary<(string, string), (double, long)>();
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            if (report.ResultStatistics is not { } stats)
            {
                continue;
            }

            var bench = report.BenchmarkCase;
            var name = bench.Descriptor.WorkloadMethodDisplayInfo.Trim('\'');
            var job = bench.Job.Id;
            var api = new[] { CApiSuffix, CountedSuffix, RustSuffix, PeerSuffix }.FirstOrDefault(suffix => name.EndsWith(suffix, StringComparison.Ordinal)) ?? "";
            name = name[..^api.Length];
            if (bench.Parameters.Items.FirstOrDefault(p => p.Name == "N") is { } n)
            {
                name += "/" + n.Value;
            }

            name += api;

            if (bench.Parameters.Items.FirstOrDefault(p => p.Name == "Mode") is { } mode)
            {
                name += "/" + mode.Value;
            }

            results[(name, job)] = (stats.Mean, report.GcStats.GetBytesAllocatedPerOperation(bench) ?? -1);
        }

        return results;
    }

    private static Dictionary<string, double> ReadGoogleBenchmark(string path)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var results = new Dictionary<string, double>();
        foreach (var b in json.RootElement.GetProperty("benchmarks").EnumerateArray())
        {
            var time = b.GetProperty("real_time").GetDouble();
            var unit = b.GetProperty("time_unit").GetString();
            results[b.GetProperty("name").GetString()!] = unit switch { "us" => time * 1000, "ms" => time * 1e6, _ => time };
        }

        return results;
    }

    private static string Render(Dictionary<(string Scenario, string Job), (double Mean, long Allocated)> managed, Dictionary<string, Dictionary<string, double>> native, string artifacts, bool shortRun)
    {
        static string Ns(double? v) => v is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) : "—";
        static string Ratio(double? numerator, double? denominator) => numerator is { } x && denominator is { } y && y > 0 ? (x / y).ToString("0.00", CultureInfo.InvariantCulture) : "—";
        double? Get(string s, string j) => managed.TryGetValue((s, j), out var v) ? v.Mean : null;
        string Allocated(string s, string j) => managed.TryGetValue((s, j), out var v) && v.Allocated >= 0 ? v.Allocated.ToString(CultureInfo.InvariantCulture) : "—";
        double? Native(string s, string j) => native[j].TryGetValue(s, out var v) ? v : null;

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Benchmarks: .NET API vs C API, default vs inline{(shortRun ? " (SHORT MODE: proves the harness runs, numbers are not meaningful)" : "")}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {Machine()}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Runtime: .NET {Environment.Version}, BenchmarkDotNet {typeof(Summary).Assembly.GetName().Version}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Toolchain: {Toolchain(artifacts)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- Commit: {Environment.GetEnvironmentVariable("OTC_BENCH_COMMIT") ?? "unknown"}");
        sb.AppendLine();
        sb.AppendLine("ns/op, BenchmarkDotNet mean; both libraries in one run as two jobs. \"C API\" is the same work through the C API called from C# " +
                      "(function pointers, `SuppressGCTransition`), in the same job. \".NET / C\" and the target are for the inline library; " +
                      "\"inline / default\" is for the .NET API (below 1 is faster). Native: Google Benchmark, C++ calling the library (real time).");
        sb.AppendLine();
        sb.AppendLine("\"C API counted\" (shared-record scenarios): the C calls the .NET API itself makes, the counted and checked attach and " +
                      "`otel_thread_ctx_clear`; \".NET / counted\" is the wrapper's own share (inline).");
        sb.AppendLine();
        sb.AppendLine("| scenario | .NET default | .NET inline | C API default | C API inline | C API counted default | C API counted inline | .NET / C (inline) | .NET / counted (inline) | inline / default (.NET) | target (.NET inline) | B/op (.NET) | native default | native inline |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (s, target) in Scenarios)
        {
            var (nd, ni, cd, ci) = (Get(s, "default"), Get(s, "inline"), Get(s + CApiSuffix, "default"), Get(s + CApiSuffix, "inline"));
            var (kd, ki) = (Get(s + CountedSuffix, "default"), Get(s + CountedSuffix, "inline"));
            var met = ni is { } v ? (v <= target ? $"≤ {target} met" : $"≤ {target} **missed**") : "—";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {s} | {Ns(nd)} | {Ns(ni)} | {Ns(cd)} | {Ns(ci)} | {Ns(kd)} | {Ns(ki)} | {Ratio(ni, ci)} | {Ratio(ni, ki)} | {Ratio(ni, nd)} | {met} | {Allocated(s, "inline")} | {Ns(Native(s, "default"))} | {Ns(Native(s, "inline"))} |");
        }

        sb.AppendLine();
        sb.AppendLine("Native harness, the shared-record attach the .NET API makes (counted: each thread protects the record it publishes " +
                      "with plain stores to its own state, so that Dispose is refused and nothing is freed while published; Dispose pays a " +
                      "barrier and a scan) next to the plain C attach:");
        sb.AppendLine();
        sb.AppendLine("| native | default | inline |");
        sb.AppendLine("| --- | ---: | ---: |");
        foreach (var (plain, counted) in new[] { ("multi/swap/4", "multi/swap/counted/4"), ("attach_detach", "attach_detach/counted"), ("single/swap", "single/swap/counted") })
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {plain} plain | {Ns(Native(plain, "default"))} | {Ns(Native(plain, "inline"))} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {plain} counted | {Ns(Native(counted, "default"))} | {Ns(Native(counted, "inline"))} |");
        }

        sb.AppendLine();
        sb.AppendLine("single/swap: a new record per switch (ids and one 16-byte attribute), attached, the previous one released. " +
                      ".NET: `new ThreadContextRecord()`, `SetIds`, `AddAttribute`, `ThreadContext.Attach` (counted), `Dispose` of the record it " +
                      "returned. C API: `record_new`, `set_ids`, `add_attr`, `attach`, `record_free` of the previous one. libdatadog: " +
                      "`ddog_otel_thread_ctx_new(trace, span, root span id)`, `_attach`, `_free` of the previous one (its constructor writes " +
                      "the root span id as a 16-character attribute). Every native call through a function pointer with `SuppressGCTransition`. " +
                      "Targets: C API ≤ 0.8 × libdatadog, .NET ≤ 2 × C API, in both modes.");
        sb.AppendLine();
        sb.AppendLine("libdatadog (its rows only when `OTC_BENCH_PEER_LIBRARIES` names the two libraries): `libdd-otel-thread-ctx-ffi` of " +
                      "PR #1982 as merged (a1da9fc), built outside the repository and offline by `/work/shared/peers/libdatadog-build.sh` " +
                      "with libdatadog's release profile (`lto = true`, `opt-level = \"s\"`, `codegen-units = 1`): default = `cargo build " +
                      "--release` (the C shim compiled by the cc crate's gcc, `-mtls-dialect=gnu2`, called from Rust); inline = the " +
                      "settings of the PR's `build-optimized.sh` (`LIBDD_OTEL_THREAD_CTX_INLINE=1`, `-Clinker-plugin-lto -Clinker=clang`, " +
                      "clang-19 ThinLTO bitcode for the shim, Rust's LLD), the shim inlined.");
        sb.AppendLine();
        sb.AppendLine("C API counted: the C calls the .NET row makes (`record_new_user`, `set_ids`, `add_attr`, `attach_counted_checked`, " +
                      "`record_dispose_checked` of the previous one).");
        sb.AppendLine();
        sb.AppendLine("| library | .NET | C API | C API counted | libdatadog | C API / libdatadog | .NET / C API | .NET / C API counted | B/op (.NET) | native (C++) |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var job in new[] { "default", "inline" })
        {
            var (net, c, peer) = (Get("single/swap", job), Get("single/swap" + CApiSuffix, job), Get("single/swap" + PeerSuffix, job));
            var counted = Get("single/swap" + CountedSuffix, job);
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {job} | {Ns(net)} | {Ns(c)} | {Ns(counted)} | {Ns(peer)} | {Ratio(c, peer)} | {Ratio(net, c)} | {Ratio(net, counted)} | {Allocated("single/swap", job)} | {Ns(Native("single/swap", job))} |");
        }

        sb.AppendLine();
        sb.AppendLine("Layers from C#: the same record C ABI (attach a prebuilt record, detach) implemented in C (`native/`) and in Rust " +
                      "(`samples/RustLayer`, a `no_std` crate over the C shim, built by the SDK: default = the shim called, inline = " +
                      "rustc `-Clinker-plugin-lto` bitcode and clang ThinLTO bitcode linked by Rust's LLD, the shim inlined), " +
                      "each called through function pointers with `SuppressGCTransition`, same jobs as above.");
        sb.AppendLine();
        sb.AppendLine("| scenario | C layer default | C layer inline | Rust layer default | Rust layer inline | inline / default (Rust) | Rust / C (inline) |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in new[] { "multi/swap/4", "multi/swap/16", "attach_detach" })
        {
            var (cd, ci, rd, ri) = (Get(s + CApiSuffix, "default"), Get(s + CApiSuffix, "inline"), Get(s + RustSuffix, "default"), Get(s + RustSuffix, "inline"));
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {s} | {Ns(cd)} | {Ns(ci)} | {Ns(rd)} | {Ns(ri)} | {Ratio(ri, rd)} | {Ratio(ri, ci)} |");
        }

        sb.AppendLine();
        sb.AppendLine("activity/switch: cost per `Activity.Current` change; activity/start_stop: a child of the current Activity started " +
                      "and stopped (the publisher makes its entry). off: nothing listening. floor: what any publisher that follows " +
                      "ExecutionContext restores pays, an AsyncLocal with a change handler set from `CurrentChanged` and doing nothing. " +
                      "publisher: `ActivityThreadContextPublisher`. Target (switch): publisher − off ≤ 25 ns.");
        sb.AppendLine();
        sb.AppendLine("| scenario | library | off | floor | publisher | publisher − off | publisher − floor (ours) | B/op off | B/op floor | B/op publisher |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var scenario in new[] { "activity/switch", "activity/start_stop" })
        {
            foreach (var job in new[] { "default", "inline" })
            {
                var (off, floor, on) = (Get(scenario + "/off", job), Get(scenario + "/floor", job), Get(scenario + "/publisher", job));
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {scenario} | {job} | {Ns(off)} | {Ns(floor)} | {Ns(on)} | {(off is { } x && on is { } y ? Ns(y - x) : "—")} | {(floor is { } f && on is { } z ? Ns(z - f) : "—")} | " +
                    $"{Allocated(scenario + "/off", job)} | {Allocated(scenario + "/floor", job)} | {Allocated(scenario + "/publisher", job)} |");
            }
        }

        return sb.ToString();
    }

    private static string Machine()
    {
        var model = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return $"{model ?? "unknown CPU"}, {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
    }

    private static string Toolchain(string artifacts)
    {
        var report = Path.Combine(artifacts, "inline", "linux-x64", "libotel_thread_ctx.so.verification.json");
        if (!File.Exists(report))
        {
            return "unknown";
        }

        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var tools = json.RootElement.GetProperty("tools");
        return string.Join(", ", tools.EnumerateObject().Select(t => $"{t.Name} {t.Value.GetProperty("banner").GetString()}"));
    }
}
