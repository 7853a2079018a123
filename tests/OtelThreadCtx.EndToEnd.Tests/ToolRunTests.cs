using System.Diagnostics;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>How the pipeline treats tools that hang, lie, die of a signal or are named loosely, and arguments with spaces:
/// real builds with fake tools (shell scripts) in place of the compiler or linker.</summary>
public sealed class ToolRunTests
{
    private const string ClangBanner = "Debian clang version 19.1.7 (6+b1)\nTarget: x86_64-pc-linux-gnu";
    private const string LldBanner = "Debian LLD 19.1.7 (compatible with GNU linkers)";

    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    private static Dictionary<string, string> Default(string clang) => new()
    {
        ["OtelThreadCtxInline"] = "false",
        ["OtelThreadCtxClangPath"] = clang,
        ["OtelThreadCtxLldPath"] = Tools.Find("ld.lld-19"),
        ["OtelThreadCtxNmPath"] = Tools.Find("nm"),
        ["OtelThreadCtxReadElfPath"] = Tools.Find("readelf"),
    };

    [Fact]
    public async Task A_compiler_that_hangs_is_stopped_at_the_time_limit_with_its_own_code()
    {
        using var build = new NativeBuild();
        var properties = Default(build.FakeScript("clang", ClangBanner, "exec sleep 600"));
        properties["OtelThreadCtxToolTimeout"] = "3";

        var watch = Stopwatch.StartNew();
        var result = await build.BuildAsync(properties);

        Assert.NotEqual(0, result.ExitCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(90), $"took {watch.Elapsed}");
        Assert.Contains("error OTC6001:", Output(result), StringComparison.Ordinal);
        Assert.Contains("OtelThreadCtxToolTimeout", Output(result), StringComparison.Ordinal);
        Assert.DoesNotContain("OTC2001", Output(result), StringComparison.Ordinal);
        Assert.False(File.Exists(build.OutputLibrary));
    }

    [Fact]
    public async Task A_compiler_that_exits_0_without_an_object_is_caught_at_compile()
    {
        using var build = new NativeBuild();
        var result = await build.BuildAsync(Default(build.FakeScript("clang", ClangBanner, "exit 0")));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error OTC2004:", Output(result), StringComparison.Ordinal);
        Assert.DoesNotContain("OTC3001", Output(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_linker_that_exits_0_without_a_library_is_caught_at_link()
    {
        using var build = new NativeBuild();
        // Compiles for real (-c), "links" by doing nothing.
        var clang = build.FakeScript("clang", ClangBanner, $"for a in \"$@\"; do [ \"$a\" = \"-c\" ] && exec '{Tools.Find("clang-19")}' \"$@\"; done; exit 0");
        var result = await build.BuildAsync(Default(clang));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error OTC3003:", Output(result), StringComparison.Ordinal);
        Assert.False(File.Exists(build.OutputLibrary));
    }

    [Fact]
    public async Task A_compiler_stopped_by_ctrl_c_is_a_cancellation_and_the_next_build_recovers()
    {
        using var build = new NativeBuild();
        // What SIGINT to the process group does to the compiler: it dies of the signal (exit 130 as seen by its parent).
        var result = await build.BuildAsync(Default(build.FakeScript("clang", ClangBanner, "kill -INT $$; sleep 5")));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error OTC6002:", Output(result), StringComparison.Ordinal);
        Assert.DoesNotContain("OTC2001", Output(result), StringComparison.Ordinal);
        Assert.DoesNotContain("correct the source", Output(result), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(build.Directory, "*.o", SearchOption.AllDirectories));

        var again = await build.BuildAsync(Default(Tools.Find("clang-19")));
        Assert.True(again.ExitCode == 0, Output(again));
        Assert.True(File.Exists(build.OutputLibrary));
    }

    [Fact]
    public async Task A_bare_tool_name_is_looked_up_on_the_search_path_and_a_directory_gets_its_own_code()
    {
        using var build = new NativeBuild();
        var bare = Default("clang-19");
        var ok = await build.BuildAsync(bare);
        Assert.True(ok.ExitCode == 0, Output(ok));
        Assert.Contains(Tools.Find("clang-19"), File.ReadAllText(build.OutputReport), StringComparison.Ordinal);

        using var second = new NativeBuild();
        var folder = Default(Path.GetDirectoryName(Tools.Find("clang-19"))!);
        var result = await second.BuildAsync(folder);
        Assert.Contains("error OTC1009:", Output(result), StringComparison.Ordinal);
        Assert.Contains("a directory", Output(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Argument_items_reach_the_compiler_and_linker_whole_even_with_spaces()
    {
        using var build = new NativeBuild("""
            <ItemGroup>
              <OtelThreadCtxCompileArgument Include="-DOTC_SPACED=two words" />
              <OtelThreadCtxLinkArgument Include="-Wl,-z,stack-size=65536" />
            </ItemGroup>
            """);
        var result = await build.BuildAsync(Default(Tools.Find("clang-19")));
        Assert.True(result.ExitCode == 0, Output(result));

        using var report = NativeBuild.ReadReport(build.OutputReport);
        var text = report.RootElement.GetRawText();
        Assert.Contains("\"-DOTC_SPACED=two words\"", text, StringComparison.Ordinal);
        Assert.Contains("-Wl,-z,stack-size=65536", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_newer_clang_beside_an_older_lld_is_passed_over_for_a_working_pair()
    {
        using var build = new NativeBuild();
        // clang-22 comes first in the search (newest first), but the only LLD is 19: it could not read clang-22's bitcode.
        var clang22 = build.FakeScript("clang-22", "Debian clang version 22.1.0\nTarget: x86_64-pc-linux-gnu", $"exec '{Tools.Find("clang-19")}' \"$@\"");
        var bin = build.BinWith(("clang-22", clang22), ("clang-19", Tools.Find("clang-19")), ("ld.lld-19", Tools.Find("ld.lld-19")), ("nm", Tools.Find("nm")), ("readelf", Tools.Find("readelf")));
        var result = await build.BuildAsync(new Dictionary<string, string>
        {
            ["OtelThreadCtxInline"] = "true",
            ["OtelThreadCtxSearchPath"] = bin,
            ["OtelThreadCtxLlvmInstallRoot"] = build.EmptyFolder(),
            ["OtelThreadCtxUseRustLld"] = "false",
        });

        Assert.True(result.ExitCode == 0, Output(result));
        Assert.Contains("pair rejected", Output(result), StringComparison.Ordinal);
        Assert.Contains("OTC1104", Output(result), StringComparison.Ordinal);
        using var report = NativeBuild.ReadReport(build.OutputReport);
        Assert.Equal(Path.Combine(bin, "clang-19"), report.RootElement.GetProperty("tools").GetProperty("compiler").GetProperty("path").GetString());
    }
}
