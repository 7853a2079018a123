using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Each boolean and number property means one thing everywhere (OtelThreadCtx.Properties.targets decides it):
/// any boolean spelling builds the same library, and a value that is none of them stops the build with its code.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class PropertyValueTests(PackageFeed feed)
{
    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    private static string BinLibrary(ConsumerProject app) =>
        Path.Combine(app.ProjectDirectory, "bin", "Debug", "net10.0", "runtimes", "linux-x64", "native", "libotel_thread_ctx.so");

    private static string VerifiedReport(ConsumerProject app) =>
        Path.Combine(app.ProjectDirectory, "obj", "Debug", "net10.0", "otelthreadctx", "verified", "libotel_thread_ctx.so.verification.json");

    [Theory]
    [InlineData("OtelThreadCtxInline", "1", "OTC1204")]
    [InlineData("OtelThreadCtxSplitDebugInfo", "maybe", "OTC1204")]
    [InlineData("OtelThreadCtxVerificationFailuresAsWarnings", "2", "OTC1204")]
    [InlineData("OtelThreadCtxNativeAotStaticLink", "static", "OTC1204")]
    [InlineData("OtelThreadCtxToolTimeout", "abc", "OTC1205")]
    [InlineData("OtelThreadCtxToolTimeout", "0", "OTC1205")]
    public async Task A_value_that_is_no_accepted_spelling_stops_the_build_with_its_code(string property, string value, string code)
    {
        using var app = new ConsumerProject(feed);

        var build = await app.DotnetAsync(null, "build", $"-p:{property}={value}");

        Assert.NotEqual(0, build.ExitCode);
        Assert.Contains($"error {code}: {property} is '{value}'", build.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(code == "OTC1204" ? "Accepted: true, on, yes (any case) or false, off, no" : "a whole number from 1 to 2147483", build.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("MSB4030", Output(build), StringComparison.Ordinal);
        Assert.False(File.Exists(BinLibrary(app)), "a build with an invalid property still produced an application");
    }

    [Fact]
    public async Task Inline_spelled_yes_then_true_is_one_verified_inline_library()
    {
        using var app = new ConsumerProject(feed);

        var yes = await app.DotnetAsync(null, "build", "-p:OtelThreadCtxInline=yes");
        Assert.True(yes.ExitCode == 0, Output(yes));
        Assert.Contains("inline libotel_thread_ctx.so (linux-x64) verified: 7/7 checks passed", yes.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", BinLibrary(app)), StringComparison.Ordinal);
        using (var report = NativeBuild.ReadReport(VerifiedReport(app)))
        {
            Assert.Equal("inline", report.RootElement.GetProperty("mode").GetString());
        }

        // The same decided mode, so the gate rightly reuses the library; it is still the inline one.
        var spelledTrue = await app.DotnetAsync(null, "build", "-p:OtelThreadCtxInline=TRUE");
        Assert.True(spelledTrue.ExitCode == 0, Output(spelledTrue));
        Assert.Contains("no native work", spelledTrue.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", BinLibrary(app)), StringComparison.Ordinal);
        using (var report = NativeBuild.ReadReport(VerifiedReport(app)))
        {
            Assert.Equal("inline", report.RootElement.GetProperty("mode").GetString());
        }

        // And off is the package's default library again.
        var off = await app.DotnetAsync(null, "build", "-p:OtelThreadCtxInline=off");
        Assert.True(off.ExitCode == 0, Output(off));
        Assert.Contains("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", BinLibrary(app)), StringComparison.Ordinal);
    }
}
