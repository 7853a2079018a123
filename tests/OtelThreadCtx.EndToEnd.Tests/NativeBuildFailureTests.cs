using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Every toolchain or verification fault stops the build with its own code, and no library is left
/// in the output (nor in the intermediate folder, for a library that failed a check).</summary>
public sealed class NativeBuildFailureTests
{
    private static async Task AssertFailsWith(NativeBuild build, Dictionary<string, string> properties, string code, params string[] messageParts)
    {
        var result = await build.BuildAsync(properties);
        var output = result.StandardOutput + result.StandardError;

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"error {code}:", output, StringComparison.Ordinal);
        foreach (var part in messageParts)
        {
            Assert.Contains(part, output, StringComparison.Ordinal);
        }

        Assert.False(File.Exists(build.OutputLibrary), "a library was left in the output");
        Assert.False(File.Exists(build.IntermediateLibrary(properties.GetValueOrDefault("OtelThreadCtxInline") == "true" ? "inline" : "default")), "a failed library was left in obj/");
    }

    private static Dictionary<string, string> Isolated(NativeBuild build, bool inline, string? searchPath = null) => new()
    {
        ["OtelThreadCtxInline"] = inline ? "true" : "false",
        ["OtelThreadCtxSearchPath"] = searchPath ?? build.EmptyFolder(),
        ["OtelThreadCtxLlvmInstallRoot"] = build.EmptyFolder(),
        ["OtelThreadCtxUseRustLld"] = "false",
    };

    [Fact]
    public async Task No_clang_for_inline()
    {
        using var build = new NativeBuild();
        var bin = build.BinWith(("nm", Tools.Find("nm")), ("readelf", Tools.Find("readelf")), ("ld.lld", Tools.Find("ld.lld-19", "ld.lld")));

        await AssertFailsWith(build, Isolated(build, inline: true, bin), "OTC1001", "Looked in:", bin, "apt-get install clang-19", "OtelThreadCtxClangPath");
    }

    [Fact]
    public async Task Clang_too_old_for_gnu2()
    {
        using var build = new NativeBuild();
        var properties = Isolated(build, inline: false);
        properties["OtelThreadCtxClangPath"] = build.FakeTool("clang", "Debian clang version 14.0.6\nTarget: x86_64-pc-linux-gnu");
        properties["OtelThreadCtxNmPath"] = Tools.Find("nm");
        properties["OtelThreadCtxReadElfPath"] = Tools.Find("readelf");

        await AssertFailsWith(build, properties, "OTC1102", "clang 14.0.6", "-mtls-dialect=gnu2");
    }

    [Fact]
    public async Task No_lld_for_inline()
    {
        using var build = new NativeBuild();
        var bin = build.BinWith(("clang-19", Tools.Find("clang-19")), ("nm", Tools.Find("nm")), ("readelf", Tools.Find("readelf")));

        await AssertFailsWith(build, Isolated(build, inline: true, bin), "OTC1002", "ld.lld 18.1 or newer", "apt-get install lld-19", "OtelThreadCtxLldPath");
    }

    [Fact]
    public async Task Lld_older_than_18_1()
    {
        using var build = new NativeBuild();
        var properties = Isolated(build, inline: true, build.BinWith(("clang-19", Tools.Find("clang-19")), ("nm", Tools.Find("nm")), ("readelf", Tools.Find("readelf"))));
        properties["OtelThreadCtxLldPath"] = build.FakeTool("ld.lld", "Ubuntu LLD 17.0.6 (compatible with GNU linkers)");

        await AssertFailsWith(build, properties, "OTC1103", "LLD 17.0.6", "18.1");
    }

    [Fact]
    public async Task Clang_newer_than_lld()
    {
        using var build = new NativeBuild();
        var properties = Isolated(build, inline: true, build.BinWith(("nm", Tools.Find("nm")), ("readelf", Tools.Find("readelf"))));
        properties["OtelThreadCtxClangPath"] = build.FakeTool("clang", "Debian clang version 22.1.0\nTarget: x86_64-pc-linux-gnu", Tools.Find("clang-19"));
        properties["OtelThreadCtxLldPath"] = Tools.Find("ld.lld-19");

        await AssertFailsWith(build, properties, "OTC1104", "cannot read bitcode written by a newer clang");
    }

    [Fact]
    public async Task Nm_missing()
    {
        using var build = new NativeBuild();
        var bin = build.BinWith(("clang-19", Tools.Find("clang-19")), ("ld.lld-19", Tools.Find("ld.lld-19")), ("readelf", Tools.Find("readelf")));

        await AssertFailsWith(build, Isolated(build, inline: true, bin), "OTC1003", "nm (GNU binutils or llvm-nm)", "OtelThreadCtxNmPath");
    }

    [Fact]
    public async Task Readelf_missing()
    {
        using var build = new NativeBuild();
        var bin = build.BinWith(("clang-19", Tools.Find("clang-19")), ("ld.lld-19", Tools.Find("ld.lld-19")), ("nm", Tools.Find("nm")));

        await AssertFailsWith(build, Isolated(build, inline: true, bin), "OTC1004", "readelf (GNU binutils or llvm-readelf)", "OtelThreadCtxReadElfPath");
    }

    [Fact]
    public async Task Explicit_tool_path_that_does_not_exist()
    {
        using var build = new NativeBuild();

        await AssertFailsWith(build, new() { ["OtelThreadCtxInline"] = "true", ["OtelThreadCtxClangPath"] = "/nonexistent/clang" }, "OTC1005", "/nonexistent/clang");
    }

    [Fact]
    public async Task Library_linked_without_tlsdesc_code_generation()
    {
        using var build = new NativeBuild();

        await AssertFailsWith(build, new() { ["OtelThreadCtxInline"] = "true", ["OtelThreadCtxLdFlags"] = "-Wl,-mllvm,-enable-tlsdesc=false" },
            "OTC4004", "R_X86_64_DTPMOD64", "-enable-tlsdesc");
        using var report = NativeBuild.ReadReport(build.IntermediateReport("inline"));
        Assert.False(report.RootElement.GetProperty("passed").GetBoolean());
    }

    [Fact]
    public async Task Library_whose_symbol_is_not_exported()
    {
        using var build = new NativeBuild();
        var map = Path.Combine(build.Directory, "hidden.map");
        File.WriteAllText(map, "{ global: otel_thread_ctx_attach; otel_thread_ctx_detach; local: *; };\n");

        await AssertFailsWith(build, new() { ["OtelThreadCtxVersionScript"] = map }, "OTC4003", "otel_thread_ctx_v1");
    }

    [Fact]
    public async Task Library_where_the_shim_was_not_inlined()
    {
        using var build = new NativeBuild();

        await AssertFailsWith(build, new() { ["OtelThreadCtxInline"] = "true", ["OtelThreadCtxLdFlags"] = "-Wl,--no-gc-sections" },
            "OTC4001", "otel_thread_ctx_shim_slot");
    }

    [Fact]
    public async Task Failures_as_warnings_keep_the_library_and_say_so()
    {
        using var build = new NativeBuild();

        var properties = new Dictionary<string, string> { ["OtelThreadCtxInline"] = "true", ["OtelThreadCtxLdFlags"] = "-Wl,--no-gc-sections", ["OtelThreadCtxVerificationFailuresAsWarnings"] = "true" };
        var result = await build.BuildAsync(properties);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("warning OTC4001:", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("UNVERIFIED", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("verified and published", result.StandardOutput, StringComparison.Ordinal);
        Assert.True(File.Exists(build.OutputLibrary));

        // Incremental: nothing is rebuilt, and the warning is still there while the unverified library is kept.
        var again = await build.BuildAsync(properties);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("is up to date", again.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("warning OTC4001:", again.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("UNVERIFIED", again.StandardOutput, StringComparison.Ordinal);

        // Fixed flags: verified, and the warnings stop.
        properties.Remove("OtelThreadCtxLdFlags");
        var fixedBuild = await build.BuildAsync(properties);
        Assert.Equal(0, fixedBuild.ExitCode);
        Assert.DoesNotContain("warning OTC4001:", fixedBuild.StandardOutput, StringComparison.Ordinal);
        Assert.False(File.Exists(build.OutputLibrary + ".unverified"));
    }

    [Fact]
    public async Task A_failed_inline_build_leaves_the_previous_good_library_untouched()
    {
        using var build = new NativeBuild();
        Assert.Equal(0, (await build.BuildAsync()).ExitCode);
        var before = File.ReadAllBytes(build.OutputLibrary);

        var failed = await build.BuildAsync(new Dictionary<string, string> { ["OtelThreadCtxInline"] = "true", ["OtelThreadCtxLdFlags"] = "-Wl,--no-gc-sections" });

        Assert.NotEqual(0, failed.ExitCode);
        Assert.Equal(before, File.ReadAllBytes(build.OutputLibrary));
    }
}
