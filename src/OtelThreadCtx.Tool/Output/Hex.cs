namespace OtelThreadCtx.Tool.Output;

/// <summary>Lower-case hex (net8.0 has no Convert.ToHexStringLower).</summary>
internal static class Hex
{
    public static string Lower(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();
}
