using System.Text.Json;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Cheap, evaluation-only checks of the package's properties (dotnet msbuild -getProperty): what a RID, the
/// mode and the project kind decide, and the defaults. Nothing is built.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class EvaluationTests(PackageFeed feed)
{
    private static readonly string[] Names =
    [
        "OtelThreadCtxTargetArchitecture", "OtelThreadCtxMode", "OtelThreadCtxBuildNativeLibrary", "OtelThreadCtxIntermediateRoot",
        "OtelThreadCtxLibraryPath", "OtelThreadCtxReportPath", "OtelThreadCtxToolTimeout", "OtelThreadCtxTasksAssembly",
        "OtelThreadCtxBuildNativeDependsOn", "OtelThreadCtxSysroot",
    ];

    private async Task<Dictionary<string, string>> EvaluateAsync(ConsumerProject app, params string[] properties)
    {
        var restore = await app.DotnetAsync(null, ["restore", .. properties]);
        Assert.True(restore.ExitCode == 0, restore.StandardOutput + restore.StandardError);
        var result = await app.DotnetAsync(null, ["msbuild", .. properties, .. Names.Select(n => "-getProperty:" + n)]);
        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        using var json = JsonDocument.Parse(result.StandardOutput);
        return json.RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
    }

    [Fact]
    public async Task Defaults_for_an_executable()
    {
        using var app = new ConsumerProject(feed);
        var p = await EvaluateAsync(app);

        Assert.Equal("x64", p["OtelThreadCtxTargetArchitecture"]);
        Assert.Equal("default", p["OtelThreadCtxMode"]);
        Assert.Equal("true", p["OtelThreadCtxBuildNativeLibrary"]);
        Assert.Equal("300", p["OtelThreadCtxToolTimeout"]);
        Assert.EndsWith("/tasks/net8.0/OtelThreadCtx.Build.Tasks.dll", p["OtelThreadCtxTasksAssembly"], StringComparison.Ordinal);
        Assert.True(File.Exists(p["OtelThreadCtxTasksAssembly"]), p["OtelThreadCtxTasksAssembly"]);
        Assert.Equal(p["OtelThreadCtxLibraryPath"] + ".verification.json", p["OtelThreadCtxReportPath"]);
        Assert.Contains("_OtelThreadCtxCompile", p["OtelThreadCtxBuildNativeDependsOn"], StringComparison.Ordinal);
        Assert.Equal("", p["OtelThreadCtxSysroot"]);
    }

    [Fact]
    public async Task A_rid_decides_the_architecture_and_inline_the_mode()
    {
        using var app = new ConsumerProject(feed);
        var p = await EvaluateAsync(app, "-p:RuntimeIdentifier=linux-arm64", "-p:OtelThreadCtxInline=true");

        Assert.Equal("arm64", p["OtelThreadCtxTargetArchitecture"]);
        Assert.Equal("inline", p["OtelThreadCtxMode"]);
    }

    [Theory]
    [InlineData("yes", "inline")]
    [InlineData(" TRUE ", "inline")]
    [InlineData("off", "default")]
    [InlineData("", "default")]
    public async Task Every_boolean_spelling_of_inline_decides_the_mode(string value, string mode)
    {
        using var app = new ConsumerProject(feed);
        Assert.Equal(mode, (await EvaluateAsync(app, $"-p:OtelThreadCtxInline={value}"))["OtelThreadCtxMode"]);
    }

    [Fact]
    public async Task Intermediate_folders_are_per_target_framework()
    {
        using var app = new ConsumerProject(feed, targetFrameworks: "net8.0;net10.0");
        var net8 = await EvaluateAsync(app, "-p:TargetFramework=net8.0");
        var net10 = await EvaluateAsync(app, "-p:TargetFramework=net10.0");

        Assert.Contains("/net8.0/otelthreadctx", net8["OtelThreadCtxIntermediateRoot"], StringComparison.Ordinal);
        Assert.Contains("/net10.0/otelthreadctx", net10["OtelThreadCtxIntermediateRoot"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_class_library_does_not_build_the_native_library_unless_asked()
    {
        using var app = new ConsumerProject(feed, extraProperties: "<OutputType>Library</OutputType>");
        Assert.Equal("", (await EvaluateAsync(app))["OtelThreadCtxBuildNativeLibrary"]);
        Assert.Equal("true", (await EvaluateAsync(app, "-p:OtelThreadCtxBuildNativeLibrary=true"))["OtelThreadCtxBuildNativeLibrary"]);
    }
}
