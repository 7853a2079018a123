using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Debug symbols apart (issue 14, part 2): the shipped library carries no DWARF, only its symbols and a
/// .gnu_debuglink; the .debug file beside it gives gdb the source lines; the checks still run on the shipped file.</summary>
public sealed class DebugInfoTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_shipped_library_has_no_dwarf_and_gdb_finds_its_lines_through_the_debug_file(bool inline)
    {
        using var build = new NativeBuild();
        var result = await build.BuildAsync(new Dictionary<string, string> { ["OtelThreadCtxInline"] = inline ? "true" : "false" });
        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);

        var sections = await Tools.OutputOfAsync("readelf", "-S", "-W", build.OutputLibrary);
        Assert.Contains(".gnu_debuglink", sections, StringComparison.Ordinal);
        Assert.DoesNotContain(".debug_info", sections, StringComparison.Ordinal);
        var debugFile = build.OutputLibrary + ".debug";
        Assert.Contains(".debug_info", await Tools.OutputOfAsync("readelf", "-S", "-W", debugFile), StringComparison.Ordinal);

        // The verification ran on the shipped (stripped) file and still saw what it checks.
        using (var report = NativeBuild.ReadReport(build.OutputReport))
        {
            Assert.True(report.RootElement.GetProperty("passed").GetBoolean());
            Assert.False(string.IsNullOrEmpty(report.RootElement.GetProperty("debugSha256").GetString()));
        }

        var withDebug = await Tools.RunAsync("gdb", ["-batch", "-nx", "-ex", "info line otel_thread_ctx_attach", build.OutputLibrary]);
        Assert.Matches(@"Line \d+ of ""[^""]*otel_thread_ctx\.c""", withDebug.StandardOutput);

        var alone = Path.Combine(build.Directory, "alone");
        Directory.CreateDirectory(alone);
        File.Copy(build.OutputLibrary, Path.Combine(alone, "libotel_thread_ctx.so"));
        var withoutDebug = await Tools.RunAsync("gdb", ["-batch", "-nx", "-ex", "info line otel_thread_ctx_attach", Path.Combine(alone, "libotel_thread_ctx.so")]);
        Assert.DoesNotMatch(@"Line \d+ of", withoutDebug.StandardOutput);
    }
}
