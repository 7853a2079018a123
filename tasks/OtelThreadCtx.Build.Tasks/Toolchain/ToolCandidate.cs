namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>Where a candidate tool came from, in search order.</summary>
public enum ToolOrigin
{
    Property,
    LlvmRoot,
    SearchPath,
    LlvmInstallDirectory,
    RustToolchain,
}

/// <summary>A file that may be the tool, and why the search looked there.</summary>
public sealed record ToolCandidate(string Path, ToolOrigin Origin);
