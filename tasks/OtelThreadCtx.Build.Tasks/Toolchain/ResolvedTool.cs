namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>A tool the build will use: absolute path, where it was found, and what it said it is.</summary>
public sealed record ResolvedTool(ToolKind Kind, string Path, ToolOrigin Origin, ToolIdentity Identity)
{
    public string Describe() => $"{Kind.DisplayName()}: {Path} ({Identity.Describe()}, found via {Origin})";
}
