using CliWrap;
using CliWrap.Buffered;

namespace OtelThreadCtx.Tool.Tests;

/// <summary>The project's other outputs read while they run: the inline library (built here by the native project, as
/// -p:OtelThreadCtxInline=true does), and the .NET target published ReadyToRun and NativeAOT.</summary>
public sealed class CompiledAppTests
{
    internal static async Task<BufferedCommandResult> DotnetAsync(params string[] args)
    {
        var result = await Cli.Wrap("dotnet").WithArguments([.. args, "-nodeReuse:false"])
            .WithEnvironmentVariables(new Dictionary<string, string?> { ["MSBUILDDISABLENODEREUSE"] = "1" })
            .WithValidation(CommandResultValidation.None).ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token);
        Assert.True(result.ExitCode == 0, $"dotnet {string.Join(' ', args)}: {result.StandardOutput}\n{result.StandardError}");
        return result;
    }

    internal static async Task InspectAsync(LiveTarget target, string expectedModule)
    {
        var (exit, json, stderr) = await ToolRunner.RunJsonAsync("inspect", target.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(exit == 0, $"exit {exit}: {json.GetProperty("problems")} {stderr}");
        Assert.Equal(expectedModule, Assertions.Variable(json, "module"));
        Assert.Equal("tlsdesc", Assertions.Variable(json, "model"));
        Assertions.RecordsMatch(json, target, ["http.route", "enduser.id"]);
        Assertions.NotTraced(target.Pid);
        Assert.Equal(0, await target.StopAsync());
    }

    [Fact]
    public async Task Jit_app_with_the_inline_library()
    {
        await DotnetAsync("build", Path.Combine(Paths.RepoRoot, "native", "OtelThreadCtx.Native.csproj"), "-c", "Release", "-p:OtelThreadCtxInline=true");
        var inline = Path.Combine(Paths.RepoRoot, "artifacts", "native", "Release", "inline", "linux-x64", "libotel_thread_ctx.so");
        var (checkExit, check, _) = await ToolRunner.RunJsonAsync("check", inline);
        Assert.Equal(0, checkExit);
        Assert.True(check.GetProperty("files")[0].GetProperty("verification").GetProperty("matches").GetBoolean());
        await using var target = await LiveTarget.StartAsync("dotnet", [Paths.DotNetTarget, "2"], new Dictionary<string, string?> { ["OTEL_THREAD_CTX_NATIVE_LIBRARY"] = inline });
        await InspectAsync(target, inline);
    }

    [Theory]
    [InlineData("ReadyToRun")]
    [InlineData("NativeAot")]
    public async Task Ahead_of_time_compiled_app(string compilation)
    {
        using var dir = new TempDir();
        string[] how = compilation == "NativeAot"
            ? ["-p:PublishAot=true", "-p:CppCompilerAndLinker=clang-19", "-p:TreatWarningsAsErrors=false"]
            : ["-p:PublishReadyToRun=true", "--self-contained", "false"];
        await DotnetAsync(["publish", Path.Combine(Paths.RepoRoot, "tests", "OtelThreadCtx.ToolTarget", "OtelThreadCtx.ToolTarget.csproj"), "-c", "Release", "-r", "linux-x64", "-o", dir.Path, .. how]);
        Assert.Equal(compilation != "NativeAot", File.Exists(dir["OtelThreadCtx.ToolTarget.dll"]));
        await using var target = compilation == "NativeAot"
            ? await LiveTarget.StartAsync(dir["OtelThreadCtx.ToolTarget"], ["2"])
            : await LiveTarget.StartAsync("dotnet", [dir["OtelThreadCtx.ToolTarget.dll"], "2"]);
        await InspectAsync(target, dir["libotel_thread_ctx.so"]);
    }
}

/// <summary>samples/RustLayer (the C API in Rust over the shim, built inline by the SDK as eng/test.sh does): the .NET
/// target loads it through OTEL_THREAD_CTX_NATIVE_LIBRARY and the tool reads it. Needs cargo (eng/install-toolchain.sh
/// says how; without it the build fails with OTC1010).</summary>
public sealed class RustLayerTests
{
    [Fact]
    public async Task Jit_app_over_the_rust_layer()
    {
        await CompiledAppTests.DotnetAsync("build", Path.Combine(Paths.RepoRoot, "tests", "OtelThreadCtx.RustLayer"), "-c", "Release", "-p:OtelThreadCtxInline=true");
        var rust = Path.Combine(Paths.RepoRoot, "artifacts", "native", "Release", "rust", "inline", "linux-x64", "libotel_thread_ctx_rust.so");
        var (checkExit, _, _) = await ToolRunner.RunJsonAsync("check", rust);
        Assert.Equal(0, checkExit);
        await using var target = await LiveTarget.StartAsync("dotnet", [Paths.DotNetTarget, "2"], new Dictionary<string, string?> { ["OTEL_THREAD_CTX_NATIVE_LIBRARY"] = rust });
        await CompiledAppTests.InspectAsync(target, rust);
    }
}
