namespace OtelThreadCtx.Build.Tasks;

/// <summary>How the native library is built.</summary>
public enum NativeBuildMode
{
    /// <summary>Plain objects; the FFI layer calls the TLS shim as an ordinary function.</summary>
    Default,

    /// <summary>Cross-module ThinLTO through lld: the shim is inlined into the FFI layer.</summary>
    Inline,
}

public static class NativeBuildModeParser
{
    public static NativeBuildMode FromInlineProperty(string? inline) =>
        string.Equals(inline?.Trim(), "true", StringComparison.OrdinalIgnoreCase) ? NativeBuildMode.Inline : NativeBuildMode.Default;
}
