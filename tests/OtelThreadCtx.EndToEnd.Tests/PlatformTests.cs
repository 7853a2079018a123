using System.IO.Compression;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Beyond linux-x64: a linux-arm64 app (prebuilt and inline library) run under qemu-user, and musl publishes.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class PlatformTests(PackageFeed feed, ITestOutputHelper output)
{
    private const string Qemu = "/usr/bin/qemu-aarch64-static";
    private const string CrossLibc = "/usr/aarch64-linux-gnu";

    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    /// <summary>The consumer app is the API probe: every public API, on several threads, read back through the library.</summary>
    private ConsumerProject ProbeConsumer() =>
        new(feed, extraProperties: "<InvariantGlobalization>true</InvariantGlobalization>", body: File.ReadAllText(Repo.Path("tests", "OtelThreadCtx.ApiProbe", "Program.cs")));

    [Fact]
    public void Package_carries_a_verified_linux_arm64_library()
    {
        using var zip = ZipFile.OpenRead(feed.PackageFile);
        var report = zip.GetEntry("native/prebuilt/linux-arm64/libotel_thread_ctx.so.verification.json");
        Assert.NotNull(zip.GetEntry("runtimes/linux-arm64/native/libotel_thread_ctx.so"));
        Assert.NotNull(report);
        using var json = System.Text.Json.JsonDocument.Parse(report.Open());
        Assert.Equal("linux-arm64", json.RootElement.GetProperty("target").GetString());
        Assert.True(json.RootElement.GetProperty("passed").GetBoolean());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_linux_arm64_app_runs_under_qemu_and_reads_back_what_it_published(bool inline)
    {
        using var app = ProbeConsumer();
        var publishDir = Path.Combine(app.Directory, "publish");
        var publish = await app.DotnetAsync(null, "publish", "-c", "Release", "-r", "linux-arm64", "--self-contained", "-o", publishDir, $"-p:OtelThreadCtxInline={inline.ToString().ToLowerInvariant()}");
        Assert.True(publish.ExitCode == 0, Output(publish));

        var library = Path.Combine(publishDir, "libotel_thread_ctx.so");
        Assert.True(File.Exists(library), $"no library in {publishDir}");
        var relocations = await Tools.OutputOfAsync("readelf", "-r", "-h", library);
        Assert.Contains("AArch64", relocations, StringComparison.Ordinal);
        Assert.Matches(@"R_AARCH64_TLSDESC\s+\S+\s+otel_thread_ctx_v1", relocations);
        var symbols = await Tools.OutputOfAsync("nm", library);
        Assert.Equal(!inline, symbols.Contains("otel_thread_ctx_shim_slot", StringComparison.Ordinal));
        Assert.Contains("libotel_thread_ctx.so", File.ReadAllText(Path.Combine(publishDir, "App.deps.json")), StringComparison.Ordinal);

        var run = await Tools.RunAsync(Qemu, ["-L", CrossLibc, Path.Combine(publishDir, "App"), "--expect-supported"], null, publishDir);
        output.WriteLine(Output(run));
        Assert.True(run.ExitCode == 0, Output(run));
        Assert.Contains("IsSupported=True arch=Arm64", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("probe: every expectation held", run.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("x64")]
    [InlineData("arm64")]
    public void Package_carries_a_verified_musl_library(string architecture)
    {
        using var zip = ZipFile.OpenRead(feed.PackageFile);
        Assert.NotNull(zip.GetEntry($"runtimes/linux-musl-{architecture}/native/libotel_thread_ctx.so"));
        var report = zip.GetEntry($"native/prebuilt/linux-musl-{architecture}/libotel_thread_ctx.so.verification.json");
        Assert.NotNull(report);
        using var json = System.Text.Json.JsonDocument.Parse(report.Open());
        Assert.Equal($"linux-musl-{architecture}", json.RootElement.GetProperty("target").GetString());
        Assert.True(json.RootElement.GetProperty("passed").GetBoolean());
        Assert.Contains(json.RootElement.GetProperty("checks").EnumerateArray(), c => c.GetProperty("id").GetString() == "libc-musl-only" && c.GetProperty("passed").GetBoolean());
    }

    /// <summary>A musl publish (framework-dependent: the musl runtime cannot run here) carries the musl library, not the
    /// glibc one, in both modes, named in deps.json, and no warning.</summary>
    [Theory]
    [InlineData("linux-musl-x64", false)]
    [InlineData("linux-musl-x64", true)]
    [InlineData("linux-musl-arm64", false)]
    public async Task A_musl_publish_ships_the_musl_library(string rid, bool inline)
    {
        using var app = ProbeConsumer();
        var publishDir = Path.Combine(app.Directory, "publish");
        var publish = await app.DotnetAsync(null, "publish", "-c", "Release", "-r", rid, "--self-contained", "false", "-p:UseAppHost=false", "-o", publishDir,
            $"-p:OtelThreadCtxInline={inline.ToString().ToLowerInvariant()}");

        Assert.True(publish.ExitCode == 0, Output(publish));
        Assert.DoesNotContain("OTC1203", Output(publish), StringComparison.Ordinal);
        var library = Assert.Single(Directory.GetFiles(publishDir, "libotel_thread_ctx.so", SearchOption.AllDirectories));
        var dynamic = await Tools.OutputOfAsync("readelf", "-W", "-d", "-h", library);
        Assert.Contains("Shared library: [libc.so]", dynamic, StringComparison.Ordinal);
        Assert.DoesNotContain("libc.so.6", dynamic, StringComparison.Ordinal);
        Assert.DoesNotContain("VERNEED", dynamic, StringComparison.Ordinal);
        Assert.Contains(rid.EndsWith("arm64", StringComparison.Ordinal) ? "AArch64" : "X86-64", dynamic, StringComparison.Ordinal);
        Assert.Equal(!inline, (await Tools.OutputOfAsync("nm", library)).Contains("otel_thread_ctx_shim_slot", StringComparison.Ordinal));
        Assert.Contains("libotel_thread_ctx.so", File.ReadAllText(Path.Combine(publishDir, "App.deps.json")), StringComparison.Ordinal);
    }

    /// <summary>ReadyToRun and NativeAOT bind differently from the JIT: the same probe, published each way, must read
    /// back what it wrote with the library and be a no-op that exits 0 once the library is deleted.</summary>
    [Theory]
    [InlineData("ReadyToRun")]
    [InlineData("NativeAot")]
    public async Task Ahead_of_time_compiled_apps_work_with_the_library_and_are_no_ops_without_it(string compilation)
    {
        using var app = ProbeConsumer();
        var publishDir = Path.Combine(app.Directory, "publish");
        string[] how = compilation == "NativeAot"
            // The shared library opted into (the default, the static link, is NativeAotStaticTests'): deleting it must be a no-op.
            ? ["-p:PublishAot=true", "-p:OtelThreadCtxNativeAotStaticLink=false", "-p:CppCompilerAndLinker=clang-19", "-p:TreatWarningsAsErrors=false"]
            : ["-p:PublishReadyToRun=true", "--self-contained", "false"];
        var publish = await app.DotnetAsync(null, ["publish", "-c", "Release", "-r", "linux-x64", "-o", publishDir, .. how]);
        Assert.True(publish.ExitCode == 0, Output(publish));
        // NativeAOT: one native executable, no IL to JIT; ReadyToRun: the IL assemblies carry precompiled code.
        Assert.Equal(compilation != "NativeAot", File.Exists(Path.Combine(publishDir, "OtelThreadCtx.dll")));

        async Task<CliWrap.Buffered.BufferedCommandResult> Run(string expectation) => compilation == "NativeAot"
            ? await Tools.RunAsync(Path.Combine(publishDir, "App"), [expectation], null, publishDir)
            : await Tools.RunAsync(ConsumerProject.DotnetHost, [Path.Combine(publishDir, "App.dll"), expectation], null, publishDir);

        var supported = await Run("--expect-supported");
        output.WriteLine(Output(supported));
        Assert.True(supported.ExitCode == 0, Output(supported));

        File.Delete(Path.Combine(publishDir, "libotel_thread_ctx.so"));
        var noop = await Run("--expect-noop");
        output.WriteLine(Output(noop));
        Assert.True(noop.ExitCode == 0, Output(noop));
        Assert.Contains("IsSupported=False", noop.StandardOutput, StringComparison.Ordinal);
    }
}
