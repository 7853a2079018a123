using System.Reflection;
using System.Runtime.Versioning;
using System.Text.Json;
using OtelThreadCtx.Build.Tasks.Diagnostics;

namespace OtelThreadCtx.Build.Tasks.Tests;

/// <summary>The task assembly loads in the MSBuild of SDK 8, 9 and 10: it targets net8.0, references nothing newer
/// than the .NET 8 reference assemblies, and compiles against MSBuild 17.8.</summary>
public sealed class TaskAssemblyCompatibilityTests
{
    private static readonly Assembly Tasks = typeof(DiagnosticCodes).Assembly;

    [Fact]
    public void Targets_net8()
    {
        Assert.Equal(".NETCoreApp,Version=v8.0", Tasks.GetCustomAttribute<TargetFrameworkAttribute>()?.FrameworkName);
    }

    [Fact]
    public void References_no_runtime_assembly_newer_than_8_0()
    {
        var framework = Tasks.GetReferencedAssemblies().Where(a => a.Name is "System.Runtime" or "netstandard" || a.Name!.StartsWith("System.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(framework);
        Assert.All(framework, a => Assert.True(a.Version!.Major <= 8, $"{a.Name} {a.Version}"));
    }

    [Fact]
    public void Compiles_against_msbuild_17_8()
    {
        // What the tasks project restored and compiled against (compile-time only, so not in its deps.json).
        var folder = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(folder, "OtelThreadCtx.Build.sln")))
        {
            folder = Path.GetDirectoryName(folder.TrimEnd('/'))!;
        }

        var depsFile = Path.Combine(folder, "tasks", "OtelThreadCtx.Build.Tasks", "obj", "project.assets.json");
        using var deps = JsonDocument.Parse(File.ReadAllText(depsFile));
        var libraries = deps.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("Microsoft.Build.Utilities.Core/17.8.43", libraries);
        Assert.Contains("Microsoft.Build.Framework/17.8.43", libraries);
        Assert.DoesNotContain(libraries, l => l.StartsWith("Microsoft.Build.Utilities.Core/18", StringComparison.Ordinal));
    }
}
