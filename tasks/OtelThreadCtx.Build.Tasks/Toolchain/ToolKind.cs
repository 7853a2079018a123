namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>The four tools the pipeline needs.</summary>
public enum ToolKind
{
    CCompiler,
    Linker,
    Nm,
    ReadElf,
}

public static class ToolKindExtensions
{
    public static string DisplayName(this ToolKind kind) => kind switch
    {
        ToolKind.CCompiler => "C compiler",
        ToolKind.Linker => "ld.lld",
        ToolKind.Nm => "nm",
        ToolKind.ReadElf => "readelf",
        _ => kind.ToString(),
    };

    /// <summary>The MSBuild property that names this tool explicitly.</summary>
    public static string PropertyName(this ToolKind kind) => kind switch
    {
        ToolKind.CCompiler => "OtelThreadCtxClangPath",
        ToolKind.Linker => "OtelThreadCtxLldPath",
        ToolKind.Nm => "OtelThreadCtxNmPath",
        ToolKind.ReadElf => "OtelThreadCtxReadElfPath",
        _ => kind.ToString(),
    };
}
