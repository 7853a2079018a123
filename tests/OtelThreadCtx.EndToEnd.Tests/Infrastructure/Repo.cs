using System.Reflection;

namespace OtelThreadCtx.EndToEnd.Tests.Infrastructure;

/// <summary>Where the repository and the freshly built task assembly are.</summary>
internal static class Repo
{
    private static string Metadata(string key) =>
        typeof(Repo).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    public static string Root => Metadata("RepoRoot");

    public static string TasksAssembly => Metadata("TasksAssembly");

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);
}
