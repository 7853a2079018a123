using System.Text.Json;
using CliWrap.Buffered;

namespace OtelThreadCtx.EndToEnd.Tests.Infrastructure;

/// <summary>A throwaway project in a temporary folder that imports the SDK's native props/targets and builds
/// the repository's C sources with the real tasks and toolchain. Each instance has its own obj/ and output.</summary>
internal sealed class NativeBuild : IDisposable
{
    public NativeBuild(string? extraXml = null)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("otc-e2e-").FullName;
        ProjectPath = System.IO.Path.Combine(Directory, "native.proj");
        File.WriteAllText(ProjectPath, $"""
            <Project>
              <PropertyGroup>
                <Configuration>Release</Configuration>
                <BaseIntermediateOutputPath>obj/</BaseIntermediateOutputPath>
                <OtelThreadCtxNativeSourceRoot>{Repo.Path("native")}/</OtelThreadCtxNativeSourceRoot>
                <OtelThreadCtxTasksAssembly>{Repo.TasksAssembly}</OtelThreadCtxTasksAssembly>
                <OtelThreadCtxOutputDirectory>$(MSBuildProjectDirectory)/out/</OtelThreadCtxOutputDirectory>
              </PropertyGroup>
              <Import Project="{Repo.Path("sdk", "build", "OtelThreadCtx.Native.props")}" />
              {extraXml}
              <Import Project="{Repo.Path("sdk", "build", "OtelThreadCtx.Native.targets")}" />
            </Project>
            """);
    }

    public string Directory { get; }

    public string ProjectPath { get; }

    public string OutputLibrary => System.IO.Path.Combine(Directory, "out", "libotel_thread_ctx.so");

    public string OutputReport => OutputLibrary + ".verification.json";

    public string IntermediateLibrary(string mode) => System.IO.Path.Combine(Directory, "obj", "otelthreadctx", "Release", $"{mode}-x64", "libotel_thread_ctx.so");

    public string IntermediateReport(string mode) => IntermediateLibrary(mode) + ".verification.json";

    /// <summary>Runs the pipeline; properties go on the command line as -p:Name=Value.</summary>
    public async Task<BufferedCommandResult> BuildAsync(IReadOnlyDictionary<string, string>? properties = null, string target = "OtelThreadCtxBuildNative")
    {
        var args = new List<string> { "msbuild", ProjectPath, $"-t:{target}", "-nodeReuse:false", "-nologo", "-v:m" };
        foreach (var (name, value) in properties ?? new Dictionary<string, string>())
        {
            args.Add($"-p:{name}=\"{value}\"");
        }

        return await Tools.RunAsync("dotnet", args, workingDirectory: Directory);
    }

    public static JsonDocument ReadReport(string path) => JsonDocument.Parse(File.ReadAllText(path));

    /// <summary>A fake tool: prints <paramref name="banner"/> for --version, otherwise runs <paramref name="realTool"/>.</summary>
    public string FakeTool(string name, string banner, string? realTool = null)
    {
        var bin = System.IO.Path.Combine(Directory, "fakebin");
        System.IO.Directory.CreateDirectory(bin);
        var path = System.IO.Path.Combine(bin, name);
        var run = realTool is null ? "echo \"fake tool: not runnable\" >&2; exit 1" : $"exec '{realTool}' \"$@\"";
        File.WriteAllText(path, $"#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then\ncat <<'BANNER'\n{banner}\nBANNER\nexit 0\nfi\n{run}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>A fake tool that prints <paramref name="banner"/> for --version and otherwise runs the shell
    /// <paramref name="script"/> (which sees the arguments as "$@").</summary>
    public string FakeScript(string name, string banner, string script)
    {
        var bin = System.IO.Path.Combine(Directory, "fakebin");
        System.IO.Directory.CreateDirectory(bin);
        var path = System.IO.Path.Combine(bin, name);
        File.WriteAllText(path, $"#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then\ncat <<'BANNER'\n{banner}\nBANNER\nexit 0\nfi\n{script}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>A folder holding links to only the named real tools, for a PATH that lacks the others.</summary>
    public string BinWith(params (string Name, string Target)[] tools)
    {
        var bin = System.IO.Path.Combine(Directory, "bin-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(bin);
        foreach (var (name, target) in tools)
        {
            File.CreateSymbolicLink(System.IO.Path.Combine(bin, name), target);
        }

        return bin;
    }

    public string EmptyFolder()
    {
        var path = System.IO.Path.Combine(Directory, "empty-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
