using System.IO.Compression;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>How users meet the product: a packed OtelThreadCtx restored from a local feed by real projects.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class ConsumerTests(PackageFeed feed)
{
    private const string Expected = "supported=True bytes=28 span=B7AD6B7169203331 valid=1";
    private const string Inline = "-p:OtelThreadCtxInline=true";

    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    private static async Task<string> Nm(string library) => await Tools.OutputOfAsync("nm", library);

    private static string BinLibrary(ConsumerProject app, string tfm = "net10.0") =>
        Path.Combine(app.ProjectDirectory, "bin", "Debug", tfm, "runtimes", "linux-x64", "native", "libotel_thread_ctx.so");

    [Fact]
    public void Package_has_the_library_build_logic_tasks_and_sources()
    {
        using var zip = ZipFile.OpenRead(feed.PackageFile);
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);

        string[] expected =
        [
            "lib/net8.0/OtelThreadCtx.dll", "runtimes/linux-x64/native/libotel_thread_ctx.so",
            "build/OtelThreadCtx.props", "build/OtelThreadCtx.targets", "build/OtelThreadCtx.Native.props", "build/OtelThreadCtx.Native.targets", "build/OtelThreadCtx.Properties.targets", "build/OtelThreadCtx.Outputs.targets",
            "buildTransitive/OtelThreadCtx.props", "buildTransitive/OtelThreadCtx.targets",
            "tasks/net8.0/OtelThreadCtx.Build.Tasks.dll", "tasks/net8.0/CliWrap.dll", "runtimes/linux-arm64/native/libotel_thread_ctx.so",
            "native/debug/linux-x64/libotel_thread_ctx.so.debug", "native/debug/linux-arm64/libotel_thread_ctx.so.debug",
            "runtimes/linux-musl-x64/native/libotel_thread_ctx.so", "runtimes/linux-musl-arm64/native/libotel_thread_ctx.so",
            "native/debug/linux-musl-x64/libotel_thread_ctx.so.debug", "native/debug/linux-musl-arm64/libotel_thread_ctx.so.debug",
            "native/include/otel_thread_ctx.h", "native/src/tls_shim.c", "native/src/otel_thread_ctx.c", "native/src/tls_shim.h", "native/otel_thread_ctx.map",
            "native/prebuilt/linux-x64/libotel_thread_ctx.so.verification.json", "README.md",
        ];
        Assert.All(expected, e => Assert.Contains(e, entries));
        Assert.DoesNotContain(entries, e => e.EndsWith(".o", StringComparison.Ordinal) || e.Contains("/obj/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Plain_build_uses_the_default_library_without_any_clang()
    {
        using var app = new ConsumerProject(feed);
        var noToolchain = app.PathWithoutToolchain();

        var build = await app.DotnetAsync(noToolchain, "build");

        Assert.True(build.ExitCode == 0, Output(build));
        // A plain build says which library it used (a user trial found it said nothing), naming each shipped copy by its
        // platform (a later trial found the four paths on one line hard to read).
        var said = build.StandardOutput.Split('\n').FirstOrDefault(l => l.Contains("OtelThreadCtx: using the package's prebuilt default library, one copy per platform (", StringComparison.Ordinal));
        Assert.True(said is not null, Output(build));
        Assert.Matches(@"\((linux(-musl)?-(x64|arm64)(, )?){4} in runtimes/<rid>/native/\)", said);
        Assert.Contains("the host loads the one for its platform at run time", said, StringComparison.Ordinal); // a portable build carries several
        Assert.Contains("otel_thread_ctx_shim_slot", await Nm(BinLibrary(app)), StringComparison.Ordinal);
        var run = await app.DotnetAsync(noToolchain, "run", "--no-build");
        Assert.Contains(Expected, run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inline_build_replaces_the_library_with_a_verified_one_and_is_incremental()
    {
        using var app = new ConsumerProject(feed);

        var build = await app.DotnetAsync(null, "build", Inline);

        Assert.True(build.ExitCode == 0, Output(build));
        Assert.Contains("inline libotel_thread_ctx.so (linux-x64) verified: 7/7 checks passed", build.StandardOutput, StringComparison.Ordinal);
        var library = BinLibrary(app);
        Assert.DoesNotContain("otel_thread_ctx_shim_slot", await Nm(library), StringComparison.Ordinal);
        Assert.Matches(@"R_X86_64_TLSDESC\s+0+ otel_thread_ctx_v1", await Tools.OutputOfAsync("readelf", "-W", "-r", library));
        var report = Directory.GetFiles(Path.Combine(app.ProjectDirectory, "obj"), "libotel_thread_ctx.so.verification.json", SearchOption.AllDirectories);
        Assert.Contains(report, r => r.Contains(Path.Combine("otelthreadctx", "verified"), StringComparison.Ordinal));
        Assert.Contains(Expected, (await app.DotnetAsync(null, "run", "--no-build")).StandardOutput, StringComparison.Ordinal);

        // A second identical build does no native work.
        var again = await app.DotnetAsync(null, "build", Inline);
        Assert.True(again.ExitCode == 0, Output(again));
        Assert.Contains("no native work", again.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("compiled 2 source(s)", again.StandardOutput, StringComparison.Ordinal);

        // A relevant property (the toolchain path) rebuilds.
        var clang = Tools.Find("clang-19");
        var changed = await app.DotnetAsync(null, "build", Inline, $"-p:OtelThreadCtxClangPath={clang}");
        Assert.True(changed.ExitCode == 0, Output(changed));
        Assert.Contains("compiled 2 source(s)", changed.StandardOutput, StringComparison.Ordinal);

        // Back to the default library.
        var plain = await app.DotnetAsync(null, "build");
        Assert.True(plain.ExitCode == 0, Output(plain));
        Assert.Contains("otel_thread_ctx_shim_slot", await Nm(library), StringComparison.Ordinal);

        // Clean removes the native intermediates (without repeating the mode).
        var clean = await app.DotnetAsync(null, "clean");
        Assert.True(clean.ExitCode == 0, Output(clean));
        Assert.Empty(Directory.GetDirectories(Path.Combine(app.ProjectDirectory, "obj"), "otelthreadctx", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Publish_for_linux_x64_self_contained_and_single_file_carry_the_inline_library()
    {
        using var app = new ConsumerProject(feed);

        var fdd = await app.DotnetAsync(null, "publish", "-r", "linux-x64", "--self-contained", "false", Inline, "-o", "out-fdd");
        Assert.True(fdd.ExitCode == 0, Output(fdd));
        Assert.DoesNotContain("shim_slot", await Nm(Path.Combine(app.ProjectDirectory, "out-fdd", "libotel_thread_ctx.so")), StringComparison.Ordinal);

        var sc = await app.DotnetAsync(null, "publish", "-r", "linux-x64", "--self-contained", "true", Inline, "-o", "out-sc");
        Assert.True(sc.ExitCode == 0, Output(sc));
        Assert.DoesNotContain("shim_slot", await Nm(Path.Combine(app.ProjectDirectory, "out-sc", "libotel_thread_ctx.so")), StringComparison.Ordinal);
        Assert.Contains(Expected, (await Tools.RunAsync(Path.Combine(app.ProjectDirectory, "out-sc", "App"), [])).StandardOutput, StringComparison.Ordinal);

        var single = await app.DotnetAsync(null, "publish", "-r", "linux-x64", "--self-contained", "true", "-p:PublishSingleFile=true", Inline, "-o", "out-single");
        Assert.True(single.ExitCode == 0, Output(single));
        Assert.Contains(Expected, (await Tools.RunAsync(Path.Combine(app.ProjectDirectory, "out-single", "App"), [])).StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Multi_targeted_project_builds_inline_in_parallel_without_racing()
    {
        using var app = new ConsumerProject(feed, targetFrameworks: "net8.0;net10.0");

        var build = await app.DotnetAsync(null, "build", Inline, "-m:2");

        Assert.True(build.ExitCode == 0, Output(build));
        foreach (var tfm in new[] { "net8.0", "net10.0" })
        {
            Assert.DoesNotContain("shim_slot", await Nm(BinLibrary(app, tfm)), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Inline_without_clang_fails_with_the_fix_and_keeps_the_previous_output()
    {
        using var app = new ConsumerProject(feed);
        Assert.Equal(0, (await app.DotnetAsync(null, "build")).ExitCode);
        var before = await File.ReadAllBytesAsync(BinLibrary(app));

        var failed = await app.DotnetAsync(app.PathWithoutToolchain(), "build", Inline,
            "-p:OtelThreadCtxLlvmInstallRoot=/nonexistent", "-p:OtelThreadCtxUseRustLld=false");

        Assert.NotEqual(0, failed.ExitCode);
        Assert.Contains("error OTC1001:", failed.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("apt-get install clang-19", failed.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(BinLibrary(app)));
    }

    [Fact]
    public async Task Inline_for_a_non_linux_target_is_a_clear_error_and_plain_builds_still_work()
    {
        using var app = new ConsumerProject(feed);

        var inline = await app.DotnetAsync(null, "build", "-r", "win-x64", Inline);
        Assert.NotEqual(0, inline.ExitCode);
        Assert.Contains("error OTC1201:", inline.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("win-x64", inline.StandardOutput, StringComparison.Ordinal);

        var plain = await app.DotnetAsync(null, "build", "-r", "win-x64");
        Assert.True(plain.ExitCode == 0, Output(plain));
    }

    [Fact]
    public async Task A_project_referencing_a_library_that_references_the_package_gets_the_native_library()
    {
        using var app = new ConsumerProject(feed, name: "Lib", body: "namespace Lib; public static class Marker { public static bool Supported => OtelThreadCtx.ThreadContext.IsSupported; }");
        File.WriteAllText(Path.Combine(app.ProjectDirectory, "Lib.csproj"), File.ReadAllText(Path.Combine(app.ProjectDirectory, "Lib.csproj")).Replace("<OutputType>Exe</OutputType>", "<OutputType>Library</OutputType>", StringComparison.Ordinal));
        app.AddProject("Top", "net10.0", """<ProjectReference Include="../Lib/Lib.csproj" />""", null, "Exe", "Console.WriteLine($\"supported={Lib.Marker.Supported}\");");
        var top = Path.Combine(app.Directory, "Top");

        var build = await Tools.RunAsync(ConsumerProject.DotnetHost, ["build", "-nodeReuse:false"], new Dictionary<string, string?> { ["NUGET_PACKAGES"] = feed.Packages }, top);

        Assert.True(build.ExitCode == 0, Output(build));
        Assert.True(File.Exists(Path.Combine(top, "bin", "Debug", "net10.0", "runtimes", "linux-x64", "native", "libotel_thread_ctx.so")));
        var run = await Tools.RunAsync(ConsumerProject.DotnetHost, ["run", "--no-build"], new Dictionary<string, string?> { ["NUGET_PACKAGES"] = feed.Packages }, top);
        Assert.Contains("supported=True", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_class_library_with_inline_builds_no_native_library_of_its_own()
    {
        using var app = new ConsumerProject(feed, name: "Lib", extraProperties: "<OutputType>Library</OutputType>", body: "namespace Lib; public static class Marker { public static bool Supported => OtelThreadCtx.ThreadContext.IsSupported; }");

        var build = await app.DotnetAsync(null, "build", Inline);

        Assert.True(build.ExitCode == 0, Output(build));
        Assert.Contains("is a class library, so it builds no native library", Output(build), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(app.ProjectDirectory, "obj", "Debug", "net10.0", "otelthreadctx")), "the library ran the native pipeline");
    }
}
