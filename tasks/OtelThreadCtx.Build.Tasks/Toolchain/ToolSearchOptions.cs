namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>Where to look for tools. Immutable; built once from MSBuild properties.</summary>
public sealed record ToolSearchOptions
{
    /// <summary>The explicit path per tool (OtelThreadCtxClangPath, …); empty when not set.</summary>
    public IReadOnlyDictionary<ToolKind, string> ExplicitPaths { get; init; } = new Dictionary<ToolKind, string>();

    /// <summary>An LLVM installation folder (its <c>bin/</c> is searched first), OtelThreadCtxLlvmRoot.</summary>
    public string? LlvmRoot { get; init; }

    /// <summary>The folders of PATH, in order.</summary>
    public IReadOnlyList<string> SearchPath { get; init; } = [];

    /// <summary>The folder holding <c>llvm-NN/</c> installations (Debian/Ubuntu: /usr/lib).</summary>
    public string LlvmInstallRoot { get; init; } = "/usr/lib";

    /// <summary>Whether the LLD bundled with a Rust toolchain may be used as the linker.</summary>
    public bool UseRustToolchain { get; init; } = true;

    public static IReadOnlyList<string> SplitPath(string? path) =>
        string.IsNullOrEmpty(path)
            ? []
            : path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
