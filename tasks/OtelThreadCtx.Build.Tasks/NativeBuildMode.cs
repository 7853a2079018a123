namespace OtelThreadCtx.Build.Tasks;

/// <summary>How the native library is built.</summary>
public enum NativeBuildMode
{
    /// <summary>Plain objects; the FFI layer calls the TLS shim as an ordinary function.</summary>
    Default,

    /// <summary>Cross-module ThinLTO through lld: the shim is inlined into the FFI layer.</summary>
    Inline,
}

/// <summary>Reads the mode the targets decided (<c>$(OtelThreadCtxMode)</c>: <c>default</c> or <c>inline</c>).
/// The tasks never see OtelThreadCtxInline itself: OtelThreadCtx.Properties.targets is the one place that reads it.</summary>
public static class NativeBuildModeParser
{
    /// <summary>The mode for "default" or "inline" (exactly as the targets write them); null for anything else.</summary>
    public static NativeBuildMode? Parse(string? mode) => mode switch
    {
        "default" => NativeBuildMode.Default,
        "inline" => NativeBuildMode.Inline,
        _ => null,
    };
}
